package flightsql

import (
	"fmt"
	"os"
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

// openFiles is how many file descriptors the process holds, or -1 where
// that cannot be read (then the budget never applies).
func openFiles() int {
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

// errFilesOver refuses a statement that cannot be prepared again later
// (one with parameters, several statements in one text) while the
// process holds more descriptors than the budget.
func (s *Server) errFilesOver() error {
	return fmt.Errorf("%w: the server holds more than %d open files, the budget of statements kept for later (--max-open-files): close prepared statements, read or cancel queries, or try again",
		ErrBusy, s.cfg.MaxOpenFiles)
}
