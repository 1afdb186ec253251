package duck

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/sqltext"
)

// nest wraps a query n times in level, whose %s is the query inside.
func nest(level string, n int) string {
	q := "SELECT 1 AS c FROM range(10)"
	for range n {
		q = fmt.Sprintf(level, q)
	}
	return q
}

const (
	countLevel  = "SELECT count(*) AS c FROM (%s)"
	scalarLevel = "SELECT (SELECT max(c) FROM (%s)) AS c"
	plainLevel  = "SELECT c FROM (%s) WHERE c > 0"
)

// TestNestingDepthByShape checks the depth each shape of nesting is given:
// one level for a query that aggregates, two for a scalar subquery that
// does, none for one that does not; a level's own argument lists and
// parentheses add nothing, and neither do aggregates' names in strings
// and comments.
func TestNestingDepthByShape(t *testing.T) {
	n := measurer(t, func(m measure) int { return m.depth })
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"SELECT 1", 0},
		{"SELECT count(*) FROM range(3)", 1},
		{"SELECT coalesce(max(range), 0) + (1) FROM range(3)", 1},
		{"SELECT range FROM range(3) GROUP BY range", 1},
		{"SELECT 'count(' || 'x' /* sum( */ FROM range(3) -- max(", 0},
		{nest(countLevel, 7), 7},
		{nest(scalarLevel, 5), 10},
		{nest(plainLevel, 60), 0},
		{"SELECT 1, (SELECT count(*) FROM range(3))", 2},
		{"SELECT * FROM range(3) WHERE range IN (SELECT max(range) FROM range(2))", 2},
		{"WITH a AS (SELECT count(*) AS c FROM range(3)), b AS (SELECT sum(c) AS c FROM a) SELECT max(c) FROM b", 3},
		{`WITH "A"(x) AS (SELECT count(*) FROM range(3)), b(y) AS MATERIALIZED (SELECT sum(x) FROM a) SELECT max(y) FROM b`, 3},
		{"FROM (SELECT count(*) AS c FROM range(3)) SELECT sum(c)", 2},
		{nest("SELECT row_number() OVER (PARTITION BY c ORDER BY c) AS c FROM (%s) WHERE c > 0", 9), 9},
		{nest("SELECT c FROM (%s) QUALIFY lag(c) OVER w IS NULL WINDOW w AS (ORDER BY c)", 4), 4},
	} {
		if got := n(tc.q); got != tc.want {
			t.Errorf("%s: depth %d, want %d", tc.q, got, tc.want)
		}
	}
}

// measurer measures texts, views and macros aside, and gives what of
// the measure the test checks.
func measurer(t *testing.T, of func(measure) int) func(q string) int {
	db, _, _ := openTest(t)
	fn := db.functions(context.Background())
	return func(q string) int {
		t.Helper()
		n := &nester{aggs: fn.aggregates, builtin: fn.builtin, syntax: fn.syntax, ctes: map[string]measure{}, memo: map[string]measure{}}
		return of(n.measure(mustScan(t, q)))
	}
}

