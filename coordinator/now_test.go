package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// nowZone is a zone no test machine has (+05:45), so that a date or time
// of day in the session's zone differs from UTC's.
const nowZone = "Asia/Kathmandu"

// nowCalls are every way DuckDB names the query's instant, each aliased.
const nowCalls = `now() AS a, current_timestamp AS b, get_current_timestamp() AS c, transaction_timestamp() AS d,
  current_date AS e, today() AS f, current_time AS g, get_current_time() AS h, localtimestamp AS i,
  current_localtimestamp() AS j, localtime AS k, current_localtime() AS l, main.now() AS m, "system".main.today() AS n`

// TestNowIsTheQuerysInstant: every task of a split query, and its merge,
// sees one instant, the query's, as one DuckDB does; each of now()'s kin
// gives it in its type and the session's zone, as DuckDB's own does.
// Before the instant was taken once, each task evaluated its own: the
// rows of a scan over many tasks held several.
func TestNowIsTheQuerysInstant(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.TimeZone = nowZone })
	ref := zoneReference(t, nowZone)
	scan := "read_parquet('" + glob + "')"

	before := ref("SELECT " + nowCalls)
	e, rows := runSplit(t, cl, "SELECT id, "+nowCalls+" FROM "+scan)
	after := ref("SELECT " + nowCalls)
	if e.Tasks < 4 {
		t.Fatalf("the scan ran in %d tasks, want several: %+v", e.Tasks, e)
	}
	distinct := map[string]bool{}
	for _, r := range rows {
		_, rest, _ := strings.Cut(r, "|")
		distinct[rest] = true
	}
	if len(rows) != 30000 || len(distinct) != 1 {
		t.Fatalf("%d rows with %d instants, want 30000 with one (first %q)", len(rows), len(distinct), first(rows))
	}
	// Each value as DuckDB gives it in the zone, between what it gives
	// just before and just after (the times of day as text, unless the
	// day turned meanwhile).
	got := strings.Split(first(slices.Collect(maps.Keys(distinct))), "|")
	b, a := strings.Split(before[0], "|"), strings.Split(after[0], "|")
	if len(got) != len(b) {
		t.Fatalf("got %q, DuckDB gives %q", got, b)
	}
	sameDay := b[4] == a[4]
	for i := range got {
		if !sameDay && (i == 6 || i == 7 || i == 10 || i == 11) {
			continue
		}
		if got[i] < b[i] || got[i] > a[i] {
			t.Errorf("column %d: %q, not between DuckDB's %q and %q", i, got[i], b[i], a[i])
		}
	}
	for _, i := range []int{1, 2, 3, 12} {
		if got[i] != got[0] {
			t.Errorf("column %d: %q, now() is %q", i, got[i], got[0])
		}
	}

	// An item with no alias keeps its name, the text of its expression.
	e, rows = runSplit(t, cl, "SELECT id, CAST(now() AS VARCHAR), current_date + 1, system.main.now() FROM "+scan+" WHERE id % 1000 = 0")
	distinct = map[string]bool{}
	for _, r := range rows {
		_, rest, _ := strings.Cut(r, "|")
		distinct[rest] = true
	}
	if e.Tasks < 4 || len(rows) != 30 || len(distinct) != 1 {
		t.Errorf("%d tasks gave %d rows with %d instants, want 30 with one", e.Tasks, len(rows), len(distinct))
	}

	// The merge, on the coordinator, and the stages of a plan in stages
	// see the tasks' instant.
	for _, c := range []struct{ q, mode, n string }{
		{"SELECT count(*) AS n, max(now()) = now() AS same, min(current_date) = current_date AS day, " +
			"max(localtime) = localtime AS tod FROM " + scan, "scatter-merge", "30000"},
		{"SELECT count(DISTINCT t) AS n, true AS same, true AS day, true AS tod FROM (SELECT now() AS t FROM " + scan + ")", "scatter-merge", "1"},
		{"SELECT g AS n, max(now()) = now() AS same, true AS day, true AS tod FROM " + scan + " GROUP BY g ORDER BY g LIMIT 1", "stages", "0"},
	} {
		e, rows := runSplit(t, cl, c.q)
		if want := c.n + "|true|true|true"; e.Mode != c.mode || len(rows) != 1 || rows[0] != want {
			t.Errorf("%s: %q (%s), want %q, every instant the same (%s)", c.q, rows, e.Mode, want, c.mode)
		}
	}
}

