package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

var aggs = Aggregates{"count_star": true, "count": true, "sum": true, "avg": true, "min": true, "max": true,
	"median": true, "string_agg": true}

func load(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestModes(t *testing.T) {
	cases := map[string]Mode{"scan": Scatter, "agg": ScatterMerge, "distinct_agg": ScatterMerge, "window": Local,
		"order_only": ScatterMerge, "join": Scatter, "table": Local, "options": Local,
		// SELECT * ... ORDER BY x DESC, id LIMIT 3 OFFSET 1: the star carries x and id;
		// SELECT * ... ORDER BY x + 1: each task adds x + 1 for the final sort (hidden.go).
		"star_top_n": ScatterMerge, "star_expr_order": ScatterMerge,
		// SELECT DISTINCT splits (distinct in each slice, then again); with
		// GROUP BY, whose merge reads only ORDER BY and LIMIT, it stays local.
		"select_distinct": ScatterMerge, "distinct_grouped": Local,
		// GROUP BY without aggregates (a BI tool's domain query), HAVING on a key.
		"group_no_agg": ScatterMerge,
		// LIMIT without ORDER BY: any n rows; DISTINCT ON: a top-1 per
		// group, unless it sorts or picks by a value not selected.
		"limit_any": ScatterMerge, "distinct_on": ScatterMerge, "distinct_on_hidden": Local}
	for name, want := range cases {
		a, err := Analyze(load(t, name), Env{Aggregates: aggs})
		got := Local
		if err == nil {
			got = a.Mode
		} else if !errors.Is(err, ErrLocal) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got != want {
			t.Errorf("%s: mode %s, want %s (%v)", name, got, want, err)
		}
	}
}

// TestOrdered: only a task that scans, filters and projects one slice has
// a fixed output order, so only its broken stream may be resumed.
func TestOrdered(t *testing.T) {
	cases := map[string]bool{"scan": true, "agg": false, "distinct_agg": false, "order_only": false, "join": false}
	for name, want := range cases {
		a, err := Analyze(load(t, name), Env{Aggregates: aggs})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.Ordered() != want {
			t.Errorf("%s: Ordered() = %v, want %v", name, a.Ordered(), want)
		}
	}
	u, err := Analyze(load(t, "union"), Env{Aggregates: aggs})
	if err != nil {
		t.Fatal(err)
	}
	if u.Ordered() {
		t.Error("a UNION ALL is ordered branch by branch, not as a whole")
	}
	for i, b := range u.Branches {
		if !b.Ordered() {
			t.Errorf("union branch %d (a scan) is not ordered", i)
		}
	}
}

func TestRewrites(t *testing.T) {
	a, err := Analyze(load(t, "agg"), Env{Aggregates: aggs})
	if err != nil {
		t.Fatal(err)
	}
	s := Slice{File: "/d/f1.parquet", First: 100, Last: 199}
	task, err := a.TaskAST(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := string(task)
	for _, want := range []string{`"/d/f1.parquet"`, `"file_row_number"`, `"COMPARE_BETWEEN"`, `"g0"`, `"p0"`, `"p1"`} {
		if !strings.Contains(text, want) {
			t.Errorf("task AST lacks %s", want)
		}
	}
	// AVG splits into SUM and COUNT partials: count(*), sum(x), count(x).
	if len(a.partials) != 3 {
		t.Errorf("partials %d, want 3", len(a.partials))
	}
	merge, err := a.MergeAST("skein_partials", []string{"g", "n", "avg(x)"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statements []struct{ Node Node } `json:"statements"`
	}
	if err := json.Unmarshal(merge, &doc); err != nil {
		t.Fatal(err)
	}
	n := doc.Statements[0].Node
	if str(child(n, "from_table"), "table_name") != "skein_partials" || n["having"] == nil ||
		len(list(n, "modifiers")) != 2 || len(list(n, "group_expressions")) != 1 {
		t.Errorf("merge node %v", n)
	}
	if _, err := a.MergeAST("x", []string{"too few"}); err == nil {
		t.Error("wrong number of names accepted")
	}
}

func TestSplit(t *testing.T) {
	files := []File{{Path: "a", RowGroups: []int64{100, 100, 100}}, {Path: "b", RowGroups: []int64{0}}, {Path: "c", RowGroups: []int64{50}}}
	got := Split(files, 150)
	want := []Slice{{File: "a", First: 0, Last: 199}, {File: "a", First: 200, Last: 299}, {File: "c", First: 0, Last: 49}}
	if len(got) != len(want) {
		t.Fatalf("slices %v", got)
	}
	for i := range want {
		if got[i].String() != want[i].String() {
			t.Errorf("slice %d: %v, want %v", i, got[i], want[i])
		}
	}
	if n := len(Split(files, 1)); n != 4 {
		t.Errorf("one slice per row group: %d", n)
	}
	if n := len(Split(files, 1<<40)); n != 2 {
		t.Errorf("one slice per file: %d", n)
	}
}

// A file of very many small row groups is cut into few slices, each of
// which costs a walk of all its groups (rowGroupWalks): 10,000 groups of
// 400 rows into 10 slices, not 4,000; every row once, in order. One of
// tiny groups (tinyGroupRows) is read whole, without row numbers.
func TestSplitFilesOfSmallRowGroups(t *testing.T) {
	groups := func(n int, rows int64) []int64 {
		g := make([]int64, n)
		for i := range g {
			g[i] = rows
		}
		return g
	}
	files := []File{{Path: "small", RowGroups: groups(10_000, 400)}, {Path: "tiny", RowGroups: groups(50_000, 2)},
		{Path: "usual", RowGroups: groups(4, 122_880)}}
	got := Split(files, 1000)
	n := map[string]int{}
	var next int64
	for _, s := range got {
		if len(s.Files) == 1 && s.Files[0] == "tiny" && s.Whole() && s.Rows == 100_000 {
			n["tiny"]++
			continue
		}
		n[s.File]++
		if s.File != "small" {
			continue
		}
		if s.First != next {
			t.Fatalf("slices %v: a gap or overlap at %d", got, next)
		}
		next = s.Last + 1
	}
	if n["small"] != 10 || next != 4_000_000 {
		t.Errorf("the file of 10,000 row groups: %d slices to row %d, want 10 to 4000000", n["small"], next)
	}
	if n["tiny"] != 1 {
		t.Errorf("the file of 50,000 row groups of 2 rows: slices %v, want it whole", got)
	}
	if n["usual"] != 4 {
		t.Errorf("the file of 4 usual row groups: %d slices, want one a group", n["usual"])
	}
}

// SplitTail cuts the last rows into quarter-size slices (a row group at
// least), starting the tail at a row group boundary, and covers every row
// once.
func TestSplitTail(t *testing.T) {
	files := []File{{Path: "a", RowGroups: []int64{100, 100, 100, 100, 100, 100}}, {Path: "b", RowGroups: []int64{100, 100, 100, 100, 10}}}
	got := SplitTail(files, 400, 520)
	want := "a[0..399] a[400..499] a[500..599] b[0..99] b[100..199] b[200..299] b[300..399] b[400..409]"
	var s []string
	for _, sl := range got {
		s = append(s, sl.String())
	}
	if strings.Join(s, " ") != want {
		t.Errorf("slices %s, want %s", strings.Join(s, " "), want)
	}
	if got := SplitTail(files, 400, 0); fmt.Sprint(got) != fmt.Sprint(Split(files, 400)) {
		t.Errorf("no tail: %v, want Split's %v", got, Split(files, 400))
	}
}

// CoalesceTail joins runs of whole files into slices of about limit rows
// before the tail and a quarter of that in it, leaves a file cut by row
// groups as it is, and keeps every row once, after pruning too.
func TestCoalesceTail(t *testing.T) {
	files := []File{{Path: "big", RowGroups: []int64{100, 100, 100, 100}}}
	for i := range 8 {
		files = append(files, File{Path: fmt.Sprintf("s%d", i), RowGroups: []int64{10}})
	}
	sl := SplitTail(files, 200, 40)
	str := func(sl []Slice) string {
		var s []string
		for _, x := range sl {
			s = append(s, x.String())
		}
		return strings.Join(s, " ")
	}
	if got, want := str(CoalesceTail(sl, files, 80, 40)), "big[0..199] big[200..399] s0,s1,s2,s3 s4,s5 s6,s7"; got != want {
		t.Errorf("grouped %s, want %s", got, want)
	}
	var rows int64
	for _, x := range CoalesceTail(sl, files, 80, 40) {
		rows += x.Rows + max(x.Last-x.First+1, 0)
	}
	if rows != 480 {
		t.Errorf("%d rows in the slices, want 480", rows)
	}
	// s2 pruned: its neighbours still join; a run too small to cut
	// stays a slice a file.
	kept := append(append([]Slice{}, sl[:4]...), sl[5:]...)
	if got, want := str(CoalesceTail(kept, files, 80, 40)), "big[0..199] big[200..399] s0,s1,s3 s4,s5 s6,s7"; got != want {
		t.Errorf("pruned: %s, want %s", got, want)
	}
	if got, want := str(CoalesceTail(sl, files, 1, 40)), str(sl); got != want {
		t.Errorf("limit under a file: %s, want SplitTail's %s", got, want)
	}
}

func TestSplitGroups(t *testing.T) {
	files := []File{{Path: "a", RowGroups: []int64{100}}, {Path: "b", RowGroups: []int64{0}}, {Path: "c", RowGroups: []int64{60}},
		{Path: "d", RowGroups: []int64{50}}, {Path: "e", RowGroups: []int64{40}}}
	got := SplitGroups(files, 2)
	if len(got) != 2 || got[0].String() != "a,e" || got[1].String() != "c,d" {
		t.Fatalf("groups %v", got)
	}
	if args := got[1].Args(); len(args) != 2 || args[0] != "c" {
		t.Fatalf("args %v", args)
	}
	if got := SplitGroups(files, 9); len(got) != 4 {
		t.Fatalf("more groups than files with rows: %v", got)
	}
}

func FuzzAnalyze(f *testing.F) {
	for _, name := range []string{"scan", "agg", "join", "pivot", "join_median", "unpivot"} {
		b, _ := os.ReadFile("testdata/" + name + ".json")
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Analyze(b, Env{Aggregates: aggs})
		if err != nil {
			return
		}
		parts := a.Branches
		if parts == nil {
			parts = []*Analysis{a}
		}
		for _, p := range parts {
			if _, err := p.TaskAST(Slice{File: "f", First: 0, Last: 1}, []string{"a"}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestUnpivotSplitsItsScan: an UNPIVOT of a filtering subquery over a
// Parquet scan splits that scan, each task unpivoting its slice's rows
// under the query's own aggregate; without a scan under it, it is local.
func TestUnpivotSplitsItsScan(t *testing.T) {
	a, err := Analyze(load(t, "unpivot"), Env{Aggregates: aggs})
	if err != nil || a.Mode != ScatterMerge || !slices.Equal(a.Paths, []string{"f.parquet"}) {
		t.Fatalf("UNPIVOT: %+v %v", a, err)
	}
	b, err := a.TaskAST(Slice{File: "f.parquet", First: 10, Last: 20}, []string{"k", "count_star()", "max(v)"})
	if err != nil {
		t.Fatal(err)
	}
	task, err := selectRoot(b)
	if err != nil {
		t.Fatal(err)
	}
	unpivot := child(task, "from_table")
	if str(unpivot, "type") != "PIVOT" || len(list(unpivot, "unpivot_names")) != 1 {
		t.Fatalf("the task's FROM is not the UNPIVOT: %v", unpivot)
	}
	// The subquery under it reads the slice's rows of f.parquet.
	scan := child(child(child(child(unpivot, "source"), "subquery"), "node"), "from_table")
	sb, _ := json.Marshal(scan)
	if str(scan, "type") != "SUBQUERY" || !strings.Contains(string(sb), `"file_row_number"`) || !strings.Contains(string(sb), `"f.parquet"`) {
		t.Fatalf("the UNPIVOT's source does not read the slice: %s", sb)
	}
	// An UNPIVOT of a join's rows is not split.
	def, err := selectRoot(load(t, "unpivot"))
	if err != nil {
		t.Fatal(err)
	}
	join := load(t, "join")
	jroot, err := selectRoot(join)
	if err != nil {
		t.Fatal(err)
	}
	source := child(child(child(child(def, "from_table"), "source"), "subquery"), "node")
	source["from_table"] = child(jroot, "from_table")
	b, err = statement(def)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Analyze(b, Env{Aggregates: aggs}); !errors.Is(err, ErrLocal) || !strings.Contains(err.Error(), "UNPIVOT of a join") {
		t.Fatalf("an UNPIVOT of a join: %v, want local", err)
	}
}

// TestOrderAllAsPositions: ORDER BY ALL becomes the positions of the
// select items, each with its direction and NULL order; beside a * it
// stays.
func TestOrderAllAsPositions(t *testing.T) {
	all := func() Node {
		return Node{"type": "ORDER_MODIFIER", "orders": []any{Node{"type": "DESCENDING", "null_order": "NULLS FIRST",
			"expression": Node{"class": "STAR", "type": "STAR", "relation_name": "", "columns": true, "expr": nil,
				"exclude_list": []any{}, "replace_list": []any{}, "rename_list": []any{}, "qualified_exclude_list": []any{}}}}}
	}
	n := selectNode([]any{columnRef("a"), columnRef("b")}, baseTable("t"))
	n["modifiers"] = []any{all()}
	orderAllAsPositions(n)
	orders := list(list(n, "modifiers")[0].(map[string]any), "orders")
	if len(orders) != 2 {
		t.Fatalf("orders %v, want two positions", orders)
	}
	for i, o := range orders {
		on := o.(map[string]any)
		if v, err := intConstant(child(on, "expression")); err != nil || v != int64(i+1) || str(on, "type") != "DESCENDING" ||
			str(on, "null_order") != "NULLS FIRST" {
			t.Fatalf("order %d: %v (%v)", i, on, err)
		}
	}
	star := selectNode([]any{star()}, baseTable("t"))
	star["modifiers"] = []any{all()}
	orderAllAsPositions(star)
	if e := child(list(list(star, "modifiers")[0].(map[string]any), "orders")[0].(map[string]any), "expression"); str(e, "class") != "STAR" {
		t.Fatalf("ORDER BY ALL beside a * became %v", e)
	}
}

func TestSeesThroughViews(t *testing.T) {
	def := View{AST: load(t, "view_def")}
	views := func(catalog, schema, name string) (View, bool) { return def, name == "v" }
	a, err := Analyze(load(t, "over_view"), Env{Aggregates: aggs, View: views})
	if err != nil || a.Mode != ScatterMerge || !slices.Equal(a.Paths, []string{"f.parquet"}) {
		t.Fatalf("view: %+v %v", a, err)
	}
	if _, err := Analyze(load(t, "over_view"), Env{Aggregates: aggs}); !errors.Is(err, ErrLocal) {
		t.Fatalf("without the definition the query must stay local: %v", err)
	}
	// A view with its own column names becomes a subquery, split inside.
	def.Columns = []string{"x"}
	a, err = Analyze(load(t, "over_view"), Env{Aggregates: aggs, View: views})
	if err != nil || a.Mode != ScatterMerge || !slices.Equal(a.scanPath, []string{"from_table", "subquery", "node", "from_table"}) {
		t.Fatalf("renaming view: %+v %v", a, err)
	}
}

func TestViewQuery(t *testing.T) {
	cases := []struct {
		create, query string
		cols          []string
	}{
		{`CREATE VIEW v AS SELECT 1;`, `SELECT 1`, nil},
		{`CREATE VIEW "my ""view""" (x, "Y z") AS SELECT 1 AS a, 2 AS b`, `SELECT 1 AS a, 2 AS b`, []string{"x", "Y z"}},
		{`create or replace temp view data.main.v as /* c */ select 'AS (' from t;`, `/* c */ select 'AS (' from t`, nil},
		{"CREATE VIEW IF NOT EXISTS s.v -- note\n AS SELECT * FROM read_parquet('f')", `SELECT * FROM read_parquet('f')`, nil},
	}
	for _, c := range cases {
		q, cols, err := ViewQuery(c.create)
		if err != nil || q != c.query || !slices.Equal(cols, c.cols) {
			t.Errorf("%s: got %q %q %v", c.create, q, cols, err)
		}
	}
	for _, bad := range []string{``, `CREATE TABLE t AS SELECT 1`, `CREATE VIEW AS SELECT 1`, `CREATE VIEW v (x AS SELECT 1`,
		`CREATE VIEW v SELECT 1`, `CREATE VIEW v AS ;`, `CREATE VIEW "v AS SELECT 1`} {
		if _, _, err := ViewQuery(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestUnionAll(t *testing.T) {
	a, err := Analyze(load(t, "union"), Env{Aggregates: aggs})
	if err != nil || a.Mode != Scatter || len(a.Branches) != 3 {
		t.Fatalf("union all: %+v %v", a, err)
	}
	want := [][]string{{"f.parquet"}, {"g.parquet"}, {"h.parquet", "i.parquet"}}
	for i, b := range a.Branches {
		if !slices.Equal(b.Paths, want[i]) || b.renamed != (i > 0) {
			t.Errorf("branch %d: %v renamed=%v", i, b.Paths, b.renamed)
		}
	}
	if _, err := Analyze(load(t, "union_distinct"), Env{Aggregates: aggs}); !errors.Is(err, ErrLocal) {
		t.Fatalf("UNION without ALL must stay local: %v", err)
	}
}

// FuzzRewrite mutates real ASTs (a value somewhere in the tree replaced by
// one of another shape) and runs every planner entry point the coordinator
// calls on them, the merge rewrite included: a malformed AST must give an
// error, never a panic.
func FuzzRewrite(f *testing.F) {
	names := []string{"scan", "agg", "distinct_agg", "order_only", "join", "union", "over_view", "options", "window", "union_distinct"}
	seeds := make([]Node, len(names))
	for i, name := range names {
		b, err := os.ReadFile("testdata/" + name + ".json")
		if err != nil {
			f.Fatal(err)
		}
		if err := decode(b, &seeds[i]); err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), []byte{})
		f.Add(uint8(i), []byte{7, 3, 200, 1})
	}
	def := View{AST: mustRead(f, "view_def")}
	views := func(catalog, schema, name string) (View, bool) { return def, name == "v" }
	f.Fuzz(func(t *testing.T, seed uint8, muts []byte) {
		doc := clone(seeds[int(seed)%len(seeds)])
		for i := 0; i+1 < len(muts); i += 2 {
			mutate(doc, int(muts[i]), muts[i+1])
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		// With exchanges, the stage planner too: it must never panic,
		// only refuse.
		columns := func(item Node) ([]Column, error) {
			if str(item, "alias") == "bad" {
				return nil, errors.New("no such columns")
			}
			return []Column{{"id", "BIGINT"}, {"g", "INTEGER"}, {"x", "DOUBLE"}, {"s", "VARCHAR"}}, nil
		}
		rows := func([]string) (int64, error) { return 1000, nil }
		// A filtered input estimated far under another's rows moves the
		// split scan.
		estimate := func(Node) (int64, error) { return 10, nil }
		// Files sorted by every column (ranges.go); g's row groups hold
		// NULLs.
		keyStats := func(_ []string, col string) ([]File, error) {
			return []File{{Path: "a", RowGroups: []int64{500, 500}, Keys: []Bounds{{Lo: 0, Hi: 99}, {Lo: 100, Hi: 199}}},
				{Path: "b", RowGroups: []int64{1000}, Keys: []Bounds{{Lo: 200, Hi: 299, Nulls: col == "g"}}}}, nil
		}
		for _, bc := range []int64{0, 1 << 20} {
			env := Env{Aggregates: aggs, View: views, Exchanges: true, Partitions: 3, BroadcastRows: bc, Columns: columns, Rows: rows,
				Estimate: estimate}
			if bc == 0 {
				env.KeyStats = keyStats
			}
			if sa, err := Analyze(b, env); err == nil {
				if p, err := sa.Stages([]string{"a", "b"}); err == nil && p != nil {
					for _, st := range p.Stages {
						_, _, _ = st.AST(Slice{File: "f", First: 0, Last: 1}, 2)
						_, _, _ = st.AST(Slice{}, 1)
						for _, sl := range st.Slices {
							_, _, _ = st.AST(sl, 2)
						}
					}
					_, _ = p.CheckAST(func(*Stage) Slice { return Slice{File: "f", First: 0, Last: 9} }, []string{"a", "b"})
					_ = p.String()
				}
			}
		}
		a, err := Analyze(b, Env{Aggregates: aggs, View: views})
		if err != nil {
			return
		}
		parts := a.Branches
		if parts == nil {
			parts = []*Analysis{a}
		}
		for _, p := range parts {
			out := []string{"a"}
			if n := len(list(p.root, "select_list")); n > 0 {
				out = make([]string, n)
				for i := range out {
					out[i] = fmt.Sprintf("c%d", i)
				}
			}
			for _, s := range []Slice{{File: "f", First: 0, Last: 1}, {File: "f", Last: -1}, {Files: []string{"f", "g"}, Last: -1}} {
				_, _ = p.TaskAST(s, out)
				_, _ = p.TemplateAST(s, out)
				_, _ = p.CheckAST(s, out)
			}
			_, _ = p.MergeAST("skein_partials", out)
		}
	})
}

func mustRead(f *testing.F, name string) []byte {
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// mutate replaces the value at position pos (in a walk of the tree in key
// order) by one of another shape, chosen by kind.
func mutate(root Node, pos int, kind byte) {
	type slot struct {
		m   map[string]any
		l   []any
		key string
		idx int
	}
	var slots []slot
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				slots = append(slots, slot{m: v, key: k})
				walk(v[k])
			}
		case []any:
			for i, x := range v {
				slots = append(slots, slot{l: v, idx: i})
				walk(x)
			}
		}
	}
	walk(root)
	if len(slots) == 0 {
		return
	}
	replacements := []any{nil, "x", json.Number("1"), true, []any{}, []any{json.Number("2")}, []any{nil},
		map[string]any{}, map[string]any{"class": "COLUMN_REF", "column_names": []any{json.Number("1")}},
		map[string]any{"class": "FUNCTION", "function_name": "avg", "children": []any{"x"}},
		map[string]any{"class": "FUNCTION", "function_name": "sum", "distinct": true, "children": []any{nil}}}
	s := slots[pos*7%len(slots)]
	r := replacements[int(kind)%len(replacements)]
	if s.m != nil {
		s.m[s.key] = r
	} else {
		s.l[s.idx] = r
	}
}
