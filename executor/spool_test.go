package executor

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// payloadsOf writes a batch of n rows (an int64, a nullable float64 and a
// string column: buffers of odd sizes, so bodies carry padding) through an
// IPC writer and hands each payload to f before the writer releases it.
func payloadsOf(t testing.TB, alloc memory.Allocator, n int, f func(ipc.Payload) error) {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "k", Type: arrow.PrimitiveTypes.Int64},
		{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "s", Type: arrow.BinaryTypes.String},
	}, nil)
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		}
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("comment %d", i*i))
	}
	rec := b.NewRecordBatch()
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
