package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// An aggregate of COLUMNS() is as many columns of the answer as the
// expression matches: the query runs on the coordinator, as DuckDB's
// (its planning failed: "16 output names for 1 columns").
func TestAggregateOfColumnsRunsHere(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	q := fmt.Sprintf("SELECT max(COLUMNS('^(id|g)$'))::BIGINT FROM read_parquet('%s')", glob)
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode != "local" {
		t.Fatalf("planned %s", e.Mode)
	}
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil || schema.NumFields() != 2 {
		t.Fatalf("schema %v (%v), want max(id) and max(g)", schema, err)
	}
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != 1 || sum != 29999 {
		t.Fatalf("%d rows, max(id) %d; want 1 row, 29999", rows, sum)
	}
}

// Results of the types arrow-go's take did not partition (an INTERVAL
// beside a list: executor/take.go) or that came back from a merge as
// another (an ENUM as VARCHAR: internal/duck/encoded.go) split. They ran
// on one node.
func TestResultsOfEveryTypeSplit(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	src := fmt.Sprintf("read_parquet('%s')", glob)
	for _, c := range []struct{ q, mode string }{
		{"SELECT CAST(g::VARCHAR AS ENUM('0', '1', '2', '3', '4')) AS e, count(*) AS n FROM " + src + " GROUP BY 1", "stages"},
		{"SELECT DISTINCT CAST(g::VARCHAR AS ENUM('4', '3', '2', '1', '0')) AS e FROM " + src + " ORDER BY e", "scatter-merge"},
		// A UNION does not cross an exchange exactly (TestUnionValuesStayOnOneNode).
		{"SELECT union_value(num := g) AS u, count(*) AS n FROM " + src + " GROUP BY 1", "local"},
		{"SELECT [g] AS l, max(INTERVAL 1 DAY * id) AS m FROM " + src + " GROUP BY ALL", "stages"},
		{"SELECT d::VARCHAR AS d, count(*) AS n, min([g]) AS m FROM (SELECT INTERVAL 1 HOUR * (id % 50) AS d, g FROM " + src + ") GROUP BY d", "stages"},
		{"SELECT id, CAST(g::VARCHAR AS ENUM('0', '1', '2', '3', '4')) AS e FROM " + src, "scatter"},
	} {
		info, err := cl.Execute(context.Background(), c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if e := planOf(t, info); e.Mode != c.mode {
			t.Errorf("%s: planned %s (%s), want %s", c.q, e.Mode, e.Reason, c.mode)
		}
		// Each stream's schema is the FlightInfo's (ADBC refuses another:
		// a merged ENUM's came back as VARCHAR).
		want, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		for _, ep := range info.Endpoint {
			r, err := cl.DoGet(context.Background(), ep.Ticket)
			if err != nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			for r.Next() {
			}
			if err := r.Err(); err != nil {
				t.Fatalf("%s: %v", c.q, err)
			}
			if !r.Schema().Equal(want) {
				t.Errorf("%s: a stream's schema %s, the FlightInfo's %s", c.q, r.Schema(), want)
			}
			r.Release()
		}
	}
}

// A query calling a session's TEMP macro runs on the coordinator, where
// the macro is: the executors do not have it ("Scalar Function with name
// dbl does not exist!", found 2026-12-05). One calling DuckDB's own
// functions only still splits.
//
// So does one naming a type the database created (CREATE TYPE), and one
// calling a macro named as one of DuckDB's functions, which
// it shadows in the session: the executors ran DuckDB's abs and lower
// (the sum of abs(id) for that of id * 2; found 2026-12-05), and after
// such a macro the same text planned before is planned again.
func TestSessionMacrosRunHere(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	shadowed := fmt.Sprintf("SELECT sum(abs(id * 2)) FROM read_parquet('%s')", glob)
	sessionMacroCases(t, cl, map[string]string{shadowed: "scatter-merge"})
	for _, m := range []string{"CREATE TEMP MACRO dbl(x) AS x * 2", "CREATE TEMP MACRO abs(x) AS x", "CREATE TYPE wide AS BIGINT"} {
		if _, err := cl.ExecuteUpdate(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	sessionMacroCases(t, cl, map[string]string{
		fmt.Sprintf("SELECT sum(dbl(id)) FROM read_parquet('%s')", glob): "local",
		fmt.Sprintf("SELECT sum(id * 2) FROM read_parquet('%s')", glob):  "scatter-merge",
		shadowed: "local",
		// A type the database created: "Type with name wide does not
		// exist" on the executors.
		fmt.Sprintf("SELECT sum((id * 2)::wide) FROM read_parquet('%s')", glob): "local",
	})
}

// sessionMacroCases plans and runs each query, checking its mode and that
// it sums 2 id over the 30000 rows.
func sessionMacroCases(t *testing.T, cl *flightsql.Client, cases map[string]string) {
	t.Helper()
	ctx := context.Background()
	for q, want := range cases {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		mode := "local"
		if len(info.AppMetadata) > 0 {
			mode = planOf(t, info).Mode
		}
		if mode != want {
			t.Errorf("%s: planned %s, want %s", q, mode, want)
		}
		r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if got := rowStrings(t, r); len(got) != 1 || got[0] != "899970000" {
			t.Errorf("%s: %q, want the sum of 2 id over 30000 rows", q, got)
		}
		r.Release()
	}
}

// A query making a row value runs on one node: an unnamed struct through
// an exchange loaded as a table failed "A table cannot be created from
// an unnamed struct", and a merge casting one back from text wrote its
// nameless fields as "" (found 2026-12-05).
func TestRowValuesRunHere(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("SELECT (id %% 3, g) AS k, sum(id) AS s FROM read_parquet('%s') GROUP BY 1", glob),
		fmt.Sprintf("SELECT count(DISTINCT (g, id::HUGEINT)) FROM read_parquet('%s')", glob),
	} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.AppMetadata) > 0 && planOf(t, info).Mode != "local" {
			t.Errorf("%s: planned %s, want local", q, planOf(t, info).Mode)
		}
		r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if got := rowStrings(t, r); len(got) != 15 && !(len(got) == 1 && got[0] == "30000") {
			t.Errorf("%s: %d rows %q", q, len(got), first(got))
		}
		r.Release()
	}
}

