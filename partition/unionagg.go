package partition

import (
	"slices"
	"strings"
)

// An aggregate over a UNION ALL in a FROM subquery, as a report over two
// fact tables or two filtered parts of one writes it:
//
//	SELECT g, sum(x), count(*) FROM (SELECT g, x FROM a WHERE ...
//	                                 UNION ALL SELECT g, y FROM b) AS t GROUP BY g
//
// Shuffled whole, the branches' rows would cross the network only to be
// read once (an aggregate of two filtered branches of SF1's lineitem took
// 3.11 s against 0.35 s run whole, bench/staged_shapes.py). Instead the
// aggregate moves below the union: each branch is planned as the query
// itself over that branch alone, whose scan tasks compute the partial
// aggregates of their slice, and every branch's partials are shuffled by
// group key into one final aggregate stage, which reads them as one table.
// It is exact because a partial aggregate (a sum, a count, a min, an
// average's sum and count, ...) of a union is the partials of its parts
// combined, which the final step does for slices of one scan already.
//
// Each branch's columns are named as the union's and cast to its types
// (as DuckDB's UNION ALL casts them; a UNION ALL BY NAME is first the
// plain one of each side selecting the result's columns by name, as
// byname.go writes it), so that the outer query binds over
// every branch to the same expressions and the same partial columns. The
// query must read nothing but the union. An aggregate that does not
// decompose (a median, a DISTINCT beside other aggregates), or window
// functions, ship each branch's rows instead: every branch's scan sends
// them, shuffled by the same keys, to one stage that runs the query over
// their union (rawStages).

// A query that only filters and projects the union's rows (no ORDER BY,
// LIMIT or DISTINCT: each of those needs all of them) is the UNION ALL of
// the query over each branch, whose tasks split each branch's files and
// are the answer's endpoints, as for a UNION ALL written at the top.

// When the query over a branch is not such an aggregate or filter of the
// branch's own rows (a branch that is itself an aggregate: TPC-DS Q33's,
// Q56's and Q60's sums by item of each sales channel, then summed again
// over their union), and every branch aggregates, the union is planned in
// stages of its own as any set operation (setop.go): each branch by its
// own stages, their few rows gathered by the query over the union. Not
// when a branch gives rows of a scan: shipped only to be read once, they
// cost more than the query run whole (above). Nor when a branch reads a
// set operation (TPC-DS Q5's union of sales and returns, joined to its
// dimensions: its rows shipped whole) or a WITH result read more than once
// (Q27's, Q14's, Q23's, read by every branch: inlined, a subquery
// two branches share): so planned, those took 2.3 to 7.5 times as long as
// run whole at scale factor 1 (Q5 1.06 s against 0.14 s, 2 executors).

// branchesAggregate says every branch of the UNION ALL tree union, the
// FROM subquery of root, is an aggregate (a SELECT with GROUP BY or
// aggregates, or one that only filters and projects the rows of such a
// FROM subquery) that reads no set operation or WITH result.
func branchesAggregate(root, union Node, env Env) bool {
	aggs := env.Aggregates
	branches, err := unionAllBranches(union)
	if err != nil {
		return false
	}
	ctes := withReads(root)
	var seen [][]any // each earlier branch's subqueries
	for _, b := range branches {
		var subs []any
		if anyNode(b, func(n Node) bool {
			if str(n, "type") == "SUBQUERY" && (containsKind(n, "JOIN") || containsAggregate(n["subquery"], aggs)) {
				subs = append(subs, n["subquery"])
			}
			_, cte := ctes[strings.ToLower(str(n, "table_name"))]
			return str(n, "type") == "SET_OPERATION_NODE" || str(n, "type") == "BASE_TABLE" && (cte || env.withs.has(n))
		}) {
			return false
		}
		// A subquery that joins or aggregates, which another branch has
		// too: a CTE they share, inlined (a filter of one scan, as Q33's
		// items of a category, costs little read twice).
		for _, other := range seen {
			for _, x := range other {
				if slices.ContainsFunc(subs, func(y any) bool { return sameExpr(x, y) }) {
					return false
				}
			}
		}
		seen = append(seen, subs)
		for str(b, "type") == "SELECT_NODE" && len(list(b, "group_expressions")) == 0 &&
			!containsAggregate(b["select_list"], aggs) && str(child(b, "from_table"), "type") == "SUBQUERY" {
			if (&Analysis{env: env}).rowwise(b, aggs) != nil {
				return false
			}
			b = child(child(child(b, "from_table"), "subquery"), "node")
		}
		if str(b, "type") != "SELECT_NODE" ||
			(len(list(b, "group_expressions")) == 0 && !containsAggregate(b["select_list"], aggs)) {
			return false
		}
	}
	return true
}

// unionAllInFrom is the UNION ALL tree that is root's FROM subquery, or
// nil.
func unionAllInFrom(root Node) Node {
	from := child(root, "from_table")
	if str(from, "type") != "SUBQUERY" {
		return nil
	}
	n := child(child(from, "subquery"), "node")
	if str(n, "type") != "SET_OPERATION_NODE" || !unionAllTree(n) {
		return nil
	}
	return n
}

