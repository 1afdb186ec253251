package partition

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBindNow: each call of the query's instant becomes the marker cast
// to the call's type; a keyword is the column of that name when the FROM
// in scope has one, or an alias is named so; an item with no alias keeps
// the name DuckDB gives it.
func TestBindNow(t *testing.T) {
	query := func() Node {
		from := Node{"type": "TABLE_FUNCTION", "alias": "", "function": function("read_parquet")}
		sub := Node{"type": "SELECT_NODE", "select_list": []any{columnRef("localtime")},
			"from_table": Node{"type": "EMPTY"}}
		return Node{"type": "SELECT_NODE", "from_table": from, "select_list": []any{
			columnRef("current_date"), function("now"), withAlias(function("today"), "d"), columnRef("x"),
			Node{"class": "SUBQUERY", "subquery": Node{"node": sub}}, cast("VARCHAR", function("now")),
		}}
	}
	columns := func(has ...string) func(Node) ([]Column, error) {
		return func(Node) ([]Column, error) {
			var out []Column
			for _, h := range has {
				out = append(out, Column{Name: h, Type: "INTEGER"})
			}
			return out, nil
		}
	}
	text := func(v any) string {
		b, err := json.Marshal(strip(v))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	marker := func(typ string) string { return text(nowMarker(typ)) }

	q := query()
	nameSubqueryItems(q, []string{"current_date", "now()", "d", "x", "l", "CAST(now() AS VARCHAR)"})
	if err := bindNow(q, columns("x")); err != nil {
		t.Fatal(err)
	}
	items := list(q, "select_list")
	for i, want := range []struct{ node, alias string }{
		{marker("DATE"), "current_date"}, {marker(""), "now()"}, {marker("DATE"), "d"}, {text(columnRef("x")), ""},
	} {
		n, _ := items[i].(map[string]any)
		if got := text(n); got != want.node || str(n, "alias") != want.alias {
			t.Errorf("item %d: %s aliased %q, want %s aliased %q", i, got, str(n, "alias"), want.node, want.alias)
		}
	}
	inner := list(child(child(items[4].(map[string]any), "subquery"), "node"), "select_list")[0]
	if got := text(inner); got != marker("TIME") {
		t.Errorf("localtime in a subquery: %s, want %s", got, marker("TIME"))
	}
	if n, _ := items[5].(map[string]any); text(n) != text(cast("VARCHAR", nowMarker(""))) || str(n, "alias") != "CAST(now() AS VARCHAR)" {
		t.Errorf("CAST(now() AS VARCHAR): %s aliased %q", text(n), str(n, "alias"))
	}

	// A column current_date in the FROM; an alias localtime.
	q = query()
	list(q, "select_list")[3].(map[string]any)["alias"] = "localtime"
	if err := bindNow(q, columns("current_date", "x")); err != nil {
		t.Fatal(err)
	}
	items = list(q, "select_list")
	if got := text(items[0]); got != text(columnRef("current_date")) {
		t.Errorf("the column current_date became %s", got)
	}
	inner = list(child(child(items[4].(map[string]any), "subquery"), "node"), "select_list")[0]
	if got := text(inner); got != text(columnRef("localtime")) {
		t.Errorf("localtime, an alias, became %s", got)
	}
	// Only the FROM of the keyword's own SELECT makes it a column: not
	// an outer query's, which for a subquery in FROM is the subquery's
	// own output (it was left a column, and ran per task).
	inFrom := Node{"type": "SELECT_NODE", "select_list": []any{withAlias(columnRef("current_timestamp"), "current_timestamp")},
		"from_table": Node{"type": "TABLE_FUNCTION", "alias": "", "function": function("read_parquet")}}
	q = Node{"type": "SELECT_NODE", "select_list": []any{function("count_star")},
		"from_table": Node{"type": "SUBQUERY", "alias": "", "subquery": Node{"node": inFrom}}}
	if err := bindNow(q, func(n Node) ([]Column, error) {
		if str(n, "type") == "SUBQUERY" {
			return []Column{{Name: "current_timestamp", Type: "TIMESTAMP WITH TIME ZONE"}}, nil
		}
		return []Column{{Name: "x", Type: "INTEGER"}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, want := text(list(inFrom, "select_list")[0]), text(withAlias(nowMarker(""), "current_timestamp")); got != want {
		t.Errorf("current_timestamp of a subquery in FROM: %s, want %s", got, want)
	}
	// Columns unknown: the keyword keeps the query local.
	if err := bindNow(query(), nil); err == nil || !strings.Contains(err.Error(), "current_date") {
		t.Errorf("no columns: %v, want local", err)
	}
}

// TestNowParameter: the marker becomes a parameter after the AST's
// others, cast to TIMESTAMP WITH TIME ZONE; an AST without one is
// unchanged; the instant's text is UTC to the microsecond.
func TestNowParameter(t *testing.T) {
	ast := func(items ...any) []byte {
		b, err := json.Marshal(Node{"statements": []any{Node{"node": Node{"type": "SELECT_NODE", "select_list": items}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := ast(parameter(1), cast("DATE", nowMarker("")), parameter(3), nowMarker(""))
	out, uses, err := NowParameter(in)
	if err != nil || !uses {
		t.Fatalf("uses %v, %v", uses, err)
	}
	want := ast(parameter(1), cast("DATE", cast("TIMESTAMP WITH TIME ZONE", parameter(4))), parameter(3),
		cast("TIMESTAMP WITH TIME ZONE", parameter(4)))
	var got, w any
	if err := decode(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := decode(want, &w); err != nil {
		t.Fatal(err)
	}
	if a, b := must(json.Marshal(strip(got))), must(json.Marshal(strip(w))); string(a) != string(b) {
		t.Errorf("got %s\nwant %s", a, b)
	}
	plain := ast(parameter(1), function("get_current_timestamp"))
	if out, uses, err := NowParameter(plain); err != nil || uses || string(out) != string(plain) {
		t.Errorf("no marker: %s %v %v", out, uses, err)
	}
	at := time.Date(2026, 12, 2, 21, 0, 0, 123456789, time.FixedZone("+0545", 5*3600+45*60))
	if got := NowText(at); got != "2026-12-02 15:15:00.123456+00" {
		t.Errorf("NowText: %q", got)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
