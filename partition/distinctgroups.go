package partition

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SELECT DISTINCT of expressions of the row is a GROUP BY of them without
// aggregates: both keep one row per set of values, NULLs equal. Two shapes
// an analyst writes read it so:
//
//   - a FROM subquery that is a SELECT DISTINCT (SELECT count(*) FROM
//     (SELECT DISTINCT x FROM t)) is planned as its GROUP BY: each slice's
//     values grouped, shuffled by them and grouped again on executors,
//     and the outer query over those groups (stage.go's overSubquery),
//     where a plain DISTINCT's rows would all be merged by the coordinator;
//   - SELECT DISTINCT over a GROUP BY (SELECT DISTINCT a, b FROM t GROUP
//     BY a, b, c; DISTINCT applies after GROUP BY, HAVING and the select
//     list) is the query without DISTINCT as a FROM subquery, grouped
//     again by every output column:
//
//	SELECT DISTINCT a, count(*) AS n FROM t GROUP BY a, c ORDER BY n
//	SELECT a, n FROM (SELECT a, count(*) AS n FROM t GROUP BY a, c) AS skein_grouped
//	  GROUP BY a, n ORDER BY n
//
//     the inner aggregate in stages, its groups shuffled by the outer
//     keys and made distinct on each partition. Every output column keeps
//     the name DuckDB gives it (Env.Columns); ORDER BY terms must be
//     output columns, as SELECT DISTINCT requires anyway;
//   - SELECT DISTINCT with window functions (in its select list or its
//     QUALIFY; DISTINCT applies after them) is the same: the query
//     without DISTINCT, its windows planned in stages of their own, and
//     its rows grouped by every output column.

// distinctAsGroups is n with its SELECT DISTINCT written as GROUP BY of
// its select items, or n itself when it is no such query (DISTINCT ON,
// aggregates, windows, *, other modifiers). A constant item is selected
// but not grouped by (GROUP BY 2 would name the second item), which
// changes nothing: it has one value.
func distinctAsGroups(n Node, aggs Aggregates) Node {
	mods := list(n, "modifiers")
	if str(n, "type") != "SELECT_NODE" || len(mods) != 1 || !plainDistinct(mods[0]) || !groupable(n, aggs) {
		return n
	}
	groups, set := []any{}, []any{}
	for _, item := range list(n, "select_list") {
		in, _ := item.(map[string]any)
		if in == nil {
			return n
		}
		if str(in, "class") == "CONSTANT" {
			continue
		}
		g := clone(in)
		g["alias"] = ""
		groups, set = append(groups, g), append(set, json.Number(fmt.Sprint(len(set))))
	}
	if len(groups) == 0 {
		return n
	}
	out := clone(n)
	out["modifiers"] = []any{}
	out["group_expressions"], out["group_sets"] = groups, []any{set}
	return out
}

// distinctOverGroups is a SELECT DISTINCT with GROUP BY or window
// functions as a GROUP BY of every output column over the query without
// its DISTINCT, or false when the query is no such query or the rewrite
// does not apply.
func distinctOverGroups(root Node, env Env) (Node, bool) {
	mods := list(root, "modifiers")
	if !env.Exchanges || env.Columns == nil || len(mods) == 0 || !plainDistinct(mods[0]) ||
		len(list(root, "group_sets")) > 1 || root["sample"] != nil || str(root, "aggregate_handling") != "STANDARD_HANDLING" {
		return nil, false
	}
	sel := list(root, "select_list")
	window := func(n Node) bool { return str(n, "class") == "WINDOW" }
	if !anyNode([]any{sel, root["qualify"]}, window) && (len(list(root, "group_expressions")) == 0 || root["qualify"] != nil) {
		return nil, false
	}
	if anyNode(sel, func(n Node) bool {
		c := str(n, "class")
		return c == "STAR" || c == "SUBQUERY"
	}) || anyNode(mods, window) {
		return nil, false
	}
	inner := clone(root)
	inner["modifiers"] = []any{}
	cols, err := env.Columns(subquery(clone(inner), "skein_q"))
	if err != nil || len(cols) != len(sel) {
		return nil, false
	}
	seen := map[string]bool{}
	items, groups, set := make([]any, len(sel)), make([]any, len(sel)), make([]any, len(sel))
	for i, c := range cols {
		if seen[strings.ToLower(c.Name)] {
			return nil, false // the outer query could not name it
		}
		seen[strings.ToLower(c.Name)] = true
		in, _ := list(inner, "select_list")[i].(map[string]any)
		if in == nil {
			return nil, false
		}
		in["alias"] = c.Name
		items[i] = withAlias(columnRef(c.Name), c.Name)
		groups[i], set[i] = columnRef(c.Name), json.Number(fmt.Sprint(i))
	}
	out := selectNode(items, subquery(inner, "skein_grouped"))
	out["group_expressions"], out["group_sets"] = groups, []any{set}
	var outMods []any
	for _, m := range mods[1:] {
		mn, _ := m.(map[string]any)
		switch str(mn, "type") {
		case "LIMIT_MODIFIER":
			outMods = append(outMods, clone(mn))
		case "ORDER_MODIFIER":
			var orders []any
			for _, o := range list(mn, "orders") {
				on := clone(o.(map[string]any))
				e := child(on, "expression")
				idx, err := outputIndex(e, sel)
				switch {
				case err != nil || (idx < 0 && str(e, "class") != "CONSTANT"):
					return nil, false
				case idx >= 0:
					on["expression"] = columnRef(cols[idx].Name)
				}
				orders = append(orders, on)
			}
			outMods = append(outMods, Node{"type": "ORDER_MODIFIER", "orders": orders})
		default:
			return nil, false
		}
	}
	if outMods != nil {
		out["modifiers"] = outMods
	}
	return out, true
}

// plainDistinct says m is a DISTINCT modifier without ON targets.
func plainDistinct(m any) bool {
	mn, _ := m.(map[string]any)
	return str(mn, "type") == "DISTINCT_MODIFIER" && len(list(mn, "distinct_on_targets")) == 0
}

// groupable says n's select items are expressions of its input row alone,
// grouped by nothing yet: no GROUP BY, HAVING, aggregate, window, *,
// subquery, QUALIFY or sample.
func groupable(n Node, aggs Aggregates) bool {
	sel := list(n, "select_list")
	return len(sel) > 0 && len(list(n, "group_expressions")) == 0 && n["having"] == nil && n["qualify"] == nil &&
		n["sample"] == nil && str(n, "aggregate_handling") == "STANDARD_HANDLING" && !containsAggregate(sel, aggs) &&
		!anyNode(sel, func(x Node) bool {
			c := str(x, "class")
			return c == "STAR" || c == "WINDOW" || c == "SUBQUERY"
		})
}
