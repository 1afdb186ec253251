package flightsql

import (
	"fmt"
	"os"

	"github.com/skeindb/skein/internal/duck"
)

// DuckDB keeps the first file of every file scan (read_parquet,
// read_csv, a view over one) open for as long as a statement that bound
// it lives, run or not: one descriptor a scan, whatever number of files
// the scan names. A session may hold MaxStatementsPerSession statements
// for later and a server MaxSessions sessions, and one statement may
// name any number of scans: 809 prepared statements of 25 scans, from
// one session, took a coordinator to its 20,000 descriptors in 4 s, after
// which no client could connect. The budget below bounds what statements
// held for later keep open; a statement prepared while the process holds
// more is closed once its schema is known and prepared again when it
// runs, which costs its client a bind and nobody a refusal.
//
// The count is read on every plan, prepare and close, so it must be
// cheap and exact: a count cached between queries would let a burst
// through (descriptors opened, then statements prepared at once, before
// the next refresh). Linux (6.2 and later) gives the process's count as
// the size of /proc/self/fd, one stat at 2 µs whatever the count; listing
// the directory, the fallback on older kernels, took 12 µs at 9
// descriptors and 364 µs at 1,009 (openFilesListed).

// openFiles is how many file descriptors the process holds, or -1 where
// that cannot be read (then the budget never applies).
func openFiles() int {
	if n := openFilesStat(); n > 0 {
		return n
	}
	return openFilesListed()
}

// openFilesListed counts the entries of /proc/self/fd.
func openFilesListed() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // d's own
}

// filesOver says whether the process holds more descriptors than the
// budget: statements prepared now are not to be held open.
func (s *Server) filesOver() bool {
	if s.cfg.MaxOpenFiles <= 0 {
		return false
	}
	return openFiles() > s.cfg.MaxOpenFiles
}

// release decides what becomes of st, just prepared for sess to be held
// for later: over the budget, a statement that can be prepared again
// from its text is closed until it runs (released), and one that cannot
// is refused (ErrBusy) to the user holding the most statements
// (holdsMost) and kept open for the others, so that one user's flood
// costs only that user its statements with parameters.
func (s *Server) release(sess *session, st *duck.Stmt) (released bool, err error) {
	if !s.filesOver() {
		return false, nil
	}
	switch {
	case st.Reusable():
		_ = st.Close()
		return true, nil
	case s.sessions.holdsMost(sess):
		_ = st.Close()
		return false, s.errFilesOver()
	}
	return false, nil
}

// errFilesOver refuses a statement that cannot be prepared again later
// (one with parameters, several statements in one text) while the
// process holds more descriptors than the budget.
func (s *Server) errFilesOver() error {
	return fmt.Errorf("%w: the server holds more than %d open files, the budget of statements kept for later (--max-open-files): close prepared statements, read or cancel queries, or try again",
		ErrBusy, s.cfg.MaxOpenFiles)
}
