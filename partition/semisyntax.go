package partition

import "encoding/json"

// semiJoinsAsExists rewrites, in place, each SELECT whose FROM is
//
//	l SEMI JOIN r ON c       as   FROM l WHERE EXISTS (SELECT 1 FROM r WHERE c)
//	l ANTI JOIN r ON c       as   FROM l WHERE NOT EXISTS (SELECT 1 FROM r WHERE c)
//
// which the planner distributes (decorrelate.go); written as joins they
// ran local. Exact: DuckDB's semi join keeps each row of l once when some
// row of r makes c true, its anti join when none does, as the subqueries
// do, and only l's columns are in scope in either. Every column c names
// must be qualified: an unqualified one of both sides is ambiguous in the
// join but would be r's in the subquery.
func semiJoinsAsExists(root Node) {
	visit(root, func(n Node) bool {
		if str(n, "type") != "SELECT_NODE" {
			return true
		}
		from := child(n, "from_table")
		jt := str(from, "join_type")
		if str(from, "type") != "JOIN" || jt != "SEMI" && jt != "ANTI" || str(from, "ref_type") != "REGULAR" ||
			from["condition"] == nil || len(list(from, "using_columns")) > 0 || anyNode(from["condition"], func(c Node) bool {
			return str(c, "class") == "COLUMN_REF" && len(list(c, "column_names")) < 2
		}) {
			return true
		}
		sub := selectNode([]any{constant("INTEGER", json.Number("1"))}, child(from, "right"))
		sub["where_clause"] = from["condition"]
		exists := Node{"class": "SUBQUERY", "type": "SUBQUERY", "alias": "", "query_location": json.Number(noLocation),
			"subquery_type": "EXISTS", "subquery": Node{"node": sub, "named_param_map": []any{}}, "child": nil,
			"comparison_type": "INVALID"}
		if jt == "ANTI" {
			exists = Node{"class": "OPERATOR", "type": "OPERATOR_NOT", "alias": "", "query_location": json.Number(noLocation),
				"children": []any{exists}}
		}
		n["from_table"] = child(from, "left")
		n["where_clause"] = and(append(conjuncts(n["where_clause"]), exists))
		return true
	})
}
