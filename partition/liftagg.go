package partition

import "fmt"

// Window functions run after GROUP BY and HAVING, over the groups: a query
// whose windows read its aggregates or group keys (rank() OVER (ORDER BY
// sum(x) DESC), sum(x) - lag(sum(x)) OVER (...), sum(x) / sum(sum(x))
// OVER ()) is the same query over an aggregating FROM subquery:
//
//	SELECT g, rank() OVER (ORDER BY sum(x) DESC) AS r FROM t GROUP BY g
//	SELECT skein_g0 AS g, rank() OVER (ORDER BY skein_a0 DESC) AS r
//	  FROM (SELECT g AS skein_g0, sum(x) AS skein_a0 FROM t GROUP BY g) AS skein_groups
//
// which the planner splits as any query over an aggregate subquery: the
// aggregate in stages, the windows over its groups. Each group key the
// query repeats outside an aggregate, and each aggregate, becomes a column
// of the subquery; HAVING moves into it (it filters groups before the
// windows see them); QUALIFY, DISTINCT, ORDER BY and LIMIT stay outside.
// Under ROLLUP, CUBE or GROUPING SETS the subquery keeps them, and
// GROUPING() is computed in it as an aggregate is (TPC-DS Q86:
// rank() OVER (PARTITION BY grouping(a) + grouping(b), ...) over a
// ROLLUP); a group key is NULL in the rows of the sets without it, in the
// subquery's column as in the query.
// Every output column keeps the name DuckDB gives it (Env.Columns). What
// the rewrite cannot name (a column that is neither a group key nor
// inside an aggregate, a subquery, *) is left as it is, and the
// rewritten query then fails to prepare or gives another schema, which
// the coordinator's check keeps local.

// liftAggregates is the query over its own groups, or false when it has
// no GROUP BY or aggregate to lift, or the rewrite does not apply.
func liftAggregates(root Node, env Env) (Node, bool) {
	aggs := env.Aggregates
	groups := list(root, "group_expressions")
	sel := list(root, "select_list")
	if env.Columns == nil || root["sample"] != nil ||
		str(root, "aggregate_handling") != "STANDARD_HANDLING" || len(sel) == 0 {
		return nil, false
	}
	outer := []any{root["select_list"], root["qualify"], root["modifiers"]}
	if anyNode(outer, func(n Node) bool { return str(n, "class") == "SUBQUERY" || str(n, "class") == "STAR" }) {
		return nil, false
	}
	// Only the query's own windows are lifted over: windows in its FROM
	// subquery (which Analysis.windows counts too) would still be below
	// the aggregate, and the lifted query's FROM would be the query
	// again, planned over and over.
	if !anyNode(outer, func(n Node) bool { return str(n, "class") == "WINDOW" }) {
		return nil, false
	}
	cols, err := env.Columns(subquery(clone(root), "skein_q"))
	if err != nil || len(cols) != len(sel) {
		return nil, false
	}
	from, _ := root["from_table"].(map[string]any)
	if from == nil {
		return nil, false
	}
	var inner []any
	for j, g := range groups {
		gn, _ := g.(map[string]any)
		if gn == nil {
			return nil, false
		}
		inner = append(inner, withAlias(clone(gn), fmt.Sprintf("skein_g%d", j)))
	}
	var lifted []Node
	lift := func(v any) any {
		return replace(cloneValue(v), func(n Node) (any, bool) {
			for j, g := range groups {
				if str(n, "class") != "CONSTANT" && sameExpr(n, g) {
					return columnRef(fmt.Sprintf("skein_g%d", j)), true
				}
			}
			// GROUPING(k) says which grouping set a row is of: computed
			// with the groups, as an aggregate is.
			if str(n, "type") != "GROUPING_FUNCTION" && (str(n, "class") != "FUNCTION" || !aggs[str(n, "function_name")]) {
				return nil, false
			}
			for k, l := range lifted {
				if sameExpr(n, l) {
					return columnRef(fmt.Sprintf("skein_a%d", k)), true
				}
			}
			lifted = append(lifted, n)
			inner = append(inner, withAlias(clone(n), fmt.Sprintf("skein_a%d", len(lifted)-1)))
			return columnRef(fmt.Sprintf("skein_a%d", len(lifted)-1)), true
		})
	}
	items := make([]any, len(sel))
	for i, item := range lift(root["select_list"]).([]any) {
		in, _ := item.(map[string]any)
		if in == nil {
			return nil, false
		}
		items[i] = withAlias(in, cols[i].Name)
	}
	out := clone(root)
	out["select_list"] = items
	out["qualify"] = lift(root["qualify"])
	out["modifiers"] = lift(root["modifiers"])
	if len(inner) == 0 {
		return nil, false
	}
	grouped := selectNode(inner, clone(from))
	for _, k := range []string{"where_clause", "group_expressions", "group_sets", "having"} {
		grouped[k] = cloneValue(root[k])
	}
	out["from_table"] = subquery(grouped, "skein_groups")
	out["where_clause"], out["having"] = nil, nil
	out["group_expressions"], out["group_sets"] = []any{}, []any{}
	return out, true
}
