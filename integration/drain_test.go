package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// healthClient is a gRPC health client of the process at uri, as
// grpc_health_probe or a Kubernetes gRPC probe would be.
func healthClient(t testing.TB, uri string) healthpb.HealthClient {
	t.Helper()
	conn, err := grpc.NewClient(strings.TrimPrefix(uri, "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn)
}

// healthOf is the status of a service ("" is readiness), or the error.
func healthOf(hc healthpb.HealthClient, service string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return status.Code(err).String()
	}
	return r.GetStatus().String()
}

// waitHealth waits until the readiness of hc is want.
func waitHealth(t testing.TB, hc healthpb.HealthClient, want, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := healthOf(hc, "")
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: readiness %s, want %s", what, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthWatch records what a Watch of a process's readiness streams, and
// when, until the stream ends (the process stopping).
type healthWatch struct {
	mu     sync.Mutex
	seen   []string
	at     []time.Time
	ended  chan struct{}
	endErr error
}

func watchHealth(t testing.TB, uri string) *healthWatch {
	t.Helper()
	w, err := healthClient(t, uri).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	hw := &healthWatch{ended: make(chan struct{})}
	go func() {
		defer close(hw.ended)
		for {
			r, err := w.Recv()
			if err != nil {
				hw.endErr = err
				return
			}
			hw.mu.Lock()
			hw.seen, hw.at = append(hw.seen, r.GetStatus().String()), append(hw.at, time.Now())
			hw.mu.Unlock()
		}
	}()
	return hw
}

func (hw *healthWatch) statuses() ([]string, []time.Time) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	return append([]string(nil), hw.seen...), append([]time.Time(nil), hw.at...)
}

// planExecutors are the executors a FlightInfo's plan names for its tasks.
func planExecutors(info *flight.FlightInfo) []string {
	var e struct {
		Plan []struct{ Executor string } `json:"plan"`
	}
	_ = json.Unmarshal(info.GetAppMetadata(), &e)
	out := make([]string, len(e.Plan))
	for i, p := range e.Plan {
		out[i] = p.Executor
	}
	return out
}

// TestExecutorDrain scales a cluster up and down under load: clients run
// queries back to back (scatter, merged and staged ones, read as a
// client reads them: at the executors in direct mode, through the
// coordinator in proxy mode) while a third executor joins and then one of
// the first two is sent SIGTERM in the middle of a query, as a client has
// read the first batch of a large result it is still sending. Every answer must equal DuckDB's and
// none may fail; the drained executor must exit 0 within its grace, having
// said NOT_SERVING through the health protocol while it finished, and be
// named in no plan made after it was told to drain; the new executor must
// have run tasks.
func TestExecutorDrain(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	ctx := context.Background()
	dir := t.TempDir()
	glob := killData(t, dir)
	src := fmt.Sprintf("read_parquet('%s')", glob)
	queries := append(killQueries(glob),
		"SELECT g, median(x), count(DISTINCT s) FROM "+src+" GROUP BY g",
		"SELECT s, count(*), sum(id) FROM "+src+" WHERE g <> 3 GROUP BY s")
	ref := ducktest.Open(t, dir)
	want := make([]fingerprint, len(queries))
	for i, q := range queries {
		want[i] = duckFingerprint(t, ctx, ref, q)
	}
	// SIGTERM comes as a client reads a batch of this query, whose task
	// results outgrow gRPC's flow-control windows: the executor is still
	// sending the rest.
	const padded = 1
	probe := fmt.Sprintf("SELECT count(*) FROM %s", src)
	const grace = 60 * time.Second
	for _, mode := range []string{"direct", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			pc := newProcCluster(t, dir)
			// A long heartbeat timeout: the drained executor must leave the
			// plans because it deregistered, not because it went silent.
			coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--task-rows", "100000", "--result-mode", mode,
				"--heartbeat-timeout", "60s", "--log-level", "info")
			leaving := pc.executor(coord.uri, "--shutdown-grace", grace.String())
			pc.executor(coord.uri)
			admin := dial(t, coord.uri)
			waitExecutors(t, ctx, admin, 2, probe)
			leavingID := executorID(t, leaving)
			watch := watchHealth(t, leaving.uri)

			// The load, and what each query's plan named.
			var (
				mu         sync.Mutex
				plans      []time.Time // when each plan naming the leaving executor was made
				named      = map[string]bool{}
				done       atomic.Int64
				wrong      atomic.Int64
				failed     atomic.Int64
				armed      atomic.Bool // the next batch read from the leaving executor's task sends SIGTERM
				termAt     atomic.Int64
				terminated = make(chan struct{})
			)
			stop := make(chan struct{})
			var stopOnce sync.Once
			var wg sync.WaitGroup
			// The clients stop before the test ends, also when it fails.
			stopLoad := func() {
				stopOnce.Do(func() { close(stop) })
				wg.Wait()
			}
			defer stopLoad()
			for c := range 3 {
				cl, locs := dial(t, coord.uri), newLocClients(t)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; ; k++ {
						select {
						case <-stop:
							return
						default:
						}
						i := (c + k) % len(queries)
						var execs []string
						onBatch := func(info *flight.FlightInfo, ep int) {
							if execs == nil {
								execs = planExecutors(info)
								mu.Lock()
								for _, id := range execs {
									named[id] = true
								}
								for _, id := range execs {
									if id == leavingID {
										plans = append(plans, time.Now())
										break
									}
								}
								mu.Unlock()
							}
							if i == padded && ep < len(execs) && execs[ep] == leavingID && armed.CompareAndSwap(true, false) {
								termAt.Store(time.Now().UnixNano())
								_ = leaving.cmd.Process.Signal(syscall.SIGTERM)
								close(terminated)
							}
						}
						qctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
						got, brokeAt, err := runEndpoints(qctx, cl, locs, queries[i], onBatch)
						cancel()
						switch {
						case err != nil:
							failed.Add(1)
							t.Errorf("client %d, %s (broke at %q): %v", c, queries[i], brokeAt, err)
						case got != want[i]:
							wrong.Add(1)
							t.Errorf("client %d, %s: %v, want %v", c, queries[i], got, want[i])
						}
						done.Add(1)
					}
				}()
			}
			waitDone := func(n int64, what string) {
				t.Helper()
				deadline := time.Now().Add(3 * time.Minute)
				for done.Load() < n {
					if time.Now().After(deadline) {
						t.Fatalf("%s: only %d queries answered", what, done.Load())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			waitDone(4, "before scaling up")

			// Up: a third executor joins and takes tasks.
			joined := pc.executor(coord.uri)
			joinedID := executorID(t, joined)
			deadline := time.Now().Add(time.Minute)
			for {
				mu.Lock()
				ok := named[joinedID]
				mu.Unlock()
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no plan named the executor that joined (%s)", joinedID)
				}
				time.Sleep(20 * time.Millisecond)
			}

			// Down: SIGTERM as a client reads the first batch of one of the
			// leaving executor's tasks of the padded query.
			armed.Store(true)
			select {
			case <-terminated:
			case <-time.After(time.Minute):
				t.Fatal("no client read a task of the leaving executor within a minute")
			}
			at := time.Unix(0, termAt.Load())
			busy := done.Load()
			select {
			case <-leaving.done:
			case <-time.After(grace + 10*time.Second):
				t.Fatalf("the drained executor did not exit within its grace (%v)", grace)
			}
			exited := time.Now()
			during := done.Load() - busy
			if leaving.err != nil {
				t.Fatalf("the drained executor exited with %v, want 0", leaving.err)
			}
			// "drained", or "drained; results nobody came for are left
			// ..." when a result was still unread after the linger.
			if leaving.logged(`"message":"drained`) == "" || leaving.logged(`"deregistered"`) == "" {
				t.Errorf("the executor's log does not say it drained and deregistered")
			}
			waitDone(done.Load()+2*int64(len(queries)), "after the drain")
			stopLoad()

			// Health, as a probe saw it: SERVING, then NOT_SERVING after
			// SIGTERM and before the exit, then the stream ended.
			select {
			case <-watch.ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the health watch did not end when the executor stopped")
			}
			seen, when := watch.statuses()
			if len(seen) < 2 || seen[0] != "SERVING" || seen[len(seen)-1] != "NOT_SERVING" {
				t.Fatalf("health watch saw %v, want SERVING ... NOT_SERVING", seen)
			}
			if last := when[len(when)-1]; last.Before(at) || last.After(exited) {
				t.Errorf("NOT_SERVING at %v, outside the drain (%v to %v)", last, at, exited)
			}
			// The coordinator heard of the drain at once: no plan made
			// a moment after SIGTERM names the leaving executor.
			mu.Lock()
			late := 0
			for _, p := range plans {
				if p.After(at.Add(3 * time.Second)) {
					late++
				}
			}
			mu.Unlock()
			if late > 0 {
				t.Errorf("%d plans made more than 3s after SIGTERM named the draining executor", late)
			}
			if n := queryInt(t, ctx, admin, fmt.Sprintf(
				`SELECT count(*) FROM skein.tasks WHERE executor = '%s' AND status = 'ok'`, joinedID)); n == 0 {
				t.Errorf("the executor that joined ran no task")
			}
			if healthOf(healthClient(t, joined.uri), "") != "SERVING" {
				t.Errorf("the executor that joined is not SERVING")
			}
			figures(t, "%d queries, %d wrong answers, %d errors; the drain took %v, %d queries answered meanwhile",
				done.Load(), wrong.Load(), failed.Load(), exited.Sub(at).Round(time.Millisecond), during)
		})
	}
}

