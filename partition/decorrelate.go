package partition

import (
	"encoding/json"
	"fmt"
	"strings"
)

// A correlated scalar subquery that aggregates one table and correlates
// with the query by equalities of the table's columns with the query's
// (TPC-H Q20: ps_availqty > (SELECT 0.5 * sum(l_quantity) FROM lineitem
// WHERE l_partkey = ps_partkey AND l_suppkey = ps_suppkey AND ...)) is
// rewritten as DuckDB decorrelates it: the aggregate grouped by those
// columns, a FROM item of its own, joined to the query's rows by the
// equalities, the comparison read from it. The stage planner then plans
// it as any aggregate join input: partial aggregates over slices of its
// table, the final step after a shuffle by its keys (join.go's
// leafStage), instead of one task reading the table whole for the rows of
// the query's one scan task.
//
// Exact: the rewrite applies to a top-level conjunct of the WHERE that
// compares an expression with the subquery, so that a NULL subquery drops
// the row; the subquery's value is an expression that is NULL when its
// aggregates (SUM, MIN, MAX, NULL over no rows) are, so that an outer
// row no group matches, whose subquery reads no rows, is dropped either
// way; a NULL key matches no row of the table nor any group. Each key is
// of the same type as the query's column it equals, or both are integers,
// so that equal values are one group and each outer row meets at most one.
// COUNT (0 over no rows) and AVG (SUM over COUNT of partials may round
// otherwise than DuckDB's AVG, and the value is compared with rows), SUM
// of floating point values (their order changes the sum), DISTINCT and
// FILTER, a subquery reading more than one table, one holding subqueries
// of its own, and a query selecting an unqualified * (which would see the
// new item's columns) are left as they were.
//
// The subquery's table keeps only rows that can meet the query's: a
// conjunct of the query's WHERE restricting a correlated column by IN of
// an uncorrelated subquery, or by a comparison with a constant, restricts
// the key column alike (Q20's ps_partkey IN (parts named 'forest%'): the
// aggregate is over 1% of the year's lineitem rows). A query whose FROM
// is a join and whose WHERE restricts no correlated column so is left as
// it was: its join may restrict the keys instead (Q17's shape, keyset.go).

// decorrelated is the prefix of the FROM items the rewrite adds.
const decorrelated = "skein_sq"

// decorrelate applies the rule to root's WHERE, in place.
func decorrelate(root Node, env Env) {
	if !env.Exchanges || env.Columns == nil || root["where_clause"] == nil || selectsAll(root) {
		return
	}
	from := child(root, "from_table")
	if str(from, "type") == "EMPTY" || from == nil {
		return
	}
	conds := cloneList(conjuncts(root["where_clause"]))
	var keys []any
	var items []Node
	for _, c := range conds {
		cn, _ := c.(map[string]any)
		if !comparison(cn) {
			continue
		}
		for _, side := range []string{"left", "right"} {
			s := child(cn, side)
			if str(s, "class") != "SUBQUERY" || str(s, "subquery_type") != "SCALAR" {
				continue
			}
			alias := fmt.Sprintf("%s%d", decorrelated, len(items))
			d := decorrelationOf(child(child(s, "subquery"), "node"), from, conds, alias, env)
			if d == nil {
				continue
			}
			cn[side] = qualified(alias, "skein_v")
			keys = append(keys, d.keys...)
			items = append(items, subquery(d.grouped, alias))
		}
	}
	if len(items) == 0 {
		return
	}
	for _, it := range items {
		from = Node{"type": "JOIN", "alias": "", "sample": nil, "query_location": json.Number(noLocation),
			"left": from, "right": it, "condition": nil, "join_type": "INNER", "ref_type": "CROSS",
			"using_columns": []any{}, "delim_flipped": false, "duplicate_eliminated_columns": []any{}}
	}
	root["from_table"] = from
	root["where_clause"] = and(append(conds, keys...))
}

// comparison says n compares two values (=, <>, <, >, <=, >=): NULL when
// either is.
func comparison(n Node) bool {
	if str(n, "class") != "COMPARISON" {
		return false
	}
	switch str(n, "type") {
	case "COMPARE_EQUAL", "COMPARE_NOTEQUAL", "COMPARE_LESSTHAN", "COMPARE_GREATERTHAN",
		"COMPARE_LESSTHANOREQUALTO", "COMPARE_GREATERTHANOREQUALTO":
		return true
	}
	return false
}

