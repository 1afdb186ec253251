//go:build unix

package flightsql

import "syscall"

// defaultOpenFiles is MaxOpenFiles' default: half the process's limit
// (Go raises the soft limit to the hard one at start), the other half
// left for running queries, spool files and connections.
func defaultOpenFiles() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 0
	}
	return int(min(lim.Cur/2, 1<<30))
}
