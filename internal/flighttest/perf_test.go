package flighttest

import (
	"bufio"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPerfWindow plays perf's side of its control FIFOs: PerfWindow must
// send enable, then disable, each after the previous acknowledgement.
func TestPerfWindow(t *testing.T) {
	dir := t.TempDir()
	ctl, ack := filepath.Join(dir, "ctl"), filepath.Join(dir, "ack")
	for _, p := range []string{ctl, ack} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("mkfifo: %v", err)
		}
	}
	// Opened read-write, as perf opens them: neither open waits for the
	// other side.
	in, err := os.OpenFile(ctl, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(ack, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got := make(chan string, 2)
	go func() {
		r := bufio.NewReader(in)
		for range 2 {
			cmd, err := r.ReadString('\n')
			if err != nil {
				close(got)
				return
			}
			got <- cmd
			if _, err := out.WriteString("ack\n"); err != nil {
				close(got)
				return
			}
		}
	}()
	t.Setenv(PerfEnv, ctl+","+ack)
	stop := PerfWindow(t)
	if cmd := <-got; cmd != "enable\n" {
		t.Fatalf("first command %q, want enable", cmd)
	}
	stop()
	if cmd := <-got; cmd != "disable\n" {
		t.Fatalf("second command %q, want disable", cmd)
	}
}
