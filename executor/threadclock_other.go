//go:build !linux

package executor

// threadClock is measured on Linux only (threadclock_linux.go).
func threadClock() (cpu, waited int64, ok bool) { return 0, 0, false }
