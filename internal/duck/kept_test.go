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

// TestUhugeintSurvivesAnExchange: UHUGEINT values of 2^127 and more leave
// as negative decimals (DuckDB's export) and come back as themselves; the
// cast alone failed ("Failed to cast decimal value ... to type UINT128").
func TestUhugeintSurvivesAnExchange(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	const sql = "SELECT x::UHUGEINT * 85070591730234615865843651857942052864::UHUGEINT + x::UHUGEINT AS u FROM range(4) t(x)"
	st, err := c.Prepare(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	schema := KeepTypes(rdr, rdr.Schema())
	var recs []arrow.RecordBatch
	for rdr.Next() {
		rec := rdr.RecordBatch()
		recs = append(recs, array.NewRecordBatch(schema, rec.Columns(), rec.NumRows()))
	}
	rdr.Release()
	in, err := array.NewRecordReader(schema, recs)
	for _, r := range recs {
		r.Release()
	}
	if err != nil {
		t.Fatal(err)
	}
	defer in.Release()
	if err := c.LoadTemp(ctx, "skein_kept_u", in); err != nil {
		t.Fatal(err)
	}
	got, err := c.QueryText(ctx, "SELECT typeof(u) || ' ' || string_agg(u::VARCHAR, ',' ORDER BY u) FROM skein_kept_u GROUP BY typeof(u)")
	if err != nil {
		t.Fatal(err)
	}
	// x * 2^126 + x: 0, 2^126+1, 2^127+2, 3*2^126+3.
	want := "UHUGEINT 0,85070591730234615865843651857942052865,170141183460469231731687303715884105730,255211775190703847597530955573826158595"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
