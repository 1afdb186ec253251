package duck

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
)

// vmData is the process's mapped data (VmData), what RLIMIT_DATA bounds.
func vmData(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmData:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n << 10
		}
	}
	t.Fatal("no VmData in /proc/self/status")
	return 0
}

// DuckDB's allocator gives back the address space of what a query freed:
// it kept it, and a 1.5 GB string built by doubling left 8.2 GB mapped
// after the query (under --process-memory-limit, the room every later
// thread's stack and Go heap needed). allocator.c sets it so.
func TestAllocatorGivesBackItsMappings(t *testing.T) {
	_, c, _ := openTest(t)
	before := vmData(t)
	if _, err := c.Exec(context.Background(), "SELECT length(string_agg(repeat('x', 1 << 20), '')) FROM range(1500)"); err != nil {
		t.Fatal(err)
	}
	if after := vmData(t); after-before > 1<<30 {
		t.Errorf("the process maps %d MB after a query building a 1.5 GB string, %d MB before", after>>20, before>>20)
	}
}
