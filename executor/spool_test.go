package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/flighttest"
	"github.com/skeindb/skein/internal/joined"
)

// kxs is the schema of testBatch: an int64, a nullable float64 and a
// string column (buffers of odd sizes, so bodies carry padding).
var kxs = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String},
}, nil)

// testBatch is a batch of kxs of n rows, its keys from first.
func testBatch(alloc memory.Allocator, first, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, kxs)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		}
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("comment %d", i*i))
	}
	return b.NewRecordBatch()
}

// payloadsOf writes a testBatch of n rows through an IPC writer and hands
// each payload to f before the writer releases it.
func payloadsOf(t testing.TB, alloc memory.Allocator, n int, f func(ipc.Payload) error) {
	t.Helper()
	schema := kxs
	rec := testBatch(alloc, 0, n)
	defer rec.Release()
	w := ipc.NewWriterWithPayloadWriter(payloadFunc(f), ipc.WithSchema(schema), ipc.WithAllocator(alloc))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

type payloadFunc func(ipc.Payload) error

func (f payloadFunc) Start() error                     { return nil }
func (f payloadFunc) Close() error                     { return nil }
func (f payloadFunc) WritePayload(p ipc.Payload) error { return f(p) }

// A body copied into its exact size is the body arrow-go serializes, padding
// and all, in a slice with no room to spare.
func TestSerializeBody(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	bodies := 0
	for _, n := range []int{0, 1, 5, 1000} {
		payloadsOf(t, alloc, n, func(p ipc.Payload) error {
			var want bytes.Buffer
			if err := p.SerializeBody(&want); err != nil {
				return err
			}
			got, err := serializeBody(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want.Bytes()) || cap(got) != len(got) {
				t.Errorf("%d rows: body of %d bytes (cap %d), arrow-go writes %d", n, len(got), cap(got), want.Len())
			}
			if want.Len() > 0 {
				bodies++
			}
			return nil
		})
	}
	if bodies == 0 {
		t.Fatal("no payload had a body")
	}
}

// go test -tags duckdb_arrow -run '^$' -bench SerializeBody ./executor/
// (bytes.Buffer: how the body was copied before).
func BenchmarkSerializeBody(b *testing.B) {
	payloadsOf(b, memory.NewGoAllocator(), 60_000, func(p ipc.Payload) error {
		var buf bytes.Buffer
		if err := p.SerializeBody(&buf); err != nil || buf.Len() == 0 {
			return err // the schema's payload has no body
		}
		b.Run("exact", func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, err := serializeBody(p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("bytes.Buffer", func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				var grown bytes.Buffer
				if err := p.SerializeBody(&grown); err != nil {
					b.Fatal(err)
				}
			}
		})
		return nil
	})
}

// A spool takes a batch of DuckDB's chunks (a joined.Record) from the
// chunks, without joining them, and what it holds reads back, framed as
// the IPC stream format frames messages, as the chunks joined; the first
// batch (one chunk, with the schema) and a compressed stream go through
// the IPC writer.
func TestSpoolTakesChunksUnjoined(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprint("compressed=", compressed), func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			schema := kxs
			var chunks []arrow.RecordBatch
			for i, n := range []int{2048, 2048, 1000, 3} {
				chunks = append(chunks, testBatch(alloc, i*10000, n))
			}
			want, err := joined.Join(alloc, schema, chunks[1:])
			if err != nil {
				t.Fatal(err)
			}
			defer want.Release()
			counted := &flighttest.CountingAllocator{Allocator: alloc}
			batch := joined.New(counted, schema, chunks[1:])

			sp := newSpool(newSpoolStore(t.TempDir(), 1<<30, 1<<30), 1)
			var opts []ipc.Option
			if compressed {
				opts = skeinsql.IPCOptions(skeinsql.CodecLZ4)
			}
			w := newSpoolWriter(payloads{ctx: context.Background(), sp: sp}, schema, compressed,
				append(opts, ipc.WithSchema(schema), ipc.WithAllocator(alloc))...)
			for _, rec := range []arrow.RecordBatch{chunks[0], batch} {
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			chunks[0].Release()
			batch.Release()
			sp.finish(nil)
			if joins := counted.N.Load(); compressed != (joins > 0) {
				t.Errorf("%d allocations joining the chunks", joins)
			}

			var stream bytes.Buffer
			r := sp.take()
			for {
				f, err := r.read(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				flighttest.AppendMessage(&stream, f.header, f.body)
			}
			r.done()
			flighttest.CheckSecond(t, &stream, alloc, want)
		})
	}
}
