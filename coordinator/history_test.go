package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
)

// queryString runs a query answering one VARCHAR ("" for NULL or no row).
func queryString(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string) string {
	t.Helper()
	v, _ := queryValue(t, ctx, cl, sql).(string)
	return v
}

// recorded is a query's line in skein.queries: status, rows, and whether
// it lacks finished_at or has an error.
func recorded(t *testing.T, ctx context.Context, cl *flightsql.Client, id string) string {
	return queryString(t, ctx, cl, fmt.Sprintf(`SELECT concat_ws(' ', status, rows,
  CASE WHEN finished_at IS NULL THEN 'unfinished' END, CASE WHEN error IS NOT NULL THEN 'error' END)
FROM skein.queries WHERE query_id = '%s'`, id))
}

func planOf(t *testing.T, info *flight.FlightInfo) explanation {
	t.Helper()
	var plan explanation
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.QueryID == "" {
		t.Fatalf("plan %s: %v", info.AppMetadata, err)
	}
	return plan
}

// skein.queries and skein.tasks refuse every write, and recording goes on
// after the attempts.
func TestSystemTablesRefuseWrites(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	scan := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	info, err := cl.Execute(ctx, scan)
	if err != nil {
		t.Fatal(err)
	}
	readEndpoints(t, cl, info.Endpoint)
	first := planOf(t, info).QueryID
	for _, q := range []string{
		"DELETE FROM skein.queries",
		"UPDATE skein.tasks SET status = 'ok'",
		"DROP TABLE skein.queries",
		"DROP VIEW skein.queries",
		"CREATE OR REPLACE TABLE skein.queries AS SELECT 1 AS a",
		"CREATE OR REPLACE VIEW skein.tasks AS SELECT 1 AS a",
		"INSERT INTO skein.tasks SELECT * FROM skein.tasks",
		"ALTER VIEW skein.queries RENAME TO q",
		"TRUNCATE skein.queries",
		"CREATE TABLE skein.main.t (a INT)",
		"DROP SCHEMA skein.main CASCADE",
		"DROP FUNCTION system.main.skein_queries",
	} {
		if _, err := cl.ExecuteUpdate(ctx, q); err == nil {
			t.Errorf("%s: accepted as an update", q)
		} else {
			t.Logf("%s: %v", q, err)
		}
		if _, err := cl.Execute(ctx, q); err == nil {
			t.Errorf("%s: accepted as a query", q)
		}
	}
	schema := arrow.NewSchema([]arrow.Field{{Name: "query_id", Type: arrow.BinaryTypes.String}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	b.Field(0).(*array.StringBuilder).Append("forged")
	rec := b.NewRecordBatch()
	b.Release()
	defer rec.Release()
	catalog, main := "skein", "main"
	for _, o := range []*flightsql.TableDefinitionOptions{
		{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate, IfExists: flightsql.TableDefinitionOptionsTableExistsOptionReplace},
		{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate, IfExists: flightsql.TableDefinitionOptionsTableExistsOptionAppend},
	} {
		for _, table := range []string{"queries", "new_table"} {
			rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.ExecuteIngest(ctx, rdr, &flightsql.ExecuteIngestOpts{Table: table, Catalog: &catalog, Schema: &main, TableDefinitionOptions: o})
			rdr.Release()
			if err == nil {
				t.Errorf("ingest into skein.%s (%v) accepted", table, o.IfExists)
			} else {
				t.Logf("ingest into skein.%s: %v", table, err)
			}
		}
	}
	// What was recorded is still there, and recording goes on.
	info, err = cl.Execute(ctx, scan)
	if err != nil {
		t.Fatal(err)
	}
	readEndpoints(t, cl, info.Endpoint)
	second := planOf(t, info)
	eventually(t, 10*time.Second, func() (bool, string) {
		before, after := recorded(t, ctx, cl, first), recorded(t, ctx, cl, second.QueryID)
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(DISTINCT task_id) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, second.QueryID))
		want := fmt.Sprintf("ok %d", total)
		return before == want && after == want && n == int64(second.Tasks),
			fmt.Sprintf("query before the attempts: %q, after: %q, %d of %d tasks ok", before, after, n, second.Tasks)
	})
	if n := queryInt(t, cl, "SELECT count(*) FROM skein.queries WHERE sql LIKE 'SELECT id FROM read_parquet%'"); n != 2 {
		t.Errorf("%d scans recorded, want 2", n)
	}
}

