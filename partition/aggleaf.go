package partition

import "strings"

// A join input that is a FROM subquery aggregating files (a derived
// table, or a correlated subquery decorrelate.go made one) is planned as
// a subquery computed once is (subqueryPlan): partial aggregates over
// slices of its scan and the final step after a shuffle by its group
// keys, on the executors, rather than one task reading its files whole.
// Its last stage then applies what the join input's own stage would: the
// columns the query names and the filters on it alone. Planned otherwise
// (one task: an AVG, an aggregate that does not split), it stays the one
// task leafStage makes.
//
// When DuckDB expects no more groups than a broadcast join input may give
// (Env.BroadcastRows), the partial rows are broadcast to the join
// instead, which finishes the aggregate itself over them: a stage and an
// exchange fewer between the scan and the join (TPC-H Q20's sums by part
// and supplier: 5,800, DuckDB expects 240,000), for a final step each
// join task repeats over rows about as many as a broadcast input's.
//
// A join co-partitioning its inputs whole (a.coShuffled) by columns that
// are group keys of this input's aggregate has the partial rows shuffled
// to it by those keys instead (the keys returned): each join task holds
// every partial row of its groups and finishes the aggregate itself,
// without the final step's stage and its second exchange of as many rows
// (TPC-DS Q78's three sums by year, item and customer, joined by them).

// aggregateLeaf is the last of the stages computing join input l when it
// is an aggregating subquery that splits, added to p, and nil or what
// the join reads in its place to finish its aggregate (over the stage's
// rows, input); nil when it does not split. by are the keys the join
// co-partitions l by, if it does; when the join finishes the aggregate,
// the keys the partial rows are shuffled by instead are returned.
func (a *Analysis) aggregateLeaf(p *Plan, l *leaf, keep map[string]bool, by []Key) (*Stage, func(input func(int, string) Node) (Node, error), []Key) {
	if !a.env.Exchanges || str(l.node, "type") != "SUBQUERY" || len(list(l.node, "column_name_alias")) > 0 || l.node["sample"] != nil {
		return nil, nil, nil
	}
	inner := child(child(l.node, "subquery"), "node")
	if str(inner, "type") != "SELECT_NODE" || (&Analysis{env: a.env}).rowwise(inner, a.env.Aggregates) == nil {
		return nil, nil, nil
	}
	names := make([]string, len(l.cols))
	for i, c := range l.cols {
		names[i] = c.Name
	}
	inner = groupFilters(inner, l, a.env.Aggregates)
	sp := a.subqueryPlan(inner, names, false)
	last := sp.Last()
	if len(sp.Stages) == 1 && last.Scan == nil {
		return nil, nil, nil // one task over its files whole: leafStage's
	}
	root := leafQuery(l, keep)
	over := func(n Node) Node {
		q := clone(root)
		q["from_table"] = subquery(n, l.alias)
		return q
	}
	// Its partial rows are broadcast, unless the join co-partitions its
	// inputs whole (a.full, a.coShuffled): then they are shuffled to it
	// by the join's keys when those are group keys (partialKeys), else
	// the final step's rows are.
	fewGroups := !a.full && !a.coShuffled && a.fewGroups(inner, sp)
	partialBy := partialKeys(sp, by)
	if fewGroups || partialBy != nil {
		partial, final := sp.Stages[len(sp.Stages)-2], last.node
		sp.Stages = sp.Stages[:len(sp.Stages)-1]
		partial.Consumer, partial.Keys = -1, nil
		if fewGroups {
			// Every join task loads every partial task's rows, about its
			// slice's groups however few rows it reads: one task of whole
			// files an executor thread, as for a join (Q20's lineitem: 2
			// tasks on 2 executors of 1 thread, not 4).
			partial.Scan.PerSlot = true
		}
		p.insert(len(p.Stages), sp)
		partial.What = "input " + l.alias + ", " + partial.What + " (finished by the join)"
		return partial, func(input func(int, string) Node) (Node, error) {
			n, err := final(nil, input)
			if err != nil {
				return nil, err
			}
			return subquery(over(n), l.alias), nil
		}, partialBy
	}
	last.wrap(nil, func(n Node) (Node, error) { return over(n), nil })
	p.insert(len(p.Stages), sp)
	last.What = "input " + l.alias + ", " + last.What
	return last, nil, nil
}

