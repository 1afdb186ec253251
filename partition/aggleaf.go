package partition

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

// aggregateLeaf is the last of the stages computing join input l when it
// is an aggregating subquery that splits, added to p, and nil or what
// the join reads in its place to finish its aggregate (over the stage's
// rows, input); nil when it does not split.
func (a *Analysis) aggregateLeaf(p *Plan, l *leaf, keep map[string]bool) (*Stage, func(input func(int, string) Node) (Node, error)) {
	if !a.env.Exchanges || str(l.node, "type") != "SUBQUERY" || len(list(l.node, "column_name_alias")) > 0 || l.node["sample"] != nil {
		return nil, nil
	}
	inner := child(child(l.node, "subquery"), "node")
	if str(inner, "type") != "SELECT_NODE" || (&Analysis{env: a.env}).rowwise(inner, a.env.Aggregates) == nil {
		return nil, nil
	}
	names := make([]string, len(l.cols))
	for i, c := range l.cols {
		names[i] = c.Name
	}
	sp := a.subqueryPlan(inner, names, false)
	last := sp.Last()
	if len(sp.Stages) == 1 && last.Scan == nil {
		return nil, nil // one task over its files whole: leafStage's
	}
	root := leafQuery(l, keep)
	over := func(n Node) Node {
		q := clone(root)
		q["from_table"] = subquery(n, l.alias)
		return q
	}
	// Its partial rows are broadcast, unless the join co-partitions its
	// inputs whole (a.full): then they would be shuffled by the join's
	// keys, which they do not hold.
	if !a.full && a.fewGroups(inner, sp) {
		partial, final := sp.Stages[0], last.node
		sp.Stages = sp.Stages[:1]
		partial.Consumer, partial.Keys = -1, nil
		// Every join task loads every partial task's rows, about its
		// slice's groups however few rows it reads: one task of whole
		// files an executor thread, as for a join (Q20's lineitem: 2
		// tasks on 2 executors of 1 thread, not 4).
		partial.Scan.PerSlot = true
		p.insert(len(p.Stages), sp)
		partial.What = "input " + l.alias + ", " + partial.What + " (finished by the join)"
		return partial, func(input func(int, string) Node) (Node, error) {
			n, err := final(nil, input)
			if err != nil {
				return nil, err
			}
			return subquery(over(n), l.alias), nil
		}
	}
	last.wrap(nil, func(n Node) (Node, error) { return over(n), nil })
	p.insert(len(p.Stages), sp)
	last.What = "input " + l.alias + ", " + last.What
	return last, nil
}

// fewGroups says sp is a scan's partial aggregate shuffled to one final
// step, of query, which DuckDB expects to give at most Env.BroadcastRows
// groups.
func (a *Analysis) fewGroups(query Node, sp *Plan) bool {
	if len(sp.Stages) != 2 || a.env.Estimate == nil {
		return false
	}
	scan, final := sp.Stages[0], sp.Stages[1]
	if scan.Scan == nil || len(scan.Inputs) > 0 || scan.Output != Shuffle || final.bySlice != nil || len(final.Inputs) != 1 ||
		len(final.subqueries) > 0 || final.node == nil {
		return false
	}
	est, err := a.env.Estimate(clone(query))
	return err == nil && est <= a.env.BroadcastRows
}
