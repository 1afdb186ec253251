//go:build unix

package executor

import (
	"os"
	"syscall"
)

// tryLock takes f's exclusive lock without waiting; the lock goes with the
// process that holds it.
func tryLock(f *os.File) bool {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil
}
