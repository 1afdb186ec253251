//go:build !unix

package flightsql

// defaultOpenFiles: no budget where the limit cannot be read.
func defaultOpenFiles() int { return 0 }

// openFilesStat: no count where there is no /proc.
func openFilesStat() int { return -1 }
