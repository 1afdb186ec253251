package partition

import "strings"

// The filters of a CTE's reads, pushed into it. A CTE computed once
// (cte.go) is computed whole, while each of its reads may keep a small
// part of it: TPC-DS Q4 reads year_total six times, each read keeping one
// sale type and one year (t_s_firstyear.sale_type = 's' AND
// t_s_firstyear.dyear = 2001), and year_total aggregated every year of
// every channel by customer where the reads keep two years. DuckDB's own
// optimizer does the same for the CTEs it materializes.
//
// When every read of the CTE is an item of an inner join (or a FROM
// list) whose WHERE has conjuncts on that read's columns alone, the CTE
// keeps only the rows meeting one read's conjuncts or another's: the OR
// over its reads of the AND of each read's. That is exact since every read
// applies its own conjuncts again, each stricter than the OR; and so is
// keeping any rows between those and all, which lets a UNION's branch
// that cannot take the filter keep every row. The filter is written in
// the CTE's query where the rows are made (pusher.push): into each branch
// of a UNION by the branch's select list; in an aggregate's WHERE when it
// names group keys and constants only (every row of a group has the same
// keys, so a group is kept or dropped whole); in a plain SELECT's WHERE;
// and on into a subquery the SELECT reads. There DuckDB pushes it on into
// the scans and joins: Q4's date_dim keeps two years, and the join and
// aggregate over it shrink. So for a view read more than once, computed
// once as a CTE is (view.go).

// readFilters is the filter the reads of a CTE or view keep in root
// (reads says which table references read it; name qualifies the
// columns of one without alias): for each read, the conjuncts of its
// WHERE on its columns alone, the column references unqualified. ok is
// false when some read is not an inner join's item or has no such
// conjunct, or the reads found are not all of them (count).
func readFilters(root Node, reads func(Node) bool, name string, count int) (filters [][]Node, ok bool) {
	name = strings.ToLower(name)
	found := 0
	visit(root, func(n Node) bool {
		if str(n, "type") != "SELECT_NODE" {
			return true
		}
		for _, ref := range innerReads(child(n, "from_table"), reads) {
			found++
			q := strings.ToLower(str(ref, "alias"))
			if q == "" {
				q = name
			}
			var mine []Node
			for _, c := range conjuncts(n["where_clause"]) {
				if cn, _ := c.(map[string]any); onlyColumnsOf(cn, q) {
					mine = append(mine, unqualify(clone(cn)))
				}
			}
			filters = append(filters, mine)
		}
		return true
	})
	if found != count {
		return nil, false
	}
	for _, f := range filters {
		if len(f) == 0 {
			return nil, false
		}
	}
	return filters, true
}

// innerReads are the table references that reads accepts among the items
// of a FROM that inner joins (or a FROM list) combine: not under an
// outer, ASOF, NATURAL, POSITIONAL or lateral join.
func innerReads(from Node, reads func(Node) bool) []Node {
	switch str(from, "type") {
	case "BASE_TABLE":
		if reads(from) && len(list(from, "column_name_alias")) == 0 && from["sample"] == nil && from["at_clause"] == nil {
			return []Node{from}
		}
	case "JOIN":
		rt := str(from, "ref_type")
		if str(from, "join_type") == "INNER" && (rt == "REGULAR" || rt == "CROSS") {
			return append(innerReads(child(from, "left"), reads), innerReads(child(from, "right"), reads)...)
		}
	}
	return nil
}

// onlyColumnsOf says condition c names columns of q alone (q.col), at
// least one, and nothing whose value depends on more than the row: no
// subquery, aggregate or window.
func onlyColumnsOf(c Node, q string) bool {
	if c == nil {
		return false
	}
	cols, other := 0, false
	visit(c, func(n Node) bool {
		switch str(n, "class") {
		case "SUBQUERY", "WINDOW":
			other = true
		case "COLUMN_REF":
			names := list(n, "column_names")
			if s, _ := names[0].(string); len(names) == 2 && strings.ToLower(s) == q {
				cols++
			} else {
				other = true
			}
		case "STAR", "LAMBDA":
			other = true
		}
		return !other
	})
	return cols > 0 && !other
}

// unqualify drops the qualifier of every column reference in c (all of
// one read's, onlyColumnsOf).
func unqualify(c Node) Node {
	visit(c, func(n Node) bool {
		if str(n, "class") == "COLUMN_REF" {
			names := list(n, "column_names")
			n["column_names"] = []any{names[len(names)-1]}
		}
		return true
	})
	return c
}

