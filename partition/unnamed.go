package partition

import (
	"strconv"
	"strings"
)

// DuckDB names a FROM subquery without an alias itself: the binder of a
// SELECT counts them, left to right through its FROM's joins, and calls
// them unnamed_subquery, unnamed_subquery2, ... (a subquery's own FROM
// counts from 1 again). The planner reads a FROM item and its columns by
// name, and a query over an unnamed one ran local ("a join input without
// a name"). nameFromSubqueries writes those names into the AST as
// aliases, so the query means what it meant and plans as a named one
// does; a FROM where a name it would give is one the user wrote (an
// alias, a table's or a table function's name), or with an item whose
// counting it does not know (PIVOT, ...), is left as it is.
func nameFromSubqueries(root Node) {
	visit(root, func(n Node) bool {
		if str(n, "type") == "SELECT_NODE" {
			nameUnnamedIn(child(n, "from_table"))
		}
		return true
	})
}

// nameUnnamedIn aliases the unnamed subqueries of one FROM clause.
func nameUnnamedIn(from Node) {
	var unnamed []Node
	written := map[string]bool{}
	ok := true
	var walk func(n Node)
	walk = func(n Node) {
		if n == nil {
			return
		}
		name := str(n, "alias")
		switch str(n, "type") {
		case "JOIN":
			walk(child(n, "left"))
			walk(child(n, "right"))
			return
		case "SUBQUERY":
			if name == "" {
				unnamed = append(unnamed, n)
			}
		case "BASE_TABLE":
			if name == "" {
				name = str(n, "table_name")
			}
		case "TABLE_FUNCTION":
			if name == "" {
				name = str(child(n, "function"), "function_name")
			}
		case "EMPTY":
		default:
			ok = false
		}
		written[strings.ToLower(name)] = true
	}
	walk(from)
	if !ok || len(unnamed) == 0 {
		return
	}
	names := make([]string, len(unnamed))
	for i := range unnamed {
		names[i] = "unnamed_subquery"
		if i > 0 {
			names[i] += strconv.Itoa(i + 1)
		}
		if written[names[i]] {
			return
		}
	}
	for i, n := range unnamed {
		n["alias"] = names[i]
	}
}
