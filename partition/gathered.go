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
// When every input gives one row (an aggregate without GROUP BY) or is a
// WITH result, which the plan computes once anyway, one task joins them.
// Inputs of many rows are co-partitioned instead, each shuffled by its
// columns equal to the same columns of one of them (coPartition: TPC-DS
// Q58's and Q83's three sums by item, inner joined by item; Q78's three
// sums by year, item and customer, LEFT joined by them), or the query
// stays local: one task joining inputs of many rows would hold them all,
// where the coordinator's DuckDB, with all its threads, joins them as it
// computes them (Q78 gathered took 2.5 s so against 0.3 s local at scale
// factor 1), and DuckDB's estimates of a grouped aggregate's rows are no
// guide to how many (Q78's store sums of 2000 by item and customer:
// 493,526 rows, estimated at 114,936). Not taken either: a POSITIONAL join (its rows
// pair by their order, which the inputs' stages do not keep), an input
// without a Parquet scan under it (nothing to split: it stays local).
//
// An input that aggregates also applies, before its aggregate, the
// filters on its group keys alone (groupFilters, aggleaf.go).

// gatheredScan is the path of the first Parquet scan under the inputs of
// join, the one findJoinScan takes for the split scan of a gathered join
// (which reads no slices of it: it stands for the join's position), when
// every input is a FROM subquery or a WITH result; gatherMany records
// that some input may give more than one row (oneRow), for joinInputs to
// co-partition (coPartition) or refuse.
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
				a.gatherMany = true
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

// coPartition gives the keys each input of a gathered join is shuffled by
// so that rows that may match meet in one partition, or nil: the columns
// of each input equal, in the WHERE or an ON, to the same columns of input
// s, or else of the first input every other one is equal to (each hashed
// as one type, the same for every input), those it is equal by to every
// other input: TPC-DS Q58's and Q83's three sums by item, joined by
// item. Inner, left and right joins (coJoinable): rows
// that may match share their keys, so each partition pairs its own rows
// as the whole join would and keeps its own unmatched ones. Q78's web and
// catalog sums LEFT joined to the store sums by year, item and customer
// take the year the WHERE keeps of the store sums (resolver.transferred),
// as DuckDB run whole does: shipped whole, they took 2.3 s against 0.3 s
// local at scale factor 1. Every input must be computed by stages of its
// own (no WITH result, read whole by every task).
func (j *joinShape) coPartition(s int) map[int][]Key {
	if !coJoinable(child(j.owner, "from_table")) || slices.ContainsFunc(j.leaves, func(l leaf) bool { return l.withs }) {
		return nil
	}
	// The input the others are equal to may be another than s: a RIGHT
	// JOIN b ON a.k = b.k JOIN c ON c.k = b.k is by b's k.
	if out := j.coPartitionBy(s); out != nil {
		return out
	}
	for i := range j.leaves {
		if i != s {
			if out := j.coPartitionBy(i); out != nil {
				return out
			}
		}
	}
	return nil
}

// coPartitionBy is coPartition by the columns of input s.
func (j *joinShape) coPartitionBy(s int) map[int][]Key {
	var base []Key // s's keys, in the order the first input's equalities give them
	pairs := map[int][][2]Key{}
	for i := range j.leaves {
		if i == s {
			continue
		}
		ps := j.res.equiKeys(j.equalities, s, i)
		if len(ps) == 0 {
			return nil
		}
		pairs[i] = ps
		if base == nil {
			for _, p := range ps {
				base = append(base, p[0])
			}
		}
	}
	// Keep the keys of s every other input is equal to.
	for _, ps := range pairs {
		base = slices.DeleteFunc(base, func(k Key) bool {
			return !slices.ContainsFunc(ps, func(p [2]Key) bool { return p[0] == k })
		})
	}
	if len(base) == 0 {
		return nil
	}
	out := map[int][]Key{s: base}
	for i, ps := range pairs {
		for _, k := range base {
			at := slices.IndexFunc(ps, func(p [2]Key) bool { return p[0] == k })
			out[i] = append(out[i], ps[at][1])
		}
	}
	return out
}

// coJoinable says every join of the tree n (not the joins inside its
// inputs, each computed by stages of its own) is inner, cross, left or
// right: rows that match meet in one partition, so each partition gives
// the rows of its inner matches and of its own unmatched preserved rows,
// each once. A FULL join's ON is no equality coPartition sees, and an
// ASOF or POSITIONAL one pairs rows by more than equal keys.
func coJoinable(n Node) bool {
	if str(n, "type") != "JOIN" {
		return true
	}
	switch jt, rt := str(n, "join_type"), str(n, "ref_type"); {
	case rt == "CROSS" && jt == "INNER":
	case rt == "REGULAR" && (jt == "INNER" || jt == "LEFT" || jt == "RIGHT"):
	default:
		return false
	}
	return coJoinable(child(n, "left")) && coJoinable(child(n, "right"))
}
