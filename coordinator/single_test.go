package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// withResultMode is ctx with the request header that picks a result mode
// for the calls made in it.
func withResultMode(ctx context.Context, mode string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "skein-result-mode", mode)
}

// singleRows checks that info has one endpoint, at the coordinator, in
// result mode single, and gives its rows, in order.
func singleRows(t *testing.T, ctx context.Context, cl *flightsql.Client, info *flight.FlightInfo) []string {
	t.Helper()
	plan := planOf(t, info)
	if len(info.Endpoint) != 1 || len(info.Endpoint[0].GetLocation()) != 0 || plan.ResultMode != "single" || plan.Endpoints != 1 {
		t.Fatalf("%d endpoints (the first at %v), result mode %q of %d endpoints; want one endpoint at the coordinator, single",
			len(info.Endpoint), info.Endpoint[0].GetLocation(), plan.ResultMode, plan.Endpoints)
	}
	if plan.Tasks < 2 {
		t.Fatalf("the query was not split (%d tasks): the test would prove nothing", plan.Tasks)
	}
	r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	return rowStrings(t, r)
}

// A client picks result mode single with the skein-result-mode header (on
// statements and prepared statements) or the result_mode session option,
// whatever the server's default: its split query answers from one endpoint
// with every task's rows, DuckDB's answer. Other clients keep the default.
func TestSingleResultModeByClient(t *testing.T) {
	t.Parallel()
	_, cl, glob := startCluster(t, 2, "direct")
	ref := ducktest.Open(t, filepath.Dir(glob))
	ctx := context.Background()
	queries := []string{
		fmt.Sprintf("SELECT id, g FROM read_parquet('%s')", glob),
		fmt.Sprintf("SELECT id, g FROM read_parquet('%s') WHERE g = 1 UNION ALL SELECT id * 2, g + 1 FROM read_parquet('%[1]s') WHERE id %% 7 = 0", glob),
	}
	single := withResultMode(ctx, "Single") // in any case
	for _, q := range queries {
		want := duckRows(t, ref, q)
		info, err := cl.Execute(single, q)
		if err != nil {
			t.Fatal(err)
		}
		got := singleRows(t, single, cl, info)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, want DuckDB's %d", q, len(got), len(want))
		}
		// The server's default is unchanged for a call without the header.
		info, err = cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if p := planOf(t, info); len(info.Endpoint) < 2 || len(info.Endpoint[0].GetLocation()) == 0 || p.ResultMode != "direct" {
			t.Errorf("%s without the header: %d endpoints, result mode %q; want the server's direct", q, len(info.Endpoint), p.ResultMode)
		}
		readEndpoints(t, cl, info.Endpoint)
	}
	scan := queries[0]
	want := duckRows(t, ref, scan)

	// A prepared statement executed with the header.
	p, err := cl.Prepare(ctx, scan)
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Execute(single)
	if err != nil {
		t.Fatal(err)
	}
	got := singleRows(t, ctx, cl, info)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("prepared: %d rows, want %d", len(got), len(want))
	}
	_ = p.Close(ctx)

	// The session option, and the header over it.
	sctx, err := cl.Client.AuthenticateBasicToken(ctx, "ann", "any")
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := flight.NewSessionOptionValues(map[string]any{"result_mode": "single"})
	if res, err := cl.SetSessionOptions(sctx, &flight.SetSessionOptionsRequest{SessionOptions: opts}); err != nil || len(res.GetErrors()) != 0 {
		t.Fatalf("set: %v %v", res, err)
	}
	if info, err = cl.Execute(sctx, scan); err != nil {
		t.Fatal(err)
	}
	if got := singleRows(t, sctx, cl, info); len(got) != total {
		t.Errorf("session option single: %d rows, want %d", len(got), total)
	}
	if info, err = cl.Execute(withResultMode(sctx, "proxy"), scan); err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) < 2 || len(info.Endpoint[0].GetLocation()) != 0 {
		t.Errorf("header proxy over session option single: %d endpoints at %v", len(info.Endpoint), info.Endpoint[0].GetLocation())
	}

	// A mode that is none is refused before anything runs.
	for _, bad := range []string{"sideways", ""} {
		_, err = cl.Execute(withResultMode(ctx, bad), scan)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "skein-result-mode") ||
			!strings.Contains(err.Error(), "direct, proxy, single") {
			t.Errorf("header %q: %v, want InvalidArgument naming the header and the modes", bad, err)
		}
	}
	// DDL sent as a query (as ADBC and flightsql-dbapi send it) too.
	if _, err = cl.Execute(withResultMode(ctx, "sideways"), "CREATE TABLE never (a INTEGER)"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("DDL with a bad header: %v", err)
	}
	if n := queryInt(t, cl, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'never'"); n != 0 {
		t.Error("DDL with a bad header ran")
	}
}

