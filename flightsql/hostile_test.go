package flightsql_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Attacks an authenticated client could make on the server itself, each of
// which once succeeded (issue 9).

func int64At(t *testing.T, recs []arrow.RecordBatch) int64 {
	t.Helper()
	if len(recs) == 0 || recs[0].NumRows() == 0 {
		t.Fatal("no rows")
	}
	return recs[0].Column(0).(*array.Int64).Value(0)
}

// The managed database is a file in the data dir; no statement may write
// it, whatever path spells it.
func TestCopyCannotOverwriteTheDatabase(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) { c.DataDir = dir })
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE precious AS SELECT 42::BIGINT AS v"); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		filepath.Join(dir, "data.duckdb"),
		filepath.Join(dir, "files", "..", "data.duckdb"),
		filepath.Join(dir, "data.duckdb.wal"),
		filepath.Join(dir, "tmp", "spill"),
	} {
		for _, q := range []string{
			fmt.Sprintf("COPY (SELECT 'x' AS g) TO '%s' (FORMAT csv)", target),
			fmt.Sprintf("COPY precious TO '%s' (FORMAT parquet)", target),
			fmt.Sprintf("COPY (SELECT 'x' AS g) TO '%s' (FORMAT csv, USE_TMP_FILE false)", target),
		} {
			_, err := c.ExecuteUpdate(ctx, q)
			wantCode(t, err, codes.PermissionDenied)
		}
	}
	_, err := c.ExecuteUpdate(ctx, fmt.Sprintf("EXPORT DATABASE '%s'", dir))
	wantCode(t, err, codes.PermissionDenied)
	// The files/ directory is the data dir's one place SQL may write.
	if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf("COPY precious TO '%s' (FORMAT csv)", filepath.Join(dir, "files", "p.csv"))); err != nil {
		t.Fatal(err)
	}
	if _, recs := query(t, ctx, c, "SELECT v FROM precious"); int64At(t, recs) != 42 {
		t.Fatal("precious changed")
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "data.duckdb")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
}

func TestAllowDirMayNotOverlapDataDir(t *testing.T) {
	dir := t.TempDir()
	for _, allow := range []string{dir, filepath.Dir(dir), filepath.Join(dir, "tmp")} {
		_, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: dir, AllowDirs: []string{allow}}, nopLog())
		if err == nil {
			t.Fatalf("--allow-dir %s with --data-dir %s: started", allow, dir)
		}
	}
}

// No statement may detach, attach over or reconfigure the catalogs every
// session uses, or turn on DuckDB's logging.
func TestServerCatalogsAndLoggingAreFixed(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.Executors = 1 })
	ctx := context.Background()
	attacker, victim := ts.client(t), ts.client(t)
	for _, q := range []string{
		"ATTACH ':memory:' AS s",
		"DETACH data",
		"DETACH skein",
		"ATTACH ':memory:' AS s; USE s; DETACH data",
		fmt.Sprintf("CALL enable_logging(storage = 'file', storage_path = '%s')", t.TempDir()),
		"SELECT * FROM enable_logging(storage = 'memory')",
		"SELECT * FROM query('CALL enable_logging()')",
		"PRAGMA enable_profiling",
		"LOAD parquet",
		"INSTALL httpfs",
	} {
		_, err := attacker.ExecuteUpdate(ctx, q)
		wantCode(t, err, codes.PermissionDenied)
	}
	if _, recs := query(t, ctx, victim, "SELECT count(*) FROM duckdb_databases() WHERE database_name IN ('data', 'skein')"); int64At(t, recs) != 2 {
		t.Fatal("a server catalog is gone")
	}
	if _, recs := query(t, ctx, victim, "SELECT 7::BIGINT"); int64At(t, recs) != 7 {
		t.Fatal("victim cannot query")
	}
}

// GetSchema describes; it never runs anything.
func TestGetSchemaRunsNothing(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE m1 (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetExecuteSchema(ctx, "DROP TABLE m1; SELECT 1 AS one")
	wantCode(t, err, codes.InvalidArgument)
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM m1"); int64At(t, recs) != 0 {
		t.Fatal("m1 changed")
	}
}

