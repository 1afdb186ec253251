package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CancelFlightInfo of a distributed query, whose tasks start when the
// FlightInfo is issued, stops them on every executor before anyone reads
// them (skein sql --explain reads none), and ends the query cancelled:
// task tickets (scatter), merge tickets (scatter-merge) and single-endpoint
// tickets (a scatter in result mode single) alike.
func TestCancelFlightInfoStopsTasks(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	co, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	// Every row costs milliseconds (the length depends on id, so nothing
	// folds to a constant): the tasks would run for half a minute, a
	// chunk of rows for seconds (DuckDB stops between chunks).
	slow := fmt.Sprintf("levenshtein(repeat('a', 600 + id %% 2), repeat('b', 600)) FROM read_parquet('%s')", glob)
	for _, c := range []struct{ mode, results, sql string }{
		{"scatter", "", "SELECT id, " + slow},
		{"scatter-merge", "", "SELECT max(" + strings.Replace(slow, " FROM", ") FROM", 1)},
		{"scatter", "single", "SELECT id, " + slow},
	} {
		qctx := ctx
		if c.results != "" {
			qctx = withResultMode(ctx, c.results)
		}
		info, err := cl.Execute(qctx, c.sql)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		if plan.Mode != c.mode {
			t.Fatalf("%s: mode %s, want %s", c.sql, plan.Mode, c.mode)
		}
		eventually(t, 30*time.Second, func() (bool, string) { return runningTasks(co) > 0, c.mode + ": no task runs" })
		start := time.Now()
		res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info})
		if err != nil || res.Status != flight.CancelStatusCancelled {
			t.Fatalf("%s: CancelFlightInfo %v %v", c.mode, res.Status, err)
		}
		eventually(t, 30*time.Second, func() (bool, string) {
			got := recorded(t, ctx, cl, plan.QueryID)
			ok := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID))
			n := runningTasks(co)
			return strings.HasPrefix(got, "cancelled") && n == 0 && ok == 0,
				fmt.Sprintf("%s: query recorded %q, %d tasks running, %d ran to the end", c.mode, got, n, ok)
		})
		t.Logf("%s: the tasks stopped %v after CancelFlightInfo", c.mode, time.Since(start).Round(time.Millisecond))
	}
}

// A cancelled query's tickets no longer run. Redeemed after the cancel
// (at its executors or here), a ticket ran its task again with its
// producers, out of the scheduler's reach and past the cancel: a storm of
// clients cancelling and reading held streams for minutes, and results
// nobody read held the spools for ten minutes. Now each read fails
// Canceled at once, nothing of the query runs to its end, and the spools
// are empty.
func TestCancelledTicketsDoNotRun(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for _, mode := range []string{"direct", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			// Slow tasks: none ends before the cancel.
			c, cl, _ := stagedCluster(t, mode, slowTasks(2*time.Second, nil))
			ctx := context.Background()
			info := staged(t, cl, "SELECT f.k, f.x, o.od FROM fact f JOIN ord o ON f.o = o.o")
			plan := planOf(t, info)
			if res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil || res.Status != flight.CancelStatusCancelled {
				t.Fatalf("CancelFlightInfo %v %v", res.Status, err)
			}
			for _, ep := range info.Endpoint {
				rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				var stream flight.FlightService_DoGetClient
				var err error
				if locs := ep.GetLocation(); len(locs) > 0 {
					stream, err = dialAt(t, locs[0].GetUri()).DoGet(rctx, ep.Ticket)
				} else {
					stream, err = cl.Client.DoGet(rctx, ep.Ticket)
				}
				if err == nil {
					_, err = stream.Recv()
				}
				cancel()
				if status.Code(err) != codes.Canceled || !strings.Contains(err.Error(), "was cancelled") {
					t.Fatalf("reading an endpoint of a cancelled query: %v, want Canceled", err)
				}
			}
			time.Sleep(3 * time.Second) // past any task's 2 s
			if ok := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID)); ok != 0 {
				t.Errorf("%d tasks of the cancelled query ran to their end", ok)
			}
			noShuffleData(t, c, "a cancelled query read")
		})
	}
}

