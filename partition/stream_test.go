package partition

import (
	"slices"
	"testing"
)

// An input is streamed only when the task's query reads it from one
// reference outside any WITH clause and holds no window function; any
// other input is loaded, or a second scan would read a spent stream.
func TestReadOnce(t *testing.T) {
	s := &Stage{Inputs: []Input{{Stage: 0, Table: "skein_x0"}, {Stage: 1, Table: "skein_x1"}}}
	join := func(l, r Node) Node {
		return Node{"type": "JOIN", "left": l, "right": r, "condition": nil}
	}
	// skein_x0 once; skein_x1 in the FROM and again in a scalar subquery
	// (as Q15's revenue is, by its join and by its max).
	q := selectNode([]any{star()}, join(baseTable("skein_x0"), baseTable("skein_x1")))
	q["where_clause"] = Node{"class": "SUBQUERY", "type": "SUBQUERY",
		"subquery": Node{"node": selectNode([]any{function("max", columnRef("v"))}, baseTable("skein_x1"))}}
	if got := s.readOnce(q); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("a query reading skein_x1 twice: %v, want [true false]", got)
	}
	// A name qualified with a schema is another table.
	other := baseTable("skein_x1")
	other["schema_name"] = "main"
	if got := s.readOnce(selectNode([]any{star()}, join(baseTable("skein_x0"), join(baseTable("skein_x1"), other)))); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("main.skein_x1 beside skein_x1: %v, want [true true]", got)
	}
	// One reference, inside a WITH clause: DuckDB may read it as often as
	// the CTE is named.
	w := selectNode([]any{star()}, join(baseTable("skein_x0"), baseTable("c")))
	w["cte_map"] = Node{"map": []any{Node{"key": "c", "value": Node{"query": Node{"node": selectNode([]any{star()}, baseTable("skein_x1"))}}}}}
	if got := s.readOnce(w); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("skein_x1 in a CTE: %v, want [true false]", got)
	}
	// A window function: every input is loaded.
	win := selectNode([]any{Node{"class": "WINDOW", "type": "WINDOW_AGGREGATE", "function_name": "avg"}},
		join(baseTable("skein_x0"), baseTable("skein_x1")))
	if got := s.readOnce(win); !slices.Equal(got, []bool{false, false}) {
		t.Errorf("a window function: %v, want [false false]", got)
	}
}
