package partition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// planPlain splits a query without aggregates whose answer the partial
// answers contain: SELECT DISTINCT (each slice's distinct rows, made
// distinct again), DISTINCT ON (distincton.go), ORDER BY (sorted again)
// and top-N (each slice's first n+offset rows in the same order, of which
// the final step keeps n after the offset). LIMIT without ORDER BY asks
// for any n rows: each slice gives any n+offset of its rows (made
// distinct first under DISTINCT), and the final step any n after the
// offset, which are rows of the whole answer, as many as it has up to n.
func (a *Analysis) planPlain() error {
	root := a.root
	plain := clone(root)
	var mods []any
	var order Node
	for _, m := range list(root, "modifiers") {
		mn, _ := m.(map[string]any)
		switch str(mn, "type") {
		case "DISTINCT_MODIFIER":
			a.distinct = true
			mods = append(mods, clone(mn))
		case "ORDER_MODIFIER":
			order = mn
		case "LIMIT_MODIFIER":
			a.limit = mn
		default:
			return local("modifier %q", str(mn, "type"))
		}
	}
	selectList := list(root, "select_list")
	var hidden []any
	for _, o := range list(order, "orders") {
		on, ok := o.(map[string]any)
		if !ok {
			return local("malformed ORDER BY")
		}
		idx, err := outputIndex(child(on, "expression"), selectList)
		if name := besideStar(child(on, "expression"), selectList); err != nil && name != "" {
			// Sorted by its output column's name, as written.
			on = clone(on)
			on["expression"] = columnRef(name)
			idx, err = -1, nil
		}
		name := ""
		if err != nil {
			if name = hiddenKey(child(on, "expression"), selectList, a.distinct, len(hidden)); name == "" {
				return err
			}
			hidden = append(hidden, withAlias(clone(child(on, "expression")), name))
			idx = -1
		}
		a.orders = append(a.orders, clone(on))
		a.orderIdx = append(a.orderIdx, idx)
		a.orderHidden = append(a.orderHidden, name)
	}
	if len(hidden) > 0 {
		plain["select_list"] = append(cloneList(selectList), hidden...)
	}
	if err := a.planDistinctOn(mods); err != nil {
		return err
	}
	if order != nil && (a.limit != nil || a.distinctOn != nil) {
		// A DISTINCT ON's order picks each slice's row of a group.
		mods = append(mods, clone(order))
	}
	if a.limit != nil {
		n, err := topN(a.limit)
		if err != nil {
			return err
		}
		mods = append(mods, Node{"type": "LIMIT_MODIFIER", "limit": constant("BIGINT", n), "offset": nil})
	}
	if mods == nil {
		mods = []any{}
	}
	plain["modifiers"] = mods
	a.plain = plain
	return nil
}

// FirstRows says the query asks for any n rows of a scan and nothing else
// (SELECT ... FROM t LIMIT n, a BI tool's preview of a table: no WHERE,
// ORDER BY, DISTINCT, join or subquery): a task that reads the scan's
// first rows until it has n reads no more than it needs, where each task
// of a split would read n of its own, all but n of them then dropped.
func (a *Analysis) FirstRows() bool {
	return a.plain != nil && a.limit != nil && len(a.orders) == 0 && !a.distinct && !a.Joined && !a.subqueries &&
		a.inner == nil && a.root["qualify"] == nil &&
		!anyNode(a.root, func(n Node) bool { return str(n, "type") == "SELECT_NODE" && n["where_clause"] != nil })
}

// AnyRowsLimit is n when the query asks for any n rows after an offset of
// rows each task gives as they are, unaggregated (LIMIT n [OFFSET m]
// without ORDER BY, DISTINCT allowed): the final step run over the
// partial results of any of its tasks gives rows of the whole answer
// (with the offset, the same rule as over all of them), so once it gives
// n rows that is an answer and the other tasks need not run. The
// coordinator then runs the tasks in rounds, widening while the rows come
// up short. want is n plus the offset: the partial rows it takes at
// least. ok is false for any other query.
func (a *Analysis) AnyRowsLimit() (n, want int64, ok bool) {
	if a.plain == nil || a.limit == nil || len(a.orders) != 0 || a.distinctOn != nil || a.inner != nil ||
		a.over || a.ownRows || a.windows || a.Branches != nil || a.root["qualify"] != nil {
		return 0, 0, false
	}
	n, err := intConstant(child(a.limit, "limit"))
	if err != nil || n <= 0 {
		return 0, 0, false
	}
	if want, err = topN(a.limit); err != nil {
		return 0, 0, false
	}
	return n, want, true
}

// outputIndex finds the select-list item an ORDER BY term sorts by: one
// it names (alias or column) or one it repeats. A position (ORDER BY 2) is
// kept as written (-1), and so is a column a lone * selects (SELECT * ...
// ORDER BY c: the partial results carry every column by its name).
// Anything else sorts by a value the partial results do not carry, so the
// query stays local; so does an item beside one that may give other than
// one column (expands), whose place among the output columns is not its
// place in the select list.
func outputIndex(e Node, selectList []any) (int, error) {
	if str(e, "class") == "CONSTANT" {
		return -1, nil
	}
	if str(e, "class") == "COLUMN_REF" && len(list(e, "column_names")) == 1 && loneStar(selectList) {
		return -1, nil
	}
	if slices.ContainsFunc(selectList, expands) {
		// SELECT *, -g AS ng ... ORDER BY ng sorted the partial results
		// by the star's second column (2026-12-05).
		return 0, local("ORDER BY an item beside a * or an unnest, whose output column is not at its place")
	}
	if str(e, "class") == "COLUMN_REF" {
		if names := list(e, "column_names"); len(names) == 1 {
			for i, item := range selectList {
				if in, _ := item.(map[string]any); str(in, "alias") == names[0] {
					return i, nil
				}
			}
		}
	}
	for i, item := range selectList {
		if sameExpr(e, item) {
			return i, nil
		}
	}
	return 0, local("ORDER BY a value that is not selected")
}

