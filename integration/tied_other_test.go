//go:build !linux

package integration

import "os/exec"

// startTied starts cmd; only Linux can tie a child's life to the test
// binary's (tied_linux_test.go).
func startTied(cmd *exec.Cmd) (<-chan error, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}
