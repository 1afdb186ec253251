package partition

import (
	"fmt"
)

// decomposable says how each splittable aggregate becomes partial
// aggregates over a slice and a final expression over their columns.
// A FILTER stays on the partials (aggfilter.go). Anything else
// (DISTINCT, ORDER BY inside the call, other functions) keeps the query
// local.
var decomposable = map[string]func(call Node, partial func(Node) Node) Node{
	"count_star": func(c Node, p func(Node) Node) Node {
		return cast("BIGINT", function("sum", p(c)))
	},
	"count": func(c Node, p func(Node) Node) Node {
		return cast("BIGINT", function("sum", p(c)))
	},
	"sum":      reaggregate("sum"),
	"min":      reaggregate("min"),
	"max":      reaggregate("max"),
	"bool_and": reaggregate("bool_and"),
	"bool_or":  reaggregate("bool_or"),
	// AVG is SUM over COUNT, never an average of averages.
	"avg":  average,
	"mean": average,
}

// arity is how many arguments an aggregate's decomposition reads; another
// form of it stays local: max(x, n) and min(x, n) are lists of the n
// largest or smallest, whose max over the slices' lists is not the
// list of them all (found 2026-12-05: max(l_extendedprice, 3) gave one
// slice's top 3).
var arity = map[string]int{"avg": 1, "mean": 1, "sum": 1, "min": 1, "max": 1, "bool_and": 1, "bool_or": 1}

func reaggregate(final string) func(Node, func(Node) Node) Node {
	return func(c Node, p func(Node) Node) Node { return function(final, p(c)) }
}

func average(c Node, p func(Node) Node) Node {
	arg, _ := list(c, "children")[0].(map[string]any) // arity and shape checked by rewrite
	sum := filtered(function("sum", clone(arg)), c)
	count := filtered(function("count", clone(arg)), c)
	return operator("/", function("sum", p(sum)), function("sum", p(count)))
}

// planMerge builds the partial and final forms of an aggregate query.
func (a *Analysis) planMerge(aggs Aggregates) error {
	root := a.root
	a.groups = list(root, "group_expressions")
	for _, g := range a.groups {
		gn, ok := g.(map[string]any)
		if !ok {
			return local("malformed GROUP BY")
		}
		if str(gn, "class") == "CONSTANT" {
			return local("GROUP BY position")
		}
		if containsAggregate(gn, aggs) {
			return local("aggregate in GROUP BY")
		}
	}
	outputs := map[string]bool{}
	for _, item := range list(root, "select_list") {
		n, ok := item.(map[string]any)
		if !ok {
			return local("malformed select list")
		}
		if str(n, "class") == "STAR" {
			return local("SELECT * with aggregates")
		}
		if al := str(n, "alias"); al != "" {
			outputs[al] = true
		}
	}
	if err := a.findDistinct(aggs); err != nil {
		return err
	}
	r := &rewriter{a: a, aggs: aggs}
	for _, item := range list(root, "select_list") {
		in, _ := item.(map[string]any) // each checked above
		f, err := r.rewrite(clone(in), nil)
		if err != nil {
			return err
		}
		a.finals = append(a.finals, f)
	}
	if h := child(root, "having"); h != nil {
		f, err := r.rewrite(clone(h), outputs)
		if err != nil {
			return err
		}
		a.having = f
	}
	for _, m := range list(root, "modifiers") {
		mn, ok := m.(map[string]any)
		if !ok {
			return local("malformed modifier")
		}
		switch str(mn, "type") {
		case "ORDER_MODIFIER":
			for _, o := range list(mn, "orders") {
				om, ok := o.(map[string]any)
				if !ok {
					return local("malformed ORDER BY")
				}
				on := clone(om)
				e, err := r.rewrite(child(on, "expression"), outputs)
				if err != nil {
					return err
				}
				on["expression"] = e
				a.orders = append(a.orders, on)
			}
		case "LIMIT_MODIFIER":
			a.limit = mn
		}
	}
	return nil
}

type rewriter struct {
	a    *Analysis
	aggs Aggregates
}

