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

// openFilesStat is the process's descriptor count as Linux 6.2 and later
// report it, the size of /proc/self/fd; 0 where the kernel reports none
// (older ones, other systems), -1 where it cannot be read.
func openFilesStat() int {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/fd", &st); err != nil {
		return -1
	}
	return int(st.Size)
}
