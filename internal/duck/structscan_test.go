package duck

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// A registered stream of STRUCT values in batches longer than a DuckDB
// vector reads as the values it sends: the scan hands DuckDB a slice of
// each batch (an offset into it), whose struct children DuckDB's C API
// conversion read from their start, giving values of other rows, values
// that were never sent, or a crash (SIGSEGV in
// duckdb_data_chunk_from_arrow) for a VARCHAR field.
func TestStreamOfStructs(t *testing.T) {
	c, mem := streamTest(t)
	ctx := context.Background()
	st := arrow.StructOf(arrow.Field{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
		arrow.Field{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	schema := arrow.NewSchema([]arrow.Field{{Name: "v", Type: st, Nullable: true}}, nil)
	const rows = 10000
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	sb := bld.Field(0).(*array.StructBuilder)
	for i := range rows {
		sb.Append(true)
		sb.FieldBuilder(0).(*array.StringBuilder).Append(fmt.Sprintf("p%d", i%5))
		sb.FieldBuilder(1).(*array.Int64Builder).Append(int64(i))
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	reader := func() array.RecordReader {
		rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rdr.Release)
		return rdr
	}
	release, err := c.RegisterStream(reader(), "skein_structs", -1)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	const summary = "SELECT (count(DISTINCT v) || ' ' || sum(v.k) || ' ' || count(DISTINCT v.s) || ' ' || max(v.s))::VARCHAR FROM "
	want := fmt.Sprintf("%d %d 5 p4", rows, rows*(rows-1)/2)
	if got, err := c.QueryText(ctx, summary+"skein_structs"); err != nil || got != want {
		t.Fatalf("scanned: got %q (%v), want %q", got, err, want)
	}
	// A load (ingest) hands DuckDB the same slices.
	if _, err := c.Ingest(ctx, Table{Name: "loaded"}, IngestMode{CreateIfMissing: true}, reader()); err != nil {
		t.Fatal(err)
	}
	if got, err := c.QueryText(ctx, summary+"loaded"); err != nil || got != want {
		t.Fatalf("loaded: got %q (%v), want %q", got, err, want)
	}
}
