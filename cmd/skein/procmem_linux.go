package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// setDataLimit sets RLIMIT_DATA (soft and hard) to n bytes, or to the hard
// limit the process was given if that is lower, and returns the limit set.
// Since Linux 4.7 the limit counts every private writable mapping: the Go
// heap, DuckDB's allocator, thread stacks.
func setDataLimit(n int64) (int64, error) {
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_DATA, &cur); err != nil {
		return 0, err
	}
	if cur.Max != unix.RLIM_INFINITY && uint64(n) > cur.Max {
		n = int64(cur.Max)
	}
	if used := mappedData(); used > 0 && n < used+minProcessMemory/4 {
		return 0, fmt.Errorf("%d bytes is too close to the %d the process maps already", n, used)
	}
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: uint64(n), Max: uint64(n)}); err != nil {
		return 0, fmt.Errorf("setrlimit: %w", err)
	}
	return n, nil
}

// threadStack is the stack a thread started without a size of its own
// maps: the soft stack limit (0 if unknown or unlimited).
func threadStack() int64 {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &l); err != nil || l.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return int64(l.Cur)
}

// mappedData is the process's VmData in bytes (0 if unknown).
func mappedData() int64 {
	return procKB("/proc/self/status", "VmData:")
}

// machineMemory is the machine's memory (0 if unknown). A container's
// smaller limit is not read: its own accounting ends the container first.
func machineMemory() int64 {
	return procKB("/proc/meminfo", "MemTotal:")
}

// procKB reads a "Key: N kB" line of a /proc file, in bytes.
func procKB(file, key string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return n << 10
		}
	}
	return 0
}

// reserveGoHeap has the Go runtime map n bytes of heap now, which it
// keeps mapped once freed (it returns the pages to the kernel but not the
// mapping), and returns what it reserved. Under RLIMIT_DATA, DuckDB's
// allocations fill whatever room is left; a Go allocation needing a new
// mapping then failed, and the Go runtime ends the process on that
// ("fatal error: out of memory allocating heap arena metadata"), where
// DuckDB's failed allocation only fails its query. With the reserve, the
// Go heap grows into mappings it already has, up to n. The reserve costs
// address space and no resident memory. It is at most half the room left
// under limit.
func reserveGoHeap(n, limit int64) int64 {
	if room := limit - mappedData(); n > room/2 {
		n = room / 2
	}
	if n <= 0 {
		return 0
	}
	b := make([]byte, n) // fresh pages: zero without being touched
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
	debug.FreeOSMemory()
	return n
}
