package partition

// An aggregate over an aggregating FROM subquery,
//
//	SELECT n, count(*) FROM (SELECT k, count(*) AS n FROM t GROUP BY k) GROUP BY n
//
// aggregates the subquery's groups, which its plan's last stage gives
// finished (each group in one task). Those tasks compute the outer
// query's partial aggregates over their groups, and the partials, a row
// per outer group and task, are shuffled by the outer keys to its final
// step, as a scan's would be: the subquery's groups (1.5M for TPC-H's
// orders by key) are no longer shuffled themselves. The outer query must
// decompose (planMerge); else its rows are shuffled as before
// (overSubquery).

// overAggregate plans the outer query's partial aggregate into p's last
// stage and its final step after it; false when the outer query does not
// decompose.
func (a *Analysis) overAggregate(p *Plan, alias string, names []string) bool {
	root := a.root
	if a.windows || root["qualify"] != nil || root["sample"] != nil || str(root, "aggregate_handling") != "STANDARD_HANDLING" ||
		(!containsAggregate(root["select_list"], a.env.Aggregates) && len(list(root, "group_expressions")) == 0) {
		return false
	}
	for _, m := range list(root, "modifiers") {
		if t := str(m.(map[string]any), "type"); t != "ORDER_MODIFIER" && t != "LIMIT_MODIFIER" {
			return false // DISTINCT: planMerge keeps ORDER BY and LIMIT alone
		}
	}
	m := &Analysis{root: root, env: a.env}
	if m.planMerge(a.env.Aggregates) != nil {
		return false
	}
	last := p.Last()
	last.wrap(nil, func(n Node) (Node, error) { return m.partialNode(subquery(n, alias)), nil })
	last.What += ", partial aggregate of the query over it"
	keys := m.finalKeys()
	tasks := max(a.env.Partitions, 1)
	if len(keys) == 0 || len(list(root, "modifiers")) > 0 || len(m.groups) == 0 {
		tasks = 1 // a total, or an ordered or limited answer
	}
	final := p.add(&Stage{Tasks: tasks, What: "final aggregate of the query over subquery " + alias})
	p.feed(last, final, Shuffle, keys)
	final.node = func(_ Node, input func(int, string) Node) (Node, error) {
		return m.finalNode(input(0, partialsTable), names, false)
	}
	return true
}
