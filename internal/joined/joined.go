package joined

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Record is the concatenation of its parts, joined on first use of its
// columns.
type Record struct {
	refs   atomic.Int64
	schema *arrow.Schema
	parts  []arrow.RecordBatch
	rows   int64
	mem    memory.Allocator

	once sync.Once
	rec  arrow.RecordBatch // joined
}

// New is the concatenation of parts, which all have schema's types and
// only columns of Flat types (or Concatenate could fail where no error
// can be returned). It takes over the caller's references to parts.
func New(mem memory.Allocator, schema *arrow.Schema, parts []arrow.RecordBatch) *Record {
	r := &Record{schema: schema, parts: parts, mem: mem}
	for _, p := range parts {
		r.rows += p.NumRows()
	}
	r.refs.Store(1)
	return r
}

// Flat reports whether every field of schema is of a type whose arrays
// are one level of buffers that a Record's parts can be sent from:
// fixed-width values, booleans, and (large) strings and binaries.
func Flat(schema *arrow.Schema) bool {
	for _, f := range schema.Fields() {
		if !FlatType(f.Type) {
			return false
		}
	}
	return true
}

// FlatType reports whether arrays of t are flat (see Flat).
func FlatType(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.BOOL, arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return true
	case arrow.EXTENSION, arrow.DICTIONARY, arrow.NULL:
		return false
	}
	fw, ok := t.(arrow.FixedWidthDataType)
	return ok && fw.BitWidth() >= 8 && fw.BitWidth()%8 == 0
}

// Joinable reports whether every field of schema is of a type arrow-go
// concatenates (Join): not a union, nor a type holding one. Batches of
// another schema go as they come, not joined.
func Joinable(schema *arrow.Schema) bool {
	for _, f := range schema.Fields() {
		if !joinableType(f.Type) {
			return false
		}
	}
	return true
}

func joinableType(t arrow.DataType) bool {
	switch t := t.(type) {
	case arrow.UnionType:
		return false
	case arrow.NestedType:
		for _, f := range t.Fields() {
			if !joinableType(f.Type) {
				return false
			}
		}
	case arrow.ExtensionType:
		return joinableType(t.StorageType())
	}
	return true
}

// Parts is rec's parts if it is a Record (owned by rec: valid while it
// is), else nil.
func Parts(rec arrow.RecordBatch) []arrow.RecordBatch {
	if r, ok := rec.(*Record); ok {
		return r.parts
	}
	return nil
}

// Relabel is rec with schema sc (the same types, other names or
// metadata), taking over the caller's reference to rec; ok is false if
// rec is not a Record.
func Relabel(rec arrow.RecordBatch, sc *arrow.Schema) (out arrow.RecordBatch, ok bool) {
	r, ok := rec.(*Record)
	if !ok {
		return nil, false
	}
	for _, p := range r.parts {
		p.Retain()
	}
	out = New(r.mem, sc, r.parts)
	r.Release()
	return out, true
}

func (r *Record) Retain() { r.refs.Add(1) }

func (r *Record) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	for _, p := range r.parts {
		p.Release()
	}
	r.parts = nil
	if r.rec != nil {
		r.rec.Release()
		r.rec = nil
	}
}

func (r *Record) Schema() *arrow.Schema   { return r.schema }
func (r *Record) NumRows() int64          { return r.rows }
func (r *Record) NumCols() int64          { return int64(r.schema.NumFields()) }
func (r *Record) ColumnName(i int) string { return r.schema.Field(i).Name }

func (r *Record) Columns() []arrow.Array   { return r.joined().Columns() }
func (r *Record) Column(i int) arrow.Array { return r.joined().Column(i) }

func (r *Record) SetColumn(i int, col arrow.Array) (arrow.RecordBatch, error) {
	return r.joined().SetColumn(i, col)
}

func (r *Record) NewSlice(i, j int64) arrow.RecordBatch { return r.joined().NewSlice(i, j) }

func (r *Record) MarshalJSON() ([]byte, error) { return r.joined().MarshalJSON() }

// joined is the parts concatenated, made once.
func (r *Record) joined() arrow.RecordBatch {
	r.once.Do(func() {
		var err error
		if r.rec, err = Join(r.mem, r.schema, r.parts); err != nil {
			panic(err) // parts of one flat type concatenate, short of memory
		}
	})
	return r.rec
}

// Join is parts (of schema) concatenated into one record batch.
func Join(mem memory.Allocator, schema *arrow.Schema, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	var rows int64
	for _, p := range parts {
		rows += p.NumRows()
	}
	chunk := make([]arrow.Array, len(parts))
	for i := range cols {
		for j, p := range parts {
			chunk[j] = p.Column(i)
		}
		a, err := array.Concatenate(chunk, mem)
		if err != nil {
			return nil, fmt.Errorf("joined: joining column %d: %w", i, err)
		}
		cols[i] = a
	}
	return array.NewRecordBatch(schema, cols, rows), nil
}
