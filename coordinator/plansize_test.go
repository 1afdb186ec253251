package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A query too large for the planner to read (an IN list of 200,000 ids
// took the coordinator to 2.3 GB planning it) runs whole on the
// coordinator, and answers as DuckDB does: one past maxPlanAST, one past
// maxPlanText, and a COPY of such a query.
func TestLargeQueriesRunLocal(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	ids := make([]string, 20000) // 3.2 MB of AST from 116 KB of text
	for i := range ids {
		ids[i] = fmt.Sprint(i * 3)
	}
	long := strings.Repeat("x", 300<<10)
	for _, tc := range []struct {
		sql    string
		want   int64
		reason error
	}{
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE id IN (%s)", glob, strings.Join(ids, ",")), 10000, errASTTooLarge},
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE g <> 1 OR id::VARCHAR = '%s'", glob, long), total * 4 / 5, errTextTooLarge},
		// Small enough: split as before.
		{fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE id IN (%s)", glob, strings.Join(ids[:1000], ",")), 1000, nil},
	} {
		info, err := cl.Execute(ctx, tc.sql)
		if err != nil {
			t.Fatal(err)
		}
		var plan explanation
		if err := json.Unmarshal(info.AppMetadata, &plan); err != nil {
			t.Fatal(err)
		}
		if local := plan.Mode == "local"; local != (tc.reason != nil) || tc.reason != nil && !strings.Contains(plan.Reason, tc.reason.Error()) {
			t.Fatalf("%d bytes of SQL planned %s (%s), want %v", len(tc.sql), plan.Mode, plan.Reason, tc.reason)
		}
		if n := queryInt(t, cl, tc.sql); n != tc.want {
			t.Fatalf("%d bytes of SQL counted %d, want %d", len(tc.sql), n, tc.want)
		}
	}
	// A COPY of a query too large to plan is written by DuckDB here.
	out := fmt.Sprintf("%s/large.out", c.cfg.AllowDirs[0])
	if _, err := cl.ExecuteUpdate(ctx, fmt.Sprintf("COPY (SELECT id FROM read_parquet('%s') WHERE id IN (%s)) TO '%s' (FORMAT parquet)",
		glob, strings.Join(ids, ","), out)); err != nil {
		t.Fatal(err)
	}
	if n := queryInt(t, cl, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", out)); n != 10000 {
		t.Fatalf("the COPY wrote %d rows", n)
	}
}

// A deeply nested expression is refused by DuckDB's parser before it is
// planned (--max-expression-depth): DuckDB binds and optimizes one in
// time that grows with the cube of its depth, deaf to cancels and
// timeouts, so 1+1+...+1 of 300 terms took 1.3 s and of 990 terms 53 s.
// Nesting within the bound answers, the query's subqueries too.
func TestDeepExpressionsRefused(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	sum := func(terms int) string { return "SELECT CAST(" + strings.Repeat("1+", terms-1) + "1 AS BIGINT)" }
	start := time.Now()
	_, err := cl.Execute(ctx, sum(300))
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "max_expression_depth") {
		t.Fatalf("1+...+1 of 300 terms: %v, want InvalidArgument past max_expression_depth", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("refusing it took %v", d)
	}
	if n := queryInt(t, cl, sum(100)); n != 100 {
		t.Fatalf("1+...+1 of 100 terms is %d", n)
	}
	nested := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)
	for range 50 {
		nested = "SELECT * FROM (" + nested + ")"
	}
	if n := queryInt(t, cl, nested); n != total {
		t.Fatalf("50 nested subqueries counted %d, want %d", n, total)
	}
}
