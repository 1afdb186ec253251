package partition

import (
	"fmt"
	"testing"
)

// sortedFiles are n files of two row groups each, keys contiguous from 0
// (each file width keys), shifted by overlap keys into the file before.
func sortedFiles(n int, width, overlap int64) []File {
	var fs []File
	for i := range n {
		lo := int64(i)*width - overlap*int64(min(i, 1))
		fs = append(fs, File{Path: fmt.Sprintf("f%d", i), RowGroups: []int64{100, 100},
			Keys: []Bounds{{Lo: lo, Hi: lo + width/2}, {Lo: lo + width/2, Hi: int64(i+1)*width - 1}}})
	}
	return fs
}

// rowGroups is a file of row groups of the given rows, the i-th holding
// the key i alone.
func rowGroups(path string, rows ...int64) File {
	f := File{Path: path, RowGroups: rows}
	for i := range rows {
		f.Keys = append(f.Keys, Bounds{Lo: int64(i), Hi: int64(i)})
	}
	return f
}

func TestKeySlices(t *testing.T) {
	for _, c := range []struct {
		files          []File
		n              int
		want           string
		clust, disjoin bool
	}{
		// Whole files grouped in key order, each slice its share.
		{sortedFiles(8, 100, 0), 2, "[f0,f1,f2,f3 keys 0..399 f4,f5,f6,f7 keys 400..799]", true, true},
		{sortedFiles(3, 100, 0), 2, "[f0,f1 keys 0..199 f2 keys 200..299]", true, true},
		// Fewer files than slices: each cut along its row groups.
		{sortedFiles(1, 100, 0), 2, "[f0[0..99] keys 0..50 f0[100..199] keys 50..99]", true, false},
		// Cut at the row group closest to each slice's share of the rows
		// (TPC-H Q2's partsupp at SF1: 3 and 4 of its 7 row groups, not 4
		// and 3), and never into more slices than asked.
		{[]File{rowGroups("ps", 122880, 122880, 122880, 122880, 122880, 122880, 62720)}, 2,
			"[ps[0..368639] keys 0..2 ps[368640..799999] keys 3..6]", true, true},
		{[]File{rowGroups("a", 10, 10, 100)}, 2, "[a[0..19] keys 0..1 a[20..119] keys 2..2]", true, true},
		{[]File{rowGroups("b", 100, 10, 10)}, 2, "[b[0..99] keys 0..0 b[100..119] keys 1..2]", true, true},
		{[]File{rowGroups("c", 10, 10, 10, 10, 10, 10)}, 3, "[c[0..19] keys 0..1 c[20..39] keys 2..3 c[40..59] keys 4..5]", true, true},
		// Files overlapping a little: clustered, not disjoint.
		{sortedFiles(4, 100, 30), 2, "[f0,f1 keys 0..199 f2,f3 keys 170..399]", true, false},
	} {
		got, ok := keySlices(c.files, c.n)
		if !ok || fmt.Sprint(got) != c.want {
			t.Errorf("keySlices(%d files, %d) = %v, %v, want %s", len(c.files), c.n, got, ok, c.want)
			continue
		}
		var bs []Bounds
		for _, s := range got {
			bs = append(bs, *s.Keys)
		}
		if clustered(bs) != c.clust || disjoint(got) != c.disjoin {
			t.Errorf("%v: clustered %v, disjoint %v; want %v, %v", got, clustered(bs), disjoint(got), c.clust, c.disjoin)
		}
	}
	// Files each spanning all the keys are not clustered.
	spread := []Bounds{{Lo: 0, Hi: 999}, {Lo: 1, Hi: 998}, {Lo: 2, Hi: 999}}
	if clustered(spread) {
		t.Errorf("%v clustered", spread)
	}
	// A row group without bounds: no slices.
	if _, ok := keySlices([]File{{Path: "f", RowGroups: []int64{10}}}, 2); ok {
		t.Error("keySlices without bounds")
	}
	// NULL keys in a slice: not disjoint (a NULL group would be in two).
	nulls := []Slice{{File: "a", Keys: &Bounds{Lo: 0, Hi: 9, Nulls: true}}, {File: "b", Keys: &Bounds{Lo: 10, Hi: 19}}}
	if disjoint(nulls) {
		t.Error("slices with NULL keys disjoint")
	}
}

// TestPlainTo: only a scan seen through subqueries that select * and
// filter keeps the Parquet files' columns row by row, so that their
// statistics bound what the query reads.
func TestPlainTo(t *testing.T) {
	scan := func() Node {
		return Node{"type": "TABLE_FUNCTION", "alias": "t", "sample": nil, "column_name_alias": []any{},
			"function": function("read_parquet", constant("VARCHAR", "f.parquet"))}
	}
	view := func(edit func(inner Node)) Node {
		inner := selectNode([]any{star()}, scan())
		inner["where_clause"] = inRange("k", "BIGINT", Bounds{Lo: 1, Hi: 2})
		edit(inner)
		return subquery(inner, "v")
	}
	if !plainTo(scan()) || !plainTo(view(func(Node) {})) {
		t.Error("a scan, or a view filtering it, is not plain")
	}
	for name, edit := range map[string]func(Node){
		"a column list": func(n Node) { n["select_list"] = []any{columnRef("k")} },
		"a LIMIT":       func(n Node) { n["modifiers"] = []any{Node{"type": "LIMIT_MODIFIER"}} },
		"a GROUP BY":    func(n Node) { n["group_expressions"] = []any{columnRef("k")} },
		"a sample":      func(n Node) { child(n, "from_table")["sample"] = Node{} },
		"renamed columns": func(n Node) {
			child(n, "from_table")["column_name_alias"] = []any{"a"}
		},
	} {
		if plainTo(view(edit)) {
			t.Errorf("a view with %s is plain", name)
		}
	}
}
