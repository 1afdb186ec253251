package partition

import (
	"encoding/json"
	"slices"
)

// Aggregation below an outer join (eager aggregation, eager.go's rule on
// the null-supplying side). TPC-H Q13 counts each customer's orders:
//
//	SELECT c_custkey, count(o_orderkey) FROM customer LEFT JOIN orders
//	  ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%' GROUP BY c_custkey
//
// Its aggregate reads only orders, the null-supplying side A, which meets
// the preserved side B through one column of A (o_custkey). So orders can
// be counted first, grouped by that column, in slices (partial counts,
// one row per key and task, as eager.go computes them), and B joined to
// those rows instead of to A's:
//
//	SELECT G, final(p) FROM B LEFT JOIN
//	  (SELECT k AS g0, partial(a) AS p FROM A WHERE condA GROUP BY k) AS skein_pre
//	  ON B.y = skein_pre.g0 AND condB WHERE condWhereB GROUP BY G
//
// A B row that meets no row of A meets no partial row either, and its
// one NULL-extended row gives each final form NULL, as the aggregate over
// the NULLs of A gave, but for COUNT, which gave 0: COUNT's final is
// coalesce(sum(p), 0). A B row that meets some gets the sums of their
// partials. This is exact only for aggregates that ignore the NULL
// extension: COUNT, SUM, MIN and MAX of a column of A (NULL on B's
// unmatched rows; an expression such as coalesce(a, 1) is not, nor is
// COUNT(*), which counts the NULL-extended row); anything else, or an
// aggregate of B's columns (a B row meets several partial rows, one per
// task), keeps the plan as it was. The ON's conjuncts on A alone filter
// A below the join (condA), the others stay in the ON; a WHERE conjunct
// on A (applied after the join, to the NULL-extended rows too) refuses
// the rewrite. In-process DuckDB at SF1 on one thread (process CPU,
// medians of 7 interleaved runs): Q13 as written 460 ms, rewritten
// 350 ms, and the rewrite's count over each half of orders 158 to 161 ms
// with the join over both halves' partial rows 47 ms: split, 0.80 of the
// whole query's CPU, where every earlier 2-task plan of Q13 cost 1.4x.

// leftAggregates are the aggregates of the null-supplying side that
// ignore its NULL extension (with coalesce for COUNT).
var leftAggregates = map[string]bool{"count": true, "sum": true, "min": true, "max": true}

// eagerLeftRowsPerKey is how many rows A's files must hold per value of
// the key's range: fewer, and the partial rows are about as many as A's,
// so that aggregating them first saves nothing (TPC-H Q13's orders: 10
// a customer key).
const eagerLeftRowsPerKey = 4