// A task whose first attempt fails and whose retry succeeds leaves the
// query ok, with each task's rows counted once; the failed attempt is
// recorded too. Direct mode: the client asks for task 0 at its executor,
// gives up while it runs (the run is cancelled, which the executor
// reports), and reads it at the alternate.
func TestHistoryOfARetriedTask(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	// Rows 2048-2111, in task 0, take seconds (a call of 3,000 by 3,000
	// bytes, about 40 ms, within the bound of the edit distances).
	info, err := cl.Execute(ctx, fmt.Sprintf(`SELECT id, levenshtein(repeat('a', CASE WHEN id BETWEEN 2048 AND 2111 THEN 3000 ELSE 1 END),
  repeat('b', CASE WHEN id BETWEEN 2048 AND 2111 THEN 3000 ELSE 1 END)) AS d FROM read_parquet('%s')`, glob))
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	if plan.Mode != "scatter" || !strings.Contains(plan.Plan[0].Slice, "f0.parquet[0..") {
		t.Fatalf("plan %+v", plan)
	}
	locs := info.Endpoint[0].GetLocation()
	gone, cancel := context.WithCancel(ctx)
	if _, err := dialAt(t, locs[0].GetUri()).DoGet(gone, info.Endpoint[0].Ticket); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the executor takes the ticket; the run goes on for seconds
	cancel()
	var rows, sum int64
	for i, ep := range info.Endpoint {
		loc := ep.GetLocation()[0].GetUri()
		if i == 0 {
			loc = locs[1].GetUri() // the alternate
		}
		n, s := readAll(t, readerAt(t, ctx, loc, ep.Ticket))
		rows, sum = rows+n, sum+s
	}
	if rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		got := recorded(t, ctx, cl, plan.QueryID)
		failed := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND task_id = 0
  AND executor = '%s' AND status <> 'ok' AND error IS NOT NULL`, plan.QueryID, plan.Plan[0].Executor))
		return got == fmt.Sprintf("ok %d", total) && failed == 1,
			fmt.Sprintf("query recorded %q, want ok %d; %d failed attempts of task 0 at its executor, want 1", got, total, failed)
	})
}

// A task whose SQL fails (as it would anywhere) ends its query failed,
// its attempt recorded, and is not tried on other executors nor on the
// coordinator; a merge that fails is recorded failed.
func TestHistoryOfFailures(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "proxy")
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf(`SELECT id, CAST(CASE WHEN id = 29999 THEN 'x' ELSE '1' END AS INTEGER) AS v
FROM read_parquet('%s')`, glob))
	if err != nil {
		t.Fatal(err)
	}
	scatter := planOf(t, info)
	if scatter.Mode != "scatter" {
		t.Fatalf("plan %+v", scatter)
	}
	failures := 0
	for _, ep := range info.Endpoint {
		if readToEnd(ctx, cl, ep.Ticket) != nil {
			failures++
		}
	}
	if failures != 1 {
		t.Fatalf("%d endpoints failed, want 1", failures)
	}
	info, err = cl.Execute(ctx, fmt.Sprintf(`SELECT CAST(sum(id) AS TINYINT) AS s FROM read_parquet('%s')`, glob))
	if err != nil {
		t.Fatal(err)
	}
	merged := planOf(t, info)
	if merged.Mode != "scatter-merge" {
		t.Fatalf("plan %+v", merged)
	}
	if r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket); err == nil {
		for r.Next() {
		}
		err = r.Err()
		r.Release()
		if err == nil {
			t.Fatal("the merge overflowed TINYINT without an error")
		}
	}
	eventually(t, 20*time.Second, func() (bool, string) {
		s, m := recorded(t, ctx, cl, scatter.QueryID), recorded(t, ctx, cl, merged.QueryID)
		here := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'failed'
  AND executor = 'coordinator'`, scatter.QueryID))
		away := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'failed'
  AND executor <> 'coordinator'`, scatter.QueryID))
		return s == "failed 0 error" && m == "failed 0 error" && here == 0 && away >= 1,
			fmt.Sprintf("scatter recorded %q, merge %q, want both failed; failed attempts: %d here, %d at executors", s, m, here, away)
	})
}

// A distributed query whose tickets expire unread ends failed.
func TestHistoryOfAnAbandonedQuery(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct")
	h := c.dist.hist
	h.mu.Lock()
	h.abandon = time.Second
	h.mu.Unlock()
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s')`, glob))
	if err != nil {
		t.Fatal(err)
	}
	id := planOf(t, info).QueryID
	eventually(t, 10*time.Second, func() (bool, string) {
		got := recorded(t, ctx, cl, id)
		return got == "failed 0 error", fmt.Sprintf("unread merge recorded %q", got)
	})
}