// unionAggregate plans root, a query whose FROM is the subquery of the
// UNION ALL tree union, as one analysis per branch: for an aggregate, the
// first's siblings are the others; for a query that only filters and
// projects, they are the branches of a UNION ALL. An error says why it is
// not planned so.
func unionAggregate(root, union Node, env Env) (*Analysis, error) {
	if env.withs != nil {
		return nil, local("a UNION ALL in a FROM subquery, with WITH results computed once")
	}
	// UNION ALL BY NAME as the plain UNION ALL of each side selecting the
	// result's columns by name (byname.go).
	union = clone(union)
	if err := byName(union, env); err != nil {
		return nil, err
	}
	branches, err := unionAllBranches(union)
	if err != nil {
		return nil, err
	}
	for _, b := range branches {
		if str(b, "type") != "SELECT_NODE" {
			return nil, local("a UNION ALL branch that is a %s", str(b, "type"))
		}
	}
	cols, err := env.Columns(subquery(clone(union), "skein_setop"))
	if err != nil {
		return nil, local("columns of a UNION ALL: %v", err)
	}
	names := make([]any, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		if seen[strings.ToLower(c.Name)] {
			return nil, local("a UNION ALL with two columns named %s", c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		names[i] = c.Name
	}
	var out []*Analysis
	for _, b := range branches {
		bcols, err := env.Columns(subquery(clone(b), "skein_side"))
		if err != nil || len(bcols) != len(cols) {
			return nil, local("columns of a UNION ALL branch: %v", err)
		}
		// SELECT CAST(c AS union's type) AS c, ... FROM (branch) AS skein_u(union's names)
		sl := make([]any, len(cols))
		for i, c := range cols {
			e := columnRef(c.Name)
			if bcols[i].Type != c.Type {
				if e = castTo(c.Type, e); e == nil {
					return nil, local("UNION ALL branches of types %s and %s", bcols[i].Type, c.Type)
				}
			}
			sl[i] = withAlias(e, c.Name)
		}
		sub := subquery(clone(b), "skein_u")
		sub["column_name_alias"] = cloneValue(names)
		q := clone(root)
		child(child(q, "from_table"), "subquery")["node"] = selectNode(sl, sub)
		ba, err := analyzeSelect(q, env)
		if err != nil {
			return nil, err
		}
		out = append(out, ba)
	}
	scatter := true
	for _, ba := range out {
		scatter = scatter && ba.Mode == Scatter
	}
	if scatter {
		// A query that filters and projects the union's rows is the
		// UNION ALL of it over each branch, each split over its own
		// files (analyzeUnion's plan).
		for i, ba := range out {
			ba.renamed = i > 0
		}
		return &Analysis{Mode: Scatter, Branches: out}, nil
	}
	if out[0].plain != nil {
		// The first rows by ORDER BY and LIMIT, or the distinct rows:
		// each slice's own, then the query's over all of them.
		for _, ba := range out {
			if ba.plain == nil || ba.Mode != ScatterMerge || ba.subqueries || ba.inner != nil ||
				ba.windows || len(ba.Branches) > 0 || !sameExpr(ba.plain["modifiers"], out[0].plain["modifiers"]) ||
				!sameExpr(ba.plain["select_list"], out[0].plain["select_list"]) {
				return nil, local("a UNION ALL in a FROM subquery, under a query its branches do not share")
			}
		}
		out[0].siblings = out[1:]
		return out[0], nil
	}
	raw := out[0].raw != nil
	for _, ba := range out {
		if why := ba.notPerBranch(); why != "" {
			return nil, local("a UNION ALL in a FROM subquery, under %s", why)
		}
		if (ba.raw != nil) != raw || ba.windows != out[0].windows {
			return nil, local("a UNION ALL whose branches aggregate differently")
		}
		if raw && !sameExpr(ba.rawKeys(), out[0].rawKeys()) {
			return nil, local("a UNION ALL whose branches are shuffled by different keys")
		}
		if !raw && (!sameExpr(ba.partials, out[0].partials) || !sameExpr(ba.groups, out[0].groups)) {
			return nil, local("a UNION ALL whose branches aggregate differently")
		}
	}
	out[0].siblings = out[1:]
	return out[0], nil
}

// notPerBranch says why the query over one branch is neither an aggregate
// of partials over that branch's scan nor one over its rows shipped by
// key ("" if it is either).
func (a *Analysis) notPerBranch() string {
	switch {
	case a.Mode != ScatterMerge || a.plain != nil:
		return "a query that does not aggregate"
	case a.inner != nil || a.over || a.setop || len(a.Branches) > 0:
		return "a branch that is not a scan, a filter of one or a join"
	case a.subqueries || a.ownRows || a.inlined != nil:
		return "subqueries"
	case a.windows && a.raw == nil:
		return "window functions"
	}
	return ""
}

// unionAllOf is SELECT * FROM items[0] UNION ALL SELECT * FROM items[1] ...
func unionAllOf(items []Node) Node {
	n := selectNode([]any{star()}, items[0])
	for _, it := range items[1:] {
		n = Node{"type": "SET_OPERATION_NODE", "modifiers": []any{}, "cte_map": Node{"map": []any{}},
			"setop_type": "UNION", "setop_all": true, "left": n, "right": selectNode([]any{star()}, it)}
	}
	return n
}

// castTo is e cast to the DuckDB type DESCRIBE calls typ, or nil when its
// AST is not written here: a type without parameters, or a DECIMAL (the
// others' details, a STRUCT's fields or a list's element, are spelled out
// in DuckDB's AST).
func castTo(typ string, e Node) Node {
	if !strings.ContainsAny(typ, "(<[ ") {
		return cast(typ, e)
	}
	if !decimalType.MatchString(typ) {
		return nil
	}
	c := cast("DECIMAL", e)
	c["cast_type"] = castType(typ)
	return c
}
