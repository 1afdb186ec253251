package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
)

// A query the planner leaves local from its text alone is not parsed and
// analysed again: its decision is remembered by text. One that names a
// table or a view, or reads files, is planned each time, so a view
// created or dropped, a table in its place, or files that change, change
// its plan at once.
func TestLocalDecisionsByText(t *testing.T) {
	t.Parallel()
	c, cl, glob := startCluster(t, 2, "")
	ctx := context.Background()
	mode := func(q string) explanation {
		t.Helper()
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		plan := planOf(t, info)
		endpointRows(t, cl, info.Endpoint)
		return plan
	}
	remembered := func(q string) bool {
		_, ok := c.dist.texts.get(q)
		return ok
	}

	for _, q := range []string{"SELECT 1", "SELECT 42 AS answer, now() IS NOT NULL",
		fmt.Sprintf("SELECT id, random() FROM read_parquet('%s')", glob),
		"WITH a AS (SELECT 41 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM b",
		"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r"} {
		first := mode(q)
		if first.Mode != "local" || first.Reason == "" || !remembered(q) {
			t.Fatalf("%s: %+v, remembered %v", q, first, remembered(q))
		}
		if again := mode(q); again.Mode != "local" || again.Reason != first.Reason {
			t.Errorf("%s planned again from memory: %+v, first %+v", q, again, first)
		}
	}

	// A name: a table, then a view over files in its place, then a table
	// again, read directly and through a WITH.
	for _, q := range []string{"SELECT sum(id) FROM t", "WITH w AS (SELECT id FROM t) SELECT sum(id) FROM w"} {
		for _, step := range []struct{ ddl, want string }{
			{"CREATE OR REPLACE TABLE t AS SELECT range AS id FROM range(10)", "local"},
			{fmt.Sprintf("DROP TABLE t; CREATE VIEW t AS SELECT * FROM read_parquet('%s')", glob), "split"},
			{"DROP VIEW t; CREATE TABLE t AS SELECT range AS id FROM range(5)", "local"},
		} {
			for _, stmt := range strings.Split(step.ddl, "; ") {
				if _, err := cl.ExecuteUpdate(ctx, stmt); err != nil {
					t.Fatalf("%s: %v", stmt, err)
				}
			}
			if got := mode(q); (got.Mode == "local") != (step.want == "local") {
				t.Errorf("after %s: %s planned %+v, want %s", step.ddl, q, got, step.want)
			}
			if remembered(q) {
				t.Errorf("after %s: %s remembered by text", step.ddl, q)
			}
		}
	}

	// Files: an empty file is not split; the same text over the file
	// rewritten with rows is.
	dir := t.TempDir()
	c2, cl2, _ := startCluster(t, 2, "", func(cfg *Config) { cfg.AllowDirs = append(cfg.AllowDirs, dir) })
	file := filepath.Join(dir, "f.parquet")
	conn := ducktest.Open(t, dir)
	write := func(n int) {
		ducktest.Exec(t, conn, fmt.Sprintf("COPY (SELECT range AS id FROM range(%d)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)", n, file))
	}
	write(0)
	scan := fmt.Sprintf("SELECT id FROM read_parquet('%s')", file)
	planned := func() string {
		t.Helper()
		info, err := cl2.Execute(ctx, scan)
		if err != nil {
			t.Fatal(err)
		}
		endpointRows(t, cl2, info.Endpoint)
		return planOf(t, info).Mode
	}
	if got := planned(); got != "local" {
		t.Fatalf("an empty file: %s", got)
	}
	write(20000)
	if got := planned(); got == "local" {
		t.Errorf("the file rewritten with 20000 rows: still %s", got)
	}
	if _, ok := c2.dist.texts.get(scan); ok {
		t.Error("a file scan remembered by text")
	}
}