// Every query records its user: local, scatter, scatter-merge, DDL.
func TestHistoryRecordsTheUser(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.User, c.Password = "ann", "secret" })
	ctx, err := cl.Client.AuthenticateBasicToken(context.Background(), "ann", "secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT 42 AS x",
		fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob),
		fmt.Sprintf("SELECT count(*) AS n FROM read_parquet('%s')", glob),
		"CREATE TABLE t AS SELECT 1 AS a",
	} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range info.Endpoint {
			r, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
			}
			r.Release()
		}
	}
	got := queryString(t, ctx, cl, `SELECT string_agg(DISTINCT "user" || ' ' || mode, ', ' ORDER BY "user" || ' ' || mode) FROM skein.queries`)
	if got != "ann local, ann scatter, ann scatter-merge" {
		t.Errorf("users and modes recorded: %q", got)
	}
}

// A user reads its own queries and their tasks, an admin every user's,
// a connection the server set no reader on none
// (flightsql.TestHistoryRecordsUser through clients).
func TestHistoryShowsEachUserItsOwn(t *testing.T) {
	h := newHistory()
	for _, q := range []struct{ id, user string }{{"a1", "ann"}, {"b1", "bob"}, {"a2", "ann"}} {
		h.started(skeinsql.QueryTag{ID: q.id}, q.user, "SELECT", "scatter", 1, true, true)
		h.tasks([]cluster.TaskReport{{Query: q.id, Task: 0, Executor: "e1", Rows: 1}})
	}
	ids := func(rows [][]any) string {
		var s []string
		for _, r := range rows {
			s = append(s, r[0].(string))
		}
		return strings.Join(s, " ")
	}
	for _, c := range []struct {
		r    duck.Reader
		want string
	}{{duck.Reader{User: "ann"}, "a1 a2"}, {duck.Reader{User: "bob"}, "b1"}, {duck.Reader{User: "root", All: true}, "a1 b1 a2"}, {duck.Reader{}, ""}} {
		if got := ids(h.queryRows(c.r)); got != c.want {
			t.Errorf("%+v reads queries %q, want %q", c.r, got, c.want)
		}
		if got := ids(h.taskRows(c.r)); got != c.want {
			t.Errorf("%+v reads the tasks of %q, want %q", c.r, got, c.want)
		}
	}
}