func TestStatementsWithoutSQLAreInvalid(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE n (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{";", "-- just a comment", "/* and another */ ;", "SELECT 1\x00; DROP TABLE n"} {
		_, err := c.Execute(ctx, q)
		wantCode(t, err, codes.InvalidArgument)
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM n"); int64At(t, recs) != 0 {
		t.Fatal("n changed")
	}
}

// gatedReader yields one batch, then waits for release before ending: an
// ingest held open.
type gatedReader struct {
	array.RecordReader
	first   bool
	reached chan struct{}
	release chan struct{}
}

func (g *gatedReader) Next() bool {
	if !g.first {
		g.first = true
		return g.RecordReader.Next()
	}
	close(g.reached)
	<-g.release
	return false
}

// An ingest in progress is invisible to every other session: nothing it
// registers can be read, broken or left behind.
func TestIngestIsPrivate(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	loader, other := ts.client(t), ts.client(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "secret", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for i := range 5000 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	base, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedReader{RecordReader: base, reached: make(chan struct{}), release: make(chan struct{})}
	var wg sync.WaitGroup
	var n int64
	var ingestErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, ingestErr = loader.ExecuteIngest(ctx, g, &flightsql.ExecuteIngestOpts{Table: "loaded",
			TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate}})
	}()
	select {
	case <-g.reached:
	case <-time.After(30 * time.Second):
		t.Fatal("ingest did not start")
	}
	time.Sleep(200 * time.Millisecond) // let the server take the first batch
	_, recs := query(t, ctx, other, "SELECT count(*) FROM duckdb_views() WHERE NOT internal AND database_name <> 'skein'")
	views := int64At(t, recs)
	_, recs = query(t, ctx, other, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'loaded'")
	tables := int64At(t, recs)
	close(g.release)
	wg.Wait()
	if views != 0 || tables != 0 {
		t.Fatalf("another session saw the ingest: %d views, %d tables", views, tables)
	}
	if ingestErr != nil || n != 5000 {
		t.Fatalf("ingest: %d rows, %v", n, ingestErr)
	}
	if _, recs := query(t, ctx, other, "SELECT count(*) FROM loaded"); int64At(t, recs) != 5000 {
		t.Fatal("rows missing after the ingest")
	}
}

func nopLog() zerolog.Logger { return zerolog.Nop() }

// Clients that keep neither token nor cookie open a session per call; on a
// full server, concurrent calls must still find room by reclaiming the
// sessions such calls left, not fail (the 32-client load test got 1,184
// ResourceExhausted of 32,000 queries).
func TestCookieLessClientsOnAFullServer(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxSessions = 8 })
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 6*20)
	// Six clients, each with at most one query pending, fit in eight
	// sessions whatever the interleaving.
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := flightsql.NewClient(ts.addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for range 20 {
				info, err := c.Execute(ctx, "SELECT 42::BIGINT AS v")
				if err != nil {
					errs <- err
					continue
				}
				rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
				if err != nil {
					errs <- err
					continue
				}
				for rdr.Next() {
				}
				if err := rdr.Err(); err != nil {
					errs <- err
				}
				rdr.Release()
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of 120 queries failed", n)
	}
}

// deepCount is a query whose aggregates nest levels deep.
func deepCount(levels int) string {
	q := "SELECT 1 AS c FROM range(10)"
	for range levels {
		q = fmt.Sprintf("SELECT count(*) AS c FROM (%s)", q)
	}
	return q
}

// A 5 KB query of 30 nested aggregates took DuckDB 1.5.5 minutes to plan,
// deaf to cancellation, a core pinned and shutdown held up: every way a
// client hands the server SQL refuses it at once, as an invalid argument,
// and the server answers the next query; at the limit a query still runs.
func TestDeeplyNestedAggregatesAreRefusedAtOnce(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ts.client(t)
	deep := deepCount(30)
	_, err := c.Execute(ctx, deep)
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.GetExecuteSchema(ctx, deep)
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ExecuteUpdate(ctx, "CREATE TABLE deep AS "+deep)
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.Prepare(ctx, deep)
	wantCode(t, err, codes.InvalidArgument)
	if _, err := c.ExecuteUpdate(ctx, "CREATE VIEW half AS "+deepCount(10)); err != nil {
		t.Fatal(err)
	}
	overView := "SELECT c FROM half"
	for range 10 {
		overView = fmt.Sprintf("SELECT count(*) AS c FROM (%s)", overView)
	}
	_, err = c.Execute(ctx, overView)
	wantCode(t, err, codes.InvalidArgument)
	_, recs := query(t, ctx, c, "SELECT * FROM (SELECT count(*) AS c FROM half) JOIN ("+deepCount(10)+") USING (c)")
	if got := int64At(t, recs); got != 1 {
		t.Errorf("side by side: %d, want 1", got)
	}
	_, recs = query(t, ctx, c, "SELECT c FROM ("+deepCount(16)+")")
	if got := int64At(t, recs); got != 1 {
		t.Errorf("16 levels: %d, want 1", got)
	}
}

