package executor

import (
	"bytes"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// threadClock reads the calling OS thread's CPU time and the time it has
// waited, runnable, for a core (the scheduler's run delay), both in
// nanoseconds since the thread began; ok is false when either cannot be
// read. A task's DuckDB work runs on its own goroutine's thread (its
// executor's DuckDB adds no threads at --threads 1, and at more the
// others' work is not counted), so the difference over a task run locked
// to its thread says how much of its time was work and how much was the
// machine busy with something else.
func threadClock() (cpu, waited int64, ok bool) {
	// The thread's CPU clock counts up to now; getrusage (and schedstat's
	// first field) only to the last tick or switch, a few ms behind.
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0, 0, false
	}
	cpu = ts.Nano()
	// schedstat: time on a core, time waiting for one (complete whenever
	// the thread runs: a wait is added as it ends), time slices.
	b, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return 0, 0, false
	}
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, 0, false
	}
	waited, err = strconv.ParseInt(string(f[1]), 10, 64)
	return cpu, waited, err == nil
}
