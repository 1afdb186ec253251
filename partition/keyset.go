package partition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// A correlated subquery over a Parquet table is evaluated by the tasks of
// the stage that holds it, each reading the table whole (DuckDB
// decorrelates it there, over the task's outer keys). When that stage's
// split scan reads the same files, joined by the subquery's key to a
// broadcast input that the subquery correlates with too (TPC-H Q17:
// lineitem joined to part, filtered by brand and container, on
// l_partkey = p_partkey, and avg(l_quantity) over lineitem WHERE
// l_partkey = p_partkey), the query only ever reads the table's rows whose
// key is in that input: a stage of the table's slices semi-joined with
// the input computes them once across the executors, and the stage reads
// them, as one task, for its scan and for its subquery. The table is read
// once in all instead of once by every task plus its slices.
//
// Exact: the subquery's WHERE holds key = X (a top-level conjunct), X the
// input's column or one a conjunct of the outer WHERE (or an inner join's
// ON) equates with it, so it reads only rows whose key is in the input
// (a NULL X meets no key either way); the outer FROM joins the scan to the
// input by the same key column, only by inner joins, so every scan row the
// query keeps has its key in the input too. The rows keep every column
// either names (all under a *) and none of the subquery's filters, which
// both still apply. A subquery reading more than its one table, holding
// subqueries of its own, or a scan under an outer join, is left as it was.
//
// Only that shape: restricting the subquery's table alone, its stage
// keeping its own scan (TPC-H Q20's lineitem by the parts of an IN beside
// it, computed once and broadcast, or evaluated by each slice), measured
// slower than DuckDB's decorrelation in one task (README, Performance).
// A scalar SUM, MIN or MAX is decorrelated before (decorrelate.go): its
// aggregate by the keys, in slices, is what Q20 reads.

// keyedSub is a correlated subquery the rule fits.
type keyedSub struct {
	sub    Node      // the subquery's SELECT, as the stage's query holds it
	alias  string    // how the subquery names its table
	scan   *Analysis // the table's rows the stage reads: the columns it names
	key    string    // the table's column the subquery correlates on
	input  int       // the stage's input (a broadcast) holding the key set,
	column string    // as its column
	cols   []Column  // the table's columns
}

// restrictByKeys applies the rule to every stage of p it fits.
func (a *Analysis) restrictByKeys(p *Plan) {
	for i := 0; i < len(p.Stages); i++ {
		s := p.Stages[i]
		k := a.keyedSubquery(p, s)
		if k == nil {
			continue
		}
		a.readThroughKeys(p, s, k)
		i++ // s moved one place down, after the stage computing the rows
	}
}

// keyedSubquery finds a subquery of stage s the rule fits, if one.
func (a *Analysis) keyedSubquery(p *Plan, s *Stage) *keyedSub {
	if a.env.Columns == nil || s.node == nil || s.Scan == nil || s.bySlice != nil || len(s.Slices) > 0 ||
		s.Scan.Format != Parquet || len(s.Scan.Paths) == 0 {
		return nil
	}
	// The stage's query over a first slice of its scan, which DuckDB can
	// list the columns of, and its inputs as tables named skein_probe.
	scan := s.Scan.scanOf(firstSlice(s))
	inputs := map[string]int{}
	probe := func(i int, alias string) Node {
		inputs[strings.ToLower(alias)] = i
		return withAlias(baseTable(probeTable), alias)
	}
	n, err := s.node(scan, probe)
	if err != nil || !anyNode(n, func(m Node) bool { return correlatedCandidate(m) != nil }) {
		return nil
	}
	var found *keyedSub
	visit(n, func(outer Node) bool {
		if found != nil {
			return false
		}
		if str(outer, "type") == "SELECT_NODE" {
			found = a.keyedIn(p, s, scan, outer, inputs)
		}
		return found == nil
	})
	if found == nil {
		return nil
	}
	// The rows keep the columns the stage's query names (the subquery's
	// among them), or all of them under a *.
	named, err := s.node(withAlias(baseTable(probeTable), s.Scan.alias), probe)
	if err != nil {
		return nil
	}
	names, all := columnNames(named)
	var sel []any
	for _, c := range found.cols {
		if !all && names[strings.ToLower(c.Name)] {
			sel = append(sel, withAlias(qualified(found.alias, c.Name), c.Name))
		}
	}
	if len(sel) == 0 {
		sel = []any{star()}
	}
	found.scan.root["select_list"] = sel
	if !a.fewKeys(p, s, found) {
		return nil
	}
	return found
}

