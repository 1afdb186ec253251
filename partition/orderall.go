package partition

import (
	"encoding/json"
	"slices"
	"strconv"
)

// ORDER BY ALL sorts by every select-list item, left to right, each in the
// direction and NULL order given: it is ORDER BY 1, 2, ..., n with those,
// which the planner handles wherever it handles positions (a split query's
// merge sorts its output columns by them, a SELECT DISTINCT's outer query
// keeps them). Without this, ORDER BY ALL was "a value that is not
// selected" and the query ran local. A select list with a * (or
// COLUMNS(...), unnest(...)) is left as it is: how many items it gives is
// DuckDB's to say.

// orderAllAsPositions rewrites, in place, root's ORDER BY ALL as the
// positions of its select items.
func orderAllAsPositions(root Node) {
	sel := list(root, "select_list")
	if len(sel) == 0 || anyNode(sel, func(n Node) bool { return str(n, "class") == "STAR" }) || slices.ContainsFunc(sel, expands) {
		// An unnest of a struct gives a column a field: ORDER BY ALL of
		// its select items sorted by the first two only (2026-12-05).
		return
	}
	for _, m := range list(root, "modifiers") {
		mn, _ := m.(map[string]any)
		orders := list(mn, "orders")
		if str(mn, "type") != "ORDER_MODIFIER" || len(orders) != 1 {
			continue
		}
		o, _ := orders[0].(map[string]any)
		e := child(o, "expression")
		if str(e, "class") != "STAR" || e["columns"] != true || e["expr"] != nil || str(e, "relation_name") != "" ||
			len(list(e, "exclude_list")) > 0 || len(list(e, "replace_list")) > 0 || len(list(e, "rename_list")) > 0 ||
			len(list(e, "qualified_exclude_list")) > 0 {
			continue
		}
		positions := make([]any, len(sel))
		for i := range sel {
			p := clone(o)
			p["expression"] = constant("INTEGER", json.Number(strconv.Itoa(i+1)))
			positions[i] = p
		}
		mn["orders"] = positions
	}
}
