package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/peterh/liner"
	"github.com/skeindb/skein/internal/sqltext"
)

// history is what the shell was given: in liner's memory for the arrow
// keys and Ctrl-R, and in a file, one entry a line, for the next shell.
// Each entry is appended as it is entered, so a shell that is killed
// loses none. A statement is one entry, written on one line
// (sqltext.OneLine); a string literal with a line break in it comes back
// from the file as several.
type history struct {
	ln   *liner.State
	file *os.File // nil: no file
	last string
}

// secretWords mark a statement that may hold a credential (CREATE SECRET,
// SET s3_secret_access_key, a PASSWORD option): one with a word or quoted
// name containing any of them is run but not remembered.
var secretWords = []string{"password", "passwd", "secret", "token", "credential"}

func defaultHistory() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".skein_history")
}

// openHistory loads the file at path, if any, into ln and opens it to
// append to. A file it cannot use is reported and the shell goes on
// without one.
func openHistory(ln *liner.State, path string, stderr io.Writer) *history {
	h := &history{ln: ln}
	if path == "" {
		return h
	}
	if err := h.load(path); err != nil {
		fmt.Fprintf(stderr, "skein sql: history %s: %v\n", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "skein sql: history: %v (keeping none)\n", err)
		return h
	}
	h.file = f
	return h
}

// load reads the file into ln; past liner's limit, it rewrites the file
// with the entries kept, so that it does not grow without end.
func (h *history) load(path string) error {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	n, err := h.ln.ReadHistory(f)
	_ = f.Close()
	if err != nil || n <= liner.HistoryLimit {
		return err
	}
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err = h.ln.WriteHistory(out); err == nil {
		err = out.Close()
	} else {
		_ = out.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}

// add remembers an entry, unless it may hold a credential or repeats the
// last one.
func (h *history) add(entry string) {
	if entry == "" || entry == h.last || mayHoldSecret(entry) {
		return
	}
	h.last = entry
	h.ln.AppendHistory(entry)
	if h.file != nil {
		_, _ = fmt.Fprintln(h.file, entry)
	}
}

func (h *history) close() {
	if h.file != nil {
		_ = h.file.Close()
	}
}

func mayHoldSecret(sql string) bool {
	toks, _ := sqltext.Scan(sql)
	for _, t := range toks {
		if t.Kind != 'w' && t.Kind != 'q' {
			continue
		}
		name := strings.ToLower(t.Text)
		for _, w := range secretWords {
			if strings.Contains(name, w) {
				return true
			}
		}
	}
	return false
}
