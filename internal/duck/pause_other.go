//go:build !linux

package duck

import "time"

// pause sleeps for d (the runtime's timers; see pause_linux.go).
func pause(d time.Duration) { time.Sleep(d) }
