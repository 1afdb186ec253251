package duck

import (
	"context"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The fixed cost of a stream a query reads, as a coordinator's merge and
// an executor's streamed exchange input pay it: registering the stream
// and releasing it (Register), and the whole merge around it on a new
// connection of an in-memory database (Merge: connect, register, prepare
// and run a GROUP BY over 10 partial rows, release, close). The View
// variants add what RegisterStream did before the replacement scan: a
// TEMP view over the stream created with it and dropped at its release.
func BenchmarkStream(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, Config{Threads: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(b, 0)
	schema := arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "s", Type: arrow.PrimitiveTypes.Float64}, {Name: "n", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	for i := range 10 {
		bld.Field(0).(*array.Int64Builder).Append(int64(i % 4))
		bld.Field(1).(*array.Float64Builder).Append(float64(i))
		bld.Field(2).(*array.Int64Builder).Append(1)
	}
	rec := bld.NewRecordBatch()
	bld.Release()
	defer rec.Release()
	reader := func() array.RecordReader {
		rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
		if err != nil {
			b.Fatal(err)
		}
		return rdr
	}
	register := func(b *testing.B, c *Conn, rdr array.RecordReader, view bool) func() {
		release, err := c.RegisterStream(rdr, "skein_s", 10)
		if err != nil {
			b.Fatal(err)
		}
		if !view {
			return release
		}
		if _, err := c.Exec(ctx, "CREATE OR REPLACE TEMP VIEW skein_partials AS SELECT * FROM skein_stream('skein_s')"); err != nil {
			b.Fatal(err)
		}
		return func() {
			if _, err := c.Exec(ctx, "DROP VIEW IF EXISTS temp.main.skein_partials"); err != nil {
				b.Fatal(err)
			}
			release()
		}
	}
	for _, view := range []bool{false, true} {
		suffix := ""
		if view {
			suffix = "View"
		}
		b.Run("Register"+suffix, func(b *testing.B) {
			c, err := db.Connect(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			for b.Loop() {
				rdr := reader()
				register(b, c, rdr, view)()
				rdr.Release()
			}
		})
		b.Run("Merge"+suffix, func(b *testing.B) {
			for b.Loop() {
				c, err := db.Connect(ctx)
				if err != nil {
					b.Fatal(err)
				}
				rdr := reader()
				release := register(b, c, rdr, view)
				table := "skein_s"
				if view {
					table = "skein_partials"
				}
				st, err := c.Prepare(ctx, "SELECT k, sum(s), sum(n) FROM "+table+" GROUP BY k ORDER BY k")
				if err != nil {
					b.Fatal(err)
				}
				out, err := st.Query(ctx, mem, nil, DefaultBatchSize)
				if err != nil {
					b.Fatal(err)
				}
				var rows int64
				for out.Next() {
					rows += out.RecordBatch().NumRows()
				}
				if rows != 4 {
					b.Fatalf("%d rows, want 4", rows)
				}
				out.Release()
				_ = st.Close()
				release()
				rdr.Release()
				_ = c.Close()
			}
		})
	}
}