// outputNames are the names of a query's result columns, lower case, by
// position, "" where a column has no name a read can give (an expression
// without alias); nil when not known (a star).
func outputNames(n Node, aliases []any) []string {
	if len(aliases) > 0 {
		out := make([]string, len(aliases))
		for i, a := range aliases {
			s, _ := a.(string)
			out[i] = strings.ToLower(s)
		}
		return out
	}
	for str(n, "type") == "SET_OPERATION_NODE" {
		n = child(n, "left")
	}
	if str(n, "type") != "SELECT_NODE" {
		return nil
	}
	var out []string
	for _, item := range list(n, "select_list") {
		e, _ := item.(map[string]any)
		switch {
		case str(e, "class") == "STAR":
			return nil
		case str(e, "alias") != "":
			out = append(out, strings.ToLower(str(e, "alias")))
		case str(e, "class") == "COLUMN_REF":
			names := list(e, "column_names")
			s, _ := names[len(names)-1].(string)
			out = append(out, strings.ToLower(s))
		default:
			out = append(out, "")
		}
	}
	return out
}

// pushReadFilters writes into the query node of a CTE or view, named
// name, the filter its reads in root keep (readFilters), where it can;
// node unchanged otherwise. columns gives the result columns of a FROM
// item (Env.Columns).
func pushReadFilters(root Node, reads func(Node) bool, name string, count int, node Node, aliases []any, aggs Aggregates,
	columns func(Node) ([]Column, error)) {
	names := outputNames(node, aliases)
	if names == nil {
		return
	}
	if filters, ok := readFilters(root, reads, name, count); ok {
		p := pusher{aggs: aggs, columns: columns}
		p.push(node, filters, names)
	}
}

// A pusher writes filters into queries.
type pusher struct {
	aggs    Aggregates
	columns func(Node) ([]Column, error)
}

// push keeps, of the rows query n makes, those meeting one of filters
// (each a list of conjuncts naming its result columns, names by
// position), or more: a conjunct that cannot be written in a branch is
// left out of it there, and a branch that can take none keeps every row.
func (p pusher) push(n Node, filters [][]Node, names []string) {
	pos := map[string]int{}
	for i, n := range names {
		if _, dup := pos[n]; dup || n == "" {
			pos[n] = -1
			continue
		}
		pos[n] = i
	}
	if str(n, "type") != "SET_OPERATION_NODE" {
		p.pushIntoSelect(n, filters, pos)
		return
	}
	// A UNION's branch may make a column of a narrower type than the
	// UNION's (an INTEGER under a VARCHAR) and compare it otherwise with
	// a constant ('9' > '10', 9 < 10): a branch takes the filter only
	// where the columns it names have the UNION's types.
	var types []Column
	sameTypes := func(branch Node) bool {
		if types == nil {
			var err error
			if types, err = p.columns(subquery(clone(n), "skein_union")); err != nil {
				types = []Column{}
			}
		}
		mine, err := p.columns(subquery(clone(branch), "skein_branch"))
		if err != nil || len(mine) != len(types) {
			return false
		}
		for _, f := range filters {
			for _, c := range f {
				if anyNode(c, func(x Node) bool {
					if str(x, "class") != "COLUMN_REF" {
						return false
					}
					s, _ := list(x, "column_names")[0].(string)
					i, ok := pos[strings.ToLower(s)]
					return ok && i >= 0 && i < len(mine) && mine[i].Type != types[i].Type
				}) {
					return false
				}
			}
		}
		return true
	}
	p.pushUnion(n, filters, pos, sameTypes)
}

// pushUnion is push into each branch of a UNION that sameTypes accepts.
func (p pusher) pushUnion(n Node, filters [][]Node, pos map[string]int, sameTypes func(Node) bool) {
	switch str(n, "type") {
	case "SET_OPERATION_NODE":
		if st := str(n, "setop_type"); st != "UNION" || len(list(n, "modifiers")) > 0 || len(list(child(n, "cte_map"), "map")) > 0 {
			return
		}
		p.pushUnion(child(n, "left"), filters, pos, sameTypes)
		p.pushUnion(child(n, "right"), filters, pos, sameTypes)
	case "SELECT_NODE":
		if sameTypes(n) {
			p.pushIntoSelect(n, filters, pos)
		}
	}
}

