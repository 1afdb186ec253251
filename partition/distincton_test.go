package partition

import "testing"

// mods are the types of a serialized query's modifiers, and its modifiers.
func mods(t *testing.T, serialized []byte) ([]string, []Node) {
	t.Helper()
	var doc struct {
		Statements []struct{ Node Node } `json:"statements"`
	}
	if err := decode(serialized, &doc); err != nil {
		t.Fatal(err)
	}
	var types []string
	var ms []Node
	for _, m := range list(doc.Statements[0].Node, "modifiers") {
		mn, _ := m.(map[string]any)
		types = append(types, str(mn, "type"))
		ms = append(ms, mn)
	}
	return types, ms
}

func limitOf(t *testing.T, m Node) (n, offset int64) {
	t.Helper()
	n, err := intConstant(child(m, "limit"))
	if err != nil {
		t.Fatal(err)
	}
	if m["offset"] != nil {
		if offset, err = intConstant(child(m, "offset")); err != nil {
			t.Fatal(err)
		}
	}
	return n, offset
}

// TestDistinctOn: SELECT DISTINCT ON (g) g, id, x AS y ... ORDER BY g, y
// DESC LIMIT 3 OFFSET 1 keeps each slice's first 4 groups, each by its
// first row in the order, and the merge the same over them by the output
// columns' names, with the offset once.
func TestDistinctOn(t *testing.T) {
	a, err := Analyze(load(t, "distinct_on"), Env{Aggregates: aggs})
	if err != nil {
		t.Fatal(err)
	}
	task, err := a.TaskAST(Slice{File: "/d/f1.parquet", First: 0, Last: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	types, ms := mods(t, task)
	if len(types) != 3 || types[0] != "DISTINCT_MODIFIER" || types[1] != "ORDER_MODIFIER" || types[2] != "LIMIT_MODIFIER" {
		t.Fatalf("task modifiers %v", types)
	}
	if n, off := limitOf(t, ms[2]); n != 4 || off != 0 {
		t.Errorf("task LIMIT %d OFFSET %d, want 4 OFFSET 0", n, off)
	}
	merge, err := a.MergeAST("skein_partials", []string{"g", "id", "y"})
	if err != nil {
		t.Fatal(err)
	}
	types, ms = mods(t, merge)
	if len(types) != 3 || types[0] != "DISTINCT_MODIFIER" || types[1] != "ORDER_MODIFIER" || types[2] != "LIMIT_MODIFIER" {
		t.Fatalf("merge modifiers %v", types)
	}
	on := list(ms[0], "distinct_on_targets")
	if len(on) != 1 || !sameExpr(on[0], columnRef("g")) {
		t.Errorf("merge DISTINCT ON %v, want (g)", on)
	}
	orders := list(ms[1], "orders")
	if len(orders) != 2 || !sameExpr(child(orders[1].(map[string]any), "expression"), columnRef("y")) {
		t.Errorf("merge ORDER BY %v, want g, y DESC", orders)
	}
	if n, off := limitOf(t, ms[2]); n != 3 || off != 1 {
		t.Errorf("merge LIMIT %d OFFSET %d, want 3 OFFSET 1", n, off)
	}
}

// TestLimitAny: LIMIT 5 OFFSET 2 without ORDER BY: each slice any 7 of
// its rows, unsorted, and the merge 5 of them after 2.
func TestLimitAny(t *testing.T) {
	a, err := Analyze(load(t, "limit_any"), Env{Aggregates: aggs})
	if err != nil {
		t.Fatal(err)
	}
	task, err := a.TaskAST(Slice{File: "/d/f1.parquet", First: 0, Last: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	types, ms := mods(t, task)
	if len(types) != 1 || types[0] != "LIMIT_MODIFIER" {
		t.Fatalf("task modifiers %v, want LIMIT alone", types)
	}
	if n, off := limitOf(t, ms[0]); n != 7 || off != 0 {
		t.Errorf("task LIMIT %d OFFSET %d, want 7 OFFSET 0", n, off)
	}
	merge, err := a.MergeAST("skein_partials", []string{"s", "g"})
	if err != nil {
		t.Fatal(err)
	}
	types, ms = mods(t, merge)
	if len(types) != 1 || types[0] != "LIMIT_MODIFIER" {
		t.Fatalf("merge modifiers %v, want LIMIT alone", types)
	}
	if n, off := limitOf(t, ms[0]); n != 5 || off != 2 {
		t.Errorf("merge LIMIT %d OFFSET %d, want 5 OFFSET 2", n, off)
	}
}