// besideStar is the output column's name of the select item an ORDER BY
// term names or repeats, in a select list where an item expands: its
// alias, or the column a plain column reference gives; "" when there is
// none (an expression without an alias, sorted by as a value not
// selected) or no item expands.
func besideStar(e Node, selectList []any) string {
	if !slices.ContainsFunc(selectList, expands) {
		return ""
	}
	var names []any
	if str(e, "class") == "COLUMN_REF" {
		names = list(e, "column_names")
	}
	for _, item := range selectList {
		in, _ := item.(map[string]any)
		alias := str(in, "alias")
		if len(names) == 1 && alias != "" && alias == names[0] || sameExpr(e, item) {
			switch {
			case expands(item):
				return ""
			case alias != "":
				return alias
			case str(in, "class") == "COLUMN_REF":
				cols := list(in, "column_names")
				s, _ := cols[len(cols)-1].(string)
				return s
			}
			return ""
		}
	}
	return ""
}

// expands says a select item may give other than one output column: a
// star (*, t.*, s.*, COLUMNS(...)), an unpacked *COLUMNS(...), or unnest
// of a struct.
func expands(item any) bool {
	n, _ := item.(map[string]any)
	switch str(n, "class") {
	case "STAR":
		return true
	case "OPERATOR":
		return str(n, "type") == "OPERATOR_UNPACK"
	case "FUNCTION":
		return strings.EqualFold(str(n, "function_name"), "unnest")
	}
	return false
}

// loneStar says the select list is one * that gives every column by its
// own name (no EXCLUDE, REPLACE, RENAME or COLUMNS).
func loneStar(selectList []any) bool {
	if len(selectList) != 1 {
		return false
	}
	s, _ := selectList[0].(map[string]any)
	return str(s, "class") == "STAR" && len(list(s, "exclude_list")) == 0 && len(list(s, "replace_list")) == 0 &&
		len(list(s, "rename_list")) == 0 && len(list(s, "qualified_exclude_list")) == 0 && s["expr"] == nil && s["columns"] == false
}

// topN is how many rows each slice must keep: LIMIT plus OFFSET, which
// must be integer constants.
func topN(limit Node) (int64, error) {
	if limit["limit"] == nil {
		return 0, local("OFFSET without LIMIT")
	}
	n, err := intConstant(child(limit, "limit"))
	if err != nil {
		return 0, err
	}
	if limit["offset"] != nil {
		off, err := intConstant(child(limit, "offset"))
		if err != nil {
			return 0, err
		}
		n += off
	}
	return n, nil
}

func intConstant(n Node) (int64, error) {
	if str(n, "class") != "CONSTANT" {
		return 0, local("LIMIT or OFFSET that is not a constant")
	}
	v := child(n, "value")
	num, ok := v["value"].(json.Number)
	if !ok || v["is_null"] == true {
		return 0, local("LIMIT or OFFSET that is not an integer")
	}
	i, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil || i < 0 {
		return 0, local("LIMIT or OFFSET %s", num)
	}
	return i, nil
}

// plainMerge is the final step of planPlain's queries: the partial rows'
// columns by name, made distinct, sorted and cut as the query says.
func (a *Analysis) plainMerge(from Node, names []string) ([]byte, error) {
	n, err := a.plainMergeNode(from, names)
	if err != nil {
		return nil, err
	}
	return statement(n)
}

func (a *Analysis) plainMergeNode(from Node, names []string) (Node, error) {
	seen := map[string]bool{}
	var sl []any
	for _, n := range names {
		if seen[n] {
			return nil, local("two output columns named %q", n)
		}
		seen[n] = true
		sl = append(sl, columnRef(n))
	}
	node := selectNode(sl, from)
	var mods []any
	if a.distinct {
		on, err := a.distinctOnRefs(names)
		if err != nil {
			return nil, err
		}
		mods = append(mods, Node{"type": "DISTINCT_MODIFIER", "distinct_on_targets": on})
	}
	if len(a.orders) > 0 {
		var orders []any
		for i, o := range a.orders {
			om, _ := o.(map[string]any)
			on := clone(om)
			if h := a.hidden(i); h != "" {
				on["expression"] = columnRef(h)
			} else if idx := a.orderIdx[i]; idx >= 0 {
				if idx >= len(names) {
					return nil, fmt.Errorf("partition: ORDER BY column %d of %d", idx, len(names))
				}
				on["expression"] = columnRef(names[idx])
			}
			orders = append(orders, on)
		}
		mods = append(mods, Node{"type": "ORDER_MODIFIER", "orders": orders})
	}
	if a.limit != nil {
		mods = append(mods, clone(a.limit))
	}
	if mods != nil {
		node["modifiers"] = mods
	}
	return node, nil
}
