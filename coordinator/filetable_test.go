package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
)

// Parquet files named as a table (FROM 'dir/*.parquet', DuckDB's
// replacement scan) split as read_parquet does: they ran whole on the
// coordinator, planned as a table. The alias DuckDB reads them under is
// kept (a file's base name up to its first dot, a glob's own text), and a
// table or view of that name still wins, as in DuckDB.
func TestFilesNamedAsATableSplit(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "proxy")
	ctx := context.Background()
	dir := filepath.Dir(glob)
	ref := ducktest.Open(t, dir)
	one := filepath.Join(dir, "f1.parquet")
	if _, err := cl.ExecuteUpdate(ctx, `CREATE TABLE "f2.parquet" AS SELECT 42::BIGINT AS id, 0 AS g`); err != nil {
		t.Fatal(err)
	}
	ducktest.Exec(t, ref, `CREATE TABLE "f2.parquet" AS SELECT 42::BIGINT AS id, 0 AS g`)
	for _, c := range []struct {
		q     string
		local bool
	}{
		{fmt.Sprintf("SELECT g, count(*) AS n, sum(id) AS s FROM '%s' GROUP BY g", glob), false},
		{fmt.Sprintf(`SELECT "%s".id FROM '%[1]s' WHERE id %% 1000 = 7`, glob), false},
		{fmt.Sprintf("SELECT f1.id, f1.g FROM '%s' WHERE f1.g = 3", one), false},
		{fmt.Sprintf("SELECT count(*) AS n FROM '%s' AS a JOIN '%s' AS b USING (id)", glob, one), false},
		{`SELECT id FROM 'f2.parquet'`, true}, // the table, not a file
	} {
		want := duckRows(t, ref, c.q)
		info, err := cl.Execute(ctx, c.q)
		if err != nil {
			t.Fatalf("%s: %v", c.q, err)
		}
		if mode := planOf(t, info).Mode; (mode == "local") != c.local {
			t.Errorf("%s: planned %s, want local %v", c.q, mode, c.local)
		}
		got := endpointRows(t, cl, info.Endpoint)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, want DuckDB's %d; first %q, want %q", c.q, len(got), len(want), first(got), first(want))
		}
	}
}
