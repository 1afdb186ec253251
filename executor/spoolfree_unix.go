//go:build unix

package executor

import "syscall"

// diskFree is how many bytes the file system holding dir has free for an
// unprivileged writer; false when it cannot tell.
func diskFree(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
