package partition

import (
	"fmt"
	"strings"
)

// An aggregate that does not decompose (median, list, string_agg with
// ORDER BY, ...) or a window function reads whole groups or partitions:
// over one scan, rawStages ships the scan's rows shuffled by the group
// (or PARTITION BY) keys and runs the query on each part. Over a join it
// ran local. joinRows writes such a query as the same query over a FROM
// subquery holding the join's rows (the columns the query reads of them,
// its WHERE applied):
//
//	SELECT n_name, median(c.c_acctbal) FROM customer c JOIN nation n ON ... WHERE ... GROUP BY n_name
//	SELECT n_name, median(skein_c1) AS "median(c.c_acctbal)"
//	FROM (SELECT n.n_name AS skein_c0, c.c_acctbal AS skein_c1 FROM customer c JOIN nation n ON ... WHERE ...) AS skein_join_rows
//	GROUP BY skein_c0
//
// (the select items named as the query names them), which is planned as
// any query over a subquery (overSubquery): the join in stages of its own,
// its rows shuffled by the keys, the query on each part. The subquery is
// never seen through as a join's filter and projection (findScan).
//
// Left as they are: a query with a * or COLUMNS, a subquery or a lambda
// outside the FROM, a name that is a select item's alias and a column of
// the join's (or a field of an alias), or a select item it cannot name (an expression without
// an alias when the result's names are not known).

// joinRowsAlias names the FROM subquery of joinRows.
const joinRowsAlias = "skein_join_rows"

// joinRows is root (a SELECT over a join) as the query over the join's
// rows (see above), names being its result's column names (nil: not
// known), or why not.
func joinRows(root Node, names []string, columns func(Node) ([]Column, error)) (Node, string) {
	items := list(root, "select_list")
	// isColumn says whether name (lowercase) may be a column of the join,
	// asking columns once, when an alias is named: a name that is a
	// select item's alias and no column is that item, in the query over
	// the join's rows as in the query.
	var fromNames map[string]bool
	isColumn := func(name string) bool {
		if fromNames == nil {
			if columns == nil {
				return true
			}
			cols, err := columns(child(root, "from_table"))
			if err != nil {
				return true
			}
			fromNames = map[string]bool{}
			for _, c := range cols {
				fromNames[strings.ToLower(c.Name)] = true
			}
		}
		return fromNames[name]
	}
	parts := []any{root["select_list"], root["group_expressions"], root["having"], root["qualify"], root["modifiers"]}
	aliases := map[string]bool{}
	for _, it := range items {
		in, ok := it.(map[string]any)
		if !ok {
			return nil, "over a join, with a select item that is not an expression"
		}
		if a := str(in, "alias"); a != "" {
			aliases[strings.ToLower(a)] = true
		}
	}
	var bad string
	refs := map[string]string{} // a reference's names, lowercase: its column
	var inner []any
	visit(parts, func(n Node) bool {
		switch str(n, "class") {
		case "STAR", "SUBQUERY", "LAMBDA", "POSITIONAL_REFERENCE", "PARAMETER":
			bad = strings.ToLower(str(n, "class"))
			return false
		case "COLUMN_REF":
			key := refKey(n)
			if len(key) == 0 {
				bad = "a reference to no column"
				return false
			}
			if aliases[key[0]] {
				if len(key) == 1 && !isColumn(key[0]) {
					return false // the alias, left as it is
				}
				bad = "a name that may be a select item's alias"
				return false
			}
			k := strings.Join(key, "\x00")
			if _, ok := refs[k]; !ok {
				refs[k] = fmt.Sprintf("skein_c%d", len(refs))
				inner = append(inner, withAlias(clone(n), refs[k]))
			}
			return false
		}
		return true
	})
	switch {
	case bad != "":
		return nil, fmt.Sprintf("over a join, with %s outside its FROM", bad)
	case len(inner) == 0:
		return nil, "over a join, reading none of its columns"
	case root["sample"] != nil:
		return nil, "over a join, with a sample"
	}
	out := clone(root)
	for i, it := range list(out, "select_list") {
		n, _ := it.(map[string]any)
		if str(n, "alias") != "" {
			continue
		}
		switch {
		case len(names) == len(items) && names[i] != "":
			withAlias(n, names[i])
		case str(n, "class") == "COLUMN_REF" && len(list(n, "column_names")) > 0:
			cn := list(n, "column_names")
			s, _ := cn[len(cn)-1].(string)
			withAlias(n, s)
		default:
			return nil, "over a join, with a select item whose name is not known"
		}
	}
	for _, k := range []string{"select_list", "group_expressions", "having", "qualify", "modifiers"} {
		out[k] = replace(out[k], func(n Node) (any, bool) {
			if str(n, "class") != "COLUMN_REF" {
				return nil, false
			}
			col, ok := refs[strings.Join(refKey(n), "\x00")]
			if !ok {
				return n, true // an alias
			}
			return withAlias(columnRef(col), str(n, "alias")), true
		})
	}
	sel := selectNode(inner, child(root, "from_table"))
	sel["where_clause"] = root["where_clause"]
	out["from_table"] = subquery(clone(sel), joinRowsAlias)
	out["where_clause"] = nil
	return out, ""
}

// refKey is a column reference's names, lowercase.
func refKey(n Node) []string {
	var key []string
	for _, c := range list(n, "column_names") {
		s, _ := c.(string)
		key = append(key, strings.ToLower(s))
	}
	return key
}

// overJoinRows analyzes root as the query over its join's rows
// (joinRows), or gives why (err, why the query itself does not split,
// with why that cannot be written) when it cannot be.
func overJoinRows(root Node, names []string, env Env, err error) (*Analysis, error) {
	out, why := joinRows(root, names, env.Columns)
	if why != "" {
		return nil, fmt.Errorf("%w (%s)", err, why)
	}
	return analyzeSelect(out, env)
}
