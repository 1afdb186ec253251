package partition

// FinalHere is the coordinator's merge with the last stage's query inside
// it: the last stage's query reading all of its one shuffled input from
// table, and the merge over that. The coordinator runs it instead of the
// last stage's tasks when the producers of that input gave few rows (an
// aggregate over few groups, TPC-H Q1, Q4, Q12): the final aggregate then
// costs no stage of its own (a scheduling round trip, a fetch of every
// partition by every task, a task's fixed cost on each executor, about 10
// ms of a query's wall time on two executors), only the coordinator's
// DuckDB over rows it would have fetched anyway. Since the last stage's
// query over any set of whole partitions gives their groups' final rows,
// over all of them it gives every group's, as its tasks together do.
//
// producer is the stage whose partitions the coordinator would read; ok
// is false for a plan without a merge, or whose last stage scans, reads
// more than one input or one not shuffled to it alone, or reads
// subqueries or WITH results.
func (p *Plan) FinalHere(table string, names []string) (ast []byte, producer int, ok bool, err error) {
	if p.Merge == nil || len(p.Stages) < 2 {
		return nil, 0, false, nil
	}
	last := p.Last()
	if last.Scan != nil || last.bySlice != nil || len(last.Inputs) != 1 || len(last.subqueries) > 0 || len(last.withs) > 0 {
		return nil, 0, false, nil
	}
	prod := p.Stages[last.Inputs[0].Stage]
	if prod.Output != Shuffle || prod.Consumer != last.ID || len(prod.Also) > 0 {
		return nil, 0, false, nil
	}
	n, err := last.node(nil, func(_ int, alias string) Node { return withAlias(baseTable(table), alias) })
	if err != nil {
		return nil, 0, false, err
	}
	ast, err = p.Merge.mergeOver(subquery(n, partialsTable), names)
	return ast, prod.ID, err == nil, err
}
