package flighttest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// PerfEnv names perf record's control FIFOs ("CTL" or "CTL,ACK", as
// `perf record --control fifo:CTL,ACK -D -1` takes them): set, a benchmark
// has perf sample only its timed section (PerfWindow), not the building of
// its data. Go's own CPU profile cannot replace it for a fetch: it names no
// function of DuckDB's worker thread, which is not a Go thread
// (bench/perf_fetch.py).
const PerfEnv = "SKEIN_PERF_CTL"

// PerfWindow enables perf's sampling and returns the function that
// disables it again; without PerfEnv both do nothing. With an ACK FIFO each
// command waits for perf's acknowledgement, so no sample is lost or added
// at the window's edges.
func PerfWindow(b testing.TB) (stop func()) {
	spec := os.Getenv(PerfEnv)
	if spec == "" {
		return func() {}
	}
	ctl, ack, _ := strings.Cut(spec, ",")
	command := func(cmd string) {
		f, err := os.OpenFile(ctl, os.O_WRONLY, 0)
		if err != nil {
			b.Fatalf("%s: %v", PerfEnv, err)
		}
		_, err = f.WriteString(cmd + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			b.Fatalf("%s: %v", PerfEnv, err)
		}
		if ack == "" {
			return
		}
		// perf holds the FIFO open: read its one line, not to EOF.
		f, err = os.Open(ack)
		if err != nil {
			b.Fatalf("%s: %v", PerfEnv, err)
		}
		defer f.Close()
		reply, err := bufio.NewReader(f).ReadString('\n')
		if err != nil || !strings.HasPrefix(reply, "ack") {
			b.Fatalf("%s: perf's acknowledgement %q: %v", PerfEnv, reply, err)
		}
	}
	command("enable")
	return func() { command("disable") }
}
