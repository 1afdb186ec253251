package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
)

// A query whose staged rewrite, reading one file of its glob, fails where
// the query does not (hive partitions named as a column of each file: an
// INTERNAL error of DuckDB's reading one), planned inside the session's
// transaction: it ran local after the rewrite's failure had aborted the
// transaction, so the client got "Current transaction is aborted" for a
// query DuckDB answers, and lost the rows it had inserted (a tester's). It
// is answered as DuckDB answers it, and the transaction commits.
func TestRewriteFailureLeavesTheTransaction(t *testing.T) {
	dir := t.TempDir()
	ref := ducktest.Open(t, dir)
	for _, k := range []string{"1", "2"} {
		part := filepath.Join(dir, "k="+k)
		if err := os.MkdirAll(part, 0o755); err != nil {
			t.Fatal(err)
		}
		ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT range AS i, 'inner' AS k FROM range(4000)) TO '%s' (FORMAT parquet)", filepath.Join(part, "p.parquet")))
	}
	c, _, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.SplitMinRows, c.LocalMaxRows, c.TaskRows = 0, 0, 1000
	})
	sess := sessionClient(t, c)
	ctx := context.Background()
	q := fmt.Sprintf("SELECT CAST(k AS VARCHAR) || ' ' || count(*) FROM read_parquet('%s/*/*.parquet') GROUP BY k", dir)
	for _, stmt := range []string{"CREATE TABLE keep (x INTEGER)", "BEGIN TRANSACTION", "INSERT INTO keep VALUES (1), (2), (3)"} {
		if _, err := sess.ExecuteUpdate(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	info, err := sess.Execute(ctx, q)
	if err != nil {
		t.Fatalf("%s in a transaction: %v", q, err)
	}
	got, want := endpointRows(t, sess, info.Endpoint), refStrings(t, ref, q)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: %q, DuckDB's %q", q, got, want)
	}
	if _, err := sess.ExecuteUpdate(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	if n := queryInt(t, sess, "SELECT count(*) FROM keep"); n != 3 {
		t.Errorf("the transaction's table holds %d rows after its commit, want 3", n)
	}
}
