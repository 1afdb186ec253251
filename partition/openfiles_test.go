package partition

import (
	"fmt"
	"strings"
	"testing"
)

// fileRuns cuts files into at most n runs of consecutive files, sizes one
// apart at most, every file once and in order.
func TestFileRuns(t *testing.T) {
	for _, tc := range []struct {
		files, n int
		want     string
	}{
		{10, 4, "2 2 3 3"},
		{8, 4, "2 2 2 2"},
		{3, 4, "1 1 1"},
		{4, 4, "1 1 1 1"},
		{5, 0, "1 1 1 1 1"},
		{3000, 32, strings.TrimSpace(strings.Repeat("93 ", 8) + strings.Repeat("94 ", 24))},
	} {
		files := make([]Node, tc.files)
		for i := range files {
			files[i] = parameter(i)
		}
		var sizes []string
		next := 0
		for _, r := range fileRuns(files, tc.n) {
			sizes = append(sizes, fmt.Sprint(len(r)))
			for _, f := range r {
				if f["identifier"] != fmt.Sprint(next) {
					t.Fatalf("%d files in %d: file %v where %d was due", tc.files, tc.n, f["identifier"], next)
				}
				next++
			}
		}
		if got := strings.Join(sizes, " "); got != tc.want || next != tc.files {
			t.Errorf("%d files in %d runs: sizes %s covering %d, want %s", tc.files, tc.n, got, next, tc.want)
		}
	}
}

// A task of more whole files than Env.TaskOpenFiles reads them as that
// many read_parquet in its UNION ALL, each a list of consecutive files,
// whose files DuckDB opens in turn; one of no more, a read_parquet a file.
func TestTaskOpenFiles(t *testing.T) {
	files := func(n int) Slice {
		s := Slice{Last: -1}
		for i := range n {
			s.Files = append(s.Files, fmt.Sprintf("/d/f%04d.parquet", i))
		}
		return s
	}
	for _, tc := range []struct {
		open, files int
		scans       int // read_parquet calls in the task
		lists       int // of them, those reading a list
	}{
		{8, 100, 8, 8},
		{8, 8, 8, 0},
		{8, 3, 3, 0},
		{0, 100, DefaultTaskOpenFiles, DefaultTaskOpenFiles},
		{-1, 100, 100, 0},
	} {
		a, err := Analyze(load(t, "agg"), Env{Aggregates: aggs, TaskOpenFiles: tc.open})
		if err != nil {
			t.Fatal(err)
		}
		s := files(tc.files)
		task, err := a.TaskAST(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		tmpl, err := a.TemplateAST(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, text := range map[string]string{"task": string(task), "template": string(tmpl)} {
			scans := strings.Count(text, `"function_name":"read_parquet"`)
			lists := strings.Count(text, `"function_name":"list_value"`)
			if scans != tc.scans || lists != tc.lists {
				t.Errorf("TaskOpenFiles %d, %d files: the %s has %d read_parquet, %d lists; want %d and %d",
					tc.open, tc.files, name, scans, lists, tc.scans, tc.lists)
			}
		}
		for _, f := range s.Files {
			if n := strings.Count(string(task), fmt.Sprintf("%q", f)); n != 1 {
				t.Errorf("TaskOpenFiles %d, %d files: the task reads %s %d times", tc.open, tc.files, f, n)
			}
		}
		if n := strings.Count(string(tmpl), `"VALUE_PARAMETER"`); n != tc.files {
			t.Errorf("TaskOpenFiles %d, %d files: the template takes %d parameters", tc.open, tc.files, n)
		}
	}
}
