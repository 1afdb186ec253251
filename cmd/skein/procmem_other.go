//go:build !linux

package main

import "errors"

// setDataLimit: RLIMIT_DATA bounds a process's mappings on Linux only.
func setDataLimit(int64) (int64, error) {
	return 0, errors.New("a process memory limit is set on Linux only")
}

func machineMemory() int64 { return 0 }

func reserveGoHeap(int64, int64) int64 { return 0 }

func threadStack() int64 { return 0 }
