package duck

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
)

// A query's thread pauses, growing the pause, only while DuckDB has no
// task for it, and asks again at once after running one.
func TestDrivePausesOnlyWhileNoTask(t *testing.T) {
	const (
		ran  = bindings.PendingStateResultNotReady
		none = bindings.PendingStateNoTasksAvailable
	)
	for _, c := range []struct {
		name   string
		states []bindings.PendingState
		want   []time.Duration
	}{
		{"ready", []bindings.PendingState{ran, ran, bindings.PendingStateResultReady}, nil},
		{"waits grow and restart", []bindings.PendingState{ran, none, none, none, ran, none, bindings.PendingStateResultReady},
			[]time.Duration{firstPause, 2 * firstPause, 4 * firstPause, firstPause}},
		{"error", []bindings.PendingState{none, bindings.PendingStateError}, []time.Duration{firstPause}},
	} {
		t.Run(c.name, func(t *testing.T) {
			i := 0
			step := func() bindings.PendingState { i++; return c.states[i-1] }
			var paused []time.Duration
			got := drive(step, func(d time.Duration) { paused = append(paused, d) })
			if got != c.states[len(c.states)-1] || i != len(c.states) {
				t.Fatalf("drive returned %v after %d steps, want %v after %d", got, i, c.states[len(c.states)-1], len(c.states))
			}
			if !slices.Equal(paused, c.want) {
				t.Fatalf("paused %v, want %v", paused, c.want)
			}
		})
	}
	// A long wait pauses at most lastPause at a time.
	n := 0
	var longest time.Duration
	drive(func() bindings.PendingState {
		if n++; n > 40 {
			return bindings.PendingStateResultReady
		}
		return none
	}, func(d time.Duration) { longest = max(longest, d) })
	if longest != lastPause {
		t.Fatalf("longest pause %v, want %v", longest, lastPause)
	}
}

// An error during execution keeps DuckDB's own message and type, not the
// wrapper duckdb_execute_pending puts around a failed pending result (the
// sort fails before the first row, while the query is pending).
func TestExecutionErrorKeepsItsType(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	st, err := c.Prepare(ctx, `SELECT CAST(CASE WHEN i = 300000 THEN 'x' ELSE i::VARCHAR END AS INTEGER) FROM range(400000) r(i) ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := st.Query(ctx, memory.DefaultAllocator, nil, Batches(2048))
	if err == nil {
		for r.Next() {
		}
		err = r.Err()
		r.Release()
	}
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.HasPrefix(de.Msg, "Conversion Error: ") {
		t.Fatalf("got %#v (%v), want a Conversion Error of kind invalid", de, err)
	}
	// Cancelled while running: interrupted, as before.
	cctx, cancel := context.WithCancel(ctx)
	st2, err := c.Prepare(ctx, `SELECT count(*) FROM range(10000000000)`)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err = st2.Query(cctx, memory.DefaultAllocator, nil, Batches(2048))
	if !errors.As(err, &de) || de.Kind != KindInterrupted || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want an interrupted query", err)
	}
}

// Every DuckDB error type is recovered from its message's prefix.
func TestErrorTypeOfNamesEveryType(t *testing.T) {
	for msg, want := range map[string]duckdb.ErrorType{
		"Out of Range Error: x":                   duckdb.ErrorTypeOutOfRange,
		"INTERNAL Error: x":                       duckdb.ErrorTypeInternal,
		"FATAL Error: x":                          duckdb.ErrorTypeFatal,
		"Invalid Configuration Error: x":          duckdb.ErrorTypeInvalidConfiguration,
		"Binder Error: x":                         duckdb.ErrorTypeBinder,
		"Extension Autoloading Error: x":          duckdb.ErrorTypeAutoLoad,
		"Parameter Not Resolved Error: x":         duckdb.ErrorTypeParameterNotResolved,
		"Something new Error: x":                  duckdb.ErrorTypeInvalid,
		"Dependency Error: Cannot drop entry y x": duckdb.ErrorTypeDependency,
	} {
		if got := errorTypeOf(msg); got != want {
			t.Errorf("errorTypeOf(%q) = %v, want %v", msg, got, want)
		}
	}
	if k := classify(&duckdb.Error{Type: errorTypeOf("INTERNAL Error: x"), Msg: "INTERNAL Error: x"}); k != KindInternal {
		t.Errorf("an internal error classified %v", k)
	}
}
