package partition

import (
	"fmt"
	"strings"
)

// WITH seen through. A CTE is a name for its query: evaluating it where it
// is read gives the same rows (nothing volatile is allowed anyway), so a
// reference is replaced by the CTE's query as a FROM subquery, as a view
// is seen through, and the stages then see the files it reads. Recursive
// CTEs, and a name some inner WITH defines again, keep the query local.
//
// A CTE read more than once (TPC-H Q15's revenue0: joined in FROM and
// read again by a scalar subquery) would then be computed once per read.
// With exchanges, such a CTE whose query does more than filter and
// project files is computed ONCE instead, by stages of its own (planned
// like any query), and its result broadcast to every stage that reads it
// (as an input loaded into each reader task, the reference replaced by
// the input's table). The references are first replaced by marker tables
// (withs); the query is planned around them (a marker is a join input
// that is already computed, or the whole FROM of a one-task query), and
// Stages wires each marker to the CTE's stages last. Whatever fails to
// plan that way is planned as before, with every WITH inlined.
//
// A CTE that only filters and projects files is still inlined: each
// reader then reads its own slices of the files, which costs less than
// shipping the rows. The broadcast result is held whole by its
// producers' spools (memory, then disk) and loaded by every reader task.

// withs are the WITH queries of one query that are computed once.
type withs struct {
	defs []*withDef
	// env is the analysis environment, with these withs.
	env Env
	// columns is Env.Columns as the coordinator gives it.
	columns func(Node) ([]Column, error)
	// views: the views computed once, by catalog, schema and name.
	views map[string]*withDef
	// tableReads counts the table references of the query whose views
	// are being inlined (inlineViews), root.
	tableReads map[string]int
	root       Node
}

// A withDef is a CTE computed once.
type withDef struct {
	marker  string // the table name its references are replaced by
	name    string // the WITH (or view) name
	kind    string // "WITH" or "view", for --explain
	node    Node   // its query, earlier CTEs in it inlined or marked
	aliases []any  // the column names the WITH gives, if any
	// planned, when set, are the stages computing it (eager.go).
	planned *Plan
}

const withMarker = "skein_with_"

// add computes the query node once, as the WITH (or view: kind) name
// with the column names aliases, if any.
func (w *withs) add(kind, name string, node Node, aliases []any) *withDef {
	d := &withDef{marker: fmt.Sprintf("%s%d", withMarker, len(w.defs)), name: name, kind: kind, node: node,
		aliases: cloneAny(aliases)}
	w.defs = append(w.defs, d)
	return d
}

// ref is a reference to d's result: its marker, named as d.
func (d *withDef) ref() Node {
	m := baseTable(d.marker)
	m["alias"] = d.name
	m["column_name_alias"] = cloneAny(d.aliases)
	return m
}

// has says n is a reference to a CTE computed once.
func (w *withs) has(n Node) bool {
	return w.def(n) != nil
}

func (w *withs) def(n Node) *withDef {
	if w == nil || str(n, "type") != "BASE_TABLE" || str(n, "schema_name") != "" || str(n, "catalog_name") != "" {
		return nil
	}
	for _, d := range w.defs {
		if d.marker == str(n, "table_name") {
			return d
		}
	}
	return nil
}

// seeThrough is Env.Columns of a FROM item with the CTEs computed once
// inlined, so that the coordinator can prepare it.
func (w *withs) seeThrough(n Node) ([]Column, error) {
	if w.columns == nil {
		return nil, fmt.Errorf("partition: no columns")
	}
	return w.columns(w.inline(clone(n)))
}

// inline replaces the markers in n by their CTEs' queries.
func (w *withs) inline(n Node) Node {
	return replaceWiths(n, func(m Node) Node {
		d := w.def(m)
		if d == nil {
			return nil
		}
		sub := subquery(w.inline(clone(d.node)), d.name)
		sub["column_name_alias"] = cloneAny(d.aliases)
		return sub
	})
}

