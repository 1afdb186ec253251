//go:build !linux

package coordinator

import "os"

// changedAt is when the file fi describes last changed, in Unix ns: its
// modification time here (Linux uses the status change time).
func changedAt(fi os.FileInfo) int64 { return fi.ModTime().UnixNano() }
