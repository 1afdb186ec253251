package flightsql

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"testing"

	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// withFields writes fields into an object before its closing brace when
// it names none of them, and decodes and encodes it otherwise: either way
// the result decodes to the object with the fields set, and what is no
// object is left alone.
func TestWithFieldsSetsKeysOfAnObject(t *testing.T) {
	fields := map[string]json.RawMessage{"query_id": json.RawMessage(`"q1"`), "trace_id": json.RawMessage(`"t\"1"`)}
	for _, meta := range []string{"", "{}", " { } ", `{"mode":"local","reason":"x"}`, `{"query_id":"old","mode":"local"}`,
		`{"a":{"query_id":1}}`, `{"n":[1,2,{"b":null}]}`} {
		got := withFields([]byte(meta), fields)
		want := map[string]json.RawMessage{}
		if meta != "" {
			if err := json.Unmarshal([]byte(meta), &want); err != nil {
				t.Fatal(err)
			}
		}
		maps.Copy(want, fields)
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(got, &obj); err != nil {
			t.Fatalf("%q: %s is no object: %v", meta, got, err)
		}
		if len(obj) != len(want) {
			t.Fatalf("%q: %s, want the keys of %v", meta, got, want)
		}
		for k, v := range want {
			var a, b any
			_ = json.Unmarshal(v, &a)
			_ = json.Unmarshal(obj[k], &b)
			if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
				t.Fatalf("%q: key %s is %s, want %s (%s)", meta, k, jb, ja, got)
			}
		}
	}
	for _, meta := range []string{"[1]", `"s"`, "{", `{"a":1}x`} {
		if got := withFields([]byte(meta), fields); string(got) != meta {
			t.Fatalf("%q is no object, and became %s", meta, got)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A failed call to another node, wrapped on its way, keeps its code: a
// distributed COPY onto a full disk was Internal around the executor's
// ResourceExhausted (a tester's).
func TestWrappedCallErrorsKeepTheirCode(t *testing.T) {
	err := fmt.Errorf("query q: task 1: %w", status.Error(codes.ResourceExhausted, "IO Error: No space left on device"))
	if got := status.Code(toStatus(err)); got != codes.ResourceExhausted {
		t.Fatalf("got %s, want ResourceExhausted", got)
	}
	if got := status.Code(toStatus(errors.New("plain"))); got != codes.Internal {
		t.Fatalf("a plain error: got %s, want Internal", got)
	}
}

// A query DuckDB interrupted says who stopped it, not only DuckDB's
// "Interrupted!".
func TestInterruptedSaysWhoStoppedIt(t *testing.T) {
	err := fmt.Errorf("query q was cancelled: %w", &duck.Error{Kind: duck.KindInterrupted, Msg: "INTERRUPT Error: Interrupted!"})
	st, _ := status.FromError(toStatus(err))
	if st.Code() != codes.Canceled || st.Message() != err.Error() {
		t.Fatalf("got %s %q, want Canceled %q", st.Code(), st.Message(), err.Error())
	}
	other := fmt.Errorf("query q: %w", &duck.Error{Kind: duck.KindInvalid, Msg: "Binder Error: x"})
	if st, _ := status.FromError(toStatus(other)); st.Message() != "Binder Error: x" {
		t.Fatalf("another kind's message: %q", st.Message())
	}
}
