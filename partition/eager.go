package partition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Aggregation below a join (eager aggregation). In an aggregate over an
// inner join whose aggregates read only the inputs the join stage reads
// as Parquet (the split scan, the input co-partitioned with it, those
// read in its key ranges: the "fact" side A), while the inputs broadcast
// to every join task (B) are large, each join task loads all of B's rows.
// TPC-H Q10 broadcasts customer (150,000 wide rows) to every task of the
// lineitem and orders join, and each spends about 65 ms on it. When A
// meets B through one column k of A only (the equality of
// c_custkey = o_custkey, and nothing else of A named outside the
// aggregates and A's own filters), the aggregates are computed first over
// A grouped by k, as partial aggregates (one row per k and join task, no
// final step), and the query then runs over B joined with those rows:
//
//	SELECT G, agg(f(A)) FROM A, B WHERE condA AND k = B.y AND condB GROUP BY G
//	  = SELECT G, final(p) FROM (SELECT k AS g0, partial(f(A)) AS p FROM A WHERE condA GROUP BY k) AS skein_pre, B
//	    WHERE skein_pre.g0 = B.y AND condB GROUP BY G
//
// exact for the decomposable aggregates (merge.go): each B row meets the
// partial rows of its key instead of the A rows they sum up, and the
// final form (SUM of sums, SUM of counts, MIN of minimums) over them gives
// what the aggregate over the A rows gave. The partial rows are a WITH
// result computed once (cte.go) and broadcast; the largest of B is then
// the split scan, read as Parquet by the tasks of its own join. The plan
// it replaces is kept as the Plan's Fallback, used when the rewrite does
// not prepare to the query's schema. Only with a GROUP BY: a COUNT over no
// joined rows at all would be its final SUM's NULL, not 0.

// eagerShare is the share of Env.BroadcastRows that the broadcast inputs
// must give together (in rows after their own filters) for the join to
// aggregate below them (50,000 at the default 4,000,000): a smaller
// broadcast costs each join task less than the stage the rewrite adds.
const eagerShare = 80

// preName names the partial rows computed below the join.
const preName = "skein_pre"

// eagerStages plans the query with its aggregates computed below the join
// (see above), or gives nil when the rule does not apply.
func (a *Analysis) eagerStages(names []string) (*Plan, error) {
	root := a.root
	if !a.Joined || a.Mode != ScatterMerge || a.plain != nil || a.raw != nil || a.inner != nil || a.setop ||
		a.over || a.subqueries || a.windows || a.distinctArg != nil || a.ownRows || a.full || a.gathered || len(a.partials) == 0 ||
		a.env.withs != nil || a.env.Columns == nil || len(a.groups) == 0 || len(list(root, "group_sets")) > 1 || root["qualify"] != nil ||
		!innerOnly(child(root, "from_table")) {
		return nil, nil
	}
	j, err := a.joinInputs()
	if err != nil || len(j.joinAt) > 0 {
		return nil, nil
	}
	inA := func(i int) bool { return i == j.s || i == j.y || j.rj.reads(i) }
	var bRows int64
	var aLeaves, bLeaves []int
	for i, l := range j.leaves {
		if inA(i) {
			aLeaves = append(aLeaves, i)
			continue
		}
		bLeaves = append(bLeaves, i)
		bRows += max(l.size, 0)
	}
	if len(bLeaves) == 0 || bRows*eagerShare < a.env.BroadcastRows {
		return nil, nil
	}
	e := newEager(j, inA, a.env.Aggregates, root)
	preConds, outerConds, ok := e.splitConds(append(conjuncts(root["where_clause"]), joinConditions(child(root, "from_table"))...))
	if !ok {
		return nil, nil
	}
	return a.eagerPlan(names, e, aLeaves, preConds, outerConds, bRows, func(pre Node, conds []any) (Node, Node) {
		bNodes := []Node{pre}
		for _, i := range bLeaves {
			bNodes = append(bNodes, clone(j.leaves[i].node))
		}
		var where Node
		if len(conds) > 0 {
			where = and(conds)
		}
		return crossJoin(bNodes), where
	})
}

// newEager starts a rewrite of the query at root whose inputs inA says
// are A's.
func newEager(j *joinShape, inA func(int) bool, aggs Aggregates, root Node) *eager {
	e := &eager{j: j, inA: inA, aggs: aggs, aliases: map[string]bool{}}
	for _, item := range list(root, "select_list") {
		if al := str(item.(map[string]any), "alias"); al != "" {
			e.aliases[strings.ToLower(al)] = true
		}
	}
	return e
}

