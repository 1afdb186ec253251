package partition

import (
	"errors"
	"fmt"
	"strings"
)

// keyGroups says the aggregate's groups each live in one slice of the
// split scan, and by which key: the scan's slices are cut by ranges of an
// integer column (a join's, rangejoin.go, or for a scan alone one of its
// GROUP BY columns) that are disjoint and hold no NULL, and a group key is
// that column or one equal to it in every output row. Then no group needs
// rows from two tasks: the aggregate is finished in each slice, without a
// shuffle or a final stage. Nil: it is not known to be so.
func (a *Analysis) keyGroups(top *Stage) *keyed {
	if len(a.groups) == 0 || len(list(a.root, "group_sets")) > 1 || top.Scan != a {
		return nil
	}
	k := a.keyed
	if k == nil && !a.Joined && top.Slices == nil {
		k = a.scanKeyed()
	}
	if k == nil || !disjoint(k.slices) {
		return nil
	}
	for _, g := range a.groups {
		if k.holds(g) {
			return k
		}
	}
	return nil
}

// groupKeyed cuts the split scan S of a join, neither co-partitioned nor
// reading inputs in its key ranges, by ranges of a GROUP BY column of S's
// that its files are clustered by, if any: every output row holds one row
// of S (S is splittable), so the rows of one group, sharing that column's
// value, all come from one slice, and keyGroups finishes the aggregate
// there (TPC-H Q10's customer joined with the revenue aggregated below the
// join, eager.go, grouped by c_custkey). Not with a subquery, which may
// read the partials of every slice (ownrows.go).
func (a *Analysis) groupKeyed(leaves []leaf, s, y int, res resolver) *keyed {
	if y >= 0 || a.full || a.gathered || a.Mode != ScatterMerge || a.plain != nil || len(a.groups) == 0 || a.subqueries || a.ownRows ||
		a.env.KeyStats == nil || !plainTo(leaves[s].node) {
		return nil
	}
	for _, g := range a.groups {
		n, _ := g.(map[string]any)
		if str(n, "class") != "COLUMN_REF" {
			continue
		}
		i, col, ok := res.column(n)
		if !ok || i != s || !integerType(col.Type) {
			continue
		}
		if sl, err := a.keyRanges(col.Name); err == nil && disjoint(sl) {
			return &keyed{column: col.Name, slices: sl, same: []keyCol{{s, col.Name}}, res: res}
		}
	}
	return nil
}

// holds says group expression g is a column equal to the key in every
// output row.
func (k *keyed) holds(g any) bool {
	n, _ := g.(map[string]any)
	if str(n, "class") != "COLUMN_REF" {
		return false
	}
	if k.res.leaves != nil {
		i, col, ok := k.res.column(n)
		if !ok {
			return false
		}
		for _, c := range k.same {
			if c.leaf == i && strings.EqualFold(c.column, col.Name) {
				return true
			}
		}
		return false
	}
	names := list(n, "column_names")
	if len(names) == 0 {
		return false
	}
	name, _ := names[len(names)-1].(string)
	if len(names) == 2 {
		if q, _ := names[0].(string); !strings.EqualFold(q, k.alias) {
			return false
		}
	}
	return len(names) <= 2 && strings.EqualFold(name, k.column)
}

// scanKeyed cuts a scan that is not joined by ranges of the first of its
// GROUP BY columns that its files are clustered by, if any.
func (a *Analysis) scanKeyed() *keyed {
	from := child(a.root, "from_table")
	if a.env.KeyStats == nil || a.env.Columns == nil || a.Format != Parquet || !plainTo(from) {
		return nil
	}
	alias := str(from, "alias")
	if alias == "" && str(from, "type") == "TABLE_FUNCTION" {
		alias = str(child(from, "function"), "function_name")
	}
	cols, err := a.env.Columns(from)
	if err != nil {
		return nil
	}
	for _, g := range a.groups {
		n, _ := g.(map[string]any)
		names := list(n, "column_names")
		if str(n, "class") != "COLUMN_REF" || len(names) == 0 || len(names) > 2 {
			continue
		}
		name, _ := names[len(names)-1].(string)
		if len(names) == 2 {
			if q, _ := names[0].(string); !strings.EqualFold(q, alias) {
				continue
			}
		}
		if a.renames(name) {
			continue
		}
		for _, c := range cols {
			if !strings.EqualFold(c.Name, name) || !integerType(c.Type) {
				continue
			}
			if sl, err := a.keyRanges(c.Name); err == nil {
				return &keyed{column: c.Name, slices: sl, same: []keyCol{{-1, c.Name}}, alias: alias}
			}
		}
	}
	return nil
}

