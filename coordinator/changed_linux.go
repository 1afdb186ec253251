package coordinator

import (
	"os"
	"syscall"
)

// changedAt is when the file fi describes last changed, in Unix ns: its
// status change time (ctime), which a write, a rename over it and a
// reset of its modification time all move and nobody can set back
// (cp -p, rsync -a and touch -d set the modification time back: a
// file renamed over another of its size with the old time restored kept a
// plan's cached row groups, and a query counted 10,240 rows of 100,000).
// It is the node's own: another node's mount of the file may say
// another.
func changedAt(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ctim.Nano()
	}
	return fi.ModTime().UnixNano()
}
