package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// Staged queries of the fault tests: a co-partitioned join with an
// aggregate (two shuffles into the join, one by group key after it) and a
// grouped aggregate finished on executors; both answer with one endpoint
// per final task.
var stagedFaultQueries = map[string]string{
	"join": "SELECT o.urgent, f.d, count(*) AS n, sum(f.x) AS s FROM fact f JOIN ord o ON f.o = o.o GROUP BY o.urgent, f.d",
	"agg":  "SELECT k % 1000 AS b, count(*) AS n, sum(x) AS s, max(c) AS c FROM fact GROUP BY b",
}

// stagedCluster is a cluster over stageData's tables, with views, whose
// joins co-partition ord; opts adjust it further.
func stagedCluster(t *testing.T, mode string, opts ...func(*Config)) (*Coordinator, *flightsql.Client, *duck.Conn) {
	t.Helper()
	return stagedClusterOf(t, 2, mode, opts...)
}

// stagedClusterOf is stagedCluster with n executors.
func stagedClusterOf(t *testing.T, n int, mode string, opts ...func(*Config)) (*Coordinator, *flightsql.Client, *duck.Conn) {
	t.Helper()
	dir := t.TempDir()
	views := stageData(t, dir)
	c, cl, _ := startCluster(t, n, mode, append([]func(*Config){func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	}}, opts...)...)
	ctx := context.Background()
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	return c, cl, ref
}

// duckRows is one DuckDB's answer to q, rendered and sorted.
func duckRows(t *testing.T, conn *duck.Conn, q string) []string {
	t.Helper()
	rows := duckInOrder(t, conn, q)
	slices.Sort(rows)
	return rows
}

// duckInOrder is a query's answer on plain DuckDB, rows in its order.
func duckInOrder(t *testing.T, conn *duck.Conn, q string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := conn.Prepare(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	return rowStrings(t, rdr)
}

// staged runs q, checks it is planned in stages with a gather stage of
// several tasks, and gives its FlightInfo.
func staged(t *testing.T, cl *flightsql.Client, q string) *flight.FlightInfo {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if p := planOf(t, info); p.Mode != "stages" || len(info.Endpoint) < 2 {
		t.Fatalf("%s: plan %s with %d endpoints, want stages gathering from several tasks", q, p.Mode, len(info.Endpoint))
	}
	return info
}

// endpointRows reads endpoints through the coordinator, rendered.
func endpointRows(t *testing.T, cl *flightsql.Client, eps []*flight.FlightEndpoint) []string {
	t.Helper()
	var rows []string
	for _, ep := range eps {
		r, err := cl.DoGet(context.Background(), ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, rowStrings(t, r)...)
		r.Release()
	}
	return rows
}

// In proxy mode a staged query survives the loss of an executor after its
// FlightInfo, before it is read or between its endpoints: the coordinator
// retries a final task at its alternate, whose inputs come from the
// surviving producers or are recomputed there from the files. The answer
// is DuckDB's, and no shuffle data is left on the survivor. So in single
// mode, whose one endpoint reads the final tasks as proxy mode does.
func TestStagedQuerySurvivesALostExecutor(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for name, q := range stagedFaultQueries {
		for _, when := range []string{"before reading", "between endpoints", "single, before reading"} {
			t.Run(name+" "+when, func(t *testing.T) {
				mode := "proxy"
				if strings.HasPrefix(when, "single") {
					mode = "single"
				}
				c, cl, ref := stagedCluster(t, mode)
				want := duckRows(t, ref, q)
				info, err := cl.Execute(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				if p := planOf(t, info); p.Mode != "stages" || len(p.Plan) < 2 {
					t.Fatalf("%s: plan %s with %d final tasks, want stages gathering from several", q, p.Mode, len(p.Plan))
				}
				lost, survivor := c.Executors()[0], c.Executors()[1]
				var got []string
				if when == "between endpoints" {
					got = endpointRows(t, cl, info.Endpoint[:1])
					lost.Shutdown()
					got = append(got, endpointRows(t, cl, info.Endpoint[1:])...)
				} else {
					lost.Shutdown()
					got = endpointRows(t, cl, info.Endpoint)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(got), len(want), first(got), first(want))
				}
				noSpool(t, survivor)
			})
		}
	}
}

// Of three executors two are lost after the FlightInfo, so that some
// producers lose both their executor and their alternate: the survivor,
// given the final tasks again, runs those producers itself from their
// tickets. The answer is DuckDB's.
func TestStagedQuerySurvivesTwoLostExecutors(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for name, q := range stagedFaultQueries {
		t.Run(name, func(t *testing.T) {
			c, cl, ref := stagedClusterOf(t, 3, "proxy")
			want := duckRows(t, ref, q)
			info := staged(t, cl, q)
			execs := c.Executors()
			on := map[string]bool{}
			for _, ti := range planOf(t, info).Plan {
				on[ti.Executor] = true
			}
			if len(on) != 3 {
				t.Fatalf("the final tasks run on %d executors, want 3", len(on))
			}
			execs[0].Shutdown()
			execs[1].Shutdown()
			got := endpointRows(t, cl, info.Endpoint)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(got), len(want), first(got), first(want))
			}
			noSpool(t, execs[2])
		})
	}
}

