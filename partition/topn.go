package partition

import (
	"encoding/json"
	"fmt"
	"strings"
)

// The first n rows of each window partition, cut in each slice before the
// shuffle.
//
// Window functions see whole partitions, so rawStages ships every row the
// scan's WHERE keeps to the task holding its PARTITION BY key. When all
// the query keeps of them is the first n rows of each partition by a
// ranking function (the top row per group: rank() ... AS r in a FROM
// subquery filtered by WHERE r <= n, or QUALIFY rank() ... <= n), the
// tasks after the shuffle drop most of what was shipped. Each slice can
// drop it first, as Spark's WindowGroupLimit does:
//
//   - A row's rank is one more than the rows of its partition ordered
//     strictly before it, its dense rank one more than the distinct keys
//     before it. In a slice, a subset of the rows, neither can be larger,
//     so a row ranked at most n in all the rows is ranked at most n in its
//     slice: cutting each slice to rank <= n (dense_rank <= n for a bound
//     on dense_rank) keeps it.
//   - Every row ordered before or tied with such a row is ranked at most n
//     too, so it is kept as well: over the rows kept, such a row's rank,
//     dense rank and row number (among its ties, as DuckDB numbers them
//     anyway) are what they are over all the rows.
//   - A row ranked past n in all the rows may survive its slice's cut
//     with a smaller rank, but all the rows ranked at most n are ordered
//     before it and kept, and there are at least n of them, so over the
//     rows kept its rank (dense rank, row number) is still past n: the
//     bound drops it after the shuffle as it would have.
//
// So the cut is exact when every window of the query is one of rank,
// dense_rank and row_number over the same PARTITION BY and ORDER BY, and
// the rows are kept by a bound r <= n (r < n, r = n, either way round) on
// one of them, in a top-level conjunct of the query's QUALIFY or of the
// WHERE of the query over it (overSubquery), which filters its rows
// before anything else reads them. Anything else that reads a partition whole (count(*) OVER,
// ntile, percent_rank, a LIMIT in the subquery before the outer bound)
// sees other rows and keeps the query uncut.

// rankings are the window functions whose value for a row depends only on
// the rows ordered before or tied with it.
var rankings = map[string]string{"rank": "WINDOW_RANK", "dense_rank": "WINDOW_RANK_DENSE", "row_number": "WINDOW_ROW_NUMBER"}

// integerTypes are the constant types a bound's n may have.
var integerTypes = map[string]bool{"TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true,
	"UTINYINT": true, "USMALLINT": true, "UINTEGER": true, "UBIGINT": true}

// outerBound is what overSubquery tells the subquery's analysis about the
// query over it: it reads the subquery's rows as alias, its columns named
// names, and its WHERE's conjuncts filter them first.
type outerBound struct {
	alias     string
	names     []string
	conjuncts []any
}

// sliceCut is the QUALIFY a raw scan's tasks apply to their slices (the
// first n rows of each window partition, see above) and how --explain
// says it, or nil.
func (a *Analysis) sliceCut() (Node, string) {
	root := a.root
	if a.subqueries || root["sample"] != nil {
		return nil, ""
	}
	var windows []Node
	anyNode([]any{root["select_list"], root["qualify"], root["modifiers"], root["where_clause"]}, func(n Node) bool {
		if str(n, "class") == "WINDOW" {
			windows = append(windows, n)
		}
		return false
	})
	if len(windows) == 0 {
		return nil, ""
	}
	for _, w := range windows {
		if _, ok := rankings[strings.ToLower(str(w, "function_name"))]; !ok || str(w, "schema") != "" || str(w, "catalog") != "" ||
			len(list(w, "children")) > 0 || len(list(w, "arg_orders")) > 0 || w["filter_expr"] != nil || w["distinct"] == true ||
			!sameExpr(w["partitions"], windows[0]["partitions"]) || !sameExpr(w["orders"], windows[0]["orders"]) {
			return nil, ""
		}
	}
	fn, n := "", int64(0)
	bound := func(c any, resolve func(Node) (Node, bool)) {
		w, k, ok := rankBound(c, resolve)
		if ok && (fn == "" || k < n) {
			fn, n = strings.ToLower(str(w, "function_name")), k
		}
	}
	for _, c := range conjuncts(root["qualify"]) {
		bound(c, a.ownRanking)
	}
	if o := a.outer; o != nil && len(list(root, "modifiers")) == 0 {
		for _, c := range o.conjuncts {
			bound(c, a.outerRanking)
		}
	}
	if fn == "" {
		return nil, ""
	}
	cutFn := "rank"
	if fn == "dense_rank" {
		cutFn = "dense_rank"
	}
	w := clone(windows[0])
	w["alias"], w["function_name"], w["type"] = "", cutFn, rankings[cutFn]
	cut := Node{"class": "COMPARISON", "type": "COMPARE_LESSTHANOREQUALTO", "alias": "",
		"query_location": json.Number(noLocation), "left": w, "right": constant("BIGINT", json.Number(fmt.Sprint(n)))}
	first := fmt.Sprintf("first %d rows", n)
	if n == 1 {
		first = "first row"
	}
	return cut, fmt.Sprintf("each slice keeps the %s of every window partition by %s()", first, cutFn)
}

