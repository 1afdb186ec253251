//go:build !linux

package duck

import "os"

// Changed is when the file fi describes last changed, in Unix ns: its
// modification time here (Linux uses the status change time).
func Changed(fi os.FileInfo) int64 { return fi.ModTime().UnixNano() }
