//go:build !race

// The race detector maps its own shadow memory and threads under the
// limit, and fails first (make test-go runs this test without it).

package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// reserveEnv makes the test binary run reserveChild instead of the tests:
// "reserve" with the Go heap reserved, "none" without.
const reserveEnv = "SKEIN_TEST_GO_RESERVE"

func init() {
	if v := os.Getenv(reserveEnv); v != "" {
		os.Exit(reserveChild(v == "reserve"))
	}
}

var sink []byte

// reserveChild sets a data limit 1 GiB above what the process maps, fills
// the room left with mappings of its own as DuckDB's allocations would,
// then has Go allocate 256 MB, 32 MB at a time.
func reserveChild(reserve bool) int {
	set, err := setDataLimit(mappedData() + 1<<30)
	if err != nil {
		println(err.Error())
		return 2
	}
	if reserve && reserveGoHeap(256<<20, set) != 256<<20 {
		println("reserved less than asked")
		return 2
	}
	// A new OS thread's stack is mapped under the limit too, and a thread
	// the runtime cannot create ends it (pthread_create failed), reserve
	// or not: the threads it may want are made first, as a server has
	// them before it is loaded, so that the child shows the heap alone.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			runtime.LockOSThread()
			time.Sleep(20 * time.Millisecond)
			runtime.UnlockOSThread()
		})
	}
	wg.Wait()
	var filled [][]byte
	for {
		m, err := unix.Mmap(-1, 0, 1<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
		if err != nil {
			break
		}
		filled = append(filled, m)
	}
	// 16 MB left for the runtime's own small mappings (its collector's
	// metadata, persistentalloc's chunks), which no heap reserve covers
	// and which a server's DuckDB leaves too (it maps in large blocks):
	// with none left, the reserving child ended in persistentalloc now
	// and then (once, under CI's load). The 256 MB asked need far more.
	for _, m := range filled[max(len(filled)-16, 0):] {
		_ = unix.Munmap(m)
	}
	for range 8 {
		sink = make([]byte, 32<<20)
		for i := 0; i < len(sink); i += 4096 {
			sink[i] = 1
		}
	}
	println("allocated")
	return 0
}

// Under RLIMIT_DATA (--process-memory-limit), once DuckDB had filled the
// room left, the Go runtime's next heap mapping failed and it ended the
// process ("fatal error: out of memory allocating heap arena metadata", or
// a SIGSEGV in the collector).
// With the heap reserved beforehand, Go allocates into mappings it has.
func TestGoHeapReservedUnderTheLimit(t *testing.T) {
	for _, c := range []struct {
		mode string
		ok   bool
	}{{"none", false}, {"reserve", true}} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), reserveEnv+"="+c.mode)
		out, err := cmd.CombinedOutput()
		allocated := err == nil && strings.Contains(string(out), "allocated")
		if allocated != c.ok {
			t.Errorf("%s: exited %v, want the Go allocations to succeed: %v\n%.600s", c.mode, err, c.ok, out)
		}
		// The runtime's end: a "fatal error" (out of memory, cannot allocate), or a fault in
		// the collector as it fails to map its own memory.
		if died := strings.Contains(string(out), "fatal error") || strings.Contains(string(out), "SIGSEGV"); !c.ok && !died {
			t.Errorf("%s: exited %v, want the Go runtime ended (the limit is filled as DuckDB would)\n%.600s", c.mode, err, out)
		}
	}
}
