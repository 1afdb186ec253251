package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// lineEditing waits until the line editor has the terminal, its signal
// keys off: liner prints a prompt before it takes the terminal, and a
// Ctrl-C typed in between is the kernel's SIGINT, which also drops what
// was typed with it (TestShell saw nothing after "1 +" and Ctrl-C, once,
// under load).
func (tm *terminal) lineEditing() {
	tm.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		tio, err := unix.IoctlGetTermios(int(tm.pty.Fd()), unix.TCGETS) // the other side's, from the master
		if err != nil {
			tm.t.Fatal(err)
		}
		if tio.Lflag&unix.ISIG == 0 {
			return
		}
		if time.Now().After(deadline) {
			tm.t.Fatal("the line editor never took the terminal")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
