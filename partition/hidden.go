package partition

import (
	"fmt"
	"strings"
)

// A query without aggregates may sort by a value it does not select
// (SELECT o_orderkey FROM orders ORDER BY o_totalprice DESC LIMIT 10, a
// BI tool's "top ten by"): each task selects that value too, as a column
// of its own after the query's, sorts and cuts its rows by it, and the
// final step sorts by that column and leaves it out of the answer.

// hiddenPrefix names the columns a task adds for them: skein_o0, ...
const hiddenPrefix = "skein_o"

// hiddenKey is the name of the column a task adds for ORDER BY term e
// (the k-th such), or "" when e may not be computed in the select list as
// the ORDER BY computes it: under DISTINCT (DuckDB sorts its rows only by
// what they select); a subquery, window or COLLATE (its collation does not
// travel with the column); or a name the select list defines, where the
// select list and the ORDER BY could bind it to different values (an
// alias, a * that replaces or renames columns).
func hiddenKey(e Node, selectList []any, distinct bool, k int) string {
	if e == nil || distinct || anyNode(e, func(n Node) bool {
		switch str(n, "class") {
		case "SUBQUERY", "WINDOW", "COLLATE", "STAR", "POSITIONAL_REFERENCE", "PARAMETER", "LAMBDA":
			return true
		}
		return false
	}) {
		return ""
	}
	aliases := map[string]bool{}
	for _, item := range selectList {
		in, _ := item.(map[string]any)
		if str(in, "class") == "STAR" && (len(list(in, "replace_list")) > 0 || len(list(in, "rename_list")) > 0 ||
			in["expr"] != nil || in["columns"] == true) {
			return ""
		}
		if a := str(in, "alias"); a != "" {
			aliases[strings.ToLower(a)] = true
		}
	}
	clash := anyNode(e, func(n Node) bool {
		if str(n, "class") != "COLUMN_REF" {
			return false
		}
		names := list(n, "column_names")
		for _, x := range names {
			if s, _ := x.(string); aliases[strings.ToLower(s)] || strings.HasPrefix(strings.ToLower(s), hiddenPrefix) {
				return true
			}
		}
		return false
	})
	if clash {
		return ""
	}
	return fmt.Sprintf("%s%d", hiddenPrefix, k)
}

// hidden is the column a task adds for ORDER BY term i, or "".
func (a *Analysis) hidden(i int) string {
	if i < len(a.orderHidden) {
		return a.orderHidden[i]
	}
	return ""
}