// fewKeys says the key set is a small part of its table, by DuckDB's
// estimate of the input's rows over its files' rows: the table's rows
// with a key in it, about that part of the scan's files, are computed
// into one task's input (at most a quarter of the files' rows, and of
// Env.BroadcastRows). An input that is not a filtered scan of files, or
// one without an estimate, is not known to be small.
func (a *Analysis) fewKeys(p *Plan, s *Stage, k *keyedSub) bool {
	prod := p.Stages[s.Inputs[k.input].Stage]
	if a.env.Estimate == nil || a.env.Rows == nil || prod.Scan == nil || len(prod.Inputs) > 0 {
		return false
	}
	est, err := a.env.Estimate(prod.Scan.root)
	if err != nil {
		return false
	}
	of, err := a.env.Rows(prod.Scan.Paths)
	if err != nil || of <= 0 {
		return false
	}
	rows, err := a.env.Rows(k.scan.Paths)
	if err != nil {
		return false
	}
	want := float64(rows) * float64(est) / float64(of)
	return want <= float64(rows)/4 && want <= float64(a.env.BroadcastRows)
}

// columnNames are the names (lower case) the column references in n are
// made of, each part; all says n holds a *.
func columnNames(n Node) (names map[string]bool, all bool) {
	names = map[string]bool{}
	visit(n, func(m Node) bool {
		switch str(m, "class") {
		case "STAR":
			all = true
		case "COLUMN_REF":
			addColumnNames(names, m)
		}
		return true
	})
	return names, all
}

// probeTable names a stage's inputs in the query keyedSubquery reads.
const probeTable = "skein_probe"

// firstSlice is a stage's first slice, for a query DuckDB prepares.
func firstSlice(s *Stage) Slice {
	switch {
	case len(s.Slices) > 0:
		return s.Slices[0]
	case s.Scan != nil && len(s.Scan.Paths) > 0:
		return Slice{File: s.Scan.Paths[0], First: 0, Last: 0}
	}
	return Slice{}
}

// correlatedCandidate is the SELECT of a subquery that reads one Parquet
// table and nothing else, with a WHERE, or nil.
func correlatedCandidate(n Node) Node {
	if str(n, "class") != "SUBQUERY" {
		return nil
	}
	switch str(n, "subquery_type") {
	case "SCALAR", "EXISTS", "NOT_EXISTS", "ANY":
	default:
		return nil
	}
	sub := child(child(n, "subquery"), "node")
	from := child(sub, "from_table")
	if str(sub, "type") != "SELECT_NODE" || str(from, "type") != "TABLE_FUNCTION" || !isParquetScan(from) ||
		len(list(child(sub, "cte_map"), "map")) > 0 || sub["where_clause"] == nil {
		return nil
	}
	if anyNode(sub, func(m Node) bool { return str(m, "type") == "SUBQUERY" || str(m, "class") == "SUBQUERY" }) {
		return nil
	}
	return sub
}