// TestOnlyMacroCallsListMacros checks when measuring a text lists the
// connection's macros (a scan of duckdb_functions(), about 45 ms, for a
// session's first such query): for a call of a name DuckDB does not have
// built in, quoted or a keyword a macro may take (rollup), not for a
// keyword's syntax before '(' (IN, EXISTS, CAST, COALESCE, VALUES) nor
// for a name right after ')' (OVER, FILTER, an alias's column list) or
// AS (a type, an alias's column list).
func TestOnlyMacroCallsListMacros(t *testing.T) {
	db, _, _ := openTest(t)
	fn := db.functions(context.Background())
	if !fn.syntax["in"] || !fn.syntax["exists"] || fn.syntax["over"] || fn.syntax["left"] {
		t.Fatalf("keywords taken as syntax: in %v, exists %v, over %v, left %v (want true, true, false, false)",
			fn.syntax["in"], fn.syntax["exists"], fn.syntax["over"], fn.syntax["left"])
	}
	for _, tc := range []struct {
		q     string
		lists bool
	}{
		{"SELECT 1 WHERE 1 IN (1, 2) AND NOT EXISTS (SELECT 1) AND 2 NOT IN (3)", false},
		{"SELECT CAST(1 AS INTEGER), coalesce(NULL, 1), nullif(1, 2), substring('ab', 1, 1) FROM (VALUES (1)) AS v(x)", false},
		{"SELECT count(*) FILTER (WHERE range > 1) OVER (ORDER BY range) FROM range(3)", false},
		{"SELECT a FROM (SELECT 1, 2) t(a, b) WHERE a IN (SELECT 1) AND (a = 1 OR (a = 2))", false},
		{"SELECT deeper(1)", true},
		{"SELECT 1 WHERE 1 IN (deeper(1))", true},
		{`SELECT "exists"(1)`, true},
		{"SELECT rollup(1)", true},
	} {
		listed := 0
		n := &nester{aggs: fn.aggregates, builtin: fn.builtin, syntax: fn.syntax, ctes: map[string]measure{}, memo: map[string]measure{},
			list: func() (views, macros map[string]string) {
				listed++
				return nil, nil
			}}
		n.measure(mustScan(t, tc.q))
		if got := listed > 0; got != tc.lists {
			t.Errorf("%s: lists the macros %v, want %v", tc.q, got, tc.lists)
		}
	}
}

// TestFileScansByShape checks how many file scans a text counts: a call
// of a function that opens a file, a file named as a table, none for a
// name in a string or comment or a column, whatever files one scan
// names; a CTE's where it is defined and where it is named.
func TestFileScansByShape(t *testing.T) {
	n := measurer(t, func(m measure) int { return m.scans })
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"SELECT 1", 0},
		{"SELECT 'read_parquet(' /* read_csv( */ FROM range(3) -- read_json(", 0},
		{"SELECT * FROM read_parquet('d/*.parquet')", 1},
		{"SELECT * FROM read_parquet(['a.parquet', 'b.parquet', 'c.parquet'])", 1},
		{"SELECT * FROM read_csv('a.csv') JOIN READ_JSON_AUTO('b.json') USING (id)", 2},
		{"SELECT * FROM 'a.parquet'", 1},
		{"SELECT * FROM 'a.parquet', 'b.csv' JOIN 'c.json' ON x = 'y' WHERE z IN ('p', 'q') GROUP BY 'r', 's'", 3},
		{"SELECT read_parquet FROM t", 0},
		{"SELECT * FROM (SELECT * FROM read_parquet('a') UNION ALL SELECT * FROM parquet_scan('b'))", 2},
		{"WITH h AS (SELECT * FROM read_parquet('a')) SELECT * FROM h UNION ALL SELECT * FROM h", 3},
		{"CREATE TABLE t AS (SELECT * FROM read_parquet('a'))", 1},
	} {
		if got := n(tc.q); got != tc.want {
			t.Errorf("%s: %d scans, want %d", tc.q, got, tc.want)
		}
	}
}