// noSpool waits until an executor's spools hold nothing (but the idle
// partition buffers kept for its next producer).
func noSpool(t *testing.T, e *executor.Executor) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		u := e.Spooled()
		return u == executor.SpoolUsage{Idle: u.Idle}, fmt.Sprintf("executor %s still spools %+v", e.ID(), u)
	})
}

// spooled is every executor's spool use, summed.
func spooled(c *Coordinator) (u executor.SpoolUsage) {
	for _, e := range c.Executors() {
		s := e.Spooled()
		u.Memory, u.Shuffle, u.Disk, u.Files = u.Memory+s.Memory, u.Shuffle+s.Shuffle, u.Disk+s.Disk, u.Files+s.Files
	}
	return u
}

// noShuffleData waits until no executor of c spools anything.
func noShuffleData(t *testing.T, c *Coordinator, what string) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		u := spooled(c)
		return u == executor.SpoolUsage{}, fmt.Sprintf("%s: the executors still spool %+v", what, u)
	})
}

// smallSpools makes executors spill past 8 KiB of spooled results and keep
// a started task's result for keep.
func smallSpools(keep time.Duration) func(*Config) {
	return func(c *Config) {
		c.Executor = func(e *executor.Config) {
			e.SpoolMemory, e.KeepFor = 8<<10, keep
		}
	}
}