// The history's bookkeeping, attempt by attempt.
func TestHistoryEndsEachQueryOnce(t *testing.T) {
	h := newHistory()
	at := time.Unix(1000, 0)
	h.now = func() time.Time { return at }
	ok := func(q string, task int, exec string, rows int64) cluster.TaskReport {
		return cluster.TaskReport{Query: q, Task: task, Executor: exec, Rows: rows, Bytes: 10 * rows}
	}
	bad := func(q string, task int, exec, err string) cluster.TaskReport {
		return cluster.TaskReport{Query: q, Task: task, Executor: exec, Error: err}
	}
	status := func(id string) string {
		q := h.byID[id]
		return fmt.Sprintf("%s %d %d", q.status, q.rows, q.bytes)
	}
	// Retried: a failure, then success elsewhere; a task reported ok twice
	// counts once.
	h.started(skeinsql.QueryTag{ID: "a"}, "ann", "SELECT", "scatter", 2, true, true)
	h.tasks([]cluster.TaskReport{bad("a", 0, "e1", "boom"), ok("a", 1, "e2", 5), ok("a", 1, "e1", 5)})
	h.saw("a", 0, "e1", at, errors.New("stream broke")) // the same failure, seen from here
	if got := status("a"); got != "running 0 0" {
		t.Fatalf("a before its last task: %s", got)
	}
	h.tasks([]cluster.TaskReport{ok("a", 0, "e2", 3)})
	if got := status("a"); got != "ok 8 80" {
		t.Fatalf("a: %s", got)
	}
	h.tasks([]cluster.TaskReport{bad("a", 0, "e3", "late")}) // after the end: recorded, status kept
	if got, n := status("a"), len(h.byID["a"].attempts); got != "ok 8 80" || n != 5 {
		t.Fatalf("a after a late report: %s, %d attempts", got, n)
	}
	// Seen failing here, then reported by the executor: one attempt.
	h.started(skeinsql.QueryTag{ID: "b"}, "ann", "SELECT", "scatter", 1, true, true)
	h.saw("b", 0, "e1", at, errors.New("stream broke"))
	h.tasks([]cluster.TaskReport{bad("b", 0, "e1", "disk full")})
	if as := h.byID["b"].attempts; len(as) != 1 || as[0].err != "disk full" || as[0].number != 1 {
		t.Fatalf("b attempts %+v", as)
	}
	// A stream the coordinator saw break, which its executor reports
	// cancelled (it saw its reader leave), failed: in either order.
	for _, sawFirst := range []bool{true, false} {
		id := fmt.Sprint("broken", sawFirst)
		h.started(skeinsql.QueryTag{ID: id}, "ann", "SELECT", "scatter", 1, true, true)
		report := bad(id, 0, "e1", context.Canceled.Error())
		if !sawFirst {
			h.tasks([]cluster.TaskReport{report})
		}
		h.saw(id, 0, "e1", at, errors.New("rpc error: code = Unavailable desc = connection reset"))
		if sawFirst {
			h.tasks([]cluster.TaskReport{report})
		}
		if as := h.byID[id].attempts; len(as) != 1 || as[0].status != statusFailed || !strings.Contains(as[0].err, "connection reset") {
			t.Fatalf("%s attempts %+v", id, as)
		}
	}
	// Failed on the coordinator, the last resort: over.
	h.ranHere(bad("b", 0, "coordinator", ""), errors.New("conversion error"))
	if got := status("b"); got != "failed 0 0" {
		t.Fatalf("b: %s", got)
	}
	// The client went away.
	h.started(skeinsql.QueryTag{ID: "c"}, "ann", "SELECT", "local", 0, false, false)
	h.finished("c", 1, 0, fmt.Errorf("reading: %w", context.Canceled))
	h.finished("c", 2, 0, nil) // a second end changes nothing
	if got := status("c"); got != "cancelled 1 0" {
		t.Fatalf("c: %s", got)
	}
	// Never read: abandoned at the deadline.
	h.started(skeinsql.QueryTag{ID: "d"}, "ann", "SELECT", "scatter-merge", 2, true, false)
	at = at.Add(h.abandon + time.Second)
	h.queryRows(duck.Reader{All: true})
	if q := h.byID["d"]; q.status != statusFailed || !strings.Contains(q.err, "abandoned") {
		t.Fatalf("d: %s %s", q.status, q.err)
	}
	// Abandoned with a straggler's other run dropped (cancelled beside
	// the run that succeeded): failed, as unread; with a task cancelled
	// before any run of it succeeded (its reader went away): cancelled.
	cancelled := bad("", 0, "e2", context.Canceled.Error())
	for id, reports := range map[string][]cluster.TaskReport{
		"failed":    {ok("", 0, "e1", 1), cancelled},
		"cancelled": {ok("", 1, "e1", 1), cancelled},
	} {
		h.started(skeinsql.QueryTag{ID: id}, "ann", "SELECT", "scatter", 2, true, true)
		for _, r := range reports {
			r.Query = id
			h.tasks([]cluster.TaskReport{r})
		}
	}
	at = at.Add(h.abandon + time.Second)
	h.queryRows(duck.Reader{All: true})
	for _, id := range []string{"failed", "cancelled"} {
		if q := h.byID[id]; q.status != id {
			t.Fatalf("abandoned query %s: %s %s", id, q.status, q.err)
		}
	}
	// Bounded: the oldest ended queries go, with their tasks; a running
	// one stays, however many end after it (another user's flood pushed
	// one out, its end then uncounted; a tester's).
	h.started(skeinsql.QueryTag{ID: "long-running"}, "bob", "SELECT", "local", 0, false, false)
	for i := range retainQueries + 5 {
		id := fmt.Sprint("q", i)
		h.started(skeinsql.QueryTag{ID: id}, "ann", "SELECT", "local", 0, false, false)
		h.finished(id, 0, 0, nil)
	}
	if len(h.order) != retainQueries || h.byID["a"] != nil || len(h.taskRows(duck.Reader{All: true})) != 0 {
		t.Fatalf("%d queries kept, %d attempts", len(h.order), len(h.taskRows(duck.Reader{All: true})))
	}
	if rows := h.queryRows(duck.Reader{All: true}); len(rows) != retainQueries || rows[0][0] != "long-running" || rows[1][0] != "q6" {
		t.Fatalf("%d rows, first %v, %v", len(rows), rows[0][0], rows[1][0])
	}
	// Long SQL is clipped, and the oldest go to keep within retainBytes.
	long := strings.Repeat("x", 1<<20)
	n := 2 * retainBytes / maxText
	for i := range n {
		id := fmt.Sprint("long", i)
		h.started(skeinsql.QueryTag{ID: id}, "ann", long, "local", 0, false, false)
		h.finished(id, 0, 0, nil)
	}
	last := h.byID[fmt.Sprint("long", n-1)]
	if h.size > retainBytes || len(h.order) > retainBytes/maxText || h.byID["long0"] != nil || len(last.sql) > maxText+len("…") {
		t.Fatalf("%d bytes in %d queries, the last SQL %d bytes", h.size, len(h.order), len(last.sql))
	}
	if q := h.byID["long-running"]; q == nil || q.status != statusRunning || h.running != 1 {
		t.Fatalf("the running query after the flood: %+v, %d running", q, h.running)
	}
	h.finished("long-running", 7, 0, nil)
	if q := h.byID["long-running"]; q == nil || q.status != statusOK || h.running != 0 {
		t.Fatalf("the running query, ended: %+v, %d running", q, h.running)
	}
}

