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
		b, err := os.ReadFile("testdata/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var n Node
		if err := decode(b, &n); err != nil {
			t.Fatal(err)
		}
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
