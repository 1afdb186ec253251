package partition

import "testing"

// TestNameFromSubqueries: a FROM's unnamed subqueries get DuckDB's names
// left to right through its joins, a subquery's own FROM counting from 1
// again; a FROM where a name would be one the user wrote, or holding an
// item it does not count, keeps them unnamed.
func TestNameFromSubqueries(t *testing.T) {
	sub := func(alias string, from Node) Node {
		return Node{"type": "SUBQUERY", "alias": alias, "subquery": Node{"node": Node{"type": "SELECT_NODE", "from_table": from}}}
	}
	table := func(name, alias string) Node { return Node{"type": "BASE_TABLE", "table_name": name, "alias": alias} }
	join := func(l, r Node) Node { return Node{"type": "JOIN", "alias": "", "left": l, "right": r} }
	aliases := func(from Node) []string {
		var out []string
		var walk func(n Node)
		walk = func(n Node) {
			if str(n, "type") == "JOIN" {
				walk(child(n, "left"))
				walk(child(n, "right"))
				return
			}
			out = append(out, str(n, "alias"))
		}
		walk(from)
		return out
	}
	for _, c := range []struct {
		name string
		from Node
		want []string
	}{
		{"one", sub("", table("t", "")), []string{"unnamed_subquery"}},
		{"joined", join(join(sub("", nil), table("t", "a")), join(sub("s", nil), sub("", nil))),
			[]string{"unnamed_subquery", "a", "s", "unnamed_subquery2"}},
		{"a user's alias", join(sub("", nil), sub("unnamed_subquery", nil)), []string{"", "unnamed_subquery"}},
		{"a table's name", join(sub("", nil), join(sub("", nil), table("UNNAMED_SUBQUERY2", ""))), []string{"", "", ""}},
		{"a PIVOT", join(sub("", nil), Node{"type": "PIVOT", "alias": ""}), []string{"", ""}},
	} {
		root := Node{"type": "SELECT_NODE", "from_table": c.from}
		nameFromSubqueries(root)
		got := aliases(c.from)
		if len(got) != len(c.want) {
			t.Fatalf("%s: %q, want %q", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: %q, want %q", c.name, got, c.want)
				break
			}
		}
	}
	// A subquery's own FROM counts from 1.
	inner := sub("", table("t", ""))
	root := Node{"type": "SELECT_NODE", "from_table": join(sub("", Node(inner)), sub("", nil))}
	nameFromSubqueries(root)
	if got := str(inner, "alias"); got != "unnamed_subquery" {
		t.Errorf("nested: %q, want unnamed_subquery", got)
	}
	if got := aliases(child(root, "from_table")); got[1] != "unnamed_subquery2" {
		t.Errorf("nested: outer %q, want unnamed_subquery2 second", got)
	}
}