// Shuffle data (partitions, final results) is gone from every executor's
// spools, memory and files, after a staged query ends and after one whose
// final stage fails at run time, long before the results' tickets expire.
// The spool memory is small, so that partitions spill to files.
func TestShuffleDataIsReleased(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, _ := stagedCluster(t, "proxy", smallSpools(0))
	ctx := context.Background()
	for _, mode := range []string{"proxy", "direct", "single"} {
		for _, q := range stagedFaultQueries {
			opts, _ := flight.NewSessionOptionValues(map[string]any{"result_mode": mode})
			sctx, err := cl.Client.AuthenticateBasicToken(ctx, "ann", "any")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cl.SetSessionOptions(sctx, &flight.SetSessionOptionsRequest{SessionOptions: opts}); err != nil {
				t.Fatal(err)
			}
			info, err := cl.Execute(sctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range info.Endpoint {
				var r *flight.Reader
				if locs := ep.GetLocation(); len(locs) > 0 {
					r = readerAt(t, ctx, locs[0].GetUri(), ep.Ticket)
				} else if r, err = cl.DoGet(sctx, ep.Ticket); err != nil {
					t.Fatal(err)
				}
				rowStrings(t, r)
				r.Release()
			}
			noShuffleData(t, c, mode+" "+q)
		}
	}
	// One final task fails at run time (the group (true, 3) cannot
	// cast), the others succeed and hold their results. The client reads
	// the failing endpoint first and gives up: the coordinator cancels the
	// query on every executor, so the results never read go too.
	bad := `SELECT o.urgent, f.d, CAST(CASE WHEN f.d = 3 AND o.urgent THEN max(f.c) ELSE '1' END AS INTEGER) AS n
FROM fact f JOIN ord o ON f.o = o.o GROUP BY o.urgent, f.d`
	info := staged(t, cl, bad)
	plan := planOf(t, info)
	var failed int64 = -1
	eventually(t, 10*time.Second, func() (bool, string) {
		v := queryValue(t, ctx, cl, fmt.Sprintf(`SELECT min(task_id)::BIGINT FROM skein.tasks
WHERE query_id = '%s' AND status = 'failed'`, plan.QueryID))
		if v != nil {
			failed = v.(int64)
		}
		ok := v != nil && spooled(c).Memory+spooled(c).Disk > 0
		return ok, fmt.Sprintf("no failed final task with results held elsewhere (failed %v, spooled %+v)", v, spooled(c))
	})
	ep := info.Endpoint[int(failed)-(plan.Tasks-len(info.Endpoint))]
	r, err := cl.DoGet(ctx, ep.Ticket)
	if err == nil {
		for r.Next() {
		}
		err = r.Err()
		r.Release()
	}
	if err == nil || !strings.Contains(err.Error(), "Conversion Error") {
		t.Fatalf("a final task that cannot cast: %v", err)
	}
	noShuffleData(t, c, "a failed final stage")
}

// A staged query nobody reads: its executors hold the final results (rows
// of a join, spilled to files) until they have waited KeepFor, then drop
// them.
func TestUnreadShuffleDataExpires(t *testing.T) {
	c, cl, _ := stagedCluster(t, "proxy", smallSpools(2*time.Second))
	staged(t, cl, "SELECT f.k, f.x, o.urgent FROM fact f JOIN ord o ON f.o = o.o")
	eventually(t, 10*time.Second, func() (bool, string) {
		u := spooled(c)
		return u.Files > 0, fmt.Sprintf("an unread query's results spool %+v, want files", u)
	})
	noShuffleData(t, c, "a query nobody read")
}

// A query that stays on the coordinator says why in its FlightInfo's
// app_metadata (what --explain prints), and still answers.
func TestLocalQueriesSayWhy(t *testing.T) {
	_, cl, ref := stagedCluster(t, "direct")
	ctx := context.Background()
	for q, why := range map[string]string{
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r": "runs local: a recursive WITH",
		"SELECT k, random() FROM fact":                                                             "runs local: volatile function random",
		"SELECT f.k, o.o FROM ord o FULL JOIN fact f ON f.o < o.o AND o.o < 3":                     "runs local: a FULL join without an equality",
		"SELECT 42 AS answer":                                                                      "runs local: reads a EMPTY, not a file scan",
		"SELECT k FROM fact SEMI JOIN ord USING (o)":                                               "runs local: SEMI JOIN is not planned (written as WHERE EXISTS",
		"SELECT k FROM fact ORDER BY k, x OFFSET 5":                                                "runs local: OFFSET without LIMIT",
		"SELECT f.k, x.n FROM fact f, LATERAL (SELECT count(*) AS n FROM ord o WHERE o.o = f.o) x": "runs local: join input x reads columns of input f (LATERAL",
		"SELECT count(*) FROM (SELECT o, count(*) AS n FROM fact GROUP BY o) a JOIN (SELECT o, count(*) AS n FROM ord GROUP BY o) b ON a.o = b.o + 1": "runs local: two inputs each computed by stages of its own (aggregates, joins), inner joined without an equality",
	} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var e explanation
		if err := json.Unmarshal(info.AppMetadata, &e); err != nil || e.Mode != "local" || !strings.HasPrefix(e.Reason, why) {
			t.Errorf("%s: app_metadata %s (%v), want mode local and a reason starting %q", q, info.AppMetadata, err, why)
		}
		got := endpointRows(t, cl, info.Endpoint)
		slices.Sort(got)
		if want := duckRows(t, ref, q); len(got) != len(want) {
			t.Errorf("%s: %d rows, want %d", q, len(got), len(want))
		}
	}
}