// A query its client cancels before reading it (CancelFlightInfo between
// GetFlightInfo and DoGet: a shell's Ctrl-C under load) is cancelled in
// the history at once, not running until its ticket expires.
func TestQueryCancelledUnreadIsCancelled(t *testing.T) {
	_, cl, _ := startCluster(t, 1, "direct")
	ctx := context.Background()
	const q = "SELECT 4242 AS cancelled_unread"
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil {
		t.Fatal(err)
	}
	if st := queryString(t, ctx, cl, "SELECT status FROM skein.queries WHERE sql = '"+q+"'"); st != "cancelled" {
		t.Fatalf("a query cancelled before it was read is %q in skein.queries, want cancelled", st)
	}
}

// A staged query's rows are its gather stage's, not every stage's: a
// GROUP BY answering 3 rows was recorded with 27 (its partial aggregates'
// too), in skein.queries and skein_query_rows_total.
func TestHistoryCountsTheResultsRows(t *testing.T) {
	h := newHistory()
	h.started(skeinsql.QueryTag{ID: "s"}, "ann", "SELECT", "stages", 4, true, true)
	h.resultTasks("s", 2)
	h.tasks([]cluster.TaskReport{
		{Query: "s", Task: 0, Executor: "e1", Rows: 12, Bytes: 120}, {Query: "s", Task: 1, Executor: "e2", Rows: 12, Bytes: 120},
		{Query: "s", Task: 2, Executor: "e1", Rows: 1, Bytes: 10}, {Query: "s", Task: 3, Executor: "e2", Rows: 2, Bytes: 20},
	})
	if q := h.byID["s"]; q.status != statusOK || q.rows != 3 || q.bytes != 30 {
		t.Fatalf("s: %s, %d rows, %d bytes; want ok, 3 rows, 30 bytes", q.status, q.rows, q.bytes)
	}
}

// A query stopped by its deadline failed; one its client cancelled was
// cancelled (a timed-out query was listed cancelled: DuckDB says
// "Interrupted", its streams "context canceled").
func TestStatusOfATimedOutQuery(t *testing.T) {
	for text, want := range map[string]string{
		"": statusOK,
		"query q ran longer than the query timeout of 1s (--query-timeout): context deadline exceeded (INTERRUPT Error: Interrupted!)": statusFailed,
		"task q/1: rpc error: code = Canceled desc = context canceled; context deadline exceeded":                                      statusFailed,
		"query q was cancelled: context canceled": statusCancelled,
		"INTERRUPT Error: Interrupted!":           statusCancelled,
		"Binder Error: no such column":            statusFailed,
	} {
		if got := statusOf(text); got != want {
			t.Errorf("statusOf(%q) = %s, want %s", text, got, want)
		}
	}
}