// selectsAll says the query's output or grouping names an unqualified *
// (outside subqueries), which a new FROM item would add columns to.
func selectsAll(root Node) bool {
	found := false
	for _, part := range []any{root["select_list"], root["group_expressions"], root["having"], root["qualify"], root["modifiers"]} {
		visit(part, func(n Node) bool {
			if str(n, "class") == "SUBQUERY" {
				return false
			}
			if str(n, "class") == "STAR" && str(n, "relation_name") == "" {
				found = true
			}
			return !found
		})
	}
	return found
}

// A decorrelation is a subquery as a FROM item grouped by its keys.
type decorrelation struct {
	grouped Node  // SELECT key AS skein_k0, ..., value AS skein_v ... GROUP BY the keys
	keys    []any // the equalities joining it to the query
}

// decorrelationOf fits the rule to sub, a scalar subquery of the query
// whose FROM is from and whose WHERE's conjuncts are conds; the FROM item
// is to be named alias. Nil if the rule does not fit.
func decorrelationOf(sub, from Node, conds []any, alias string, env Env) *decorrelation {
	if str(sub, "type") != "SELECT_NODE" || len(list(sub, "modifiers")) > 0 || len(list(child(sub, "cte_map"), "map")) > 0 ||
		len(list(sub, "group_expressions")) > 0 || sub["having"] != nil || sub["qualify"] != nil || sub["sample"] != nil ||
		str(sub, "aggregate_handling") != "STANDARD_HANDLING" || len(list(sub, "select_list")) != 1 || sub["where_clause"] == nil {
		return nil
	}
	if anyNode(sub, func(n Node) bool { return str(n, "class") == "SUBQUERY" || str(n, "class") == "WINDOW" }) {
		return nil
	}
	table := child(sub, "from_table")
	if _, ok := (&Analysis{env: env}).scanUnder(table, nil); !ok {
		return nil
	}
	talias := str(table, "alias")
	if talias == "" && str(table, "type") == "TABLE_FUNCTION" {
		talias = str(child(table, "function"), "function_name")
	}
	tcols, err := env.Columns(clone(table))
	if err != nil {
		return nil
	}
	res := resolver{leaves: []leaf{{alias: talias, cols: tcols}}}
	inner := func(ref Node) bool { // a column of the table
		_, _, ok := res.column(ref)
		return ok
	}
	value, _ := list(sub, "select_list")[0].(map[string]any)
	var sums []Node
	if !nullOverNone(value, env.Aggregates, &sums) {
		return nil
	}
	// The table's key columns and the query's columns they equal; the
	// other conjuncts filter the table's rows.
	var innerKeys, outerKeys []Node
	var filters []any
	for _, c := range conjuncts(sub["where_clause"]) {
		l, r, ok := columnEquality(c)
		if ok && inner(l) != inner(r) {
			if inner(r) {
				l, r = r, l
			}
			for _, k := range innerKeys {
				if sameColumn(k, l) {
					return nil // one column equal to two of the query's
				}
			}
			innerKeys, outerKeys = append(innerKeys, clone(l)), append(outerKeys, clone(r))
			continue
		}
		filters = append(filters, c)
	}
	if len(innerKeys) == 0 {
		return nil
	}
	// The query's restrictions of a correlated column restrict its key.
	restricted := false
	for i, x := range outerKeys {
		for _, c := range conds {
			if r := restriction(c, x, innerKeys[i], env); r != nil {
				filters = append(filters, r)
				restricted = true
			}
		}
	}
	if !restricted && str(from, "type") == "JOIN" {
		// The keys the query meets may be few through its join (TPC-H
		// Q17's parts of one brand and container), which keyset.go, or
		// DuckDB's decorrelation in the task, reads the table for alone;
		// grouped here, the whole table would be.
		return nil
	}
	sel := make([]any, 0, len(innerKeys)+1)
	groups := make([]any, len(innerKeys))
	set := make([]any, len(innerKeys))
	for i, k := range innerKeys {
		sel = append(sel, withAlias(clone(k), fmt.Sprintf("skein_k%d", i)))
		groups[i] = clone(k)
		set[i] = json.Number(fmt.Sprint(i))
	}
	sel = append(sel, withAlias(clone(value), "skein_v"))
	grouped := selectNode(sel, clone(table))
	if len(filters) > 0 {
		grouped["where_clause"] = and(filters)
	}
	grouped["group_expressions"] = groups
	grouped["group_sets"] = []any{set}
	// It must prepare alone: every name but the keys' binds in the table.
	cols, err := env.Columns(subquery(clone(grouped), alias))
	if err != nil || len(cols) != len(innerKeys)+1 {
		return nil
	}
	outerSel := make([]any, len(outerKeys))
	for i, x := range outerKeys {
		outerSel[i] = withAlias(clone(x), fmt.Sprintf("skein_o%d", i))
	}
	ocols, err := env.Columns(subquery(selectNode(outerSel, clone(from)), "skein_outer"))
	if err != nil || len(ocols) != len(outerKeys) {
		return nil
	}
	keys := make([]any, len(outerKeys))
	for i := range outerKeys {
		if _, ok := hashType(cols[i].Type, ocols[i].Type); !ok || floating(cols[i].Type) || floating(ocols[i].Type) {
			return nil
		}
		keys[i] = Node{"class": "COMPARISON", "type": "COMPARE_EQUAL", "alias": "", "query_location": json.Number(noLocation),
			"left": clone(outerKeys[i]), "right": qualified(alias, fmt.Sprintf("skein_k%d", i))}
	}
	if len(sums) > 0 {
		probe := make([]any, len(sums))
		for i, s := range sums {
			probe[i] = withAlias(clone(s), fmt.Sprintf("skein_s%d", i))
		}
		scols, err := env.Columns(subquery(selectNode(probe, clone(table)), "skein_sums"))
		if err != nil {
			return nil
		}
		for _, c := range scols {
			if floating(c.Type) {
				return nil
			}
		}
	}
	return &decorrelation{grouped: grouped, keys: keys}
}