// A result column nested deeper than Arrow IPC writes (64 levels) is
// InvalidArgument when it is planned, naming the limit: it was prepared,
// and failed as Internal when its first batch was written. One level
// less is answered.
func TestResultNestedPastArrowIsInvalid(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	lists := func(n int) string { return "SELECT " + strings.Repeat("[", n) + "1" + strings.Repeat("]", n) + " AS l" }
	_, err := c.Execute(ctx, lists(duck.MaxResultNesting+1))
	wantCode(t, err, codes.InvalidArgument)
	if err == nil || !strings.Contains(err.Error(), "Arrow IPC carries at most") {
		t.Fatalf("64 nested lists: %v", err)
	}
	_, err = c.Execute(ctx, "SELECT {'a': "+lists(duck.MaxResultNesting)[len("SELECT "):]+"} AS s")
	wantCode(t, err, codes.InvalidArgument)
	if _, recs := query(t, ctx, c, lists(duck.MaxResultNesting)); len(recs) == 0 || recs[0].NumRows() != 1 {
		t.Fatalf("63 nested lists: %v", recs)
	}
}

// A statement returning more than duck.MaxResultColumns columns is
// InvalidArgument at once: describing its result costs DuckDB's C API
// the square of its width (100,000 columns held a core for minutes,
// past cancel and timeout). A wide one within the bound is answered.
func TestResultColumnsAreBounded(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	wide := func(n int) string {
		cols := make([]string, n)
		for i := range cols {
			cols[i] = fmt.Sprintf("%d AS c%d", i, i)
		}
		return "SELECT " + strings.Join(cols, ", ")
	}
	start := time.Now()
	_, err := c.Execute(ctx, wide(duck.MaxResultColumns+1))
	wantCode(t, err, codes.InvalidArgument)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing %d columns took %v", duck.MaxResultColumns+1, d)
	}
	if _, recs := query(t, ctx, c, wide(1000)); len(recs) == 0 || recs[0].NumCols() != 1000 {
		t.Fatal("1,000 columns not answered")
	}
}

// A result read in part holds its session's connection until its client
// reads the rest; the session's next request closes it, as DuckDB closes a
// connection's pending result when the connection runs its next statement.
// ADBC's execute, fetchone, commit waited for the stream forever (and so
// did a second cursor's query on the connection). The commit commits, and
// the result read on ends with the reason, not a stream that just stops.
func TestNextStatementClosesAResultReadInPart(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE big AS SELECT range AS v FROM range(10000000)"); err != nil {
		t.Fatal(err)
	}
	tx, err := c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO big VALUES (-1)"); err != nil {
		t.Fatal(err)
	}
	info, err := tx.Execute(ctx, "SELECT v FROM big")
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if !rdr.Next() {
		t.Fatalf("no first batch: %v", rdr.Err())
	}
	commit, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := tx.Commit(commit); err != nil {
		t.Fatalf("commit with a result read in part: %v", err)
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM big WHERE v = -1"); n != 1 {
		t.Fatalf("the committed row: %d", n)
	}
	rows := int64(0)
	for rdr.Next() {
		rows += rdr.RecordBatch().NumRows()
	}
	if rows >= 10_000_000 {
		t.Fatalf("the closed result gave all its %d rows", rows)
	}
	wantMessage(t, rdr.Err(), codes.Canceled, "ran another request")
}

