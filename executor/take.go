package executor

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// arrow-go's take (how a producer's rows are put in partition order when a
// column is not fixed-width) has no kernel for DuckDB's INTERVAL,
// month_day_nano: 16 bytes a value, where its fixed-width take stops at 8
// ("invalid values byte width for take": a GROUP BY of an interval beside
// a list failed), nor for the sparse unions DuckDB gives its UNIONs as
// ("array_take has no kernel"). Such a column is taken as a type that it
// has a kernel for, at any depth (a list of intervals, a struct holding
// one, a map's values), and given its type back after: an interval as
// fixed_size_binary(16), the same layout; a sparse union as a struct of
// its type ids and its members, which are as long as it is.

// takeable is t with each month_day_nano in it a fixed_size_binary(16)
// and each sparse union a struct; t itself when it holds none.
func takeable(t arrow.DataType) arrow.DataType {
	switch t := t.(type) {
	case *arrow.MonthDayNanoIntervalType:
		return &arrow.FixedSizeBinaryType{ByteWidth: arrow.MonthDayNanoIntervalSizeBytes}
	case *arrow.SparseUnionType:
		fields := []arrow.Field{{Name: unionIDs, Type: arrow.PrimitiveTypes.Int8}}
		for _, f := range t.Fields() {
			f, _ = takeableField(f)
			fields = append(fields, f)
		}
		return arrow.StructOf(fields...)
	case *arrow.ListType:
		if f, ok := takeableField(t.ElemField()); ok {
			return arrow.ListOfField(f)
		}
	case *arrow.LargeListType:
		if f, ok := takeableField(t.ElemField()); ok {
			return arrow.LargeListOfField(f)
		}
	case *arrow.FixedSizeListType:
		if f, ok := takeableField(t.ElemField()); ok {
			return arrow.FixedSizeListOfField(t.Len(), f)
		}
	case *arrow.MapType:
		// A map's layout is a list's of its entries.
		if f, ok := takeableField(t.ElemField()); ok {
			return arrow.ListOfField(f)
		}
	case *arrow.StructType:
		if fields, ok := takeableFields(t.Fields()); ok {
			return arrow.StructOf(fields...)
		}
	}
	return t
}

func takeableField(f arrow.Field) (arrow.Field, bool) {
	t := takeable(f.Type)
	if t == f.Type {
		return f, false
	}
	f.Type = t
	return f, true
}

// takeableFields is fields (a copy) with their types takeable; changed
// says whether one is.
func takeableFields(fields []arrow.Field) (out []arrow.Field, changed bool) {
	out = make([]arrow.Field, len(fields))
	for i, f := range fields {
		var ok bool
		if out[i], ok = takeableField(f); ok {
			changed = true
		}
	}
	return out, changed
}

// takeableSchema is schema with its columns' types takeable, nil if
// none changes.
func takeableSchema(schema *arrow.Schema) *arrow.Schema {
	fields, changed := takeableFields(schema.Fields())
	if !changed {
		return nil
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// retyped is rec's columns as the types of schema, which have the same
// layouts (takeable's, or their originals): the same buffers.
func retyped(rec arrow.RecordBatch, schema *arrow.Schema) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		d := retype(c.Data(), schema.Field(i).Type)
		cols[i] = array.MakeFromData(d)
		d.Release()
	}
	out := array.NewRecordBatch(schema, cols, rec.NumRows())
	for _, c := range cols {
		c.Release()
	}
	return out
}

// unionIDs names the type ids in a sparse union's takeable struct.
const unionIDs = "skein.union_type_ids"

// retype is d as type t of the same layout (a sparse union's struct:
// fromUnion, toUnion), its children as t's.
func retype(d arrow.ArrayData, t arrow.DataType) arrow.ArrayData {
	if d.DataType().ID() == arrow.SPARSE_UNION && t.ID() == arrow.STRUCT {
		return fromUnion(d, t.(*arrow.StructType))
	}
	if u, ok := t.(*arrow.SparseUnionType); ok && d.DataType().ID() == arrow.STRUCT {
		return toUnion(d, u)
	}
	var kids []arrow.ArrayData
	if nt, ok := t.(arrow.NestedType); ok {
		fields := nt.Fields()
		for i, c := range d.Children() {
			kids = append(kids, retype(c, fields[i].Type))
		}
	}
	out := array.NewData(t, d.Len(), d.Buffers(), kids, d.NullN(), d.Offset())
	for _, k := range kids {
		k.Release()
	}
	return out
}

// fromUnion is sparse union d as struct t: no validity (a union has none),
// its type ids (buffer 1) the first child, its members the others.
func fromUnion(d arrow.ArrayData, t *arrow.StructType) arrow.ArrayData {
	ids := array.NewData(arrow.PrimitiveTypes.Int8, d.Offset()+d.Len(), []*memory.Buffer{nil, d.Buffers()[1]}, nil, 0, 0)
	kids := []arrow.ArrayData{ids}
	for i, c := range d.Children() {
		kids = append(kids, retype(c, t.Field(i+1).Type))
	}
	out := array.NewData(t, d.Len(), []*memory.Buffer{nil}, kids, 0, d.Offset())
	for _, k := range kids {
		k.Release()
	}
	return out
}

// toUnion is fromUnion's struct d (taken) as sparse union u again.
func toUnion(d arrow.ArrayData, u *arrow.SparseUnionType) arrow.ArrayData {
	kids := d.Children()
	// Copied, with room past its end: arrow-go's IPC writer reads a
	// union's type ids from a slice's offset to its length rounded up to
	// 64 bytes, and fails ("slice bounds out of range") past the buffer's
	// end, as a partition's slice near the end of a batch reaches.
	o, n := kids[0].Offset(), d.Offset()+d.Len()
	ids := memory.NewBufferBytes(make([]byte, n+64))
	copy(ids.Bytes(), kids[0].Buffers()[1].Bytes()[o:o+n])
	var members []arrow.ArrayData
	for i, c := range kids[1:] {
		members = append(members, retype(c, u.Fields()[i].Type))
	}
	out := array.NewData(u, d.Len(), []*memory.Buffer{nil, ids}, members, 0, d.Offset())
	for _, m := range members {
		m.Release()
	}
	return out
}
