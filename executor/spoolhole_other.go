//go:build !linux

package executor

import "os"

// punchHole gives nothing back off Linux: a spool's file keeps its read
// frames until the spool is released.
func punchHole(*os.File, int64, int64) bool { return false }