// partialKeys are the keys of sp's partial rows that by, keys of the
// columns sp's final step gives, are, when sp ends with partial
// aggregates shuffled to a final step (finalStep) and each of by is a
// group key passed through by it (a column gN of the partial rows, the
// same value and type): the partial rows shuffled by those, hashed as by
// hashes, meet the other inputs' rows of the same keys. Else nil.
func partialKeys(sp *Plan, by []Key) []Key {
	if len(by) == 0 || !finalStep(sp) { // by: the join's co-partition keys (a.coShuffled)
		return nil
	}
	final, err := sp.Last().node(nil, func(int, string) Node { return baseTable("skein_partials") })
	if err != nil {
		return nil
	}
	var out []Key
	for _, k := range by {
		var g string
		for _, item := range list(final, "select_list") {
			it, _ := item.(map[string]any)
			names := list(it, "column_names")
			if str(it, "class") != "COLUMN_REF" || len(names) != 1 || !strings.EqualFold(str(it, "alias"), k.Column) {
				continue
			}
			if name, _ := names[0].(string); len(name) > 1 && name[0] == 'g' && strings.Trim(name[1:], "0123456789") == "" {
				g = name
			}
		}
		if g == "" {
			return nil
		}
		out = append(out, Key{Column: g, Cast: k.Cast})
	}
	return out
}

// finalStep says sp's last stage is an aggregate's final step reading
// only the partial rows the stage before it shuffles to it.
func finalStep(sp *Plan) bool {
	n := len(sp.Stages)
	if n < 2 {
		return false
	}
	partial, final := sp.Stages[n-2], sp.Stages[n-1]
	return partial.Output == Shuffle && partial.Consumer == n-1 && len(partial.Also) == 0 && final.bySlice == nil &&
		len(final.Inputs) == 1 && final.Inputs[0].Stage == n-2 && len(final.subqueries) == 0 && final.node != nil
}

// twoStep says sp is a scan's partial aggregate shuffled to one final
// step.
func twoStep(sp *Plan) bool {
	return len(sp.Stages) == 2 && finalStep(sp) && sp.Stages[0].Scan != nil && len(sp.Stages[0].Inputs) == 0
}

// fewGroups says sp is a scan's partial aggregate shuffled to one final
// step, of query, which DuckDB expects to give at most Env.BroadcastRows
// groups.
func (a *Analysis) fewGroups(query Node, sp *Plan) bool {
	if !twoStep(sp) || a.env.Estimate == nil {
		return false
	}
	est, err := a.env.Estimate(clone(query))
	return err == nil && est <= a.env.BroadcastRows
}

// groupFilters is inner, the SELECT of join input l, with the conjuncts on
// l alone that read only its group keys also in its WHERE, written over the
// keys' expressions: they keep or drop whole groups, so they may as well
// drop the rows before the aggregate, as DuckDB does when it plans the
// query whole (TPC-DS Q78's store sums by year, item and customer filtered
// on the year: 2.46 million partial sums shuffled to the final step for
// 493,526 kept). The conjuncts still apply over the input's rows too. Not
// under grouping sets (a key is NULL in the rows of a set without it),
// windows, QUALIFY, DISTINCT ON, ORDER BY or LIMIT, whose rows a filter
// before them would change; inner is returned as it is then.
func groupFilters(inner Node, l *leaf, aggs Aggregates) Node {
	if len(l.pushed) == 0 || len(list(inner, "group_sets")) > 1 || len(list(inner, "modifiers")) > 0 ||
		inner["qualify"] != nil || str(inner, "aggregate_handling") != "STANDARD_HANDLING" ||
		anyNode(inner["select_list"], func(n Node) bool { return str(n, "class") == "WINDOW" || str(n, "class") == "STAR" }) {
		return inner
	}
	items := list(inner, "select_list")
	if len(items) != len(l.cols) {
		return inner
	}
	// key is the expression of output column name when it is a group key.
	key := func(ref Node) (Node, bool) {
		k := refKey(ref)
		if len(k) == 2 && k[0] != strings.ToLower(l.alias) || len(k) == 0 || len(k) > 2 {
			return nil, false
		}
		for i, c := range l.cols {
			if !strings.EqualFold(c.Name, k[len(k)-1]) {
				continue
			}
			item, _ := items[i].(map[string]any)
			if item == nil || containsAggregate(item, aggs) || hasSubquery(item) {
				return nil, false
			}
			for _, g := range list(inner, "group_expressions") {
				if sameExpr(item, g) {
					e := clone(item)
					e["alias"] = ""
					return e, true
				}
			}
			return nil, false
		}
		return nil, false
	}
	var add []any
	for _, c := range l.pushed {
		cn, _ := c.(map[string]any)
		if cn == nil || hasSubquery(cn) || anyNode(cn, func(n Node) bool { return str(n, "class") == "WINDOW" }) {
			continue
		}
		ok := true
		out := replace(clone(cn), func(n Node) (any, bool) {
			if str(n, "class") != "COLUMN_REF" {
				return nil, false
			}
			e, found := key(n)
			ok = ok && found
			return e, true
		})
		if o, _ := out.(map[string]any); ok && !containsExpr(conjuncts(inner["where_clause"]), o) && !containsExpr(add, o) {
			add = append(add, out)
		}
	}
	if len(add) == 0 {
		return inner
	}
	out := clone(inner)
	if w, _ := out["where_clause"].(map[string]any); w != nil {
		add = append([]any{w}, add...)
	}
	out["where_clause"] = and(add)
	return out
}