// TestDeepAggregatesRefusedBeforePlanning checks that a query whose
// aggregates nest past the limit is refused at once, however it nests
// (subqueries, scalar subqueries, CTEs, views, macros), while one at the
// limit prepares and runs. DuckDB 1.5.5 alone takes minutes to prepare
// the 30-level query and seconds for the others.
func TestDeepAggregatesRefusedBeforePlanning(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	var views, cte []string
	views = append(views, "CREATE VIEW v0 AS SELECT 1 AS c FROM range(10)")
	cte = append(cte, "t0 AS (SELECT 1 AS c FROM range(10))")
	for i := 1; i <= 12; i++ {
		views = append(views, fmt.Sprintf("CREATE VIEW v%d AS SELECT (SELECT max(c) FROM v%d) AS c", i, i-1))
		cte = append(cte, fmt.Sprintf("t%d(c) AS (SELECT (SELECT max(c) FROM t%d) AS c)", i, i-1))
	}
	for _, v := range views {
		if _, err := c.Exec(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"CREATE MACRO deep() AS TABLE SELECT * FROM v12", "CREATE MACRO deeper(x) AS (SELECT max(c) + x FROM v12)"} {
		if _, err := c.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		nest(countLevel, 30),
		nest(scalarLevel, 12),
		nest("SELECT row_number() OVER (PARTITION BY c ORDER BY c) AS c FROM (%s) WHERE c > 0", 20),
		"WITH " + strings.Join(cte, ", ") + " SELECT * FROM t12",
		"SELECT * FROM v12",
		"SELECT * FROM deep()",
		"SELECT deeper(1)",
		"SELECT 1 WHERE 1 IN (deeper(1))",
		"SELECT count(*) FILTER (WHERE deeper(1) > 0) OVER () FROM range(2)",
		"SELECT count(*) FROM (" + nest(countLevel, 16) + ")",
	} {
		start := time.Now()
		err := c.CheckNesting(ctx, q, DefaultMaxNesting)
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(err.Error(), "over the server's limit of 16") {
			t.Errorf("%.60s...: %v, want refused as too deep", q, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%.60s...: the check took %v", q, took)
		}
	}
	for _, q := range []string{nest(countLevel, 16), "SELECT * FROM v8", nest(plainLevel, 60)} {
		if err := c.CheckNesting(ctx, q, DefaultMaxNesting); err != nil {
			t.Errorf("%.60s...: %v", q, err)
			continue
		}
		if got, err := scalarText(ctx, c, q); err != nil || got != "1" && got != "10" {
			t.Errorf("%.60s...: %q, %v", q, got, err)
		}
	}
	if err := c.CheckNesting(ctx, nest(countLevel, 30), 0); err != nil {
		t.Errorf("no bound: %v", err)
	}
}

func mustScan(t *testing.T, q string) []sqltext.Token {
	t.Helper()
	toks, err := sqltext.Scan(q)
	if err != nil {
		t.Fatal(err)
	}
	return toks
}

func scalarText(ctx context.Context, c *Conn, q string) (string, error) {
	return c.QueryText(ctx, "SELECT c::VARCHAR FROM ("+q+") LIMIT 1")
}

// TestConnectionsShareTheCommittedViews checks that connections which ran
// only SELECTs measure through the views listed once for all of them,
// that a connection's own temp views stay its own, and that a change of
// the catalog on any connection is seen by the others.
func TestConnectionsShareTheCommittedViews(t *testing.T) {
	db, c, _ := openTest(t)
	ctx := context.Background()
	other := func() *Conn {
		o, err := db.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = o.Close() })
		return o
	}
	deep := func(name string, temp bool) {
		kind := "VIEW"
		if temp {
			kind = "TEMP VIEW"
		}
		if _, err := c.Exec(ctx, fmt.Sprintf("CREATE OR REPLACE %s %s AS %s", kind, name, nest(countLevel, 17))); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(o *Conn, q string) bool {
		t.Helper()
		err := o.CheckNesting(ctx, q, DefaultMaxNesting)
		var de *Error
		if err != nil && (!errors.As(err, &de) || de.Kind != KindInvalid) {
			t.Fatalf("%s: %v", q, err)
		}
		return err != nil
	}
	deep("shared", false)
	a, b := other(), other()
	if !refused(a, "SELECT * FROM shared") || !refused(b, "SELECT * FROM shared") {
		t.Fatal("a new connection does not see the deep view")
	}
	if _, ok := db.defs.views.sql["shared"]; !ok {
		t.Fatalf("the instance's views are not listed for its connections: %v", db.defs.views.sql)
	}
	deep("mine", true)
	if !refused(c, "SELECT * FROM mine") {
		t.Error("the connection that made a temp view does not measure it")
	}
	if refused(a, "SELECT * FROM mine") {
		t.Error("another connection measures a temp view it cannot see")
	}
	if _, err := c.Exec(ctx, "CREATE OR REPLACE VIEW shared AS SELECT 1 AS c"); err != nil {
		t.Fatal(err)
	}
	if refused(a, "SELECT * FROM shared") || refused(other(), "SELECT * FROM shared") {
		t.Error("the view replaced on one connection is still measured as it was on the others")
	}
}
