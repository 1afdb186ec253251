package partition

import "testing"

// TestLiteralArgs reads marked constants' values as the texts their
// parameters cast to their types: a DECIMAL's unscaled integer with its
// scale, strings and booleans as they are.
func TestLiteralArgs(t *testing.T) {
	values := `[{"type":{"id":"INTEGER","type_info":null},"is_null":false,"value":-5},
{"type":{"id":"DECIMAL","type_info":{"type":"DECIMAL_TYPE_INFO","width":2,"scale":1}},"is_null":false,"value":15},
{"type":{"id":"DECIMAL","type_info":{"type":"DECIMAL_TYPE_INFO","width":3,"scale":3}},"is_null":false,"value":-5},
{"type":{"id":"DECIMAL","type_info":{"type":"DECIMAL_TYPE_INFO","width":4,"scale":0}},"is_null":false,"value":1234},
{"type":{"id":"VARCHAR","type_info":null},"is_null":false,"value":"1995-01-01"},
{"type":{"id":"BOOLEAN","type_info":null},"is_null":false,"value":false}]`
	got, err := LiteralArgs(values)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-5", "1.5", "-0.005", "1234", "1995-01-01", "false"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("constant %d: got %q, want %q", i, got[i], want[i])
		}
	}
}