// The server's --result-mode single: a staged query's final tasks (a
// co-partitioned join, an aggregate finished on executors) stream through
// one endpoint, DuckDB's answer; once read, or when the client stops
// reading midway, nothing is left spooled on the executors and the
// history has the query's end.
func TestSingleResultModeStaged(t *testing.T) {
	// Batches of 1000 rows: a final task's result is several.
	c, cl, ref := stagedCluster(t, "single", func(c *Config) { c.BatchRows = 1000 })
	ctx := context.Background()
	for name, q := range stagedFaultQueries {
		want := duckRows(t, ref, q)
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if p := planOf(t, info); p.Mode != "stages" {
			t.Fatalf("%s: planned %s, want stages", name, p.Mode)
		}
		got := singleRows(t, ctx, cl, info)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, want DuckDB's %d; first %q, want %q", name, len(got), len(want), first(got), first(want))
		}
		noShuffleData(t, c, name)
		id := planOf(t, info).QueryID
		eventually(t, 10*time.Second, func() (bool, string) {
			st := queryValue(t, ctx, cl, fmt.Sprintf(`SELECT status || ' ' || rows FROM skein.queries WHERE query_id = '%s'`, id))
			return st == fmt.Sprintf("ok %d", len(want)), fmt.Sprintf("%s: skein.queries says %v", name, st)
		})
	}
	// A client that stops after the first batch: the results of the
	// final tasks it never reached are dropped on the executors. Its
	// small gRPC windows stop the coordinator early (larger ones could
	// hold the whole answer in flight).
	slow, err := flightsql.NewClient(strings.TrimPrefix(c.URI(), "grpc://"), nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	q := "SELECT f.k, f.x, o.urgent, repeat('x', 100) AS pad FROM fact f JOIN ord o ON f.o = o.o"
	info, err := slow.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	if plan.Mode != "stages" || len(plan.Plan) < 2 || len(info.Endpoint) != 1 {
		t.Fatalf("%s: %s with %d final tasks, %d endpoints; want stages, several final tasks, one endpoint", q, plan.Mode, len(plan.Plan), len(info.Endpoint))
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r, err := slow.DoGet(rctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Next() {
		t.Fatalf("no first batch: %v", r.Err())
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		u := spooled(c)
		return u.Memory+u.Disk > 0, "no final task's result waits on an executor: the test would prove nothing"
	})
	cancel()
	r.Release()
	noShuffleData(t, c, "a single stream abandoned midway")
	eventually(t, 10*time.Second, func() (bool, string) {
		st := queryValue(t, ctx, cl, fmt.Sprintf(`SELECT status FROM skein.queries WHERE query_id = '%s'`, plan.QueryID))
		return st == "cancelled", fmt.Sprintf("the abandoned query is %v in skein.queries, want cancelled", st)
	})
}

// --result-mode takes the three modes, in any case, and names them when
// given another.
func TestResultModeFlag(t *testing.T) {
	for mode, want := range map[string]string{"single": "single", "PROXY": "proxy", "": ""} {
		c := Config{Addr: "127.0.0.1:0", ResultMode: mode}
		if err := c.Validate(); err != nil || c.ResultMode != want {
			t.Errorf("--result-mode %q: %v, mode %q", mode, err, c.ResultMode)
		}
	}
	c := Config{Addr: "127.0.0.1:0", ResultMode: "sideways"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "direct, proxy, single") {
		t.Errorf("--result-mode sideways: %v", err)
	}
}

// A negative --session-idle-timeout is refused as a flag: it panicked at
// start (a ticker of a quarter of it; a tester's).
func TestNegativeSessionIdleIsRefused(t *testing.T) {
	c := Config{Addr: "127.0.0.1:0", SessionIdle: -time.Second}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--session-idle-timeout") {
		t.Errorf("--session-idle-timeout -1s: %v", err)
	}
}
