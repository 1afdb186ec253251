package integration

import (
	"os/exec"
	"runtime"
	"syscall"
)

// startTied starts cmd so that it dies with the test binary. A test binary
// that panics on its -timeout runs no t.Cleanup, and the coordinators,
// executors and moto servers it started would live on, holding ports and
// CPU for the next run. Linux's parent-death signal kills the child when
// the thread that forked it exits, not the process, so that thread is kept
// locked to a goroutine until the child has exited: Go never ends a thread
// it has not been asked to. The channel receives cmd.Wait's result once.
func startTied(cmd *exec.Cmd) (<-chan error, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	exited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return exited, nil
}
