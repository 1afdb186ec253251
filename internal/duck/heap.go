package duck

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// pageSize is what a minor page fault brings in.
var pageSize = int64(os.Getpagesize())

// touched calls f on one OS thread and says how many bytes of memory that
// thread touched for the first time meanwhile: its minor page faults, in
// pages. This is what DuckDB's own work on the calling thread (binding,
// folding constants into a plan) made the process grow by, whatever other
// threads did at the same time.
//
// It is a bound above what DuckDB keeps: memory it touched and let go
// meanwhile counts too (folding repeat('x', 20000000) touches 38 MB and
// keeps 19). Memory the process had already touched, reused, counts as
// nothing; and on a host whose transparent huge pages are "always" one
// fault can bring in 2 MB, so there it says less.
//
// It replaces glibc's mallinfo2, which walks every free chunk of every
// arena under that arena's lock: 10 ms a call over 100,000 free chunks,
// stalling every thread that allocates, twice for every statement
// prepared.
func touched(f func()) int64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadFaults()
	f()
	return max(threadFaults()-before, 0) * pageSize
}

// threadFaults is the calling thread's count of minor page faults.
func threadFaults() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return ru.Minflt
}
