package duck

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// pageSize is what a minor page fault brings in.
var pageSize = int64(os.Getpagesize())

// touched calls f on one OS thread and says how much memory the process
// grew by for it: what DuckDB's own work on the calling thread (binding,
// folding constants into a plan) took and kept.
//
// Two measures bound it, each cheap and neither alone right:
//   - the thread's minor page faults: memory it touched for the first
//     time, whatever other threads did meanwhile; but it counts what the
//     thread touched and let go (folding length(repeat('x', 150000000))
//     touches 429 MB and keeps a BIGINT);
//   - the process's resident memory before and after: what was let go
//     (glibc returns large blocks to the system as they are freed) no
//     longer counts; but other threads' work adds to it or takes from it.
//
// The lesser of the two is what f kept at most, unless other threads let
// go of memory meanwhile. Memory the process had touched already, reused,
// counts as nothing; on a host whose transparent huge pages are "always",
// one fault can bring in 2 MB, so there it says less.
//
// It replaces glibc's mallinfo2, which walks every free chunk of every
// arena under that arena's lock: 10 ms a call over 100,000 free chunks,
// stalling every thread that allocates, twice for every statement
// prepared.
func touched(f func()) int64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	faults, rss := threadFaults(), resident()
	f()
	n := max(threadFaults()-faults, 0) * pageSize
	if after := resident(); rss >= 0 && after >= 0 {
		n = min(n, max(after-rss, 0))
	}
	return n
}

// threadFaults is the calling thread's count of minor page faults.
func threadFaults() int64 {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_THREAD, &ru) != nil {
		return 0
	}
	return ru.Minflt
}

// statm is /proc/self/statm, opened once and read again at offset 0.
var statm struct {
	once sync.Once
	f    *os.File
}

// resident is the process's resident memory in bytes, -1 if unknown.
func resident() int64 {
	statm.once.Do(func() { statm.f, _ = os.Open("/proc/self/statm") })
	if statm.f == nil {
		return -1
	}
	var b [160]byte
	n, _ := statm.f.ReadAt(b[:], 0)
	fields := bytes.Fields(b[:n])
	if len(fields) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		return -1
	}
	return pages * pageSize
}