// In direct mode a staged query whose final task fails ends `failed` in
// skein.queries, with the error its client got at the executor, soon after
// the client gave up (dropGrace): the executors report the failed read. It
// stayed `running` until its tickets expired (ten minutes).
func TestFailedDirectReadEndsTheQuery(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	_, cl, _ := stagedCluster(t, "direct")
	ctx := context.Background()
	bad := `SELECT o.urgent, f.d, CAST(CASE WHEN f.d = 3 AND o.urgent THEN max(f.c) ELSE '1' END AS INTEGER) AS n
FROM fact f JOIN ord o ON f.o = o.o GROUP BY o.urgent, f.d`
	info := staged(t, cl, bad)
	plan := planOf(t, info)
	// The client reads every endpoint, the others after the failed one
	// too (they must not keep the query running).
	var got error
	for _, ep := range info.Endpoint {
		stream, err := dialAt(t, ep.GetLocation()[0].GetUri()).DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		r, err := flight.NewRecordReader(stream)
		if err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Release()
		}
		if err != nil {
			got = err
		}
	}
	if got == nil || !strings.Contains(got.Error(), "Conversion Error") {
		t.Fatalf("reading a final task that cannot cast: %v", got)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		rec := recorded(t, ctx, cl, plan.QueryID)
		text := queryString(t, ctx, cl, fmt.Sprintf(`SELECT error FROM skein.queries WHERE query_id = '%s'`, plan.QueryID))
		return rec == "failed 0 error" && strings.Contains(text, "Conversion Error"),
			fmt.Sprintf("skein.queries has %q (%q), want it failed with the task's error", rec, text)
	})
}

// In direct mode a client that opens a stream of a final task before the
// task has started (it waits for its producers) keeps its query: the
// executor counts the stream open from when it is opened, not from when
// the task's result is there. The query was abandoned once its endpoints'
// expiry passed (the waiting stream was not reported) and every task run
// again for the waiting reader.
func TestWaitingReadKeepsItsQuery(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	// Slow producers: their consumers wait past the expiry.
	_, cl, ref := stagedCluster(t, "direct", func(c *Config) { c.EndpointExpiry = time.Second },
		slowTasks(3*time.Second, func(t cluster.Task) bool { return t.Partitions > 0 }))
	ctx := context.Background()
	q := "SELECT f.k, f.x, o.od FROM fact f JOIN ord o ON f.o = o.o"
	want := duckRows(t, ref, q)
	info := staged(t, cl, q)
	plan := planOf(t, info)
	var got []string
	for _, ep := range info.Endpoint {
		r := readerAt(t, ctx, ep.GetLocation()[0].GetUri(), ep.Ticket)
		got = append(got, rowStrings(t, r)...)
		r.Release()
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%d rows, want DuckDB's %d", len(got), len(want))
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		rec := recorded(t, ctx, cl, plan.QueryID)
		return strings.HasPrefix(rec, "ok "), fmt.Sprintf("skein.queries has %q, want it ok", rec)
	})
	runs := queryValue(t, ctx, cl, fmt.Sprintf(`SELECT count(*)::BIGINT FROM skein.tasks WHERE query_id = '%s'`, plan.QueryID))
	if runs != int64(plan.Tasks) {
		t.Errorf("%v task attempts, want one for each of the %d tasks", runs, plan.Tasks)
	}
}

// A query failing alike in each of its tasks says the error once, and how
// many other tasks failed: joined, 16 tasks' copies made 18 KB.
func TestFailingTasksSayTheErrorOnce(t *testing.T) {
	_, cl, _ := stagedCluster(t, "proxy")
	ctx := context.Background()
	info, err := cl.Execute(ctx, "SELECT count(*) FROM fact WHERE c::INTEGER > 0")
	if err == nil {
		var r *flight.Reader
		if r, err = cl.DoGet(ctx, info.Endpoint[0].Ticket); err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Release()
		}
	}
	if err == nil || strings.Count(err.Error(), "Conversion Error") != 1 || !strings.Contains(err.Error(), "other tasks failed") {
		t.Fatalf("%v, want DuckDB's error once and a count of the other tasks", err)
	}
}

