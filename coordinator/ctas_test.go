package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// clusterRows is the cluster's answer to q, rendered, in its order.
func clusterRows(t *testing.T, cl *flightsql.Client, q string) []string {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return endpointRows(t, cl, info.Endpoint)
}

// refStrings is the one VARCHAR column of q's rows on the reference
// DuckDB, in order (read through database/sql).
func refStrings(t *testing.T, ref *duck.Conn, q string) []string {
	t.Helper()
	out, err := queryStrings(context.Background(), ref, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// sameTable fails unless table holds on the cluster what it holds in the
// reference DuckDB: the same columns, of the same types, and the same rows
// (in the same order if ordered), each rendered by DuckDB as one VARCHAR.
func sameTable(t *testing.T, cl *flightsql.Client, ref *duck.Conn, table string, ordered bool) {
	t.Helper()
	cols := fmt.Sprintf(`SELECT column_name || ' ' || data_type FROM information_schema.columns
WHERE table_name = '%s' ORDER BY ordinal_position`, table)
	if got, want := clusterRows(t, cl, cols), refStrings(t, ref, cols); !slices.Equal(got, want) {
		t.Errorf("%s: columns %q, DuckDB's CREATE TABLE AS gives %q", table, got, want)
	}
	q := fmt.Sprintf("SELECT CAST(r AS VARCHAR) FROM %s AS r", table)
	got, want := clusterRows(t, cl, q), refStrings(t, ref, q)
	if !ordered {
		slices.Sort(got)
		slices.Sort(want)
	}
	if len(want) == 0 {
		t.Errorf("%s: DuckDB's table is empty: the test shows nothing", table)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: %d rows, DuckDB's %d; first %q, want %q", table, len(got), len(want), first(got), first(want))
	}
}

// lastWriteMode is how the history says the last write ran.
func lastWriteMode(t *testing.T, cl *flightsql.Client, sql string) string {
	t.Helper()
	return queryString(t, context.Background(), cl, fmt.Sprintf(
		`SELECT mode FROM skein.queries WHERE sql = '%s' ORDER BY started_at DESC LIMIT 1`, strings.ReplaceAll(sql, "'", "''")))
}

// CREATE TABLE ... AS over files runs on the executors where its query
// distributes (a scan, an aggregate finished after a shuffle, one merged
// on the coordinator, a sorted top-N, a sort range-partitioned across the
// executors), and the coordinator appends the
// answer into the new table: the table is DuckDB's, its column names and
// types and rows, and the update count is DuckDB's. IF NOT EXISTS, an
// existing table and OR REPLACE behave as in DuckDB; no shuffle data is
// left; a TEMP table is made by DuckDB on the coordinator.
func TestDistributedCreateTableAs(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	co, cl, glob := startCluster(t, 2, "")
	ref := ducktest.Open(t, filepath.Dir(glob))
	ctx := context.Background()
	for i, c := range []struct {
		query   string
		ordered bool
	}{
		{fmt.Sprintf(`SELECT id, g, id * 2 AS twice, 'v' || g AS s, id::DECIMAL(18, 2) / 7 AS d FROM read_parquet('%s') WHERE g <> 3`, glob), false},
		{fmt.Sprintf(`SELECT id %% 1000 AS k, count(*) AS n, sum(id) AS s, avg(g) AS a FROM read_parquet('%s') GROUP BY k`, glob), false},
		{fmt.Sprintf(`SELECT count(*), sum(id), min(g) FROM read_parquet('%s')`, glob), false},
		{fmt.Sprintf(`SELECT id, g FROM read_parquet('%s') ORDER BY id DESC LIMIT 700`, glob), true},
		// Range-partitioned and sorted on executors: the rows go in in order.
		{fmt.Sprintf(`SELECT id, g FROM read_parquet('%s') WHERE id %% 7 <> 0 ORDER BY g DESC, id`, glob), true},
		{fmt.Sprintf(`SELECT id, g, g AS g FROM read_parquet('%s') WHERE id %% 3 = 0`, glob), false},
		// Types DuckDB's Arrow export does not give back: a BIT's bytes
		// were appended as its bits, a UHUGEINT of 2^127 or more failed
		// the append, a sum merged here was a DECIMAL(38,0).
		{fmt.Sprintf(`SELECT id, ('0101' || (id %% 2)::VARCHAR)::BIT AS b, id::UHUGEINT + 170141183460469231731687303715884105728::UHUGEINT AS u,
 [id::UHUGEINT + 170141183460469231731687303715884105728::UHUGEINT] AS l FROM read_parquet('%s') WHERE id %% 5 = 0`, glob), false},
		{fmt.Sprintf(`SELECT sum(g) AS s, max(id::HUGEINT) AS h, max(CASE WHEN id > 29990 THEN 170141183460469231731687303715884105733::UHUGEINT ELSE id::UHUGEINT END) AS u, typeof(sum(g)) AS ts FROM read_parquet('%s')`, glob), false},
	} {
		table := fmt.Sprintf("t%d", i)
		stmt := fmt.Sprintf("CREATE TABLE %s AS %s", table, c.query)
		n, err := cl.ExecuteUpdate(ctx, stmt)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		want, err := ref.Exec(ctx, stmt)
		if err != nil {
			t.Fatal(err)
		}
		if n != want {
			t.Errorf("%s: %d rows, DuckDB says %d", stmt, n, want)
		}
		mode := lastWriteMode(t, cl, stmt)
		if !strings.HasPrefix(mode, "write ") {
			t.Errorf("%s: ran as %q, not across executors", stmt, mode)
		}
		t.Logf("%s: %s", table, mode)
		wroteOn(t, cl, 2)
		sameTable(t, cl, ref, table, c.ordered)
	}

	// A merge made here would append a BIT through Arrow: DuckDB makes it.
	bits := fmt.Sprintf("CREATE TABLE tb AS SELECT max(('0101' || (id %% 2)::VARCHAR)::BIT) AS b, count(*) AS n FROM read_parquet('%s')", glob)
	if _, err := cl.ExecuteUpdate(ctx, bits); err != nil {
		t.Fatal(err)
	}
	ducktest.Exec(t, ref, bits)
	sameTable(t, cl, ref, "tb", false)

	// The table exists: an error, or nothing done with IF NOT EXISTS.
	again := fmt.Sprintf("CREATE TABLE t0 AS SELECT id FROM read_parquet('%s')", glob)
	if _, err := cl.ExecuteUpdate(ctx, again); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("%s over an existing table: %v", again, err)
	}
	ifNot := fmt.Sprintf("CREATE TABLE IF NOT EXISTS t0 AS SELECT id FROM read_parquet('%s')", glob)
	if n, err := cl.ExecuteUpdate(ctx, ifNot); err != nil || n != 0 {
		t.Fatalf("%s over an existing table: %d rows, %v", ifNot, n, err)
	}
	sameTable(t, cl, ref, "t0", false)
	// OR REPLACE replaces it.
	replace := fmt.Sprintf("CREATE OR REPLACE TABLE t0 AS SELECT g, count(*) AS n FROM read_parquet('%s') GROUP BY g", glob)
	if _, err := cl.ExecuteUpdate(ctx, replace); err != nil {
		t.Fatal(err)
	}
	if mode := lastWriteMode(t, cl, replace); !strings.HasPrefix(mode, "write ") {
		t.Errorf("%s: ran as %q, not across executors", replace, mode)
	}
	ducktest.Exec(t, ref, replace)
	sameTable(t, cl, ref, "t0", false)
	noShuffleData(t, co, "after the writes")
	// A TEMP table is the session's: DuckDB makes it here.
	temp := fmt.Sprintf("CREATE TEMP TABLE tt AS SELECT id FROM read_parquet('%s')", glob)
	if _, err := cl.ExecuteUpdate(ctx, temp); err != nil {
		t.Fatal(err)
	}
	if mode := lastWriteMode(t, cl, temp); mode != "local" {
		t.Errorf("%s: ran as %q", temp, mode)
	}
	// A table named as the session's TEMP table: its rows go to it, not to
	// the TEMP table (they did: DuckDB binds the name to the TEMP table
	// first, and the new table was left empty).
	sess := sessionClient(t, co)
	if _, err := sess.ExecuteUpdate(ctx, "CREATE TEMP TABLE tt AS SELECT 1::BIGINT AS id"); err != nil {
		t.Fatal(err)
	}
	shadow := fmt.Sprintf("CREATE TABLE tt AS SELECT id FROM read_parquet('%s') WHERE g = 1", glob)
	if _, err := sess.ExecuteUpdate(ctx, shadow); err != nil {
		t.Fatal(err)
	}
	ducktest.Exec(t, ref, shadow)
	if n := queryInt(t, sess, "SELECT count(*) FROM temp.main.tt"); n != 1 {
		t.Errorf("the TEMP table tt has %d rows after %s, had 1", n, shadow)
	}
	check := "SELECT count(*)::VARCHAR || ' ' || sum(id)::VARCHAR FROM "
	if got, want := clusterRows(t, sess, check+"data.main.tt"), refStrings(t, ref, check+"tt"); !slices.Equal(got, want) {
		t.Errorf("the table %s made holds %q (rows, sum), DuckDB's %q", shadow, got, want)
	}
}

// A CREATE TABLE ... AS whose query fails in one task (row 25000, in the
// last file) leaves no table; with OR REPLACE, the table it would have
// replaced stays as it was.
func TestFailedCreateTableAsLeavesNoTable(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	ref := ducktest.Open(t, filepath.Dir(glob))
	ctx := context.Background()
	failing := fmt.Sprintf(`SELECT id, CASE WHEN id = 25000 THEN 'x' ELSE id::VARCHAR END::BIGINT AS v FROM read_parquet('%s')`, glob)
	old := fmt.Sprintf("CREATE TABLE kept AS SELECT id FROM read_parquet('%s') WHERE g = 1", glob)
	if _, err := cl.ExecuteUpdate(ctx, old); err != nil {
		t.Fatal(err)
	}
	ducktest.Exec(t, ref, old)
	for _, stmt := range []string{"CREATE TABLE bad AS " + failing, "CREATE OR REPLACE TABLE kept AS " + failing} {
		_, err := cl.ExecuteUpdate(ctx, stmt)
		if err == nil || !strings.Contains(err.Error(), "Conversion") {
			t.Fatalf("%s: %v", stmt, err)
		}
		if mode := lastWriteMode(t, cl, stmt); !strings.HasPrefix(mode, "write ") {
			t.Errorf("%s: ran as %q, not across executors", stmt, mode)
		}
	}
	if n := queryInt(t, cl, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'bad'"); n != 0 {
		t.Fatal("a failed CREATE TABLE AS left its table")
	}
	sameTable(t, cl, ref, "kept", false)
}

// Inside a transaction begun in SQL (which the session does not know of:
// no Flight SQL transaction id comes with its statements), a CREATE TABLE
// ... AS and a COPY to a directory are the transaction's: run here, in
// it, and rolled back with it. Taken for distributed writes, each began
// a transaction of its own on the connection, inside the open one, and
// failed ("cannot start a transaction within a transaction").
func TestWritesInATransactionBegunInSQL(t *testing.T) {
	c, _, glob := startCluster(t, 2, "")
	cl := sessionClient(t, c)
	ctx := context.Background()
	out := filepath.Join(c.cfg.AllowDirs[0], "copied")
	for _, q := range []string{"BEGIN TRANSACTION",
		fmt.Sprintf("CREATE TABLE in_txn AS SELECT id, g FROM read_parquet('%s')", glob),
		fmt.Sprintf("COPY (SELECT id FROM read_parquet('%s')) TO '%s' (FORMAT parquet, PER_THREAD_OUTPUT)", glob, out)} {
		if _, err := cl.ExecuteUpdate(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if n := queryInt(t, cl, "SELECT count(*) FROM in_txn"); n != 30000 {
		t.Fatalf("%d rows in the transaction's table", n)
	}
	if _, err := cl.ExecuteUpdate(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, cl, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'in_txn'"); n != 0 {
		t.Fatal("the table of a rolled back transaction is there")
	}
}