// TestNowInDistributedWrites: COPY TO and CREATE TABLE AS, written by
// the executors in parts, write one instant, the query's.
func TestNowInDistributedWrites(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	ctx := context.Background()
	q := "SELECT id, now() AS t, current_date AS d FROM read_parquet('" + glob + "')"
	out := filepath.Join(filepath.Dir(glob), "now-out")
	if _, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet)`, q, out)); err != nil {
		t.Fatal(err)
	}
	if files := entries(t, out); len(files) < 2 {
		t.Fatalf("%d files written (%v): the tasks did not write in parts", len(files), files)
	}
	wroteOn(t, cl, 2)
	if _, err := cl.ExecuteUpdate(ctx, "CREATE TABLE stamped AS "+q); err != nil {
		t.Fatal(err)
	}
	for _, read := range []string{"read_parquet('" + out + "/*.parquet')", "stamped"} {
		if n := queryInt(t, cl, "SELECT count(DISTINCT (t, d)) FROM "+read); n != 1 {
			t.Errorf("%s: %d instants, want one", read, n)
		}
	}
}

// TestNowInATransactionIsItsStart: inside a transaction a split query's
// instant is the transaction's start, as DuckDB's now() is, for a plan
// made and one kept for its text alike. A client of ADBC's default
// (autocommit off) has one open from its connect: its split queries took
// the time each was planned, seconds after its unsplit SELECT now()
// (found 2026-12-06).
func TestNowInATransactionIsItsStart(t *testing.T) {
	c, _, glob := startCluster(t, 2, "direct")
	cl := sessionClient(t, c)
	ctx := context.Background()
	if _, err := cl.ExecuteUpdate(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	_, local := runSplitOrLocal(t, cl, "SELECT now()::VARCHAR")
	q := "SELECT max(now())::VARCHAR AS t FROM read_parquet('" + glob + "') WHERE id >= 0"
	for run := range 4 {
		time.Sleep(300 * time.Millisecond)
		if _, rows := runSplit(t, cl, q); !slices.Equal(rows, local) {
			t.Fatalf("run %d in the transaction: now() %q, the transaction's start %q", run, rows, local)
		}
	}
	if _, err := cl.ExecuteUpdate(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if _, rows := runSplit(t, cl, q); len(rows) != 1 || rows[0] <= local[0] {
		t.Fatalf("after the transaction: now() %q, not after its start %q", rows, local)
	}
}

// TestNowIsNotKeptInAPlan: a text whose plan is kept (textplan.go) sees a
// new instant at each run, taken once for all its tasks. A plan is kept
// from the text's second run and taken from its third, unless the key
// moved in between: beside the package's other tests the executors can
// be measured unequal at one run and not the next (textKey.unequal), so
// the text runs until its kept plan was taken, up to 8 times.
func TestNowIsNotKeptInAPlan(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, glob := startCluster(t, 2, "direct")
	q := "SELECT id, now() AS t, current_time AS u FROM read_parquet('" + glob + "') WHERE id >= 0"
	hits := keptHits(t, c)
	var seen []string
	for run := 0; run < 8 && (run < 3 || keptHits(t, c)-hits < 1); run++ {
		_, rows := runSplit(t, cl, q)
		at := map[string]bool{}
		for _, r := range rows {
			_, rest, _ := strings.Cut(r, "|")
			at[rest] = true
		}
		if len(at) != 1 {
			t.Fatalf("%d instants in one run", len(at))
		}
		v := first(slices.Collect(maps.Keys(at)))
		if slices.Contains(seen, v) {
			t.Fatalf("run %d saw %q again, an earlier run's", len(seen), v)
		}
		seen = append(seen, v)
		time.Sleep(1100 * time.Millisecond)
	}
	if got := keptHits(t, c) - hits; got < 1 {
		t.Fatalf("the text's plan was never kept (%v hits)", got)
	}
}

// TestNowKeywordsBindAsColumns: current_date and its kin written as
// keywords are the column of that name when a FROM in scope has one, as
// DuckDB binds them; the split answer is DuckDB's.
func TestNowKeywordsBindAsColumns(t *testing.T) {
	c, cl, _ := startCluster(t, 2, "direct")
	dir := c.cfg.AllowDirs[0]
	conn := ducktest.Open(t, dir)
	for f := range 3 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS id, (range %% 7)::INTEGER AS "current_date"
FROM range(5000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1024)`, f*5000, filepath.Join(dir, fmt.Sprintf("cd%d.parquet", f))))
	}
	scan := "read_parquet('" + filepath.Join(dir, "cd*.parquet") + "')"
	for _, q := range []string{
		"SELECT id, current_date, localtime < TIME '24:00:00' AS k FROM " + scan,
		"SELECT id FROM " + scan + " WHERE current_date = 3",
		"SELECT id, (SELECT max(current_date) FROM " + scan + ") AS m FROM " + scan + " WHERE id < 10",
		"SELECT id, x FROM " + scan + ", (SELECT current_date AS x) AS s WHERE id < 10",
	} {
		_, rows := runSplit(t, cl, q)
		slices.Sort(rows)
		want := queryRows(t, conn, q)
		if !slices.Equal(rows, want) {
			t.Errorf("%s: %d rows differ from DuckDB's %d; first %q, want %q", q, len(rows), len(want), first(rows), first(want))
		}
	}
}

// runSplit runs a query that must not run local and gives its rows as
// text, and how it ran.
func runSplit(t *testing.T, cl *flightsql.Client, q string) (explanation, []string) {
	t.Helper()
	e, rows := runSplitOrLocal(t, cl, q)
	if e.Mode == "local" {
		t.Fatalf("%s: not split: %s", q, e.Reason)
	}
	return e, rows
}

func runSplitOrLocal(t *testing.T, cl *flightsql.Client, q string) (explanation, []string) {
	t.Helper()
	ctx := context.Background()
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var e explanation
	if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
		t.Fatalf("%s: %s %v", q, info.AppMetadata, err)
	}
	var rows []string
	for _, ep := range info.Endpoint {
		rdr := fetchDirect(t, cl, ep)
		rows = append(rows, rowStrings(t, rdr)...)
		rdr.Release()
	}
	return e, rows
}

// queryRows are a query's rows in one DuckDB, as text, sorted.
func queryRows(t *testing.T, conn *duck.Conn, q string) []string {
	t.Helper()
	rdr, done := ducktest.Query(t, conn, q)
	defer done()
	rows := rowStrings(t, rdr)
	slices.Sort(rows)
	return rows
}

// zoneReference is a DuckDB computing in zone, reading files under dirs:
// the rows of a query, as text, sorted.
func zoneReference(t *testing.T, zone string, dirs ...string) func(q string) []string {
	ctx := context.Background()
	ref, err := duck.Open(ctx, duck.Config{AllowedDirs: dirs, TimeZone: zone})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ref.Close() })
	conn, err := ref.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return func(q string) []string { return queryRows(t, conn, q) }
}