// floating says a DuckDB type is a floating point one.
func floating(t string) bool {
	t = strings.ToUpper(t)
	return strings.Contains(t, "FLOAT") || strings.Contains(t, "DOUBLE") || strings.Contains(t, "REAL")
}

// nullOverNone says e, a subquery's value, is NULL over no rows: SUM, MIN
// and MAX of the rows (without DISTINCT, FILTER or ORDER BY), constants,
// casts and arithmetic of them, with at least one aggregate. sums gets
// the SUMs.
func nullOverNone(e Node, aggs Aggregates, sums *[]Node) bool {
	seen := false
	var ok func(n Node) bool
	ok = func(n Node) bool {
		switch str(n, "class") {
		case "CONSTANT":
			return true
		case "CAST":
			return n["try_cast"] != true && ok(child(n, "child"))
		case "FUNCTION":
			name := str(n, "function_name")
			if aggs[name] {
				switch name {
				case "sum", "min", "max":
				default:
					return false
				}
				if n["distinct"] == true || n["filter"] != nil || len(list(child(n, "order_bys"), "orders")) > 0 ||
					len(list(n, "children")) != 1 || containsAggregate(list(n, "children"), aggs) {
					return false
				}
				if name == "sum" {
					*sums = append(*sums, n)
				}
				seen = true
				return true
			}
			switch name {
			case "+", "-", "*", "/", "//", "%":
			default:
				return false
			}
			if n["is_operator"] != true {
				return false
			}
			for _, c := range list(n, "children") {
				cn, _ := c.(map[string]any)
				if !ok(cn) {
					return false
				}
			}
			return true
		}
		return false
	}
	return ok(e) && seen
}

// restriction is c, a conjunct of the query's WHERE, for the key column
// k when c restricts the query's column x it equals: x IN (an
// uncorrelated subquery), or x compared with a constant. Nil otherwise.
func restriction(c any, x, k Node, env Env) Node {
	n, _ := c.(map[string]any)
	switch {
	case str(n, "class") == "SUBQUERY" && str(n, "subquery_type") == "ANY" && str(n, "comparison_type") == "COMPARE_EQUAL" &&
		sameColumn(child(n, "child"), x):
		if _, err := env.Columns(subquery(clone(child(child(n, "subquery"), "node")), "skein_keys")); err != nil {
			return nil
		}
		r := clone(n)
		r["child"] = clone(k)
		return r
	case comparison(n) && str(n, "type") != "COMPARE_NOTEQUAL":
		for _, side := range [][2]string{{"left", "right"}, {"right", "left"}} {
			if sameColumn(child(n, side[0]), x) && str(child(n, side[1]), "class") == "CONSTANT" {
				r := clone(n)
				r[side[0]] = clone(k)
				return r
			}
		}
	}
	return nil
}