// renames says an output column named name is not the column of that
// name (GROUP BY name might then mean either).
func (a *Analysis) renames(name string) bool {
	for _, item := range list(a.root, "select_list") {
		n, _ := item.(map[string]any)
		if !strings.EqualFold(str(n, "alias"), name) {
			continue
		}
		names := list(n, "column_names")
		if str(n, "class") != "COLUMN_REF" || len(names) == 0 {
			return true
		}
		if last, _ := names[len(names)-1].(string); !strings.EqualFold(last, name) {
			return true
		}
	}
	return false
}

// partGroups says the aggregate's groups each live in one partition of a
// co-partitioned join (join.go), and by which key: both its inputs are
// shuffled by one key each (hash() of the value cast to a common type, so
// equal keys, and all NULLs, meet in one partition) and a group key is the
// split scan's key column, or the other input's when that input supplies
// no NULLs: equal to the partition key in every output row. Then the join
// stage finishes the aggregate itself, without a shuffle by group key and
// a final stage (GROUP BY c_custkey over customer LEFT JOIN orders ON
// c_custkey = o_custkey, TPC-H Q13's subquery). Nil: not known to be so,
// or a subquery or a HAVING over the query's own rows reads the partials.
func (a *Analysis) partGroups(top *Stage) *keyed {
	k := a.coparted
	if k == nil || len(a.groups) == 0 || len(list(a.root, "group_sets")) > 1 || top.Scan != nil || a.subqueries || a.ownRows {
		return nil
	}
	for _, g := range a.groups {
		if k.holds(g) {
			return k
		}
	}
	return nil
}

// finishInPartitions makes the co-partitioned join's stage top finish the
// aggregate over its partial rows itself (partGroups).
func (a *Analysis) finishInPartitions(top *Stage, k *keyed, names []string, merged bool) {
	top.What = strings.TrimSuffix(top.What, ", partial aggregate") +
		fmt.Sprintf(", aggregate finished in each partition (grouped by its key %s)", k.column)
	a.finishIn(top, names, merged)
}

// finishInSlices makes the split scan's stage top, cut by k's ranges,
// finish the aggregate over its partial rows itself: its tasks' outputs
// are the answer (merged sorted by the coordinator when merged).
func (a *Analysis) finishInSlices(top *Stage, k *keyed, names []string, merged bool) {
	if top.Slices == nil {
		top.Slices = k.slices
	}
	top.What = strings.TrimSuffix(top.What, ", partial aggregate") +
		fmt.Sprintf(", aggregate finished in each slice (its groups' %s ranges %s are disjoint)", k.column, k.rangeList())
	a.finishIn(top, names, merged)
}

// finishIn makes stage top's partial aggregate the final one: the query's
// aggregate over the stage's rows (finishedHere), or where that cannot be
// written, the final aggregate over the partial one.
func (a *Analysis) finishIn(top *Stage, names []string, merged bool) {
	top.wrap(nil, func(n Node) (Node, error) {
		f, err := a.finalNode(subquery(n, partialsTable), names, merged)
		if err != nil {
			return nil, err
		}
		if one := a.finishedHere(f, n); one != nil {
			return one, nil
		}
		return f, nil
	})
}