// A query reading a table function of the session's (duckdb_variables(),
// duckdb_views(), ...) runs on the coordinator, where the session is: on
// the executors a join with duckdb_variables() after SET VARIABLE found
// no rows (found 2026-12-06). One reading range() still splits.
func TestSessionTableFunctionsRunHere(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	if _, err := cl.ExecuteUpdate(ctx, "SET VARIABLE myv = 7"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ q, mode, want string }{
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') JOIN (SELECT CAST(value AS BIGINT) AS k FROM duckdb_variables() WHERE name = 'myv') ON id = k", glob), "local", "1"},
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') JOIN (SELECT name FROM duckdb_settings() WHERE name = 'threads') ON id < 3", glob), "local", "3"},
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') JOIN range(7, 8) r(k) ON id = k", glob), "stages", "1"},
	} {
		plannedValue(t, cl, tc.q, tc.q, tc.mode, tc.want)
	}
}

// A CSV read that keeps the rows it rejects (store_rejects, rejects_table,
// rejects_scan) runs here: the temporary tables it fills are the
// session's, and a task's were left on its executor, where the client's
// next query did not find them (a tester's).
func TestCSVRejectsStayInTheSession(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	f := filepath.Join(filepath.Dir(glob), "rejects.csv")
	if err := os.WriteFile(f, []byte("a,b\n1,2\nx,3\n4,5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := "read_csv('" + f + "', columns = {'a': 'INT', 'b': 'INT'}, auto_detect = false, header = true"
	plannedValue(t, cl, "store_rejects", "SELECT sum(a) FROM "+read+", store_rejects = true)", "local", "5")
	plannedValue(t, cl, "the rejected row", "SELECT count(*) FROM reject_errors", "local", "1")
	plannedValue(t, cl, "rejects_table", "SELECT sum(a) FROM "+read+", rejects_table = 'my_rejects', rejects_scan = 'my_scans')", "local", "5")
	plannedValue(t, cl, "its rejected row", "SELECT count(*) FROM my_rejects", "local", "1")
}

// plannedValue runs q, which gives one value, and checks that it was
// planned in mode and gave want; what says which case it is.
func plannedValue(t *testing.T, cl *flightsql.Client, what, q, mode, want string) {
	t.Helper()
	ctx := context.Background()
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode != mode {
		t.Errorf("%s: planned %s (%s), want %s", what, e.Mode, e.Reason, mode)
	}
	r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if got := rowStrings(t, r); len(got) != 1 || got[0] != want {
		t.Errorf("%s: %q, want %s", what, got, want)
	}
}

// A view over files named unqualified splits while another schema holds
// an object of its name, which DuckDB's search path does not reach: it
// stayed on one node ("reads a BASE_TABLE", found 2026-12-06). After USE
// of that schema the name is its table's, and the query runs here.
func TestViewNamedInAnotherSchemaToo(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("CREATE VIEW t1 AS SELECT * FROM read_parquet('%s')", glob),
		"CREATE SCHEMA s2", "CREATE TABLE s2.t1 AS SELECT 7 AS id",
	} {
		if _, err := cl.ExecuteUpdate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ use, mode, want string }{
		{"", "scatter-merge", "30000"},
		{"USE s2", "local", "1"},
	} {
		if tc.use != "" {
			if _, err := cl.ExecuteUpdate(ctx, tc.use); err != nil {
				t.Fatal(err)
			}
		}
		plannedValue(t, cl, fmt.Sprintf("after %q", tc.use), "SELECT count(*) FROM t1", tc.mode, tc.want)
	}
}

// A name in a view's query binds to the session's TEMP object of that
// name first, as DuckDB binds it: with a TEMP view of the name, a view of
// main reading it read main's in its stages (a tester's: 1,200,000 rows
// for DuckDB's 1,500,000); with a TEMP table, the query runs here.
func TestTempObjectsShadowNamesInViews(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	for _, q := range []string{
		fmt.Sprintf("CREATE VIEW vin AS SELECT * FROM read_parquet('%s')", glob),
		"CREATE VIEW vout AS SELECT * FROM vin",
	} {
		if _, err := cl.ExecuteUpdate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	plannedValue(t, cl, "without a TEMP object", "SELECT count(*) FROM vout", "scatter-merge", "30000")
	if _, err := cl.ExecuteUpdate(ctx, fmt.Sprintf("CREATE TEMP VIEW vin AS SELECT * FROM read_parquet('%s') WHERE id < 1000", glob)); err != nil {
		t.Fatal(err)
	}
	plannedValue(t, cl, "a TEMP view", "SELECT count(*) FROM vout", "scatter-merge", "1000")
	if _, err := cl.ExecuteUpdate(ctx, "DROP VIEW temp.vin"); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.ExecuteUpdate(ctx, "CREATE TEMP TABLE vin AS SELECT 7 AS id"); err != nil {
		t.Fatal(err)
	}
	plannedValue(t, cl, "a TEMP table", "SELECT count(*) FROM vout", "local", "1")
}

// A UNION ALL whose branches give different types splits, each branch's
// columns cast to the union's: its tasks gave their branch's own types,
// and the query stayed on one node ("rewrite changes the result schema",
// found 2026-12-06).
func TestUnionOfBranchesOfOtherTypesSplits(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	src := fmt.Sprintf("read_parquet('%s')", glob)
	q := "SELECT id::INTEGER AS v, g::DECIMAL(9,2) AS d FROM " + src + " WHERE id < 10 UNION ALL SELECT id, g::DOUBLE FROM " + src + " WHERE id >= 29990"
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode == "local" {
		t.Fatalf("planned local: %s", e.Reason)
	}
	want, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil || want.Field(0).Type.ID() != arrow.INT64 || want.Field(1).Type.ID() != arrow.FLOAT64 {
		t.Fatalf("schema %v (%v), want BIGINT and DOUBLE", want, err)
	}
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != 20 || sum != 45+299945 {
		t.Fatalf("%d rows summing to %d, want 20 summing to %d", rows, sum, 45+299945)
	}
}

// A view's query names its tables in the view's own schema, as DuckDB
// binds it, whatever the session's search path: rs.rtop over rbase read
// main.rbase, and main.rtop2 over rbase, with the path at rs, read
// rs.rbase: wrong answers, split (a tester's).
func TestViewNamesResolveInItsOwnSchema(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy")
	cl := sessionClient(t, c)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE SCHEMA rs",
		fmt.Sprintf("CREATE VIEW main.rbase AS SELECT * FROM read_parquet('%s') WHERE id >= 20000", glob),
		fmt.Sprintf("CREATE VIEW rs.rbase AS SELECT * FROM read_parquet('%s') WHERE id < 20", glob),
		"CREATE VIEW rs.rtop AS SELECT * FROM rbase",
		"CREATE VIEW main.rtop2 AS SELECT * FROM rbase",
	} {
		if _, err := cl.ExecuteUpdate(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	plannedValue(t, cl, "rs.rtop", "SELECT count(*) FROM rs.rtop", "scatter-merge", "20")
	plannedValue(t, cl, "main.rtop2", "SELECT count(*) FROM main.rtop2", "scatter-merge", "10000")
	if _, err := cl.ExecuteUpdate(ctx, "SET search_path = 'rs'"); err != nil {
		t.Fatal(err)
	}
	plannedValue(t, cl, "rs.rtop on the path rs", "SELECT count(*) FROM rs.rtop", "scatter-merge", "20")
	plannedValue(t, cl, "main.rtop2 on the path rs", "SELECT count(*) FROM main.rtop2", "scatter-merge", "10000")
}
