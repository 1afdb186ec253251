package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/ducktest"
)

// A text planned again and again is, once its schema was prepared
// between two listings of the same files (a kept plan's hit), planned
// without being prepared (PlanKept, "unprepared"); a file rewritten with
// another type for a column is seen, and the query prepared again: its
// FlightInfo has the new schema, and its answer is DuckDB's.
func TestKeptSchemaFollowsFiles(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct")
	dir := filepath.Dir(glob)
	ref := ducktest.Open(t, dir)
	q := fmt.Sprintf("SELECT id, g FROM read_parquet('%s') WHERE id %% 1000 = 0", glob)
	run := func() (*flight.FlightInfo, arrow.DataType) {
		t.Helper()
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		got := endpointRows(t, cl, info.Endpoint)
		slices.Sort(got)
		if want := duckRows(t, ref, q); !slices.Equal(got, want) {
			t.Fatalf("%s: %q, want DuckDB's %q", q, got, want)
		}
		return info, sc.Field(1).Type
	}
	unprepared := func() float64 { return counted(t, c.dist.textLookups, "unprepared") }
	before, seen := unprepared(), false
	for range 6 {
		if _, typ := run(); typ.ID() != arrow.INT32 {
			t.Fatalf("g is %s, want int32", typ)
		}
		if unprepared() > before {
			seen = true
			break
		}
	}
	if !seen {
		t.Fatal("6 runs of one text over unchanged files each prepared it")
	}
	// The first file read: its g decides the column's type.
	ducktest.Exec(t, ref, fmt.Sprintf(`COPY (SELECT range::BIGINT AS id, ('v' || (range %% 5))::VARCHAR AS g FROM range(10000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, filepath.Join(dir, "f0.parquet")))
	before = unprepared()
	info, typ := run()
	if typ.ID() != arrow.STRING {
		t.Errorf("after f0.parquet's g became VARCHAR: g is %s (%s), want utf8", typ, info.AppMetadata)
	}
	if unprepared() != before {
		t.Error("the query after a file changed was not prepared again")
	}
}