// pushIntoSelect is push into a SELECT: each conjunct with the columns
// it names replaced by their expressions in the select list, ANDed to the
// WHERE; and when the SELECT reads one subquery, pushed into it too
// (TPC-DS Q75's all_sales aggregates a UNION of three joins).
func (p pusher) pushIntoSelect(n Node, filters [][]Node, pos map[string]int) {
	for _, m := range list(n, "modifiers") {
		if mn, _ := m.(map[string]any); str(mn, "type") != "ORDER_MODIFIER" &&
			(str(mn, "type") != "DISTINCT_MODIFIER" || len(list(mn, "distinct_on_targets")) > 0) {
			return // LIMIT, or DISTINCT ON: which rows are kept depends on the others
		}
	}
	if n["qualify"] != nil || n["sample"] != nil || len(list(child(n, "cte_map"), "map")) > 0 ||
		str(n, "aggregate_handling") != "STANDARD_HANDLING" || len(list(n, "group_sets")) > 1 {
		return
	}
	items := list(n, "select_list")
	aliases := map[string]bool{}
	for _, item := range items {
		e, _ := item.(map[string]any)
		if str(e, "class") == "STAR" || anyNode(e, func(x Node) bool {
			return str(x, "class") == "WINDOW" || str(x, "class") == "SUBQUERY" ||
				str(x, "function_name") == "unnest" || str(x, "function_name") == "unlist"
		}) {
			return // a window's rows, or one row making many
		}
		if a := str(e, "alias"); a != "" {
			aliases[strings.ToLower(a)] = true
		}
	}
	grouped := len(list(n, "group_expressions")) > 0 || n["having"] != nil || containsAggregate(items, p.aggs)
	// expr is the expression of result column name that a filter may
	// name here, or nil.
	expr := func(name string) Node {
		i, ok := pos[name]
		if !ok || i < 0 || i >= len(items) {
			return nil
		}
		e, _ := items[i].(map[string]any)
		e = clone(e)
		e["alias"] = ""
		if anyNode(e, func(x Node) bool {
			if names := list(x, "column_names"); str(x, "class") == "COLUMN_REF" && len(names) == 1 {
				s, _ := names[0].(string)
				return aliases[strings.ToLower(s)]
			}
			return false
		}) {
			return nil // it names another item of the list (DuckDB's lateral alias)
		}
		if grouped && !ofKeys(e, list(n, "group_expressions"), p.aggs) || !grouped && containsAggregate(e, p.aggs) {
			return nil
		}
		return e
	}
	var kept [][]Node
	var disjuncts []any
	for _, f := range filters {
		var mine []Node
		var conj []any
		for _, c := range f {
			w, ok := substitute(clone(c), expr)
			if ok && !alwaysTrue(w) {
				mine, conj = append(mine, w), append(conj, w)
			}
		}
		if len(mine) == 0 {
			return // this read keeps every row made here
		}
		if d := and(conj); !containsExpr(disjuncts, d) {
			kept, disjuncts = append(kept, mine), append(disjuncts, d)
		}
	}
	n["where_clause"] = and(append(conjuncts(n["where_clause"]), or(disjuncts)))
	from := child(n, "from_table")
	if str(from, "type") != "SUBQUERY" {
		return
	}
	sub := child(child(from, "subquery"), "node")
	names := outputNames(sub, list(from, "column_name_alias"))
	alias := strings.ToLower(str(from, "alias"))
	for _, f := range kept {
		for _, c := range f {
			if anyNode(c, func(x Node) bool {
				return str(x, "class") == "SUBQUERY" || str(x, "class") == "COLUMN_REF" && !ofSubquery(x, alias)
			}) {
				return
			}
			unqualify(c)
		}
	}
	if names != nil {
		p.push(sub, kept, names)
	}
}

// ofKeys says expression v is the same for every row of a group by keys:
// made of the keys and constants.
func ofKeys(v any, keys []any, aggs Aggregates) bool {
	switch v := v.(type) {
	case map[string]any:
		for _, k := range keys {
			if sameExpr(v, k) {
				return true
			}
		}
		switch c := str(v, "class"); {
		case c == "COLUMN_REF" || c == "SUBQUERY" || c == "WINDOW" || c == "STAR" || c == "LAMBDA",
			c == "FUNCTION" && aggs[str(v, "function_name")]:
			return false
		}
		for _, x := range v {
			if !ofKeys(x, keys, aggs) {
				return false
			}
		}
	case []any:
		for _, x := range v {
			if !ofKeys(x, keys, aggs) {
				return false
			}
		}
	}
	return true
}

// ofSubquery says column reference x names a column of the FROM subquery
// alias: unqualified, or qualified by alias.
func ofSubquery(x Node, alias string) bool {
	names := list(x, "column_names")
	if len(names) == 1 {
		return true
	}
	s, _ := names[0].(string)
	return len(names) == 2 && alias != "" && strings.ToLower(s) == alias
}

// substitute replaces each column reference of c by expr of its name; ok
// is false when expr has none for one.
func substitute(c Node, expr func(string) Node) (Node, bool) {
	ok := true
	out := replace(c, func(x Node) (any, bool) {
		if str(x, "class") != "COLUMN_REF" {
			return nil, false
		}
		s, _ := list(x, "column_names")[0].(string)
		e := expr(strings.ToLower(s))
		if e == nil {
			ok = false
			return x, true
		}
		return e, true
	}).(map[string]any)
	return out, ok
}

// alwaysTrue recognises a comparison for equality of a constant with the
// same constant (a read's sale_type = 's' in the branch making 's'): true
// whatever the collation.
func alwaysTrue(c Node) bool {
	if str(c, "type") != "COMPARE_EQUAL" {
		return false
	}
	l, r := child(c, "left"), child(c, "right")
	return str(l, "class") == "CONSTANT" && str(r, "class") == "CONSTANT" &&
		child(l, "value")["is_null"] == false && sameExpr(l, r)
}

func containsExpr(l []any, e Node) bool {
	for _, x := range l {
		if sameExpr(x, e) {
			return true
		}
	}
	return false
}
