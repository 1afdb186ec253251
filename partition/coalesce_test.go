package partition

import (
	"fmt"
	"testing"
)

// Coalesce joins whole-file slices into n runs of consecutive files of
// about equal rows, each with its rows, and leaves alone slices that are
// not all whole files (a row range, a key range, files already grouped)
// or no more than n.
func TestCoalesce(t *testing.T) {
	files := func(rows ...int64) []File {
		var out []File
		for i, r := range rows {
			out = append(out, File{Path: fmt.Sprintf("f%d", i), RowGroups: []int64{r / 2, r - r/2}})
		}
		return out
	}
	whole := func(fs []File) []Slice {
		var out []Slice
		for _, f := range fs {
			out = append(out, Slice{File: f.Path, First: 0, Last: f.RowGroups[0] + f.RowGroups[1] - 1})
		}
		return out
	}
	show := func(sl []Slice) string {
		out := ""
		for _, s := range sl {
			out += fmt.Sprintf("%s:%d ", s, s.Rows)
		}
		return out
	}
	eight := files(750, 749, 750, 749, 751, 749, 752, 749)
	big := files(100, 100, 600, 100, 100)
	pruned := whole(eight)
	pruned = append(pruned[:2], pruned[5:]...) // f2..f4 dropped
	for _, tc := range []struct {
		name  string
		sl    []Slice
		files []File
		n     int
		want  string
	}{
		{"8 files, 4 tasks", whole(eight), eight, 4, "f0,f1:1499 f2,f3:1499 f4,f5:1500 f6,f7:1501 "},
		{"8 files, 2 tasks", whole(eight), eight, 2, "f0,f1,f2,f3:2998 f4,f5,f6,f7:3001 "},
		{"a large file alone", whole(big), big, 4, "f0,f1:200 f2:600 f3,f4:200 "},
		{"pruned files", pruned, eight, 2, "f0,f1,f5:2248 f6,f7:1501 "},
		{"no more than n", whole(eight), eight, 8, show(whole(eight))},
		{"off", whole(eight), eight, 0, show(whole(eight))},
		{"a row range", append(whole(eight)[:7], Slice{File: "f7", First: 0, Last: 373}), eight, 4, show(append(whole(eight)[:7], Slice{File: "f7", First: 0, Last: 373}))},
		{"a key range", append(whole(eight)[:7], Slice{File: "f7", First: 0, Last: 748, Keys: &Bounds{}}), eight, 4, ""},
	} {
		got := show(Coalesce(tc.sl, tc.files, tc.n))
		if tc.want == "" {
			tc.want = show(tc.sl)
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}
