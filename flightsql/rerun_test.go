package flightsql_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
)

// TestStatementRunAgain: a session running the same text again takes the
// statement its last run prepared (duck.PrepareAgain) instead of
// preparing it anew. The answer follows a view replaced by another
// session in between; a Parquet file rewritten with other columns, which
// the statement's promised schema cannot follow, fails that one run with
// ABORTED, and the next run prepares again and reads the new columns.
func TestStatementRunAgain(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) { c.AllowDirs = []string{dir} })
	ctx := context.Background()
	c, other := ts.client(t), ts.client(t)
	file := filepath.Join(dir, "f.parquet")
	local := ducktest.Open(t, dir)
	write := func(sel string) {
		t.Helper()
		ducktest.Exec(t, local, "COPY ("+sel+") TO "+duck.QuoteString(file)+" (FORMAT parquet)")
	}
	types := func(sc *arrow.Schema) []arrow.Type {
		var ids []arrow.Type
		for _, f := range sc.Fields() {
			ids = append(ids, f.Type.ID())
		}
		return ids
	}
	write("SELECT range::INTEGER AS a FROM range(3)")
	if _, err := c.ExecuteUpdate(ctx, "CREATE VIEW v AS SELECT * FROM read_parquet("+duck.QuoteString(file)+")"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		sc, recs := query(t, ctx, c, "SELECT * FROM v")
		if rowCount(recs) != 3 || sc.NumFields() != 1 || sc.Field(0).Type.ID() != arrow.INT32 {
			t.Fatalf("%d rows of %s", rowCount(recs), sc)
		}
	}
	if _, err := other.ExecuteUpdate(ctx, "CREATE OR REPLACE VIEW v AS SELECT 'x' AS a"); err != nil {
		t.Fatal(err)
	}
	if sc, recs := query(t, ctx, c, "SELECT * FROM v"); rowCount(recs) != 1 || sc.Field(0).Type.ID() != arrow.STRING {
		t.Fatalf("after the view changed: %d rows of %s", rowCount(recs), sc)
	}

	text := "SELECT * FROM read_parquet(" + duck.QuoteString(file) + ")"
	for range 2 {
		if sc, _ := query(t, ctx, c, text); !slices.Equal(types(sc), []arrow.Type{arrow.INT32}) {
			t.Fatalf("schema %s", sc)
		}
	}
	write("SELECT 'y' || range AS a, range AS b FROM range(2)")
	wantCode(t, readErr(t, ctx, c, text), codes.Aborted)
	if sc, recs := query(t, ctx, c, text); rowCount(recs) != 2 || !slices.Equal(types(sc), []arrow.Type{arrow.STRING, arrow.INT64}) {
		t.Fatalf("after the file changed: %d rows of %s", rowCount(recs), sc)
	}
}