// splitConds parts conjuncts into A's own filters (reading A's inputs
// only) and the others; false if a column resolves to no single input.
func (e *eager) splitConds(cs []any) (pre, outer []any, ok bool) {
	for _, c := range cs {
		leaves, ok := e.refs(c)
		if !ok {
			return nil, nil, false
		}
		if len(leaves) > 0 && !slices.ContainsFunc(leaves, func(i int) bool { return !e.inA(i) }) {
			pre = append(pre, c)
		} else {
			outer = append(outer, c)
		}
	}
	return pre, outer, true
}

// eagerPlan is the plan of the query with its aggregates computed below
// the join over A's inputs aLeaves, given A's own filters (preConds) and
// the conditions joining A to B (outerConds), which must equal A's key
// column to a column of B; from makes the outer query's FROM (and WHERE)
// of the partial rows' WITH reference and those conditions rewritten.
// nil when the rewrite does not apply.
func (a *Analysis) eagerPlan(names []string, e *eager, aLeaves []int, preConds, outerConds []any, bRows int64,
	from func(pre Node, conds []any) (Node, Node)) (*Plan, error) {
	root, j := a.root, e.j
	// Rewrite the outer query: A's key column read from the partial rows,
	// each aggregate its final form over them.
	outer := clone(root)
	for i, item := range list(outer, "select_list") {
		n, _ := item.(map[string]any)
		out, err := e.rewrite(n, false)
		if err != nil {
			return nil, nil
		}
		if cols := list(n, "column_names"); str(n, "class") == "COLUMN_REF" && str(n, "alias") == "" && str(out, "alias") == "" && len(cols) > 0 {
			out["alias"] = cols[len(cols)-1]
		}
		list(outer, "select_list")[i] = out
	}
	for i, g := range list(outer, "group_expressions") {
		n, _ := g.(map[string]any)
		out, err := e.rewrite(n, false)
		if err != nil {
			return nil, nil
		}
		list(outer, "group_expressions")[i] = out
	}
	var err error
	if h := child(outer, "having"); h != nil {
		if outer["having"], err = e.rewrite(h, true); err != nil {
			return nil, nil
		}
	}
	for _, m := range list(outer, "modifiers") {
		mn, _ := m.(map[string]any)
		for _, o := range list(mn, "orders") {
			on, _ := o.(map[string]any)
			if on["expression"], err = e.rewrite(child(on, "expression"), true); err != nil {
				return nil, nil
			}
		}
	}
	var conds []any
	for _, c := range outerConds {
		n, _ := c.(map[string]any)
		if n == nil {
			return nil, nil // a USING equality
		}
		out, err := e.rewrite(clone(n), false)
		if err != nil {
			return nil, nil
		}
		conds = append(conds, out)
	}
	if e.key == nil || len(e.partials) == 0 || !e.keyed(outerConds) {
		return nil, nil
	}
	// Each task of the join below gives at most one partial row per
	// value of the key, so at most its range's width of them: no more
	// than B's rows, which the rewrite stops broadcasting (TPC-H Q10's
	// o_custkey, 1..149999, against customer's 150,000 rows; Q12's
	// o_orderkey, unique in orders, is 6,000,000 wide against lineitem's
	// few filtered rows, and stays as it was).
	w, ok := a.keyWidth(j.leaves[e.key.leaf], e.key.column)
	if !ok || w > bRows || (e.left && !a.leftSized(w, j.leaves[e.key.leaf].rows)) {
		return nil, nil
	}
	// The partial rows: A's rows, with A's own filters, grouped by the key.
	ka := j.leaves[e.key.leaf].alias
	preSel := []any{withAlias(qualified(ka, e.key.column), "g0")}
	for i, p := range e.partials {
		preSel = append(preSel, withAlias(clone(p), fmt.Sprintf("p%d", i)))
	}
	var aNodes []Node
	for _, i := range aLeaves {
		aNodes = append(aNodes, clone(j.leaves[i].node))
	}
	pre := selectNode(preSel, crossJoin(aNodes))
	if len(preConds) > 0 {
		pre["where_clause"] = and(preConds)
	}
	pre["group_expressions"] = []any{qualified(ka, e.key.column)}
	pre["group_sets"] = []any{[]any{json.Number("0")}}

	prePlan, err := a.prePlan(pre, e)
	if err != nil || prePlan == nil {
		return nil, nil
	}
	ws := &withs{columns: a.env.Columns, views: map[string]*withDef{}}
	env := a.env
	env.withs, env.Columns = ws, ws.seeThrough
	if e.left && bRows <= int64(max(env.Partitions, 1))*w {
		// Every task of the join above loads all the partial rows (up to
		// the key's width from each task below), more than B's own rows:
		// one task joins them, rather than each of several loading them.
		env.Partitions = 1
	}
	ws.env = env
	d := ws.add("pre-aggregate", preName, pre, nil)
	d.planned = prePlan
	f, where := from(d.ref(), conds)
	outer["from_table"], outer["where_clause"] = f, nil
	if where != nil {
		outer["where_clause"] = where
	}
	oa, err := analyzeSelect(outer, env)
	if err != nil || !oa.Joined || oa.Mode != ScatterMerge {
		return nil, nil
	}
	p, err := oa.stages(names, false)
	if err != nil || p == nil {
		return nil, nil
	}
	if err := ws.wire(p); err != nil || len(p.withs) == 0 {
		return nil, nil
	}
	return p, nil
}

