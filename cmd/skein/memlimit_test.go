package main

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"
)

// An executor tells the Go runtime its spool budget plus headroom, unless
// the operator set GOMEMLIMIT.
func TestGoMemLimit(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(was) })
	if v, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Cleanup(func() { os.Setenv("GOMEMLIMIT", v) })
	}
	os.Unsetenv("GOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	if got := setGoMemLimit(256<<20, zerolog.Nop()); got != 768<<20 || debug.SetMemoryLimit(-1) != 768<<20 {
		t.Fatalf("limit %d, runtime's %d, want %d", got, debug.SetMemoryLimit(-1), 768<<20)
	}
	t.Setenv("GOMEMLIMIT", "3GiB")
	debug.SetMemoryLimit(3 << 30) // what the runtime read from it at start
	if got := setGoMemLimit(256<<20, zerolog.Nop()); got != 0 || debug.SetMemoryLimit(-1) != 3<<30 {
		t.Fatalf("with GOMEMLIMIT set: limit %d, runtime's %d", got, debug.SetMemoryLimit(-1))
	}
}
