//go:build !unix

package executor

import "os"

// tryLock: without flock no directory is known to be abandoned, and none
// is swept.
func tryLock(*os.File) bool { return false }
