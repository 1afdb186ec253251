package partition

// An aggregate with FILTER (WHERE c) (count(*) FILTER (WHERE flag), what
// an analyst writes for a pivot's columns) sees only the rows c accepts:
// its partial aggregate over a slice keeps the FILTER, so it aggregates
// the slice's accepted rows, and the final step combines those partials
// as it would the aggregate's without one. A group whose slices accept
// no row gets the aggregate of no rows either way: count's partials are
// 0 and sum to 0, the others' are NULL and stay NULL. AVG's SUM and COUNT
// each keep the FILTER. The condition must be of the row alone: no
// aggregate, window or subquery (a subquery's value the final step would
// not see as the slice does).

// filterSplits says the FILTER of aggregate call e, if any, can stay on
// its partial aggregates.
func filterSplits(e Node, aggs Aggregates) bool {
	f := child(e, "filter")
	if f == nil {
		return true
	}
	return !containsAggregate(f, aggs) && !anyNode(f, func(n Node) bool {
		c := str(n, "class")
		return c == "SUBQUERY" || c == "WINDOW"
	})
}

// filtered is partial aggregate p with call's FILTER.
func filtered(p, call Node) Node {
	if f := child(call, "filter"); f != nil {
		p["filter"] = clone(f)
	}
	return p
}
