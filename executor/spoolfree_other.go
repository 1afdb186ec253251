//go:build !unix

package executor

// diskFree cannot tell off Unix: --spool-disk-gb is taken as given.
func diskFree(string) (int64, bool) { return 0, false }