// prePlan is the stages computing the partial rows below the join: the
// join of A's inputs as the query planned it, each task's partial
// aggregate its output, with no final step (the outer query's final
// forms aggregate them again).
func (a *Analysis) prePlan(pre Node, e *eager) (*Plan, error) {
	pa, err := analyzeSelect(clone(pre), a.env)
	if err != nil || pa.Mode != ScatterMerge || pa.raw != nil || pa.distinctArg != nil || pa.subqueries ||
		len(pa.groups) != 1 || len(pa.partials) != len(e.partials) {
		return nil, err
	}
	for i, p := range pa.partials {
		if !sameExpr(p, e.partials[i]) {
			return nil, nil // the partial columns would not be p0, p1, ... as the outer query reads them
		}
	}
	p := &Plan{}
	var top *Stage
	if pa.Joined {
		if top, err = pa.joinStages(p); err != nil {
			return nil, err
		}
	} else {
		pa.PerSlot = true
		top = p.add(&Stage{Scan: pa, What: "scan", node: func(scan Node, _ func(int, string) Node) (Node, error) {
			return pa.taskNode(pa.fromWith(scan)), nil
		}})
	}
	below := "the join"
	if e.left {
		below = "the outer join"
	}
	top.What += fmt.Sprintf(", partial aggregate by %s (below %s)", e.key.column, below)
	return p, nil
}

// eager is the state of one rewrite: which inputs are A's, the one
// column of A the outer query reads, and the partial aggregates over A.
type eager struct {
	j        *joinShape
	inA      func(int) bool
	aggs     Aggregates
	aliases  map[string]bool // the select list's aliases, lower case
	key      *keyCol
	partials []Node
	// left: A is an outer join's null-supplying side (eagerleft.go).
	left bool
}

// refs lists the inputs the column references of c name; false if one
// resolves to none or to several.
func (e *eager) refs(c any) ([]int, bool) {
	var out []int
	ok := true
	anyNode(c, func(n Node) bool {
		if str(n, "class") != "COLUMN_REF" {
			return false
		}
		i, _, found := e.j.res.column(n)
		if !found {
			ok = false
			return true
		}
		if !slices.Contains(out, i) {
			out = append(out, i)
		}
		return false
	})
	return out, ok
}

// rewrite makes expression n read the partial rows: the key column of A
// as skein_pre.g0, each aggregate as its final form over skein_pre's
// partial columns. Any other column of A, an aggregate over B's columns
// or one that does not decompose fails. byAlias: a name of a select
// alias is the output column (ORDER BY, HAVING).
func (e *eager) rewrite(n Node, byAlias bool) (Node, error) {
	switch str(n, "class") {
	case "FUNCTION":
		name := str(n, "function_name")
		if !e.aggs[name] {
			break
		}
		final, ok := decomposable[name]
		if !ok || n["distinct"] == true || n["filter"] != nil || len(list(child(n, "order_bys"), "orders")) > 0 ||
			containsAggregate(list(n, "children"), e.aggs) {
			return nil, local("aggregate %s does not go below the join", name)
		}
		if k, ok := arity[name]; ok && len(list(n, "children")) != k {
			return nil, local("%s with %d arguments", name, len(list(n, "children")))
		}
		leaves, ok := e.refs(list(n, "children"))
		if !ok || slices.ContainsFunc(leaves, func(i int) bool { return !e.inA(i) }) {
			return nil, local("aggregate %s reads a broadcast input", name)
		}
		if e.left {
			return e.leftFinal(n, name, final)
		}
		return withAlias(final(n, e.partial), str(n, "alias")), nil
	case "COLUMN_REF":
		names := list(n, "column_names")
		i, col, found := e.j.res.column(n)
		if byAlias && len(names) == 1 && e.aliases[strings.ToLower(fmt.Sprint(names[0]))] {
			if found {
				return nil, local("a name that is both an alias and a column")
			}
			return n, nil
		}
		switch {
		case !found:
			return nil, local("column %v of no single input", names)
		case !e.inA(i):
			return n, nil
		case e.key != nil && (e.key.leaf != i || !strings.EqualFold(e.key.column, col.Name)):
			return nil, local("two columns of the aggregated side read above the join")
		}
		e.key = &keyCol{leaf: i, column: col.Name}
		return withAlias(qualified(preName, "g0"), str(n, "alias")), nil
	case "SUBQUERY", "WINDOW":
		return nil, local("a subquery or window")
	}
	return mapChildren(n, func(c Node) (Node, error) { return e.rewrite(c, byAlias) })
}

