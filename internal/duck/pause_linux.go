package duck

import (
	"time"

	"golang.org/x/sys/unix"
)

// pause sleeps for d in the calling thread: the runtime's timers wake a
// sleeping goroutine a millisecond late at best, longer than a query's
// last task often takes.
func pause(d time.Duration) {
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_ = unix.Nanosleep(&ts, nil) // woken early by a signal: ask again sooner
}
