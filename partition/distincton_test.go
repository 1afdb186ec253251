package partition

import (
	"slices"
	"testing"
)

// plainForms analyses testdata query name and gives the modifiers of its
// task (over one slice) and of its merge (over partials of the columns
// names), with their types.
func plainForms(t *testing.T, name string, names []string) (task, merge []Node, taskTypes, mergeTypes []string) {
	t.Helper()
	a, err := Analyze(load(t, name), Env{Aggregates: aggs})
	if err != nil {
		t.Fatal(err)
	}
	taskAST, err := a.TaskAST(Slice{File: "/d/f1.parquet", First: 0, Last: 9}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mergeAST, err := a.MergeAST("skein_partials", names)
	if err != nil {
		t.Fatal(err)
	}
	task, taskTypes = mods(t, taskAST)
	merge, mergeTypes = mods(t, mergeAST)
	return task, merge, taskTypes, mergeTypes
}

// mods are a serialized query's modifiers and their types.
func mods(t *testing.T, serialized []byte) ([]Node, []string) {
	t.Helper()
	var doc struct {
		Statements []struct{ Node Node } `json:"statements"`
	}
	if err := decode(serialized, &doc); err != nil {
		t.Fatal(err)
	}
	var ms []Node
	var types []string
	for _, m := range list(doc.Statements[0].Node, "modifiers") {
		mn, _ := m.(map[string]any)
		ms = append(ms, mn)
		types = append(types, str(mn, "type"))
	}
	return ms, types
}

// checkLimit fails unless modifier m is LIMIT n OFFSET offset.
func checkLimit(t *testing.T, what string, m Node, n, offset int64) {
	t.Helper()
	gotN, err := intConstant(child(m, "limit"))
	if err != nil {
		t.Fatal(err)
	}
	var gotOff int64
	if m["offset"] != nil {
		if gotOff, err = intConstant(child(m, "offset")); err != nil {
			t.Fatal(err)
		}
	}
	if gotN != n || gotOff != offset {
		t.Errorf("%s LIMIT %d OFFSET %d, want %d OFFSET %d", what, gotN, gotOff, n, offset)
	}
}

// TestDistinctOn: SELECT DISTINCT ON (g) g, id, x AS y ... ORDER BY g, y
// DESC LIMIT 3 OFFSET 1 keeps each slice's first 4 groups, each by its
// first row in the order, and the merge the same over them by the output
// columns' names, with the offset once.
func TestDistinctOn(t *testing.T) {
	task, merge, taskTypes, mergeTypes := plainForms(t, "distinct_on", []string{"g", "id", "y"})
	want := []string{"DISTINCT_MODIFIER", "ORDER_MODIFIER", "LIMIT_MODIFIER"}
	if !slices.Equal(taskTypes, want) || !slices.Equal(mergeTypes, want) {
		t.Fatalf("task modifiers %v, merge modifiers %v, want %v", taskTypes, mergeTypes, want)
	}
	checkLimit(t, "task", task[2], 4, 0)
	checkLimit(t, "merge", merge[2], 3, 1)
	if on := list(merge[0], "distinct_on_targets"); len(on) != 1 || !sameExpr(on[0], columnRef("g")) {
		t.Errorf("merge DISTINCT ON %v, want (g)", on)
	}
	orders := list(merge[1], "orders")
	if len(orders) != 2 || !sameExpr(child(orders[1].(map[string]any), "expression"), columnRef("y")) {
		t.Errorf("merge ORDER BY %v, want g, y DESC", orders)
	}
}

// TestLimitAny: LIMIT 5 OFFSET 2 without ORDER BY: each slice any 7 of
// its rows, unsorted, and the merge 5 of them after 2.
func TestLimitAny(t *testing.T) {
	task, merge, taskTypes, mergeTypes := plainForms(t, "limit_any", []string{"s", "g"})
	want := []string{"LIMIT_MODIFIER"}
	if !slices.Equal(taskTypes, want) || !slices.Equal(mergeTypes, want) {
		t.Fatalf("task modifiers %v, merge modifiers %v, want LIMIT alone", taskTypes, mergeTypes)
	}
	checkLimit(t, "task", task[0], 7, 0)
	checkLimit(t, "merge", merge[0], 5, 2)
}