// rankBound reads a conjunct bounding a ranking window from above: r <=
// k, r < k, r = k or those turned round, with r a ranking window (as
// resolve finds it) and k an integer constant; n is the largest value the
// conjunct keeps, at least 1.
func rankBound(c any, resolve func(Node) (Node, bool)) (w Node, n int64, ok bool) {
	cn, _ := c.(map[string]any)
	if str(cn, "class") != "COMPARISON" {
		return nil, 0, false
	}
	op := str(cn, "type")
	ref, k := child(cn, "left"), child(cn, "right")
	if _, isConst := integer(ref); isConst {
		ref, k = k, ref
		switch op {
		case "COMPARE_GREATERTHANOREQUALTO":
			op = "COMPARE_LESSTHANOREQUALTO"
		case "COMPARE_GREATERTHAN":
			op = "COMPARE_LESSTHAN"
		}
	}
	v, isConst := integer(k)
	if !isConst {
		return nil, 0, false
	}
	switch op {
	case "COMPARE_LESSTHANOREQUALTO", "COMPARE_EQUAL":
		n = v
	case "COMPARE_LESSTHAN":
		n = v - 1
	default:
		return nil, 0, false
	}
	if w, ok = resolve(ref); !ok || n < 1 {
		return nil, 0, false
	}
	return w, n, true
}

// integer is the value of an integer constant.
func integer(n Node) (int64, bool) {
	if str(n, "class") != "CONSTANT" || !integerTypes[str(child(child(n, "value"), "type"), "id")] {
		return 0, false
	}
	v, err := intConstant(n)
	return v, err == nil
}

// ownRanking resolves a reference in the query's own QUALIFY to one of
// its ranking windows: the window itself, or the alias of the one select
// item of that name, a window, where the FROM item has no column of that
// name (which DuckDB would bind first).
func (a *Analysis) ownRanking(ref Node) (Node, bool) {
	if str(ref, "class") == "WINDOW" {
		return ref, true
	}
	names := list(ref, "column_names")
	if str(ref, "class") != "COLUMN_REF" || len(names) != 1 {
		return nil, false
	}
	name, _ := names[0].(string)
	if a.fromHas(name) {
		return nil, false
	}
	return a.aliasedWindow(name)
}

// outerRanking resolves a reference in the WHERE of the query over this
// one (a.outer) to one of its ranking windows: the subquery's one output
// column of that name, the alias of a select item that is a window.
func (a *Analysis) outerRanking(ref Node) (Node, bool) {
	names := list(ref, "column_names")
	if str(ref, "class") != "COLUMN_REF" || len(names) == 0 || len(names) > 2 {
		return nil, false
	}
	if len(names) == 2 {
		if q, _ := names[0].(string); !strings.EqualFold(q, a.outer.alias) {
			return nil, false
		}
	}
	name, _ := names[len(names)-1].(string)
	same := 0
	for _, o := range a.outer.names {
		if strings.EqualFold(o, name) {
			same++
		}
	}
	if same != 1 || a.fromHas(name) {
		return nil, false
	}
	return a.aliasedWindow(name)
}

// aliasedWindow is the select item aliased name, when it is the only item
// that could be named so and a window.
func (a *Analysis) aliasedWindow(name string) (Node, bool) {
	var w Node
	for _, it := range list(a.root, "select_list") {
		in, _ := it.(map[string]any)
		cols := list(in, "column_names")
		switch {
		case strings.EqualFold(str(in, "alias"), name):
			if w != nil || str(in, "class") != "WINDOW" {
				return nil, false
			}
			w = in
		case str(in, "alias") == "" && str(in, "class") == "COLUMN_REF" && len(cols) > 0 && strings.EqualFold(fmt.Sprint(cols[len(cols)-1]), name):
			return nil, false
		}
	}
	return w, w != nil
}

// fromHas says the query's FROM item may have a column called name (its
// columns unknown, it may).
func (a *Analysis) fromHas(name string) bool {
	if a.env.Columns == nil {
		return true
	}
	cols, err := a.env.Columns(child(a.root, "from_table"))
	if err != nil {
		return true
	}
	for _, c := range cols {
		if strings.EqualFold(c.Name, name) {
			return true
		}
	}
	return false
}
