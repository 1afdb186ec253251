package executor

import (
	"os"
	"syscall"
)

// punchHole gives the file system back the blocks of f's bytes [off,
// off+n) (fallocate's FALLOC_FL_PUNCH_HOLE, keeping the file's length),
// reporting whether it did: ext4, xfs, btrfs and tmpfs do.
func punchHole(f *os.File, off, n int64) bool {
	const punchHole, keepSize = 0x02, 0x01
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = syscall.Fallocate(int(fd), punchHole|keepSize, off, n)
	}); err != nil {
		return false
	}
	return ferr == nil
}