// keyedIn looks for the rule's subquery in the WHERE of outer, a SELECT of
// stage s's query, whose FROM holds the stage's scan; inputs are the FROM
// aliases of s's inputs.
func (a *Analysis) keyedIn(p *Plan, s *Stage, scan, outer Node, inputs map[string]int) *keyedSub {
	where := outer["where_clause"]
	if where == nil {
		return nil
	}
	var subs []Node
	visit(where, func(n Node) bool {
		if sub := correlatedCandidate(n); sub != nil {
			subs = append(subs, sub)
			return false
		}
		return str(n, "type") != "SELECT_NODE"
	})
	if len(subs) == 0 {
		return nil
	}
	leaves, ok := innerLeaves(child(outer, "from_table"))
	// Both cloned, so that numbers compare as a decoded AST holds them.
	scan = clone(scan)
	if !ok || !slices.ContainsFunc(leaves, func(l leaf) bool { return sameExpr(clone(l.node), scan) }) {
		return nil
	}
	for i, l := range leaves {
		from := clone(l.node)
		if str(from, "type") == "BASE_TABLE" && str(from, "table_name") == probeTable {
			in, err := p.compose(p.Stages[s.Inputs[inputs[strings.ToLower(l.alias)]].Stage], firstSlice)
			if err != nil {
				return nil
			}
			from = subquery(in, l.alias)
		}
		cols, err := a.env.Columns(from)
		if err != nil {
			return nil
		}
		leaves[i].cols = cols
	}
	res := resolver{leaves: leaves}
	// The equalities the outer rows meet: the WHERE's and the inner
	// joins' ON conjuncts.
	conds := append(conjuncts(where), joinConditions(child(outer, "from_table"))...)
	for _, sub := range subs {
		if k := a.keyedSubqueryOf(p, s, sub, conds, res, inputs); k != nil {
			return k
		}
	}
	return nil
}

// keyedSubqueryOf fits the rule to sub, a subquery in a WHERE over the
// FROM items res resolves, conds the equalities its rows meet.
func (a *Analysis) keyedSubqueryOf(p *Plan, s *Stage, sub Node, conds []any, res resolver, inputs map[string]int) *keyedSub {
	if _, err := a.env.Columns(subquery(clone(sub), "skein_subquery")); err == nil {
		return nil // uncorrelated: broadcastSubqueries computes it once
	}
	from := child(sub, "from_table")
	alias := str(from, "alias")
	if alias == "" {
		return nil
	}
	tcols, err := a.env.Columns(clone(from))
	if err != nil {
		return nil
	}
	table := resolver{leaves: []leaf{{alias: alias, cols: tcols}}}
	for _, c := range conjuncts(sub["where_clause"]) {
		l, r, ok := columnEquality(c)
		if !ok {
			continue
		}
		_, lc, lin := table.column(l)
		_, rc, rin := table.column(r)
		kc, x := lc, r // the table's column and the outer one
		switch {
		case rin && !lin:
			kc, x = rc, l
		case !lin || rin:
			continue
		}
		k := &keyedSub{sub: sub, alias: alias, key: kc.Name, cols: tcols}
		if !a.keySet(p, s, k, x, conds, res, inputs) {
			continue
		}
		ta := &Analysis{root: selectNode(nil, clone(from)), env: a.env}
		if err := ta.findScan(nil, a.env.Aggregates); err != nil || ta.inner != nil || ta.Format != Parquet ||
			!slices.Equal(s.Scan.Paths, ta.Paths) || s.Scan.first != ta.first {
			return nil
		}
		k.scan = ta
		return k
	}
	return nil
}

// columnEquality splits a conjunct a = b of two column references.
func columnEquality(c any) (l, r Node, ok bool) {
	n, _ := c.(map[string]any)
	if str(n, "class") != "COMPARISON" || str(n, "type") != "COMPARE_EQUAL" {
		return nil, nil, false
	}
	l, r = child(n, "left"), child(n, "right")
	return l, r, str(l, "class") == "COLUMN_REF" && str(r, "class") == "COLUMN_REF"
}

// keySet finds the broadcast input the outer rows bound x (the outer side
// of the subquery's key = x) to: x, or a column conds equate x with, is
// the input's column. The stage's split scan must be joined to that column
// by the table's key column: a column of the scan named as the key,
// equated with x or the input's column.
func (a *Analysis) keySet(p *Plan, s *Stage, k *keyedSub, x Node, conds []any, res resolver, inputs map[string]int) bool {
	equal := func(y Node) []Node { // y and the columns a conjunct equates it with
		out := []Node{y}
		for _, c := range conds {
			l, r, ok := columnEquality(c)
			switch {
			case !ok:
			case sameColumn(l, y):
				out = append(out, r)
			case sameColumn(r, y):
				out = append(out, l)
			}
		}
		return out
	}
	for _, y := range equal(x) {
		li, col, ok := res.column(y)
		if !ok {
			continue
		}
		in, isInput := inputs[strings.ToLower(res.leaves[li].alias)]
		if !isInput || p.Stages[s.Inputs[in].Stage].Output != Broadcast {
			continue
		}
		for _, z := range append(equal(y), equal(x)...) {
			if zi, zc, ok := res.column(z); ok && strings.EqualFold(res.leaves[zi].alias, s.Scan.alias) &&
				strings.EqualFold(zc.Name, k.key) {
				k.input, k.column = in, col.Name
				return true
			}
		}
	}
	return false
}