// finishedHere is final, the final aggregate over the partial aggregate
// partial, as one aggregate: partial's own, with final's select list,
// HAVING and modifiers. Every group of the partial rows is one row (the
// final groups by all of partial's keys, gN, and nothing else), so each
// final aggregate reads one partial value, and one that gives that value
// (sum, min, max, bool_and, bool_or of pN) is pN's partial aggregate
// itself: sum(p0) over sum(l_quantity) is sum(l_quantity), of the same
// type. Aggregating twice cost DuckDB 1.8x once (TPC-H SF1 Q18's
// subquery over half of lineitem, 750,000 groups: 484 ms nested, 269 ms
// as one, 1 thread). Nil when final reads anything else of the partial
// rows (a pN outside such an aggregate, a column not gN or pN, a
// subquery or a window), or groups otherwise (GROUPING SETS, a subquery
// over the query's own rows). With DISTINCT aggregates the partial rows
// are a group's distinct values (p0) and the final aggregates them
// (count(DISTINCT p0), min(p0), ...): the same aggregate over the
// group's rows, grouped by the query's keys alone, gives the same.
func (a *Analysis) finishedHere(final, partial Node) Node {
	if len(a.groups) == 0 || a.groupingSets() || a.ownRows ||
		str(partial, "type") != "SELECT_NODE" || len(list(partial, "modifiers")) > 0 ||
		partial["having"] != nil || partial["qualify"] != nil {
		return nil
	}
	items := list(partial, "select_list")
	if len(items) != len(a.groups)+len(a.partials) {
		return nil
	}
	exprs := map[string]Node{} // gN and pN: their expressions
	for i, item := range items {
		n, _ := item.(map[string]any)
		want := fmt.Sprintf("g%d", i)
		if i >= len(a.groups) {
			want = fmt.Sprintf("p%d", i-len(a.groups))
		}
		if n == nil || str(n, "alias") != want {
			return nil
		}
		exprs[want] = n
	}
	ref := func(e Node, prefix string) (Node, bool) {
		names := list(e, "column_names")
		if str(e, "class") != "COLUMN_REF" || len(names) != 1 {
			return nil, false
		}
		name, _ := names[0].(string)
		x, ok := exprs[name]
		return x, ok && strings.HasPrefix(name, prefix)
	}
	var one func(e Node) (Node, error)
	one = func(e Node) (Node, error) {
		switch str(e, "class") {
		case "COLUMN_REF":
			if g, ok := ref(e, "g"); ok {
				return withAlias(clone(g), str(e, "alias")), nil
			}
			return nil, errNotOne
		case "FUNCTION":
			args := list(e, "children")
			if e["filter"] != nil || len(list(child(e, "order_bys"), "orders")) > 0 || len(args) != 1 {
				break
			}
			arg, _ := args[0].(map[string]any)
			p, ok := ref(arg, "p")
			switch name := str(e, "function_name"); {
			case !ok:
			case a.distinctArg != nil && overDistinct[name]:
				// Over the group's distinct values (p0): the same
				// aggregate over its rows' values, DISTINCT as written.
				out := clone(e)
				out["children"] = []any{withAlias(clone(p), "")}
				return out, nil
			case a.distinctArg == nil && oneValue[name] && e["distinct"] != true:
				return withAlias(clone(p), str(e, "alias")), nil
			}
		case "SUBQUERY", "WINDOW":
			return nil, errNotOne
		}
		return mapChildren(e, one)
	}
	out := clone(partial)
	for _, key := range []string{"select_list", "having", "modifiers"} {
		v, err := mapExprs(cloneValue(final[key]), one)
		if err != nil {
			return nil
		}
		if v == nil && key == "modifiers" {
			v = []any{} // DuckDB wants a list
		}
		out[key] = v
	}
	if a.distinctArg != nil {
		// The rows grouped by the query's keys alone, not by the value
		// too (partialNode).
		out["group_expressions"], out["group_sets"] = cloneList(a.groups), cloneValue(a.root["group_sets"])
	}
	return out
}

// oneValue are the final aggregates that give the one value they read.
var oneValue = map[string]bool{"sum": true, "min": true, "max": true, "bool_and": true, "bool_or": true}

// errNotOne says a final aggregate is not one aggregate (finishedHere).
var errNotOne = errors.New("partition: the final aggregate reads more than one partial value")
