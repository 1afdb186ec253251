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