// rewrite turns an expression over the scan into one over the partial
// results: group expressions become their gN columns, aggregates their
// final forms over pN columns. A column reference left over must name an
// output column (ORDER BY or HAVING on an alias), else the query is local.
func (r *rewriter) rewrite(e Node, outputs map[string]bool) (Node, error) {
	for i, g := range r.a.groups {
		if sameExpr(e, g) {
			return withAlias(columnRef(fmt.Sprintf("g%d", i)), str(e, "alias")), nil
		}
	}
	switch str(e, "class") {
	case "FUNCTION":
		name := str(e, "function_name")
		if r.aggs[name] {
			if r.a.distinctArg != nil {
				return r.distinctFinal(e, name)
			}
			final, ok := decomposable[name]
			if !ok {
				return nil, local("aggregate %s does not split", name)
			}
			if e["distinct"] == true || !filterSplits(e, r.aggs) || len(list(child(e, "order_bys"), "orders")) > 0 {
				return nil, local("%s with DISTINCT, ORDER BY or a FILTER that reads more than the row", name)
			}
			if containsAggregate(list(e, "children"), r.aggs) {
				return nil, local("nested aggregate")
			}
			if n, ok := arity[name]; ok && len(list(e, "children")) != n {
				return nil, local("%s with %d arguments", name, len(list(e, "children")))
			}
			for _, c := range list(e, "children") {
				if _, ok := c.(map[string]any); !ok {
					return nil, local("malformed arguments of %s", name)
				}
			}
			out := final(e, r.partial)
			if (name == "count" || name == "count_star") && r.a.groupingSets() {
				// A set of no keys over no rows is one row, its count 0;
				// the sum of no partial counts is NULL.
				out = orZero(out)
			}
			return withAlias(out, str(e, "alias")), nil
		}
	case "SUBQUERY":
		if own := r.overOwnRows(e); own != nil {
			return own, nil
		}
		// Evaluated as written where the final step runs (an executor,
		// since the query has subqueries); one correlated with the
		// query's rows names columns the partials do not have, and the
		// plan's check (preparing it) keeps the query local.
		return e, nil
	case "COLUMN_REF":
		names := list(e, "column_names")
		if len(names) == 1 {
			if name, ok := names[0].(string); ok && outputs[name] {
				return e, nil
			}
		}
		return nil, local("column %v is neither grouped nor aggregated", names)
	}
	return mapChildren(e, func(n Node) (Node, error) { return r.rewrite(n, outputs) })
}

// mapChildren replaces, in place, the expressions under expression e (not
// a constant's value, a cast's type or an aggregate's ORDER BY) by what f
// gives.
func mapChildren(e Node, f func(Node) (Node, error)) (Node, error) {
	for k, v := range e {
		if k == "value" || k == "cast_type" || k == "order_bys" {
			continue
		}
		out, err := mapExprs(v, f)
		if err != nil {
			return nil, err
		}
		e[k] = out
	}
	return e, nil
}

// mapExprs replaces, in place, each expression node inside v (v itself,
// or those in the containers, lists and CASE arms, holding expressions)
// by what f gives.
func mapExprs(v any, f func(Node) (Node, error)) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		if str(v, "class") != "" {
			return f(v)
		}
		for k, x := range v {
			out, err := mapExprs(x, f)
			if err != nil {
				return nil, err
			}
			v[k] = out
		}
	case []any:
		for i, x := range v {
			out, err := mapExprs(x, f)
			if err != nil {
				return nil, err
			}
			v[i] = out
		}
	}
	return v, nil
}

// partial registers a partial aggregate (reusing an equal one) and returns
// a reference to its column.
func (r *rewriter) partial(agg Node) Node {
	clean := clone(agg)
	clean["alias"] = ""
	for i, p := range r.a.partials {
		if sameExpr(p, clean) {
			return columnRef(fmt.Sprintf("p%d", i))
		}
	}
	r.a.partials = append(r.a.partials, clean)
	return columnRef(fmt.Sprintf("p%d", len(r.a.partials)-1))
}

// Aggregates over DISTINCT values split by grouping each slice on the
// value as well: a task returns each group's distinct values, and the final
// step aggregates them again, DISTINCT. That holds for COUNT(DISTINCT)
// and SUM(DISTINCT), and for MIN and MAX of the same value; any other
// aggregate (a plain COUNT or SUM among them) would see each value once per
// slice that has it, so the query stays local.
var overDistinct = map[string]bool{"count": true, "sum": true, "min": true, "max": true}

// findDistinct enters that mode when some aggregate is DISTINCT.
func (a *Analysis) findDistinct(aggs Aggregates) error {
	var calls []Node
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if str(v, "class") == "FUNCTION" && aggs[str(v, "function_name")] {
				calls = append(calls, v)
				return
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(a.root["select_list"])
	walk(a.root["having"])
	walk(a.root["modifiers"])
	distinct := false
	for _, c := range calls {
		if c["distinct"] == true {
			distinct = true
		}
	}
	if !distinct {
		return nil
	}
	for _, c := range calls {
		args := list(c, "children")
		if !overDistinct[str(c, "function_name")] || len(args) != 1 || c["filter"] != nil ||
			len(list(child(c, "order_bys"), "orders")) > 0 {
			return local("DISTINCT aggregate beside %s", str(c, "function_name"))
		}
		if name := str(c, "function_name"); (name == "count" || name == "sum") && c["distinct"] != true {
			return local("%s without DISTINCT beside a DISTINCT aggregate", name)
		}
		arg, ok := args[0].(map[string]any)
		if !ok {
			return local("malformed DISTINCT aggregate")
		}
		if a.distinctArg == nil {
			a.distinctArg = clone(arg)
		} else if !sameExpr(arg, a.distinctArg) {
			return local("DISTINCT aggregates over different values")
		}
	}
	a.partials = []Node{clone(a.distinctArg)}
	return nil
}

// distinctFinal is an aggregate's final form over the distinct values p0.
func (r *rewriter) distinctFinal(e Node, name string) (Node, error) {
	if !overDistinct[name] {
		return nil, local("aggregate %s beside a DISTINCT one", name)
	}
	out := clone(e)
	out["children"] = []any{columnRef("p0")}
	if name == "count" || name == "sum" {
		out["distinct"] = true
	}
	return out, nil
}
