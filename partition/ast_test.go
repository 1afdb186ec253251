package partition

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
)

// TestCloneIsJSONRoundTrip: clone copies exactly what decoding the node's
// JSON gives (numbers and lists built in Go become what the decoder
// makes), and the copy shares nothing with the original.
func TestCloneIsJSONRoundTrip(t *testing.T) {
	for _, name := range []string{"scan", "agg", "join", "union", "over_view", "window", "options"} {
		n := loadAST(t, name)
		// What rewrites put in a tree besides decoded JSON.
		n["skein_test"] = []any{constant("INTEGER", 7), map[string]any{"f": 1.5, "l": []string{"a"}, "m": nil}, []any(nil)}
		want := roundTrip(t, n)
		got := clone(n)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: clone differs from a JSON round trip", name)
		}
		// Writing into the copy leaves the original as it was.
		visit(got, func(m Node) bool {
			m["skein_mark"] = true
			return true
		})
		if !reflect.DeepEqual(roundTrip(t, n), want) {
			t.Fatalf("%s: the clone shares nodes with the original", name)
		}
	}
	if clone(nil) != nil {
		t.Fatal("clone(nil) is not nil")
	}
}

// loadAST is the AST in testdata/name.json.
func loadAST(t *testing.T, name string) Node {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var n Node
	if err := decode(b, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func roundTrip(t *testing.T, n Node) Node {
	t.Helper()
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var out Node
	if err := decode(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestFileReads: what a query reads, when it is only files named by
// constants, directly or through views; anything else says no.
func TestFileReads(t *testing.T) {
	def, err := os.ReadFile("testdata/view_def.json")
	if err != nil {
		t.Fatal(err)
	}
	views := func(_, _, name string) (View, bool) { return View{AST: def, Columns: []string{"a"}}, name == "v" }
	for _, name := range []string{"scan", "join", "union"} {
		r, ok := FileReads(loadAST(t, name), views)
		if !ok || len(r.Paths) == 0 || len(r.Views) != 0 {
			t.Errorf("%s: %+v, %v; want its paths and no view", name, r, ok)
		}
	}
	r, ok := FileReads(loadAST(t, "over_view"), views)
	if !ok || len(r.Paths) == 0 || len(r.Views) != 1 || r.Views[0] != string(def)+"\x00a" {
		t.Errorf("over_view: %+v, %v; want the view's paths and its definition", r, ok)
	}
	if r, ok := FileReads(loadAST(t, "over_view"), nil); ok {
		t.Errorf("over_view without views: %+v, want no", r)
	}
	if r, ok := FileReads(loadAST(t, "table"), views); ok {
		t.Errorf("a table: %+v, want no", r)
	}
	other := loadAST(t, "scan")
	anyNode(other, func(n Node) bool {
		if str(n, "type") == "TABLE_FUNCTION" {
			child(n, "function")["function_name"] = "range"
		}
		return false
	})
	if r, ok := FileReads(other, views); ok {
		t.Errorf("another table function: %+v, want no", r)
	}
}

// TestNewViewDecodesOnce: a view made by NewView gives its query node as
// decoding its AST does, a copy each time that the caller may rewrite, and
// a view whose query is not a plain SELECT the error selectRoot gives.
func TestNewViewDecodesOnce(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile("testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	def := read("view_def")
	v := NewView(def, []string{"a"})
	want, err := selectRoot(def)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.selectRoot()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("NewView's query node differs from the decoded AST's (%v)", err)
	}
	got["where_clause"] = constant("BOOLEAN", false)
	if again, _ := v.selectRoot(); !reflect.DeepEqual(again, want) {
		t.Fatal("a rewrite of the node given changed the view")
	}
	union := read("union")
	_, wantErr := selectRoot(union)
	if _, err := NewView(union, nil).selectRoot(); err == nil || wantErr == nil || err.Error() != wantErr.Error() {
		t.Fatalf("a UNION view: %v, want %v", err, wantErr)
	}
}
