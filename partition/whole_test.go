package partition

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestWholeQuery: the query as one task runs it, its views inlined and
// each scan's paths listed (a join of two scans lists two); a table, a
// view it does not know, or another table function is not whole.
func TestWholeQuery(t *testing.T) {
	def, err := os.ReadFile("testdata/view_def.json")
	if err != nil {
		t.Fatal(err)
	}
	views := func(_, _, name string) (View, bool) { return View{AST: def}, name == "v" }
	for name, scans := range map[string]int{"scan": 1, "join": 2, "over_view": 1, "agg": 1} {
		w, err := WholeQuery(load(t, name), views)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(w.Scans) != scans || w.Text {
			t.Errorf("%s: scans %v (text %v), want %d Parquet scans", name, w.Scans, w.Text, scans)
		}
		if strings.Contains(string(w.AST), `"BASE_TABLE"`) {
			t.Errorf("%s: a table reference is left: %s", name, w.AST)
		}
	}
	for _, name := range []string{"table", "over_view"} {
		if w, err := WholeQuery(load(t, name), nil); !errors.Is(err, ErrNotWhole) {
			t.Errorf("%s without views: %+v, %v; want ErrNotWhole", name, w, err)
		}
	}
	other, err := statementRoot(load(t, "scan"))
	if err != nil {
		t.Fatal(err)
	}
	anyNode(other, func(n Node) bool {
		if str(n, "type") == "TABLE_FUNCTION" {
			child(n, "function")["function_name"] = "range"
		}
		return false
	})
	ast, err := statement(other)
	if err != nil {
		t.Fatal(err)
	}
	if w, err := WholeQuery(ast, views); !errors.Is(err, ErrNotWhole) {
		t.Errorf("range(): %+v, %v; want ErrNotWhole", w, err)
	}
}
