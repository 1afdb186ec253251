package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
)

// loadMix is the TPC-H queries the load test cycles through (0-based):
// scans, aggregates and joins that split, and some that stay local.
var loadMix = []int{0, 2, 3, 4, 5, 9, 11, 13, 17, 18}

// TestLoad runs clients, each on its own connection, issuing queries of a
// TPC-H mix back to back at a coordinator and two executors (separate
// processes). Every answer must equal DuckDB's and none may fail; the
// coordinator's resident set size is sampled throughout and reported as a
// curve.
func TestLoad(t *testing.T) {
	clients := soakCount(t, "CLIENTS", 8, 32)
	perClient := soakCount(t, "QUERIES", 25, 1000)
	ctx := context.Background()
	dir := t.TempDir()
	views := tpchData(t, ctx, dir)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	want := make([][]string, len(loadMix))
	for i, q := range loadMix {
		res := runDuck(ctx, ref, tpchQueries[q])
		if res.err != nil {
			t.Fatalf("reference Q%d: %v", q+1, res.err)
		}
		want[i] = res.rows
	}
	pc := newProcCluster(t, dir)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--task-rows", "4000")
	pc.executor(coord.uri)
	pc.executor(coord.uri)
	admin := dial(t, coord.uri)
	for _, v := range views {
		mustUpdate(t, ctx, admin, v)
	}
	waitExecutors(t, ctx, admin, 2, "SELECT count(*) FROM lineitem")
	conns := make([]*flightsql.Client, clients)
	for c := range conns {
		conns[c] = dial(t, coord.uri)
	}

	sctx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	rss := sampleRSS(sctx, coord.cmd.Process.Pid, 2*time.Second)
	var failed, wrong atomic.Int64
	var reported atomic.Int64
	report := func(format string, args ...any) {
		if reported.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c, cl := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perClient {
				i := (c + k) % len(loadMix)
				qctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
				got := runFlight(qctx, cl, tpchQueries[loadMix[i]])
				cancel()
				switch {
				case got.err != nil:
					failed.Add(1)
					report("client %d, query %d (Q%d): %v", c, k, loadMix[i]+1, got.err)
				case !slices.Equal(got.rows, want[i]):
					wrong.Add(1)
					report("client %d, query %d (Q%d) (%s): got %d rows, want %d", c, k, loadMix[i]+1, got.info,
						len(got.rows), len(want[i]))
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	curve := rss.samples()
	stopSampling()
	total := clients * perClient
	figures(t, "%d clients x %d queries = %d in %v (%.1f queries/s), %d errors, %d wrong answers",
		clients, perClient, total, took.Round(time.Second), float64(total)/took.Seconds(), failed.Load(), wrong.Load())
	figures(t, "coordinator RSS (MiB) every 2s: %s", rssCurve(curve))
	if coord.exited() {
		t.Fatalf("the coordinator exited: %v", coord.err)
	}
}

// rssCurve renders samples as "t:MiB" pairs, at most 60 of them (evenly
// spaced, always the first and the last), then the peak.
func rssCurve(curve []rssSample) string {
	if len(curve) == 0 {
		return "no samples"
	}
	var parts []string
	step := max(1, (len(curve)+59)/60)
	var peak int64
	for i, s := range curve {
		peak = max(peak, s.kib)
		if i%step == 0 || i == len(curve)-1 {
			parts = append(parts, fmt.Sprintf("%.0fs:%d", s.at.Seconds(), s.kib>>10))
		}
	}
	return fmt.Sprintf("%s (peak %d)", strings.Join(parts, " "), peak>>10)
}
