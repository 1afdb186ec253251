package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// parquet writes files of rows ids [0, files*per) with small row groups.
func parquet(t testing.TB, dir string, files, per int) string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	for f := range files {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS id, (range %% 5)::INTEGER AS g FROM range(%d))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, f*per, per, filepath.Join(dir, fmt.Sprintf("f%d.parquet", f))))
	}
	return filepath.Join(dir, "*.parquet")
}

// startCluster starts a coordinator with in-process executors over three
// Parquet files; opts adjust its configuration.
func startCluster(t *testing.T, executors int, mode string, opts ...func(*Config)) (*Coordinator, *flightsql.Client, string) {
	t.Helper()
	dir := t.TempDir()
	glob := parquet(t, dir, 3, 10000)
	cfg := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AllowDirs: []string{dir},
		Executors: executors, TaskRows: 4096, ResultMode: mode, Threads: 1, ShutdownGrace: 5 * time.Second,
		HeartbeatTimeout: 3 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	log := zerolog.Nop()
	if os.Getenv("SKEIN_TEST_LOG") != "" {
		log = zerolog.New(os.Stderr)
	}
	c, err := Start(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return c, dialClient(t, c), glob
}

// dialClient is a Flight SQL client of c, closed at the test's end.
func dialClient(t testing.TB, c *Coordinator) *flightsql.Client {
	t.Helper()
	cl, err := flightsql.NewClient(strings.TrimPrefix(c.URI(), "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// readInBackground reads the stream of ticket to its end in the
// background, giving its error (nil: read whole).
func readInBackground(ctx context.Context, cl *flightsql.Client, ticket *flight.Ticket) <-chan error {
	errs := make(chan error, 1)
	go func() { errs <- readToEnd(ctx, cl, ticket) }()
	return errs
}

// readToEnd reads the stream of ticket to its end, giving its error.
func readToEnd(ctx context.Context, cl *flightsql.Client, ticket *flight.Ticket) error {
	r, err := cl.DoGet(ctx, ticket)
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
	}
	return r.Err()
}

// runningTasks counts the tasks c's live executors say they run.
func runningTasks(c *Coordinator) (n int) {
	for _, m := range c.reg.live() {
		n += m.Running
	}
	return n
}

func readAll(t *testing.T, r *flight.Reader) (rows, sum int64) {
	t.Helper()
	defer r.Release()
	for r.Next() {
		rec := r.RecordBatch()
		ids := rec.Column(0).(*array.Int64)
		for i := 0; i < ids.Len(); i++ {
			sum += ids.Value(i)
		}
		rows += rec.NumRows()
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return rows, sum
}

// readEndpoints reads every endpoint through the coordinator.
func readEndpoints(t *testing.T, cl *flightsql.Client, eps []*flight.FlightEndpoint) (rows, sum int64) {
	t.Helper()
	for _, ep := range eps {
		r, err := cl.DoGet(context.Background(), ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		n, s := readAll(t, r)
		rows, sum = rows+n, sum+s
	}
	return rows, sum
}

// dialAt connects to an executor; the client is closed when the test ends.
func dialAt(t *testing.T, uri string) flight.Client {
	t.Helper()
	c, err := flight.NewClientWithMiddleware(strings.TrimPrefix(uri, "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readerAt redeems a task ticket straight at the executor at uri.
func readerAt(t *testing.T, ctx context.Context, uri string, ticket *flight.Ticket) *flight.Reader {
	t.Helper()
	stream, err := dialAt(t, uri).DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	r, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eventually polls cond until it holds, failing with its last word after
// timeout.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const total = 30000

func TestScatterEndpointsAreReadableAtExecutors(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) < 4 {
		t.Fatalf("%d endpoints, want one per task", len(info.Endpoint))
	}
	executors := map[string]bool{}
	for _, e := range c.Executors() {
		executors[e.URI()] = true
	}
	var rows, sum int64
	used := map[string]bool{}
	for _, ep := range info.Endpoint {
		locs := ep.GetLocation()
		if len(locs) != 3 || !executors[locs[0].GetUri()] || !executors[locs[1].GetUri()] || locs[2].GetUri() != reuseConnection {
			t.Fatalf("locations %v", locs)
		}
		used[locs[0].GetUri()] = true
		// A client reads the task straight from its executor.
		n, s := readAll(t, fetchDirect(t, cl, ep))
		rows, sum = rows+n, sum+s
	}
	if rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	if len(used) != 2 {
		t.Errorf("tasks went to %d executors, want both", len(used))
	}
}

func TestAggregateIsStagedInHistory(t *testing.T) {
	// Its final aggregate's two tasks on executors (one each), however
	// few its partial rows (finalhere.go): the scan's tasks alone may all
	// go to one executor on a loaded machine.
	_, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.FinalHereRows = -1 })
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT g, count(*) AS n, sum(id) FROM read_parquet('%s') GROUP BY g ORDER BY g", glob))
	if err != nil {
		t.Fatal(err)
	}
	var plan explanation
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.Mode != "stages" || plan.Tasks < 4 || len(info.Endpoint) != 1 {
		t.Fatalf("plan %+v %v", plan, err)
	}
	r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	var groups int64
	for r.Next() {
		rec := r.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			if rec.Column(1).(*array.Int64).Value(i) != total/5 {
				t.Fatalf("group %d count %d", i, rec.Column(1).(*array.Int64).Value(i))
			}
		}
		groups += rec.NumRows()
	}
	r.Release()
	if groups != 5 {
		t.Fatalf("%d groups", groups)
	}
	// Executors report tasks with their heartbeats.
	eventually(t, 10*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(DISTINCT executor) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID))
		return n == 2, fmt.Sprintf("skein.tasks shows %d executors for the query", n)
	})
	// An executor of one DuckDB thread measures each run on Linux: its
	// thread's work (more than nothing: a scan, an aggregate) and its
	// wait for a core, which together fit in the run's time; elsewhere
	// neither is known.
	ok := fmt.Sprintf(`FROM skein.tasks WHERE query_id = '%s' AND status = 'ok' AND executor <> 'coordinator'`, plan.QueryID)
	fits := `cpu_us > 0 AND cpu_wait_us >= 0 AND cpu_us + cpu_wait_us <= epoch_us(finished_at) - epoch_us(started_at)`
	if runtime.GOOS != "linux" {
		fits = `cpu_us IS NULL AND cpu_wait_us IS NULL`
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		runs, fit := queryInt(t, cl, "SELECT count(*) "+ok), queryInt(t, cl, "SELECT count(*) "+ok+" AND "+fits)
		return runs >= int64(plan.Tasks) && fit == runs, fmt.Sprintf("%d of %d runs (%d tasks) with %s", fit, runs, plan.Tasks, fits)
	})
}

func TestExecutorKilledDuringQuery(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "proxy")
	ctx := context.Background()
	scan, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	agg, err := cl.Execute(ctx, fmt.Sprintf("SELECT sum(id) AS s, count(*) AS n FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	c.Executors()[0].Shutdown()
	// Proxy: every task ticket comes back to the coordinator, which retries
	// elsewhere.
	for _, ep := range scan.Endpoint {
		if len(ep.GetLocation()) != 0 {
			t.Fatalf("proxy mode endpoint with locations %v", ep.GetLocation())
		}
	}
	if rows, sum := readEndpoints(t, cl, scan.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("scan after a kill: rows %d sum %d", rows, sum)
	}
	r, err := cl.DoGet(ctx, agg.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	r.Next()
	rec := r.RecordBatch()
	if got := rec.Column(1).(*array.Int64).Value(0); got != total {
		t.Fatalf("merge after a kill: count %d", got)
	}
	r.Release()
	// Both are recorded ok, each task's rows counted once, and so are the
	// attempts that found the executor gone.
	dead := c.Executors()[0].ID()
	eventually(t, 10*time.Second, func() (bool, string) {
		s, m := recorded(t, ctx, cl, planOf(t, scan).QueryID), recorded(t, ctx, cl, planOf(t, agg).QueryID)
		failed := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id IN ('%s', '%s')
  AND executor = '%s' AND status = 'failed'`, planOf(t, scan).QueryID, planOf(t, agg).QueryID, dead))
		return s == fmt.Sprintf("ok %d", total) && m == "ok 1" && failed > 0,
			fmt.Sprintf("scan recorded %q, merge %q; %d failed attempts at the dead executor", s, m, failed)
	})
}

func TestTicketsAreCapabilities(t *testing.T) {
	c, cl, glob := startCluster(t, 1, "direct")
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	ec := dialAt(t, c.Executors()[0].URI())
	get := func(ticket []byte) error {
		s, err := ec.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err != nil {
			return err
		}
		_, err = s.Recv()
		return err
	}
	// A ticket signed with another secret, or altered, runs nothing.
	forged, _ := cluster.NewSecret().SignTask(cluster.Task{Query: "q", SQL: "SELECT 42", User: "anonymous"})
	ft, _ := cluster.TaskTicket(forged)
	if err := get(ft); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("forged ticket: %v", err)
	}
	st, _ := flightsql.GetStatementQueryTicket(info.Endpoint[0].Ticket)
	h := st.GetStatementHandle()
	h[len(h)/3] ^= 1
	at, _ := cluster.TaskTicket(string(h))
	if err := get(at); status.Code(err) != codes.Unauthenticated && status.Code(err) != codes.InvalidArgument {
		t.Fatalf("altered ticket: %v", err)
	}
}

func TestRegistry(t *testing.T) {
	secret := cluster.NewSecret()
	r := newRegistry(secret, time.Second, "UTC", zerolog.Nop())
	now := time.Now()
	r.now = func() time.Time { return now }
	bad, _ := cluster.NewSecret().SignMember(cluster.Member{ID: "x", Location: "grpc://h:1", Zone: "UTC"})
	if err := r.action(cluster.ActionRegister, bad); err == nil {
		t.Fatal("registration with another secret accepted")
	}
	// An executor computing in another time zone would give other answers.
	kathmandu, _ := secret.SignMember(cluster.Member{ID: "k", Location: "grpc://h:3", Zone: "Asia/Kathmandu"})
	if err := r.action(cluster.ActionRegister, kathmandu); err == nil || !strings.Contains(err.Error(), `--timezone "UTC"`) {
		t.Fatalf("executor of another zone: %v", err)
	}
	hb, _ := secret.SignMember(cluster.Member{ID: "a", Location: "grpc://h:1", Zone: "UTC"})
	if err := r.action(cluster.ActionHeartbeat, hb); err == nil {
		t.Fatal("heartbeat before registration accepted")
	}
	if err := r.action(cluster.ActionRegister, hb); err != nil {
		t.Fatal(err)
	}
	b, _ := secret.SignMember(cluster.Member{ID: "b", Location: "grpc://h:2", Zone: "UTC"})
	if err := r.action(cluster.ActionRegister, b); err != nil {
		t.Fatal(err)
	}
	got := r.assign(4)
	if got[0][0] == got[1][0] || got[0][0] == got[0][1] {
		t.Fatalf("assignment %v does not spread or lacks a distinct alternate", got)
	}
	now = now.Add(2 * time.Second) // both missed their heartbeats
	if len(r.live()) != 0 {
		t.Fatal("silent executors still live")
	}
	if err := r.action(cluster.ActionHeartbeat, hb); err == nil {
		t.Fatal("a dead executor's heartbeat was accepted without registering again")
	}
	if err := r.action(cluster.ActionRegister, hb); err != nil || len(r.live()) != 1 {
		t.Fatalf("re-registration: %v", err)
	}
}

func TestResultModeSessionOption(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx, err := cl.Client.AuthenticateBasicToken(context.Background(), "ann", "any")
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := flight.NewSessionOptionValues(map[string]any{"result_mode": "proxy"})
	res, err := cl.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: opts})
	if err != nil || len(res.GetErrors()) != 0 {
		t.Fatalf("set: %v %v", res, err)
	}
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range info.Endpoint {
		if len(ep.GetLocation()) != 0 {
			t.Fatalf("session asked for proxy, endpoint has locations %v", ep.GetLocation())
		}
	}
	bad, _ := flight.NewSessionOptionValues(map[string]any{"result_mode": "sideways"})
	res, err = cl.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: bad})
	if err != nil || res.GetErrors()["result_mode"] == nil {
		t.Fatalf("bad result_mode accepted: %v %v", res, err)
	}
}

// A prepared query without parameters is split like a statement (the JDBC
// driver prepares every query), and one with parameters as the query with
// their values (bound.go).
func TestPreparedStatementsDistribute(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	for _, c := range []struct {
		sql       string
		params    bool
		endpoints int // at least
	}{
		{fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob), false, 4},
		{fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE id >= ?", glob), true, 4},
	} {
		p, err := cl.Prepare(ctx, c.sql)
		if err != nil {
			t.Fatal(err)
		}
		if c.params {
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.Append(0)
			arr := b.NewArray()
			rec := array.NewRecordBatch(p.ParameterSchema(), []arrow.Array{arr}, 1)
			p.SetParameters(rec)
			rec.Release()
			arr.Release()
			b.Release()
		}
		info, err := p.Execute(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var meta struct{ Mode string }
		_ = json.Unmarshal(info.AppMetadata, &meta)
		// With parameters too: the query with their values (bound.go).
		if meta.Mode == "" || len(info.Endpoint) < c.endpoints {
			t.Errorf("%s: mode %q, %d endpoints", c.sql, meta.Mode, len(info.Endpoint))
		}
		if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
			t.Errorf("%s: rows %d sum %d", c.sql, rows, sum)
		}
		_ = p.Close(ctx)
	}
}

// Tasks start when the FlightInfo is issued: before any ticket is
// redeemed, skein.tasks shows them all finished; the results then read as
// usual.
func TestTasksStartWhenTheFlightInfoIsIssued(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	var plan explanation
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.Tasks != len(info.Endpoint) {
		t.Fatalf("plan %+v %v", plan, err)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID))
		return n == int64(plan.Tasks), fmt.Sprintf("%d of %d tasks finished before any was fetched", n, plan.Tasks)
	})
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
}

// queryInt runs a query answering one BIGINT.
func queryInt(t *testing.T, cl *flightsql.Client, sql string) int64 {
	t.Helper()
	n, ok := queryValue(t, context.Background(), cl, sql).(int64)
	if !ok {
		t.Fatalf("%s: no BIGINT", sql)
	}
	return n
}

// queryValue runs a query and gives the first column of its first row
// (nil for NULL or no row).
func queryValue(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string) any {
	t.Helper()
	info, err := cl.Execute(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() || r.RecordBatch().NumRows() == 0 {
		return nil
	}
	return r.RecordBatch().Column(0).GetOneForMarshal(0)
}

// Many clients merging at once each get their own query's answer.
func TestConcurrentMerges(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	_, cl, glob := startCluster(t, 2, "direct")
	queries := []struct {
		sql  string
		want int64 // the first row's first column
	}{
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob), total},
		{fmt.Sprintf("SELECT sum(id) FROM read_parquet('%s') WHERE g = 1", glob), 0},
		{fmt.Sprintf("SELECT g, count(*) FROM read_parquet('%s') GROUP BY g ORDER BY g DESC", glob), 4},
		{fmt.Sprintf("SELECT max(id) FROM read_parquet('%s')", glob), total - 1},
	}
	for id := 0; id < total; id++ {
		if id%10000%5 == 1 {
			queries[1].want += int64(id)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for c := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range 12 {
				q := queries[(c+i)%len(queries)]
				info, err := cl.Execute(ctx, q.sql)
				if err != nil {
					errs <- err
					return
				}
				r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
				if err != nil {
					errs <- err
					return
				}
				var got int64 = -1
				if r.Next() {
					switch col := r.RecordBatch().Column(0).(type) {
					case *array.Int64:
						got = col.Value(0)
					case *array.Int32:
						got = int64(col.Value(0))
					case *array.Decimal128:
						got = int64(col.Value(0).LowBits())
					}
				}
				for r.Next() {
				}
				err = r.Err()
				r.Release()
				if err != nil || got != q.want {
					errs <- fmt.Errorf("%s: got %d want %d (%v)", q.sql, got, q.want, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Partial results never land in the managed catalog.
	if n := queryInt(t, cl, "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND database_name <> 'skein'"); n != 0 {
		t.Errorf("%d views left in the catalog", n)
	}
}

// A merge reads the partial results as the merge SQL asks: a filter that
// DuckDB pushes into their scan (HAVING on a group key), and columns read
// in another order, apply (DuckDB's C API Arrow scan ignored both, so a
// merge got every group).
func TestMergeAppliesPushedFilters(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.NoExchanges = true })
	sql := fmt.Sprintf("SELECT count(*) AS n, g FROM read_parquet('%s') GROUP BY g HAVING g > 2 ORDER BY g", glob)
	info, err := cl.Execute(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var plan goldenPlan
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.Mode != "scatter-merge" {
		t.Fatalf("planned %s (%v), want scatter-merge", info.AppMetadata, err)
	}
	r, err := cl.DoGet(context.Background(), info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var got []string
	for r.Next() {
		rec := r.RecordBatch()
		for i := range int(rec.NumRows()) {
			got = append(got, fmt.Sprintf("%v:%v", rec.Column(1).GetOneForMarshal(i), rec.Column(0).GetOneForMarshal(i)))
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "[3:6000 4:6000]"; fmt.Sprint(got) != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

// A query in a transaction (ADBC's default: autocommit off) is split when
// it reads files alone, as outside one; one reading the transaction's own
// uncommitted table runs in it on the coordinator and sees its rows.
func TestTransactionsDistribute(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	for _, sql := range []string{"CREATE TABLE tx_t (id BIGINT)", "INSERT INTO tx_t VALUES (7)",
		"CREATE TEMP TABLE tx_tmp AS SELECT 11::BIGINT AS id"} {
		if _, err := tx.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	for _, c := range []struct {
		sql       string
		split     bool
		rows, sum int64
	}{
		{fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob), true, total, total * (total - 1) / 2},
		{"SELECT id FROM tx_t", false, 1, 7},
		{fmt.Sprintf("SELECT f.id FROM read_parquet('%s') f JOIN tx_t USING (id)", glob), false, 1, 7},
		{fmt.Sprintf("SELECT f.id FROM read_parquet('%s') f WHERE f.id IN (SELECT id FROM tx_tmp)", glob), false, 1, 11},
	} {
		info, err := tx.Execute(ctx, c.sql)
		if err != nil {
			t.Fatalf("%s: %v", c.sql, err)
		}
		var meta struct{ Mode string }
		_ = json.Unmarshal(info.AppMetadata, &meta)
		if split := meta.Mode != "" && meta.Mode != "local"; split != c.split || c.split && len(info.Endpoint) < 2 {
			t.Errorf("%s: mode %q, %d endpoints; want split %v", c.sql, meta.Mode, len(info.Endpoint), c.split)
		}
		if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != c.rows || sum != c.sum {
			t.Errorf("%s: rows %d sum %d, want %d and %d", c.sql, rows, sum, c.rows, c.sum)
		}
	}
}

// A glob matching a file that is not Parquet, read in a transaction: the
// planner's read of the footers failed in it, DuckDB aborted the
// transaction, and the query, run local, said only "Current transaction
// is aborted (please ROLLBACK)", Aborted (a tester's). The client gets the
// footer's error, InvalidArgument, as DuckDB alone gives it; outside a
// transaction too.
func TestNotParquetInATransactionSaysWhy(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	if err := os.WriteFile(filepath.Join(filepath.Dir(glob), "zz.parquet"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)
	read := func(info *flight.FlightInfo, err error) error {
		if err != nil {
			return err
		}
		for _, ep := range info.Endpoint {
			if err := readToEnd(ctx, cl, ep.Ticket); err != nil {
				return err
			}
		}
		return nil
	}
	tx, err := cl.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	err = read(tx.Execute(ctx, q))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "zz.parquet") {
		t.Errorf("in a transaction: %v, want InvalidArgument naming the file", err)
	}
	err = read(cl.Execute(ctx, q))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "zz.parquet") {
		t.Errorf("outside one: %v, want InvalidArgument naming the file", err)
	}
}
