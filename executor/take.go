package executor

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// arrow-go's take (how a producer's rows are put in partition order when a
// column is not fixed-width) has no kernel for DuckDB's INTERVAL,
// month_day_nano: 16 bytes a value, where its fixed-width take stops at 8
// ("invalid values byte width for take": a GROUP BY of an interval beside
// a list failed). Such a column is taken as the type of the same layout
// that it has a kernel for, fixed_size_binary(16), at any depth (a list
// of intervals, a struct holding one, a map's values), and given its type
// back after.

// takeable is t with each month_day_nano in it a fixed_size_binary(16);
// t itself when it holds none.
func takeable(t arrow.DataType) arrow.DataType {
	switch t := t.(type) {
	case *arrow.MonthDayNanoIntervalType:
		return &arrow.FixedSizeBinaryType{ByteWidth: arrow.MonthDayNanoIntervalSizeBytes}
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
		fields, changed := t.Fields(), false
		for i, f := range fields {
			var ok bool
			if fields[i], ok = takeableField(f); ok {
				changed = true
			}
		}
		if changed {
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

// takeableSchema is schema with its columns' types takeable, nil if
// none changes.
func takeableSchema(schema *arrow.Schema) *arrow.Schema {
	fields, changed := schema.Fields(), false
	for i, f := range fields {
		var ok bool
		if fields[i], ok = takeableField(f); ok {
			changed = true
		}
	}
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

// retype is d as type t of the same layout, its children as t's.
func retype(d arrow.ArrayData, t arrow.DataType) arrow.ArrayData {
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