// In direct mode the client reads a staged query's endpoints at the
// executors, the first at its executor before another executor is lost,
// the rest at their alternates once their first locations fail. The
// survivor runs the lost producers again for the consumers it is given,
// every partition of them; the partitions of the consumer read before
// the loss are never read. Once every endpoint was read to its end the
// coordinator cancels the query on the executors, which drop them: they
// stayed until the tickets expired.
func TestDirectStagedQueryLeavesNothing(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	q := stagedFaultQueries["join"]
	c, cl, ref := stagedCluster(t, "direct")
	want := duckRows(t, ref, q)
	info := staged(t, cl, q)
	plan := planOf(t, info)
	execs := c.Executors()
	byID := map[string]*executor.Executor{}
	for _, e := range execs {
		byID[e.ID()] = e
	}
	finals := plan.Plan // the gather stage's tasks, one per endpoint
	if !slices.ContainsFunc(finals, func(ti taskInfo) bool { return ti.Executor != finals[0].Executor }) {
		t.Fatalf("the final tasks all run on one executor: %+v", plan.Plan)
	}
	survivor := byID[finals[0].Executor]
	var lost *executor.Executor
	for _, e := range execs {
		if e != survivor {
			lost = e
		}
	}
	ctx := context.Background()
	read := func(ep *flight.FlightEndpoint, tolerate bool) []string {
		for _, loc := range ep.GetLocation() {
			if strings.HasPrefix(loc.GetUri(), "arrow-flight-reuse-connection") {
				continue
			}
			stream, err := dialAt(t, loc.GetUri()).DoGet(ctx, ep.Ticket)
			var r *flight.Reader
			if err == nil {
				r, err = flight.NewRecordReader(stream)
			}
			if err != nil {
				if tolerate {
					continue // a client tries the endpoint's next location
				}
				t.Fatal(err)
			}
			rows := rowStrings(t, r)
			r.Release()
			return rows
		}
		t.Fatalf("no location of the endpoint answered: %v", ep.GetLocation())
		return nil
	}
	got := read(info.Endpoint[0], false)
	lost.Shutdown()
	for _, ep := range info.Endpoint[1:] {
		got = append(got, read(ep, true)...)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(got), len(want), first(got), first(want))
	}
	noSpool(t, survivor)
}

// A task whose own SQL fails as it runs (after its stream began: an
// overflow, error() of one row) fails alike anywhere: its query fails at
// its first attempt, relayed or merged, where it ran again on the other
// executor first (a UHUGEINT overflow took 9 s to answer).
func TestTaskFailingAsItRunsIsNotRunAgain(t *testing.T) {
	_, cl, _ := stagedCluster(t, "proxy")
	ctx := context.Background()
	for _, q := range []string{
		"SELECT k, CASE WHEN k % 5000 = 4999 THEN error('boom ' || k) ELSE 'ok' END AS e FROM fact",
		"SELECT sum(CASE WHEN k % 5000 = 4999 THEN error('boom ' || k)::BIGINT ELSE k END) FROM fact",
	} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		if len(info.Endpoint) == 0 {
			t.Fatalf("%s: no endpoint", q)
		}
		r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
		if err == nil {
			for r.Next() {
			}
			err = r.Err()
			r.Release()
		}
		if err == nil || !strings.Contains(err.Error(), "boom") {
			t.Fatalf("%s (%s): %v, want the task's error", q, plan.Mode, err)
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			rec := recorded(t, ctx, cl, plan.QueryID)
			return strings.HasPrefix(rec, "failed"), fmt.Sprintf("skein.queries has %q", rec)
		})
		again := queryString(t, ctx, cl, fmt.Sprintf(`SELECT coalesce(string_agg(task_id || ': ' || runs, '; '), '') FROM (
  SELECT task_id, string_agg(executor || ' ' || status || ' ' || coalesce(error, ''), ', ') AS runs
  FROM skein.tasks WHERE query_id = '%s' GROUP BY task_id HAVING count(*) > 1)`, plan.QueryID))
		if again != "" {
			t.Errorf("%s (%s): tasks run more than once: %s", q, plan.Mode, again)
		}
	}
	// Said once: a merge's read of a failed task named it again ("task 0
	// (executor X): task q/0 (executor X): ...", a tester's). The failure
	// reaches the merge from the read (naming the executor) or, when the
	// task failed as it started, from the scheduler (naming none).
	err := run(ctx, cl, "SELECT count(*) FROM fact WHERE k::VARCHAR || 'x' IN ('k1', 5)")
	if err == nil || strings.Count(err.Error(), "(executor ") > 1 {
		t.Errorf("a task's conversion error: %v, want it naming its executor at most once", err)
	}
}