// eagerLeftStages plans an aggregate over one outer join with its
// aggregates computed below the join, on the null-supplying side (see
// above), or gives nil when the rule does not apply.
func (a *Analysis) eagerLeftStages(names []string) (*Plan, error) {
	root := a.root
	from := child(root, "from_table")
	if !a.Joined || a.Mode != ScatterMerge || a.plain != nil || a.raw != nil || a.inner != nil || a.setop ||
		a.over || a.subqueries || a.windows || a.distinctArg != nil || a.ownRows || a.full || a.gathered || len(a.partials) == 0 ||
		a.env.withs != nil || a.env.Columns == nil || len(a.groups) == 0 || len(list(root, "group_sets")) > 1 || root["qualify"] != nil ||
		str(from, "type") != "JOIN" || str(from, "ref_type") != "REGULAR" || len(list(from, "using_columns")) > 0 {
		return nil, nil
	}
	nulls, kept := "right", "left"
	switch str(from, "join_type") {
	case "LEFT":
	case "RIGHT":
		nulls, kept = kept, nulls
	default:
		return nil, nil
	}
	if str(child(from, nulls), "type") == "JOIN" || !innerOnly(child(from, kept)) {
		return nil, nil
	}
	j, err := a.joinInputs()
	if err != nil || len(j.joinAt) > 0 {
		return nil, nil
	}
	ai := slices.IndexFunc(j.leaves, func(l leaf) bool { return len(l.path) == 2 && l.path[1] == nulls })
	if ai < 0 {
		return nil, nil
	}
	inA := func(i int) bool { return i == ai }
	var bRows int64
	for i, l := range j.leaves {
		if i != ai {
			bRows += max(l.size, 0)
		}
	}
	e := newEager(j, inA, a.env.Aggregates, root)
	e.left = true
	// The ON's conjuncts on A alone filter A; the others join A's key to
	// B or filter B, and stay in the ON. The WHERE may read B only.
	preConds, onConds, ok := e.splitConds(conjuncts(from["condition"]))
	if !ok {
		return nil, nil
	}
	var where []any
	for _, c := range conjuncts(root["where_clause"]) {
		leaves, ok := e.refs(c)
		if !ok || slices.ContainsFunc(leaves, inA) {
			return nil, nil
		}
		where = append(where, c)
	}
	preserved := clone(child(from, kept))
	p, err := a.eagerPlan(names, e, []int{ai}, preConds, onConds, bRows, func(pre Node, conds []any) (Node, Node) {
		join := Node{"type": "JOIN", "alias": "", "sample": nil, "query_location": json.Number(noLocation),
			"left": preserved, "right": pre, "condition": and(conds), "join_type": "LEFT", "ref_type": "REGULAR",
			"using_columns": []any{}, "delim_flipped": false, "duplicate_eliminated_columns": []any{}}
		if len(where) == 0 {
			return join, nil
		}
		return join, and(cloneList(where))
	})
	if p != nil {
		p.AnyRows = true
	}
	return p, err
}

// MaySplitSmall says the query (or the aggregating FROM subquery it reads)
// aggregates over one outer join, which Stages may plan with the
// aggregates below the join, a plan that pays however few rows the query
// reads (Plan.AnyRows): the coordinator plans its stages even when its
// inputs are under --split-min-rows.
func (a *Analysis) MaySplitSmall() bool {
	if a.inner != nil {
		return a.inner.MaySplitSmall()
	}
	from := child(a.root, "from_table")
	jt := str(from, "join_type")
	return a.Joined && a.Mode == ScatterMerge && len(a.partials) > 0 && str(from, "type") == "JOIN" && (jt == "LEFT" || jt == "RIGHT")
}

// leftSized says the partial rows by a key w values wide pay below an
// outer join whose null-supplying side's files hold aRows: A's files hold at least
// eagerLeftRowsPerKey rows a value (fewer, and aggregating them first
// saves little), and the partial rows of one task a slot, which every
// task of the join above loads, are no more than --broadcast-rows (at
// TPC-H SF10, Q13's 1,500,000 customer keys from each of 4 slots are
// more, and orders stays co-partitioned with customer, whose join runs
// in parallel).
func (a *Analysis) leftSized(w, aRows int64) bool {
	return w*eagerLeftRowsPerKey <= aRows && int64(max(a.env.Partitions, 1))*w <= a.env.BroadcastRows
}

// leftFinal is the final form of aggregate n (name) of the null-supplying
// side over the partial rows, or an error if it does not ignore the NULL
// extension.
func (e *eager) leftFinal(n Node, name string, final func(Node, func(Node) Node) Node) (Node, error) {
	cs := list(n, "children")
	if !leftAggregates[name] || len(cs) != 1 {
		return nil, local("aggregate %s of an outer join's null-supplying side", name)
	}
	if c, _ := cs[0].(map[string]any); str(c, "class") != "COLUMN_REF" {
		return nil, local("aggregate %s of an expression of an outer join's null-supplying side", name)
	}
	out := final(n, e.partial)
	if name == "count" {
		out = orZero(out)
	}
	return withAlias(out, str(n, "alias")), nil
}
