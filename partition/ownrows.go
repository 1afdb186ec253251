package partition

import "strings"

// A scalar subquery in an aggregate query's HAVING (or select list or
// ORDER BY) that aggregates the query's own rows, with no GROUP BY, is
// answered from the query's partial aggregates instead of being computed
// again: TPC-H Q11's
//
//	HAVING sum(ps_supplycost * ps_availqty) > (SELECT sum(ps_supplycost * ps_availqty) * 0.0001 FROM <the same FROM> WHERE <the same WHERE>)
//
// becomes, in the final aggregate,
//
//	HAVING sum(p0) > (SELECT sum(p0) * 0.0001 FROM <the partials>)
//
// so the join is computed once, not once for the groups and once for the
// total (each subquery otherwise gets stages of its own). Its rows are the
// query's rows when its FROM and WHERE are the query's, aliases and all
// (every name in it then binds inside it: it is not correlated), and the
// final forms of its aggregates over every partial row are their values
// over all those rows, as a global aggregate's merge computes them. The
// final aggregate then reads every partial: one task (ownRows).

// ownRowsTable stands for the partials table in a rewritten subquery
// until mergeNode knows where the partials are read from.
const ownRowsTable = "skein_own_rows"

// overOwnRows rewrites the subquery e if it aggregates the query's own
// rows; nil if it does not (or not in a way that merges exactly).
func (r *rewriter) overOwnRows(e Node) Node {
	a := r.a
	sub := child(child(e, "subquery"), "node")
	if !a.env.Exchanges || a.distinctArg != nil || str(e, "subquery_type") != "SCALAR" || str(sub, "type") != "SELECT_NODE" ||
		len(list(sub, "select_list")) != 1 || len(list(sub, "modifiers")) > 0 || len(list(sub, "group_expressions")) > 0 ||
		sub["having"] != nil || sub["qualify"] != nil || sub["sample"] != nil || len(list(child(sub, "cte_map"), "map")) > 0 ||
		str(sub, "aggregate_handling") != "STANDARD_HANDLING" || len(list(a.root, "group_sets")) > 1 ||
		!sameText(sub["from_table"], a.root["from_table"]) || !sameText(sub["where_clause"], a.root["where_clause"]) {
		return nil
	}
	item, _ := list(sub, "select_list")[0].(map[string]any)
	// Every column it names is an aggregate's argument (over all rows there
	// is no group), and no aggregate is an average: compared with the
	// query's values, the answer must be DuckDB's to the last bit, and SUM
	// over COUNT of partials may round differently (subqueryPlan).
	if item == nil || !containsAggregate(item, r.aggs) || anyNode(item, func(n Node) bool {
		switch str(n, "class") {
		case "SUBQUERY", "WINDOW", "PARAMETER":
			return true
		case "FUNCTION":
			name := str(n, "function_name")
			return name == "avg" || name == "mean" || volatileCall(n)
		}
		return false
	}) || columnOutsideAggregate(item, r.aggs) {
		return nil
	}
	known := len(a.partials)
	final, err := r.rewrite(clone(item), nil)
	if err != nil {
		// An aggregate that does not merge: the subquery is planned as
		// before, and the partials its others added are dropped.
		a.partials = a.partials[:known]
		return nil
	}
	a.ownRows = true
	out := clone(e)
	out["subquery"] = Node{"node": selectNode([]any{final}, baseTable(ownRowsTable)), "named_param_map": []any{}}
	return out
}

// columnOutsideAggregate says e names a column other than as (part of) an
// aggregate's argument.
func columnOutsideAggregate(e any, aggs Aggregates) bool {
	found := false
	visit(e, func(n Node) bool {
		found = found || str(n, "class") == "COLUMN_REF"
		return !found && !(str(n, "class") == "FUNCTION" && aggs[str(n, "function_name")])
	})
	return found
}

// sameText compares two parts of queries as written, aliases included
// (only where they are in the text differs).
func sameText(a, b any) bool {
	return sameExpr(keepAliases(a), keepAliases(b))
}

// keepAliases moves each alias into a key sameExpr compares.
func keepAliases(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v)+1)
		for k, x := range v {
			out[k] = keepAliases(x)
		}
		if al, ok := v["alias"].(string); ok {
			out["skein_alias"] = strings.ToLower(al)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = keepAliases(x)
		}
		return out
	}
	return v
}

// fillOwnRows makes the rewritten subqueries of the final query n read the
// partials from where it reads them.
func fillOwnRows(n Node, from Node) Node {
	visit(n, func(v Node) bool {
		if str(v, "class") != "SUBQUERY" {
			return true
		}
		inner := child(child(v, "subquery"), "node")
		if f := child(inner, "from_table"); str(f, "type") == "BASE_TABLE" && str(f, "table_name") == ownRowsTable {
			inner["from_table"] = clone(from)
			return false
		}
		return true
	})
	return n
}
