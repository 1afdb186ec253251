package flightwire

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/flighttest"
	"github.com/skeindb/skein/internal/joined"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// flatSchema has a column of each kind of buffers partsBody lays out.
var flatSchema = arrow.NewSchema([]arrow.Field{
	{Name: "i64", Type: arrow.PrimitiveTypes.Int64},
	{Name: "i32", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
	{Name: "f64", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "dec", Type: &arrow.Decimal128Type{Precision: 15, Scale: 2}, Nullable: true},
	{Name: "date", Type: arrow.FixedWidthTypes.Date32},
	{Name: "ok", Type: arrow.FixedWidthTypes.Boolean, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "ls", Type: arrow.BinaryTypes.LargeString, Nullable: true},
	{Name: "bin", Type: arrow.BinaryTypes.Binary},
}, nil)

// flatParts are record batches of flatSchema, of the sizes given: nulls
// in some parts only (a part without a validity bitmap beside parts with
// one), sizes not multiples of 8 (a part ending inside a bitmap's byte),
// a sliced part (an offset into its buffers) and an empty one.
func flatParts(alloc memory.Allocator, sizes ...int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, flatSchema)
	defer b.Release()
	var parts []arrow.RecordBatch
	row := 0
	for i, n := range sizes {
		nulls := i%2 == 1
		for range n {
			null := nulls && row%5 == 0
			b.Field(0).(*array.Int64Builder).Append(int64(row))
			for f := 1; f < 4; f++ {
				if null {
					b.Field(f).AppendNull()
				}
			}
			if !null {
				b.Field(1).(*array.Int32Builder).Append(int32(row * 3))
				b.Field(2).(*array.Float64Builder).Append(float64(row) / 4)
				b.Field(3).(*array.Decimal128Builder).Append(decimal128.FromI64(int64(row * 7)))
			}
			b.Field(4).(*array.Date32Builder).Append(arrow.Date32(row))
			if null {
				b.Field(5).AppendNull()
				b.Field(6).AppendNull()
				b.Field(7).AppendNull()
			} else {
				b.Field(5).(*array.BooleanBuilder).Append(row%3 == 0)
				b.Field(6).(*array.StringBuilder).Append(fmt.Sprint("s", row))
				b.Field(7).(*array.LargeStringBuilder).Append(fmt.Sprint("large", row%17))
			}
			b.Field(8).(*array.BinaryBuilder).Append([]byte(fmt.Sprint(row % 11)))
			row++
		}
		rec := b.NewRecordBatch()
		if !nulls { // no validity bitmaps, as DuckDB exports a column without nulls
			rec = withoutBitmaps(rec)
		}
		parts = append(parts, rec)
	}
	// A slice of the last part, starting inside a bitmap byte.
	last := parts[len(parts)-1]
	parts[len(parts)-1] = last.NewSlice(3, last.NumRows()-2)
	last.Release()
	return parts
}

// withoutBitmaps is rec without its columns' validity bitmaps (it has no
// nulls); it consumes rec.
func withoutBitmaps(rec arrow.RecordBatch) arrow.RecordBatch {
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		d := c.Data()
		bufs := append([]*memory.Buffer{nil}, d.Buffers()[1:]...)
		nd := array.NewData(d.DataType(), d.Len(), bufs, nil, 0, d.Offset())
		cols[i] = array.MakeFromData(nd)
		nd.Release()
		defer cols[i].Release()
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
}

// TestWriterSendsJoinedRecordFromParts streams joined records of flat
// types through a Writer and reads them with arrow-go's reader (with and
// without Codec on the client): each arrives as one record batch equal
// to its parts concatenated, the parts are never joined on the server
// (nothing is allocated through the joined records' allocator), and
// every buffer is released. Compressed, the IPC writer joins and
// compresses them instead.
func TestWriterSendsJoinedRecordFromParts(t *testing.T) {
	for _, c := range []struct {
		name   string
		client []grpc.DialOption
		opts   []ipc.Option
	}{
		{"plain-client", nil, nil},
		{"codec-client", []grpc.DialOption{DialOption()}, nil},
		{"zstd", nil, []ipc.Option{ipc.WithZstd()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			joins := &flighttest.CountingAllocator{Allocator: alloc}
			// The first record a plain one (the IPC writer sends the schema
			// with it), as a stream's first batch is one chunk.
			first := flatParts(alloc, 2048)[0]
			want := []arrow.RecordBatch{first}
			recs := []arrow.RecordBatch{first}
			for _, sizes := range [][]int{{2048, 2048, 2048}, {2048, 1000, 3, 2048, 0, 777}, {5, 9}} {
				parts := flatParts(alloc, sizes...)
				want = append(want, concat(t, alloc, parts))
				recs = append(recs, joined.New(joins, flatSchema, parts))
			}
			srv := &server{recs: recs, opts: append(c.opts, ipc.WithAllocator(alloc))}
			srv.compressed = len(c.opts) > 0
			a, stop := serve(t, srv)
			cl, err := flight.NewClientWithMiddleware(a, nil, nil,
				append(c.client, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, cl, want)
			_ = cl.Close()
			stop()
			if n := joins.N.Load(); srv.compressed != (n > 0) {
				t.Errorf("%d allocations joining parts (compressed %v)", n, srv.compressed)
			}
			for _, r := range recs {
				r.Release()
			}
			for _, r := range want[1:] {
				r.Release()
			}
			released(t, alloc)
		})
	}
}

func concat(t *testing.T, alloc memory.Allocator, parts []arrow.RecordBatch) arrow.RecordBatch {
	t.Helper()
	cols := make([]arrow.Array, len(flatSchema.Fields()))
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	for i := range cols {
		var chunk []arrow.Array
		for _, p := range parts {
			chunk = append(chunk, p.Column(i))
		}
		a, err := array.Concatenate(chunk, alloc)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Release()
		cols[i] = a
	}
	return array.NewRecordBatch(flatSchema, cols, rows)
}

// TestJoinedMessage checks the message a Joiner lays out (a spool's copy
// of a joined record) reads, after a stream's schema, as the record's
// parts joined, into a body it is given dirty (a reused one: every byte
// must be written), and that other records are left to the caller.
func TestJoinedMessage(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	joins := &flighttest.CountingAllocator{Allocator: alloc}
	first := flatParts(alloc, 100)[0]
	defer first.Release()
	parts := flatParts(alloc, 2048, 1000, 3, 2048, 0, 777)
	want := concat(t, alloc, parts)
	defer want.Release()
	rec := joined.New(joins, flatSchema, parts)
	defer rec.Release()

	dirty := func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) }
	var j Joiner
	if _, _, ok, err := j.Message(first, dirty); ok || err != nil {
		t.Fatalf("a plain record: ok %v, err %v", ok, err)
	}
	header, body, ok, err := j.Message(rec, dirty)
	if !ok || err != nil {
		t.Fatalf("a joined record: ok %v, err %v", ok, err)
	}
	if joins.N.Load() != 0 {
		t.Error("the parts were joined")
	}
	// The stream: the schema and a first record from the IPC writer, then
	// the message (framed as the IPC stream format frames it), then its end.
	var stream bytes.Buffer
	w := ipc.NewWriter(&stream, ipc.WithSchema(flatSchema), ipc.WithAllocator(alloc))
	if err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	flighttest.AppendMessage(&stream, header, body)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	flighttest.CheckSecond(t, &stream, alloc, want)
}
