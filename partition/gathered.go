package partition

import (
	"slices"
	"strings"
)

// A join none of whose inputs splits row by row, and which is not two
// inputs joined by an equality (co-partitioned whole, pairedScan), ran
// local: aggregates cross joined (TPC-DS Q28's six averages of
// store_sales, Q88's eight counts, Q90's ratio of two, Q61's two sums).
// Each input is a query of its own that may split: with exchanges, each
// is computed by the stages that joinStages gives any shipped input (an
// aggregate by partial aggregates and a final step after a shuffle,
// aggleaf.go), and one task joins their rows whole, then runs the rest of
// the query as over any join. The inputs' rows are what the join reads,
// so the answer is DuckDB's; the work that costs, the inputs' scans and
// aggregates, is split.
//
// Only when every input gives one row (an aggregate without GROUP BY) or
// is a WITH result, which the plan computes once anyway: one task joining
// inputs of many rows
// would hold them all, where the coordinator's DuckDB, with all its
// threads, joins them as it computes them (TPC-DS Q78's three sums by
// year, item and customer, LEFT joined, took 2.5 s so against 0.3 s local
// at scale factor 1), and DuckDB's estimates of a grouped aggregate's rows
// are no guide (Q78's store sums of 2000 by item and customer: 493,526
// rows, estimated at 114,936). Not taken either: a POSITIONAL join (its rows
// pair by their order, which the inputs' stages do not keep), an input
// without a Parquet scan under it (nothing to split: it stays local).

// gatheredScan is the path of the first Parquet scan under the inputs of
// join, the one findJoinScan takes for the split scan of a gathered join
// (which reads no slices of it: it stands for the join's position), when
// every input is a FROM subquery giving one row (oneRow) or a WITH result.
func (a *Analysis) gatheredScan(join Node, at []string) ([]string, bool) {
	var inputs [][]string
	ok := true
	var walk func(n Node, path []string)
	walk = func(n Node, path []string) {
		switch str(n, "type") {
		case "JOIN":
			if str(n, "ref_type") == "POSITIONAL" {
				ok = false
				return
			}
			walk(child(n, "left"), append(slices.Clone(path), "left"))
			walk(child(n, "right"), append(slices.Clone(path), "right"))
		case "SUBQUERY":
			if !oneRow(n, a.env.Aggregates) {
				ok = false
				return
			}
			inputs = append(inputs, path)
		case "BASE_TABLE":
			if !a.env.withs.has(n) {
				ok = false
			}
		default:
			ok = false
		}
	}
	walk(join, at)
	if !ok {
		return nil, false
	}
	for _, path := range inputs {
		if scan, ok := firstScan(nodeAt(a.root, path), path); ok {
			return scan, true
		}
	}
	return nil, false
}

// oneRow says FROM subquery n gives one row at most: a SELECT that
// aggregates without GROUP BY (ALL, or a grouping set), windows or a
// function giving rows (UNNEST in its select list).
func oneRow(n Node, aggs Aggregates) bool {
	inner := child(child(n, "subquery"), "node")
	if str(inner, "type") != "SELECT_NODE" || len(list(inner, "group_expressions")) > 0 || len(list(inner, "group_sets")) > 0 ||
		str(inner, "aggregate_handling") != "STANDARD_HANDLING" || !containsAggregate(inner["select_list"], aggs) {
		return false
	}
	return !anyNode(inner["select_list"], func(w Node) bool {
		if str(w, "class") == "WINDOW" {
			return true
		}
		name := strings.ToLower(str(w, "function_name"))
		return str(w, "class") == "FUNCTION" && (name == "unnest" || name == "generate_subscripts")
	})
}

// firstScan is the path of the first Parquet scan under FROM item n (at
// path), left to right through joins and FROM subqueries' SELECTs.
func firstScan(n Node, path []string) ([]string, bool) {
	switch str(n, "type") {
	case "TABLE_FUNCTION":
		if isParquetScan(n) {
			return path, true
		}
	case "SUBQUERY":
		inner := child(child(n, "subquery"), "node")
		if str(inner, "type") == "SELECT_NODE" {
			return firstScan(child(inner, "from_table"), append(slices.Clone(path), "subquery", "node", "from_table"))
		}
	case "JOIN":
		for _, side := range []string{"left", "right"} {
			if p, ok := firstScan(child(n, side), append(slices.Clone(path), side)); ok {
				return p, true
			}
		}
	}
	return nil, false
}

// aliases lists the join's inputs by name.
func (j *joinShape) aliases() string {
	names := make([]string, len(j.leaves))
	for i, l := range j.leaves {
		names[i] = l.alias
	}
	return strings.Join(names, ", ")
}