// A client's connections are bounded (--max-connections): each costs the
// server a descriptor and gRPC's buffers before anything on it is
// checked, so one client's idle connections took the process to its
// open-file limit (a tester's). Past the bound, a connection is closed
// as it is accepted, and those open are served as before.
func TestConnectionsBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxConnections = 3 })
	ctx := context.Background()
	served := ts.client(t) // it has made a call: its place is kept
	// A health probe needs no credential, and its call keeps no place.
	probe, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := healthpb.NewHealthClient(probe).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	idle := rawConn(t, ts.addr, "")
	// Accepted: the server sends its HTTP/2 settings first.
	if _, err := idle.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	// At the bound, a new client takes the place of the oldest connection
	// that has made no authenticated call, which is closed; the other
	// stays open.
	ts.client(t)
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if !probe.WaitForStateChange(waitCtx, connectivity.Ready) {
		t.Fatal("the probe's connection is still open")
	}
	if closedWithin(idle, 200*time.Millisecond) == nil {
		t.Fatal("the newer idle connection was closed too")
	}
	ts.client(t)
	if err := closedWithin(idle, 10*time.Second); err != nil {
		t.Fatalf("the idle connection: %v", err)
	}
	// Every place is now a client's that has made a call: one more
	// connection is closed unread, and a client sees Unavailable.
	extra := rawConn(t, ts.addr, "")
	_ = extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); n != 0 || errors.Is(err, os.ErrDeadlineExceeded) || err == nil {
		t.Fatalf("a connection past the bound read %d bytes, %v; want it closed", n, err)
	}
	refused, err := flightsql.NewClient(ts.addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	_, err = refused.GetExecuteSchema(ctx, "SELECT 1")
	wantCode(t, err, codes.Unavailable)
	// The client connected first is served.
	if v := scalarInt(t, ctx, served, "SELECT 42::BIGINT"); v != 42 {
		t.Fatal(v)
	}
	// Closed connections free their places.
	_ = served.Close()
	if err := connectsWithin(ctx, ts.addr, 10*time.Second); err != nil {
		t.Fatalf("the place of a closed connection was not freed: %v", err)
	}
	// The bound is the clients': skein serve's own executors' connections
	// come on top, at the coordinator and at each other, for a query
	// whose tasks exchange rows and whose client reads them from the
	// executors; and the next client is served.
	serve := startServer(t, func(c *coordinator.Config) {
		c.MaxConnections, c.Executors = 1, 2
		c.InProcessPlan, c.LocalMaxRows, c.SplitMinRows, c.TaskRows, c.BroadcastRows = coordinator.PlanDistribute, 0, 0, 1000, 1
	})
	sc := serve.client(t)
	file := filepath.Join(serve.dataDir, "files", "conns.parquet")
	if _, err := sc.ExecuteUpdate(ctx, "COPY (SELECT (range * 7919) % 20000 AS id, range AS v FROM range(20000)) TO '"+file+"' (ROW_GROUP_SIZE 1000)"); err != nil {
		t.Fatal(err)
	}
	join := fmt.Sprintf("SELECT a.id, b.v FROM read_parquet('%s') AS a JOIN read_parquet('%[1]s') AS b USING (id)", file)
	info, err := sc.Execute(ctx, join)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) < 2 || !strings.Contains(string(info.AppMetadata), `"mode":"stages"`) {
		t.Fatalf("the join is not read from executors: %d endpoints, %s", len(info.Endpoint), info.AppMetadata)
	}
	// Connections that send nothing, past the executors' bound, keep no
	// client from reading there: the reader's connection takes the place
	// of one of them.
	for _, ep := range info.Endpoint {
		u, err := url.Parse(ep.Location[0].Uri)
		if err != nil {
			t.Fatal(err)
		}
		for range 12 {
			rawConn(t, u.Host, "")
		}
	}
	for range 2 {
		if _, recs := query(t, ctx, sc, join); rowCount(recs) != 20000 {
			t.Fatal(rowCount(recs))
		}
	}
	// Once: then an executor's connections to the coordinator took the
	// next client's place.
	_ = sc.Close()
	if err := connectsWithin(ctx, serve.addr, 10*time.Second); err != nil {
		t.Fatalf("the next client, once one had read from the executors: %v", err)
	}
}

// A client flooding the server with connections that send nothing,
// from one address, closes its own: not those of another address that
// have yet to prove themselves (logging in), and clients from other
// addresses are served.
func TestConnectionFloodClosesItsOwn(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxConnections = 4 })
	ctx := context.Background()
	served := ts.client(t)
	accepted := func(c net.Conn) net.Conn {
		// The server sends its HTTP/2 settings first.
		if _, err := c.Read(make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	pending := accepted(rawConn(t, ts.addr, "127.0.0.1"))
	var flood []net.Conn
	for range 8 {
		flood = append(flood, rawConn(t, ts.addr, "127.0.0.2"))
	}
	if err := closedWithin(flood[0], 10*time.Second); err != nil {
		t.Fatalf("the flood's first connection: %v", err)
	}
	if closedWithin(pending, 200*time.Millisecond) == nil {
		t.Fatal("the flood closed another address's connection")
	}
	other := ts.bareClient(t, "127.0.0.3")
	if v := scalarInt(t, ctx, other, "SELECT 5::BIGINT"); v != 5 {
		t.Fatal(v)
	}
	if v := scalarInt(t, ctx, served, "SELECT 6::BIGINT"); v != 6 {
		t.Fatal(v)
	}
}

// rawConn is a TCP connection to addr from the address from ("": any)
// that sends nothing, closed when the test ends.
func rawConn(t *testing.T, addr, from string) net.Conn {
	t.Helper()
	d := net.Dialer{}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reads c until the server closes it, or wait has passed.
func closedWithin(c net.Conn, wait time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("still open after %s", wait)
	}
	return nil
}

// connectsWithin tries a new client's call at addr until one is answered
// or wait has passed, and gives the last error then.
func connectsWithin(ctx context.Context, addr string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		c, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		_, err = c.GetExecuteSchema(ctx, "SELECT 1")
		_ = c.Close()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
