package executor

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Columns holding INTERVALs or sparse UNIONs at any depth (a list, a
// map's values, a fixed-size list, a struct) are taken as takeable's
// types and given their own back: the rows in the order taken, every
// buffer released. Taken as they are, arrow-go fails ("invalid values
// byte width", "array_take has no kernel").
func TestTakeIntervalsAndUnions(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	iv := arrow.FixedWidthTypes.MonthDayNanoInterval
	un := arrow.SparseUnionOf([]arrow.Field{{Name: "n", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		{Name: "d", Type: iv, Nullable: true}}, []arrow.UnionTypeCode{0, 1})
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "i", Type: iv, Nullable: true},
		{Name: "l", Type: arrow.ListOf(iv), Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, iv), Nullable: true},
		{Name: "f", Type: arrow.FixedSizeListOf(2, iv), Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: iv, Nullable: true}, arrow.Field{Name: "b", Type: arrow.PrimitiveTypes.Int64}), Nullable: true},
		{Name: "u", Type: un},
		{Name: "lu", Type: arrow.ListOf(un), Nullable: true},
	}, nil)
	const rows = `[
		{"i": {"months": 1, "days": 2, "nanoseconds": 3}, "l": [{"months": 0, "days": 1, "nanoseconds": 0}], "m": [{"key": "x", "value": {"months": 5, "days": 0, "nanoseconds": 0}}],
		 "f": [{"months": 1, "days": 0, "nanoseconds": 0}, null], "s": {"a": {"months": 0, "days": 0, "nanoseconds": 9}, "b": 1},
		 "u": [0, 5], "lu": [[1, {"months": 2, "days": 0, "nanoseconds": 0}], [0, 7]]},
		{"i": null, "l": null, "m": null, "f": null, "s": null, "u": [1, null], "lu": null},
		{"i": {"months": -1, "days": 0, "nanoseconds": 7}, "l": [], "m": [], "f": [null, {"months": 0, "days": 3, "nanoseconds": 0}], "s": {"a": null, "b": 2},
		 "u": [1, {"months": 0, "days": 4, "nanoseconds": 0}], "lu": [[0, 1]]}
	]`
	rec, _, err := array.RecordFromJSON(mem, schema, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	as := takeableSchema(schema)
	if as == nil {
		t.Fatal("no column changed")
	}
	for _, f := range as.Fields() {
		if takeableSchema(arrow.NewSchema([]arrow.Field{f}, nil)) != nil {
			t.Fatalf("%s: still holds an interval", f.Type)
		}
	}
	in := retyped(rec, as)
	defer in.Release()
	idx, _, err := array.FromJSON(mem, arrow.PrimitiveTypes.Int32, strings.NewReader("[2, 0, 1, 2]"))
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Release()
	ctx := compute.WithAllocator(context.Background(), mem)
	values, positions := compute.NewDatum(in), compute.NewDatum(idx)
	defer values.Release()
	defer positions.Release()
	out, err := compute.Take(ctx, *compute.DefaultTakeOptions(), values, positions)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Release()
	got := retyped(out.(*compute.RecordDatum).Value, schema)
	defer got.Release()
	for i, c := range rec.Columns() {
		for j, k := range []int64{2, 0, 1, 2} {
			want, have := array.NewSlice(c, k, k+1), array.NewSlice(got.Column(i), int64(j), int64(j+1))
			if !arrow.TypeEqual(have.DataType(), c.DataType()) || !array.Equal(want, have) {
				t.Errorf("column %s, row %d: %v (%s), want %v", schema.Field(i).Name, j, have, have.DataType(), want)
			}
			want.Release()
			have.Release()
		}
	}
	// Without takeable's types, arrow-go's take refuses them (and leaks
	// what it allocated: not counted).
	plain := compute.NewDatum(rec)
	defer plain.Release()
	if bad, err := compute.Take(context.Background(), *compute.DefaultTakeOptions(), plain, positions); err == nil {
		bad.Release()
		t.Log("arrow-go takes intervals now: take.go may go")
	}
}
