package partition

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PIVOT in FROM (`t PIVOT (sum(x) FOR c IN ('a', 'b') GROUP BY g)`, and the
// PIVOT statement with an IN list, which DuckDB serializes as that) is a
// table reference the planner does not split. DuckDB binds one of up to
// pivotFilterThreshold output values as a grouped SELECT of filtered
// aggregates:
//
//	SELECT g, sum(x) FILTER (WHERE CAST(c AS VARCHAR) IS NOT DISTINCT FROM 'a') AS a, ...
//	FROM t GROUP BY 1
//
// in a subquery named as the PIVOT (or __unnamed_pivot), with its column
// aliases (bind_pivot.cpp, PivotFilteredAggregate); without GROUP BY, it
// groups by the source's columns that the aggregates and pivots do not
// name. pivotsAsAggregates writes that same SELECT in the PIVOT's place, so
// the query splits as any aggregate does and gives what DuckDB gives,
// names and all. Left as they are (and so local): a PIVOT of more values
// than the threshold (DuckDB then pivots lists of aggregates instead), of
// an IN list of other than strings and integers (their names are DuckDB's
// renderings) or a NULL, a subquery or an ENUM, of several aggregates not
// all aliased (DuckDB names them by their text), or an UNPIVOT.

// pivotFilterThreshold is DuckDB's pivot_filter_threshold default, which
// the sandbox keeps (settings are locked).
const pivotFilterThreshold = 20

// pivotsAsAggregates replaces, in place, each PIVOT in root that DuckDB
// binds as filtered aggregates by that SELECT (see above).
func pivotsAsAggregates(root Node, env Env) {
	replace(root, func(n Node) (any, bool) {
		if str(n, "type") != "PIVOT" {
			return nil, false
		}
		pivotsAsAggregates(child(n, "source"), env)
		sel, why := pivotSelect(n, env)
		if why != "" {
			return nil, false
		}
		alias := str(n, "alias")
		if alias == "" {
			alias = "__unnamed_pivot"
		}
		sub := subquery(sel, alias)
		if names := list(n, "column_name_alias"); names != nil {
			sub["column_name_alias"] = names
		}
		return sub, true
	})
}

// pivotSelect is the SELECT DuckDB binds the PIVOT p as, if it binds it as
// filtered aggregates and pivotsAsAggregates can write it; else why not.
func pivotSelect(p Node, env Env) (Node, string) {
	aggregates, pivots := list(p, "aggregates"), list(p, "pivots")
	switch {
	case len(aggregates) == 0 || len(list(p, "unpivot_names")) > 0:
		return nil, "an UNPIVOT"
	case len(pivots) == 0 || p["sample"] != nil || child(p, "source") == nil:
		return nil, "a PIVOT with a sample or without pivots"
	}
	for _, a := range aggregates {
		if an, ok := a.(map[string]any); !ok || len(aggregates) > 1 && str(an, "alias") == "" {
			return nil, "a PIVOT of several aggregates not all aliased"
		}
	}
	values, ok := pivotValues(pivots)
	switch {
	case !ok:
		return nil, "a PIVOT whose IN lists are not of strings and integers"
	case len(values) == 0:
		return nil, "a PIVOT of no values"
	case len(values) > pivotFilterThreshold:
		return nil, fmt.Sprintf("a PIVOT of more than %d values (DuckDB writes up to that many as filtered aggregates)",
			pivotFilterThreshold)
	}
	groups, why := pivotGroups(p, env)
	if why != "" {
		return nil, why
	}
	var selectList, groupExprs, set []any
	for i, name := range groups {
		selectList = append(selectList, columnRef(name))
		groupExprs = append(groupExprs, constant("INTEGER", json.Number(strconv.Itoa(i+1))))
		set = append(set, json.Number(strconv.Itoa(i)))
	}
	for _, v := range values {
		for _, a := range aggregates {
			an, _ := a.(map[string]any)
			expr := clone(an)
			fn, ok := soleAggregate(expr, env.Aggregates)
			if !ok {
				return nil, "a PIVOT expression without exactly one aggregate"
			}
			fn["filter"] = and(v.filter)
			name := v.name
			if alias := str(expr, "alias"); len(aggregates) > 1 || alias != "" {
				name += "_" + alias
			}
			selectList = append(selectList, withAlias(expr, name))
		}
	}
	sel := selectNode(selectList, child(p, "source"))
	if len(groups) > 0 {
		sel["group_expressions"], sel["group_sets"] = groupExprs, []any{set}
	}
	return sel, ""
}

// pivotGroups are the names a PIVOT groups by: its GROUP BY's, or without
// one, as DuckDB does, every column of its source but those its
// aggregates and pivots name (ConstructInitialGrouping), which
// env.Columns says; else why not.
func pivotGroups(p Node, env Env) ([]string, string) {
	var groups []string
	for _, g := range list(p, "groups") {
		name, ok := g.(string)
		if !ok {
			return nil, "a PIVOT grouped by other than names"
		}
		groups = append(groups, name)
	}
	if len(groups) > 0 {
		return groups, ""
	}
	if env.Columns == nil {
		return nil, "a PIVOT without GROUP BY"
	}
	cols, err := env.Columns(child(p, "source"))
	if err != nil {
		return nil, fmt.Sprintf("a PIVOT without GROUP BY whose source's columns are not known (%v)", err)
	}
	handled := map[string]bool{}
	named := func(v any) {
		visit(v, func(n Node) bool {
			if str(n, "class") == "COLUMN_REF" {
				names := list(n, "column_names")
				if len(names) == 0 {
					return true
				}
				if s, ok := names[len(names)-1].(string); ok {
					handled[strings.ToLower(s)] = true
				}
			}
			return true
		})
	}
	for _, a := range list(p, "aggregates") {
		an, _ := a.(map[string]any)
		fn, ok := soleAggregate(clone(an), env.Aggregates)
		if !ok {
			return nil, "a PIVOT expression without exactly one aggregate"
		}
		named(fn)
	}
	for _, pv := range list(p, "pivots") {
		pn, _ := pv.(map[string]any)
		named(list(pn, "pivot_expressions"))
	}
	seen := map[string]bool{}
	for _, c := range cols {
		key := strings.ToLower(c.Name)
		if seen[key] {
			return nil, fmt.Sprintf("a PIVOT without GROUP BY over two columns named %s", c.Name)
		}
		seen[key] = true
		if !handled[key] {
			groups = append(groups, c.Name)
		}
	}
	return groups, ""
}

// pivotValue is one output value of a PIVOT: its name, and the
// conjuncts of the filter of the rows that give it.
type pivotValue struct {
	name   string
	filter []any
}

// pivotValues are the PIVOT's output values, each pivot's entries within
// the previous pivot's (ConstructPivots), or false when one is not written
// here (see above).
func pivotValues(pivots []any) ([]pivotValue, bool) {
	out := []pivotValue{{}}
	for _, pv := range pivots {
		pivot, _ := pv.(map[string]any)
		exprs := list(pivot, "pivot_expressions")
		if len(exprs) == 0 || str(pivot, "pivot_enum") != "" || len(list(pivot, "unpivot_names")) > 0 {
			return nil, false
		}
		var next []pivotValue
		for _, prev := range out {
			for _, ev := range list(pivot, "entries") {
				entry, _ := ev.(map[string]any)
				vals := list(entry, "values")
				if entry["star_expr"] != nil || len(vals) != len(exprs) {
					return nil, false
				}
				var names []string
				filter := append([]any{}, prev.filter...)
				for i, v := range vals {
					text, ok := pivotText(v)
					expr, isNode := exprs[i].(map[string]any)
					if !ok || !isNode {
						return nil, false
					}
					names = append(names, text)
					eq := Node{"class": "COMPARISON", "type": "COMPARE_NOT_DISTINCT_FROM", "alias": "",
						"query_location": json.Number(noLocation),
						"left":           cast("VARCHAR", clone(expr)), "right": constant("VARCHAR", text)}
					filter = append(filter, eq)
				}
				name := str(entry, "alias")
				if name == "" {
					name = strings.Join(names, "_")
				}
				if prev.name != "" {
					name = prev.name + "_" + name
				}
				next = append(next, pivotValue{name: name, filter: filter})
				if len(next) > pivotFilterThreshold {
					return next, true // too many: the caller says so
				}
			}
		}
		out = next
	}
	return out, true
}

// pivotText is an IN list value as DuckDB names a column by it and
// compares it (its text: ToString and the cast to VARCHAR agree for
// these types), if it is a string or an integer not NULL.
func pivotText(v any) (string, bool) {
	n, _ := v.(map[string]any)
	if n["is_null"] != false {
		return "", false
	}
	switch str(child(n, "type"), "id") {
	case "VARCHAR":
		s, ok := n["value"].(string)
		return s, ok
	case "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT":
		num, ok := n["value"].(json.Number)
		return string(num), ok
	}
	return "", false
}

// soleAggregate is the aggregate function of a PIVOT's aggregate
// expression (DuckDB requires exactly one), if it has exactly one.
func soleAggregate(expr Node, aggs Aggregates) (Node, bool) {
	var found []Node
	visit(expr, func(n Node) bool {
		if str(n, "class") == "FUNCTION" && aggs[str(n, "function_name")] {
			found = append(found, n)
			return false
		}
		if str(n, "class") == "WINDOW" || str(n, "class") == "SUBQUERY" {
			found = append(found, nil, nil)
			return false
		}
		return true
	})
	if len(found) != 1 {
		return nil, false
	}
	return found[0], true
}
