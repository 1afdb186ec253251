package partition

// DuckDB names a result column that has no alias after its expression's
// text, and the planner rewrites the text of a subquery (the views it
// reads become the files they read, a WITH its result): a column named
// after a subquery would be named otherwise by the split plan, whose
// result schema then differs from the query's, and the query ran local
// (`SELECT s_suppkey, (SELECT count(*) FROM partsupp WHERE ps_suppkey =
// s_suppkey) FROM supplier`). Such a column is given its name as an
// alias first, the one DuckDB gave it; so is one named after a call of
// the query's instant, which the plan makes a parameter (now.go).

// nameSubqueryItems aliases each select item of root that holds a
// subquery or a call of the instant and has no alias with names[i], its result column's name.
// Nothing changes when the items are not the columns one for one (a *,
// COLUMNS, a set operation).
func nameSubqueryItems(root Node, names []string) {
	if str(root, "type") != "SELECT_NODE" {
		return
	}
	items := list(root, "select_list")
	if len(items) != len(names) {
		return
	}
	for _, it := range items {
		if n, ok := it.(Node); !ok || str(n, "class") == "STAR" {
			return
		}
	}
	for i, it := range items {
		n := it.(Node)
		if str(n, "alias") != "" || names[i] == "" {
			continue
		}
		if anyNode(n, renamed) {
			withAlias(n, names[i])
		}
	}
}

// intervalParts are the functions DuckDB's parser writes an INTERVAL
// literal as (INTERVAL 2 DAY is to_days(CAST(trunc(CAST(2 AS DOUBLE)) AS
// INTEGER))), whose text the AST's round trip changes (CAST(2 AS
// "DOUBLE")): `SELECT d + INTERVAL 2 DAY` or a window's RANGE frame of an
// INTERVAL, unaliased, ran local ("the staged rewrite changes the result
// schema", a tester's).
var intervalParts = map[string]bool{"to_years": true, "to_quarters": true, "to_months": true, "to_weeks": true,
	"to_days": true, "to_hours": true, "to_minutes": true, "to_seconds": true, "to_milliseconds": true,
	"to_microseconds": true, "to_decades": true, "to_centuries": true, "to_millennia": true}

// renamed says the planner may rewrite the text of expression n: a
// subquery, or a call of the query's instant (now.go), which a keyword
// that names a column is not, though its name is then the same.
func renamed(n Node) bool {
	switch str(n, "class") {
	case "SUBQUERY":
		return true
	case "FUNCTION":
		_, ok := nowCall(n)
		return ok || intervalParts[str(n, "function_name")]
	case "COLUMN_REF":
		names := list(n, "column_names")
		if len(names) != 1 {
			return false
		}
		name, _ := names[0].(string)
		return nowKeywords[name]
	}
	return false
}