// queryInt runs a query answering one BIGINT.
func queryInt(t testing.TB, ctx context.Context, cl *flightsql.Client, sql string) int64 {
	t.Helper()
	res := runFlight(ctx, cl, sql)
	if res.err != nil || len(res.rows) != 1 {
		t.Fatalf("%s: %v (%d rows)", sql, res.err, len(res.rows))
	}
	n, err := strconv.ParseInt(res.rows[0], 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// TestCoordinatorDrain sends the coordinator SIGTERM with queries planned
// and not yet read (a merge, a proxied scatter and a single-endpoint one,
// whose endpoints it serves, and one that runs on it): it turns NOT_SERVING, refuses new
// queries with Unavailable, and the planned ones answer as DuckDB does
// before it exits 0, well within its grace.
func TestCoordinatorDrain(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	ctx := context.Background()
	dir := t.TempDir()
	glob := killData(t, dir)
	src := fmt.Sprintf("read_parquet('%s')", glob)
	queries := []string{
		"SELECT g, count(*), sum(x), avg(x) FROM " + src + " GROUP BY g",
		"SELECT id, s FROM " + src + " WHERE id % 7 = 0",
		"SELECT range AS i, range * 2 AS j FROM range(100000)",
	}
	ref := ducktest.Open(t, dir)
	pc := newProcCluster(t, dir)
	const grace = 60 * time.Second
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--task-rows", "250000", "--result-mode", "proxy",
		"--shutdown-grace", grace.String(), "--log-level", "info")
	pc.executor(coord.uri)
	cl := dial(t, coord.uri)
	waitExecutors(t, ctx, cl, 1, "SELECT count(*) FROM "+src)
	hc := healthClient(t, coord.uri)
	if got := healthOf(hc, ""); got != "SERVING" {
		t.Fatalf("coordinator readiness %s before the drain", got)
	}
	// The scatter query again, through one endpoint that streams every
	// task (result mode single).
	queries = append(queries, queries[1])
	single := metadata.AppendToOutgoingContext(ctx, skeinsql.ResultModeHeader, skeinsql.ResultSingle)
	infos := make([]*flight.FlightInfo, len(queries))
	for i, q := range queries {
		qctx := ctx
		if i == len(queries)-1 {
			qctx = single
		}
		info, err := cl.Execute(qctx, q)
		if err != nil {
			t.Fatal(err)
		}
		infos[i] = info
	}
	if n := len(infos[len(infos)-1].Endpoint); n != 1 {
		t.Fatalf("result mode single gave %d endpoints", n)
	}
	start := time.Now()
	if err := coord.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitHealth(t, hc, "NOT_SERVING", "the draining coordinator")
	if got := healthOf(hc, "liveness"); got != "SERVING" {
		t.Errorf("coordinator liveness %s while draining", got)
	}
	if _, err := cl.Execute(ctx, "SELECT 1"); status.Code(err) != codes.Unavailable {
		t.Fatalf("a new query while draining: %v, want Unavailable", err)
	}
	for i, info := range infos {
		// Each query read holds the drain until it is: the last one alone too.
		time.Sleep(300 * time.Millisecond)
		if coord.exited() {
			t.Fatalf("the coordinator exited with %s unread", queries[i])
		}
		var fp fingerprint
		for _, ep := range info.Endpoint {
			if _, err := readStream(ctx, cl.Client, ep.Ticket, &fp, func() {}); err != nil {
				t.Fatalf("%s, planned before the drain: %v", queries[i], err)
			}
		}
		if w := duckFingerprint(t, ctx, ref, queries[i]); fp != w {
			t.Fatalf("%s: %v, want %v", queries[i], fp, w)
		}
	}
	select {
	case <-coord.done:
	case <-time.After(grace / 2):
		t.Fatalf("the coordinator did not exit within %v of its queries being read", grace/2)
	}
	if coord.err != nil {
		t.Fatalf("the coordinator exited with %v, want 0", coord.err)
	}
	if coord.logged(`"drained"`) == "" {
		t.Error("the coordinator's log does not say it drained")
	}
	figures(t, "coordinator drained %d planned queries and stopped in %v", len(queries), time.Since(start).Round(time.Millisecond))
}

// TestExecutorReadiness follows an executor's readiness through the
// health protocol: NOT_SERVING (but live) while no coordinator answers,
// SERVING once registered, NOT_SERVING again when the coordinator dies,
// and SERVING when a new coordinator on the same address has taken its
// registration again. The coordinator is SERVING once it serves.
func TestExecutorReadiness(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close()
	pc := newProcCluster(t)
	exec := pc.executor("grpc://" + addr)
	hc := healthClient(t, exec.uri)
	time.Sleep(1500 * time.Millisecond) // it has tried to register by now
	if got := healthOf(hc, ""); got != "NOT_SERVING" {
		t.Fatalf("readiness %s with no coordinator", got)
	}
	if got := healthOf(hc, "liveness"); got != "SERVING" {
		t.Fatalf("liveness %s with no coordinator", got)
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	coord := pc.coordinator(dataDir, "--addr", addr)
	if got := healthOf(healthClient(t, coord.uri), ""); got != "SERVING" {
		t.Fatalf("coordinator readiness %s once it serves", got)
	}
	waitHealth(t, hc, "SERVING", "registered")
	coord.kill()
	waitHealth(t, hc, "NOT_SERVING", "its coordinator dead")
	if got := healthOf(hc, "liveness"); got != "SERVING" {
		t.Fatalf("liveness %s with its coordinator dead", got)
	}
	pc.coordinator(dataDir, "--addr", addr)
	waitHealth(t, hc, "SERVING", "registered with the new coordinator")
}

// TestTraceIDsAcrossProcesses sends a query with a W3C traceparent: the
// client gets its query id in the response headers and the app_metadata,
// beside the trace id; skein.queries records the trace id; the
// coordinator's log and the executor's log of its tasks carry both.
func TestTraceIDsAcrossProcesses(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	ctx := context.Background()
	dir := t.TempDir()
	glob := killData(t, dir)
	pc := newProcCluster(t, dir)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--task-rows", "250000", "--log-level", "info")
	exec := pc.executor(coord.uri, "--log-level", "debug")
	cl := dial(t, coord.uri)
	q := fmt.Sprintf("SELECT id, s FROM read_parquet('%s') WHERE id %% 11 = 0", glob)
	waitExecutors(t, ctx, cl, 1, q)
	const trace = "0af7651916cd43dd8448eb211c80319c"
	tctx := metadata.AppendToOutgoingContext(ctx, "traceparent", "00-"+trace+"-b7ad6b7169203331-01")
	var md metadata.MD
	info, err := cl.Execute(tctx, q, grpc.Header(&md))
	if err != nil {
		t.Fatal(err)
	}
	id := md.Get(skeinsql.QueryIDHeader)
	if len(id) != 1 || md.Get(skeinsql.TraceIDHeader)[0] != trace {
		t.Fatalf("response headers %v: want %s and %s", md, skeinsql.QueryIDHeader, skeinsql.TraceIDHeader)
	}
	var meta struct {
		QueryID string `json:"query_id"`
		TraceID string `json:"trace_id"`
	}
	if err := json.Unmarshal(info.AppMetadata, &meta); err != nil || meta.QueryID != id[0] || meta.TraceID != trace {
		t.Fatalf("app_metadata %s: want query_id %s, trace_id %s", info.AppMetadata, id[0], trace)
	}
	// Its tasks started on the executor with the FlightInfo; the
	// coordinator proxies them.
	var got fingerprint
	for _, ep := range info.Endpoint {
		if _, err := readStream(ctx, cl.Client, ep.Ticket, &got, func() {}); err != nil {
			t.Fatal(err)
		}
	}
	if want := duckFingerprint(t, ctx, ducktest.Open(t, dir), q); got != want {
		t.Fatalf("%v, want %v", got, want)
	}
	qid := `"query_id":"` + id[0] + `"`
	tid := `"trace_id":"` + trace + `"`
	deadline := time.Now().Add(20 * time.Second)
	for {
		row := runFlight(ctx, cl, fmt.Sprintf(`SELECT trace_id FROM skein.queries WHERE query_id = '%s'`, id[0]))
		planned, ran := coord.logged(qid, tid, `"query planned"`), exec.logged(qid, tid, `"task_id"`)
		if row.err == nil && len(row.rows) == 1 && row.rows[0] == trace && planned != "" && ran != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("skein.queries %v (%v); coordinator's log line %q; executor's %q", row.rows, row.err, planned, ran)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShutdownNotHeldByAStuckStatement: a statement DuckDB is still
// planning does not see the interrupt a shutdown sends (30 nested
// aggregates, let through with --max-nested-aggregates -1, plan for
// minutes in DuckDB 1.5.5). SIGTERM still ends the process within its
// grace and stuckAfter's 10 s, what was committed before is there at the
// next start, and that start finds the data dir's lock released.
func TestShutdownNotHeldByAStuckStatement(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	ctx := context.Background()
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"serve", "--addr", "127.0.0.1:0", "--executors", "0", "--data-dir", data, "--shutdown-grace", "1s", "--max-nested-aggregates", "-1"}
	srv := startProc(t, args...)
	srv.killed.Store(true) // it exits by itself, 1: the cleanup's SIGTERM would find it gone
	cl := dial(t, srv.uri)
	if _, err := cl.ExecuteUpdate(ctx, "CREATE TABLE kept AS SELECT 42::BIGINT AS v"); err != nil {
		t.Fatal(err)
	}
	deep := "SELECT 1 AS c FROM range(10)"
	for range 30 {
		deep = fmt.Sprintf("SELECT count(*) AS c FROM (%s)", deep)
	}
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _, _ = cl.Execute(qctx, deep) }()
	time.Sleep(time.Second) // DuckDB planning it
	start := time.Now()
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.done:
	case <-time.After(40 * time.Second):
		_ = srv.cmd.Process.Kill()
		<-srv.done
		t.Fatal("serve still running 40 s after SIGTERM, with a statement planning")
	}
	t.Logf("exited %v after SIGTERM: %v", time.Since(start).Round(time.Millisecond), srv.err)
	if srv.logged("shutdown stuck") == "" {
		t.Error("no log line says the shutdown was cut short")
	}
	again := startProc(t, args...)
	if res := runFlight(ctx, dial(t, again.uri), "SELECT v FROM kept"); res.err != nil || !slices.Equal(res.rows, []string{"42"}) {
		t.Errorf("after the restart, kept holds %v (%v), want [42]", res.rows, res.err)
	}
}