// A reader in the middle of a cancelled query's stream stops with the
// cancel, even when its task's result is spooled whole: it read on to the
// end.
func TestCancelStopsAReaderMidStream(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, _ := stagedCluster(t, "direct", func(c *Config) {
		c.Executor = func(e *executor.Config) {
			e.Batch = duck.BatchSize{Rows: 256, Bytes: duck.DefaultBatchSize.Bytes}
		}
	})
	ctx := context.Background()
	// Rows of 4 KB: more than gRPC's windows hold in flight.
	info := staged(t, cl, "SELECT f.k, f.x, o.od, repeat(f.c, 2000) AS pad FROM fact f JOIN ord o ON f.o = o.o")
	ep := info.Endpoint[0]
	stream, err := dialAt(t, ep.GetLocation()[0].GetUri()).DoGet(ctx, ep.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() {
		t.Fatalf("no first batch: %v", r.Err())
	}
	// Its task has spooled the rest (the spool is not read further).
	eventually(t, 10*time.Second, func() (bool, string) {
		return runningTasks(c) == 0, "the query's tasks still run"
	})
	if res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil || res.Status != flight.CancelStatusCancelled {
		t.Fatalf("CancelFlightInfo %v %v", res.Status, err)
	}
	rows := 0
	for r.Next() {
		rows += int(r.RecordBatch().NumRows())
	}
	if status.Code(r.Err()) != codes.Canceled {
		t.Fatalf("the reader went on after the cancel (%d more rows): %v, want Canceled", rows, r.Err())
	}
	noShuffleData(t, c, "a cancelled query's stream")
}

// A stream of a cancelled query open at the coordinator (proxy mode: the
// coordinator relays its tasks, or merges them) stops with the cancel,
// Canceled; it read on to its end.
func TestCancelStopsProxiedStreams(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	// Slow tasks: the streams are open at the cancel.
	c, cl, _ := stagedCluster(t, "proxy", slowTasks(2*time.Second, nil))
	ctx := context.Background()
	for _, q := range []string{
		"SELECT f.k, f.x, o.od FROM fact f JOIN ord o ON f.o = o.o", // relayed
		"SELECT d, count(*) AS n, sum(x) AS s FROM fact GROUP BY d", // merged here
	} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, len(info.Endpoint))
		for _, ep := range info.Endpoint {
			go func() {
				r, err := cl.DoGet(ctx, ep.Ticket)
				if err == nil {
					for r.Next() {
					}
					err = r.Err()
					r.Release()
				}
				errs <- err
			}()
		}
		time.Sleep(500 * time.Millisecond) // the streams are open, waiting for the tasks
		if res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil || res.Status != flight.CancelStatusCancelled {
			t.Fatalf("CancelFlightInfo %v %v", res.Status, err)
		}
		for range info.Endpoint {
			if err := <-errs; status.Code(err) != codes.Canceled || !strings.Contains(err.Error(), "was cancelled") {
				t.Fatalf("%s: a stream open at the cancel: %v, want Canceled", q, err)
			}
		}
	}
	noShuffleData(t, c, "cancelled proxied streams")
}

// slowTasks makes each task the executors run wait d before it runs (or
// only those which says), unless cancelled meanwhile.
func slowTasks(d time.Duration, which func(cluster.Task) bool) func(*Config) {
	return func(c *Config) {
		c.Executor = func(e *executor.Config) {
			e.Test = &executor.TestHooks{Before: func(ctx context.Context, t cluster.Task) error {
				if which != nil && !which(t) {
					return nil
				}
				select {
				case <-time.After(d):
					return nil
				case <-ctx.Done():
					return ctx.Err()
				}
			}}
		}
	}
}
