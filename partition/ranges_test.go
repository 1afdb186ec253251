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