// partial registers a partial aggregate over A (reusing an equal one) and
// gives its column of the partial rows.
func (e *eager) partial(agg Node) Node {
	c := clone(agg)
	c["alias"] = ""
	for i, p := range e.partials {
		if sameExpr(p, c) {
			return qualified(preName, fmt.Sprintf("p%d", i))
		}
	}
	e.partials = append(e.partials, c)
	return qualified(preName, fmt.Sprintf("p%d", len(e.partials)-1))
}

// keyed says an equality of the outer conjuncts joins A's key column to
// a column of B, so that each B row meets the partial rows of one key.
func (e *eager) keyed(outerConds []any) bool {
	for _, c := range outerConds {
		l, r, ok := columnEquality(c)
		if !ok {
			continue
		}
		li, lc, okL := e.j.res.column(l)
		ri, rc, okR := e.j.res.column(r)
		if !okL || !okR {
			continue
		}
		isKey := func(i int, c Column) bool { return i == e.key.leaf && strings.EqualFold(c.Name, e.key.column) }
		if (isKey(li, lc) && !e.inA(ri)) || (isKey(ri, rc) && !e.inA(li)) {
			return true
		}
	}
	return false
}

// innerOnly says a FROM tree joins its items by inner and cross joins
// with ON conditions only (no USING, NATURAL or outer join).
func innerOnly(n Node) bool {
	if str(n, "type") != "JOIN" {
		return true
	}
	if str(n, "join_type") != "INNER" || (str(n, "ref_type") != "REGULAR" && str(n, "ref_type") != "CROSS") ||
		len(list(n, "using_columns")) > 0 {
		return false
	}
	return innerOnly(child(n, "left")) && innerOnly(child(n, "right"))
}

// crossJoin is the FROM items joined by cross joins, left to right.
func crossJoin(items []Node) Node {
	out := items[0]
	for _, it := range items[1:] {
		out = Node{"type": "JOIN", "alias": "", "sample": nil, "query_location": json.Number(noLocation), "left": out, "right": it,
			"condition": nil, "join_type": "INNER", "ref_type": "CROSS", "using_columns": []any{},
			"delim_flipped": false, "duplicate_eliminated_columns": []any{}}
	}
	return out
}

// keyWidth is how many values an integer column of join input l can
// hold, from its Parquet statistics: the width of its range.
func (a *Analysis) keyWidth(l leaf, column string) (int64, bool) {
	c, ok := l.column(column)
	at, scan := a.scanUnder(l.node, nil)
	if !ok || !scan || !integerType(c.Type) || a.env.KeyStats == nil {
		return 0, false
	}
	paths, err := scanPaths(nodeAt(l.node, at), false)
	if err != nil {
		return 0, false
	}
	files, err := a.env.KeyStats(paths, column)
	if err != nil {
		return 0, false
	}
	var b *Bounds
	for _, f := range files {
		if len(f.Keys) != len(f.RowGroups) {
			return 0, false
		}
		for _, k := range f.Keys {
			if k.Nulls || k.Lo > k.Hi {
				continue
			}
			if b == nil {
				b = &Bounds{Lo: k.Lo, Hi: k.Hi}
			}
			b.Lo, b.Hi = min(b.Lo, k.Lo), max(b.Hi, k.Hi)
		}
	}
	if b == nil {
		return 0, true // no value but NULL: no partial row meets B
	}
	if b.Hi-b.Lo < 0 { // overflow
		return 0, false
	}
	return b.Hi - b.Lo + 1, true
}