// replaceWiths replaces each table reference m in v for which with gives
// a node by that node, named as m (alias, column names, sample).
func replaceWiths(n Node, with func(m Node) Node) Node {
	out, _ := replace(n, func(v Node) (any, bool) {
		if str(v, "type") != "BASE_TABLE" {
			return nil, false
		}
		repl := with(v)
		if repl == nil {
			return nil, false
		}
		repl["alias"] = v["alias"]
		repl["column_name_alias"] = cloneAny(list(v, "column_name_alias"))
		repl["sample"] = v["sample"]
		return repl, true
	}).(map[string]any)
	return out
}

// readsTwice says some WITH name or table (maybe a view) of the query is
// read more than once.
func readsTwice(root Node) bool {
	for _, n := range tableReads(root) {
		if n > 1 {
			return true
		}
	}
	found := false
	anyNode(root, func(n Node) bool {
		for _, reads := range withReads(n) {
			found = found || reads > 1
		}
		return found
	})
	return found
}

// withReads counts the references to each WITH name of n (lower case),
// in n and in the other CTEs' queries.
func withReads(n Node) map[string]int {
	reads := map[string]int{}
	for _, e := range list(child(n, "cte_map"), "map") {
		en, _ := e.(map[string]any)
		reads[strings.ToLower(str(en, "key"))] = 0
	}
	anyNode(n, func(x Node) bool {
		if str(x, "type") == "BASE_TABLE" && str(x, "schema_name") == "" && str(x, "catalog_name") == "" {
			if c, ok := reads[strings.ToLower(str(x, "table_name"))]; ok {
				reads[strings.ToLower(str(x, "table_name"))] = c + 1
			}
		}
		return false
	})
	return reads
}

// filtersFiles says a CTE's query only filters and projects a scan (or a
// view): reading it again costs less than shipping its rows.
func filtersFiles(n Node, aggs Aggregates) bool {
	if str(n, "type") != "SELECT_NODE" || len(list(n, "modifiers")) > 0 || len(list(n, "group_expressions")) > 0 ||
		n["having"] != nil || n["qualify"] != nil || containsAggregate(n["select_list"], aggs) ||
		anyNode(n["select_list"], func(x Node) bool { return str(x, "class") == "WINDOW" }) {
		return false
	}
	switch str(child(n, "from_table"), "type") {
	case "TABLE_FUNCTION", "BASE_TABLE":
		return true
	}
	return false
}

// inlineCTEs replaces each reference to a WITH name of root by the CTE's
// query as a FROM subquery; with w, a CTE read more than once whose query
// does more than filter and project files is added to w and its
// references replaced by its marker instead.
func inlineCTEs(root Node, w *withs) error {
	entries := list(child(root, "cte_map"), "map")
	if len(entries) == 0 {
		return nil
	}
	reads := withReads(root)
	defs := map[string]Node{}
	for _, e := range entries {
		en, _ := e.(map[string]any)
		name := strings.ToLower(str(en, "key"))
		val := child(en, "value")
		node := child(child(val, "query"), "node")
		switch {
		case name == "" || node == nil:
			return local("a malformed WITH clause")
		case len(list(val, "key_targets")) > 0 || str(node, "type") == "RECURSIVE_CTE_NODE" ||
			str(node, "type") == "CTE_NODE":
			return local("a recursive WITH")
		}
		query := clone(node)
		// A CTE may read the ones before it.
		if err := replaceCTERefs(query, defs); err != nil {
			return err
		}
		if w != nil && reads[name] > 1 && str(val, "materialized") != "CTE_MATERIALIZE_NEVER" &&
			!filtersFiles(query, w.env.Aggregates) {
			isRead := func(n Node) bool {
				return str(n, "schema_name") == "" && str(n, "catalog_name") == "" && strings.ToLower(str(n, "table_name")) == name
			}
			pushReadFilters(root, isRead, name, reads[name], query, list(val, "aliases"), w.env.Aggregates, w.seeThrough)
			defs[name] = w.add("WITH", str(en, "key"), query, list(val, "aliases")).ref()
			continue
		}
		sub := subquery(query, str(en, "key"))
		sub["column_name_alias"] = cloneAny(list(val, "aliases"))
		defs[name] = sub
	}
	root["cte_map"] = Node{"map": []any{}}
	return replaceCTERefs(root, defs)
}

