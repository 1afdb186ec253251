package duck

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// TestHugeintSurvivesAnExchange: a HUGEINT column, marked by KeepTypes and
// loaded by LoadTemp, is a HUGEINT again (the median of 1 and 2 is 1.5);
// unmarked, Arrow's decimal128(38, 0) makes it a DECIMAL(38,0) (1).
func TestHugeintSurvivesAnExchange(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	st, err := c.Prepare(ctx, "SELECT g, sum(x) AS s FROM (VALUES (1, 1), (2, 2)) AS t(g, x) GROUP BY g")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, keep := range []bool{true, false} {
		rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, DefaultBatchSize)
		if err != nil {
			t.Fatal(err)
		}
		schema := rdr.Schema()
		if keep {
			schema = KeepTypes(rdr, schema)
		}
		var recs []arrow.RecordBatch
		var n int64
		for rdr.Next() {
			n += rdr.RecordBatch().NumRows()
			rec := rdr.RecordBatch()
			recs = append(recs, array.NewRecordBatch(schema, rec.Columns(), rec.NumRows()))
		}
		rdr.Release()
		if n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
		in, err := array.NewRecordReader(schema, recs)
		for _, r := range recs {
			r.Release() // the reader holds its own
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "skein_kept_false"
		if keep {
			name = "skein_kept_true"
		}
		if err := c.LoadTemp(ctx, name, in); err != nil {
			t.Fatal(err)
		}
		in.Release()
		got, err := c.QueryText(ctx, "SELECT typeof(s) || ' ' || median(s)::VARCHAR FROM "+name+" GROUP BY typeof(s)")
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{true: "HUGEINT 1.5", false: "DECIMAL(38,0) 1"}[keep]
		if got != want {
			t.Errorf("kept %v: %q, want %q", keep, got, want)
		}
	}
}