// innerLeaves are the FROM items under inner and cross joins, or false
// when some join is another kind.
func innerLeaves(from Node) ([]leaf, bool) {
	if str(from, "type") != "JOIN" {
		alias := str(from, "alias")
		if alias == "" && str(from, "type") == "BASE_TABLE" {
			alias = str(from, "table_name")
		}
		return []leaf{{node: from, alias: alias}}, true
	}
	if jt := str(from, "join_type"); jt != "INNER" || (str(from, "ref_type") != "REGULAR" && str(from, "ref_type") != "CROSS") {
		return nil, false
	}
	l, ok := innerLeaves(child(from, "left"))
	if !ok {
		return nil, false
	}
	r, ok := innerLeaves(child(from, "right"))
	return append(l, r...), ok
}

// sameColumn says two column references are written alike (names compared
// as DuckDB does, without case).
func sameColumn(a, b Node) bool {
	an, bn := list(a, "column_names"), list(b, "column_names")
	if str(a, "class") != "COLUMN_REF" || str(b, "class") != "COLUMN_REF" || len(an) != len(bn) {
		return false
	}
	for i := range an {
		x, _ := an[i].(string)
		y, _ := bn[i].(string)
		if !strings.EqualFold(x, y) {
			return false
		}
	}
	return true
}

// readThroughKeys adds the stage computing k's rows before s, reading
// the key set's broadcast too, and makes s one task whose scan and
// subquery read those rows.
func (a *Analysis) readThroughKeys(p *Plan, s *Stage, k *keyedSub) {
	ta := k.scan
	root := ta.root
	st := &Stage{Scan: ta, What: fmt.Sprintf("rows of %s whose %s is in a broadcast input's %s, slices of %s",
		k.alias, k.key, k.column, strings.Join(ta.Paths, ", "))}
	keyCol, column := qualified(k.alias, k.key), k.column
	st.node = func(scan Node, input func(int, string) Node) (Node, error) {
		n := clone(root)
		n["from_table"] = ta.fromWith(scan)
		keys := selectNode([]any{qualified("skein_keys", column)}, input(0, "skein_keys"))
		n["where_clause"] = inKeys(keyCol, keys)
		return n, nil
	}
	keys := p.Stages[s.Inputs[k.input].Stage]
	p.insert(s.ID, &Plan{Stages: []*Stage{st}})
	st.Consumer = -1
	keys.Also = append(keys.Also, st.ID)
	st.Inputs = append(st.Inputs, Input{Stage: keys.ID, Table: fmt.Sprintf("skein_x%d", keys.ID)})
	rows := p.feed(st, s, Broadcast, nil)
	sub, alias, scanAlias := k.sub, k.alias, s.Scan.alias
	node := s.node
	s.Scan, s.Tasks = nil, 1
	s.What += fmt.Sprintf("; %s and its subquery's %s read as the rows of stage %d", scanAlias, alias, st.ID)
	s.node = func(_ Node, input func(int, string) Node) (Node, error) {
		n, err := node(input(rows, scanAlias), input)
		if err != nil {
			return nil, err
		}
		return replace(n, func(m Node) (any, bool) {
			if str(m, "type") == "SELECT_NODE" && sameExpr(m, sub) {
				m = clone(m)
				m["from_table"] = input(rows, alias)
				return m, true
			}
			return nil, false
		}).(Node), nil
	}
}

// inKeys is col IN (keys).
func inKeys(col, keys Node) Node {
	return Node{"class": "SUBQUERY", "type": "SUBQUERY", "alias": "", "query_location": json.Number(noLocation),
		"subquery_type": "ANY", "subquery": Node{"node": clone(keys), "named_param_map": []any{}},
		"child": clone(col), "comparison_type": "COMPARE_EQUAL"}
}