// replaceCTERefs replaces table references to defs' names in n; what it
// puts in is not searched again.
func replaceCTERefs(n Node, defs map[string]Node) error {
	for _, e := range list(child(n, "cte_map"), "map") {
		en, _ := e.(map[string]any)
		if _, ok := defs[strings.ToLower(str(en, "key"))]; ok {
			return local("a WITH name defined twice")
		}
	}
	if str(n, "type") == "BASE_TABLE" && str(n, "schema_name") == "" && str(n, "catalog_name") == "" {
		if def, ok := defs[strings.ToLower(str(n, "table_name"))]; ok {
			if n["at_clause"] != nil || len(list(n, "column_name_alias")) > 0 {
				return local("a WITH name read with column aliases or AT")
			}
			repl := clone(def)
			if alias := str(n, "alias"); alias != "" {
				repl["alias"] = alias
			}
			repl["sample"] = n["sample"]
			clear(n)
			for k, v := range repl {
				n[k] = v
			}
			return nil
		}
	}
	for _, v := range n {
		if err := replaceIn(v, defs); err != nil {
			return err
		}
	}
	return nil
}

func replaceIn(v any, defs map[string]Node) error {
	switch v := v.(type) {
	case map[string]any:
		return replaceCTERefs(v, defs)
	case []any:
		for _, x := range v {
			if err := replaceIn(x, defs); err != nil {
				return err
			}
		}
	}
	return nil
}

func cloneAny(l []any) []any {
	out := make([]any, len(l))
	copy(out, l)
	return out
}

// wire plans each CTE that p's stages read as stages of its own, before
// them, and makes its last stage's output a broadcast to every stage that
// reads it. Later CTEs first, so that a CTE's stages come after those of
// the CTEs it reads, and before its readers.
func (w *withs) wire(p *Plan) error {
	for i := len(w.defs) - 1; i >= 0; i-- {
		d := w.defs[i]
		var readers []*Stage
		for _, st := range p.Stages {
			n, err := st.sample()
			if err != nil {
				return err
			}
			if anyNode(st.readSubqueries(n), func(x Node) bool { return w.def(x) == d }) {
				readers = append(readers, st)
			}
		}
		if len(readers) == 0 {
			continue
		}
		dp, err := w.plan(d)
		if err != nil {
			return err
		}
		p.prepend(dp)
		last := p.Stages[len(dp.Stages)-1]
		last.What = d.kind + " " + d.name + ", " + last.What
		for _, st := range readers {
			p.share(last, st, d.marker)
		}
	}
	return nil
}

// plan is the stages computing CTE d, the last one's tasks giving its
// rows.
func (w *withs) plan(d *withDef) (*Plan, error) {
	if d.planned != nil {
		return d.planned, nil
	}
	cols, err := w.seeThrough(subquery(clone(d.node), d.name))
	if err != nil {
		return nil, local("columns of WITH %s: %v", d.name, err)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	var a *Analysis
	env := w.env
	switch str(d.node, "type") {
	case "SELECT_NODE":
		a, err = analyzeSelect(clone(d.node), env)
	case "SET_OPERATION_NODE":
		a, err = analyzeSetOp(clone(d.node), env)
	default:
		err = local("WITH %s is a %s", d.name, str(d.node, "type"))
	}
	if err != nil {
		return nil, err
	}
	p, err := a.stages(names, true)
	switch {
	case err != nil:
		return nil, err
	case p == nil || p.Merge != nil:
		return nil, local("WITH %s does not split into stages", d.name)
	}
	return p, a.broadcastSubqueries(p)
}
