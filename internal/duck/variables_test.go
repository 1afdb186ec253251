package duck

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A connection's variables come to at most MaxVariableBytes: DuckDB keeps
// them outside its memory limit for the connection's life. A SET past it
// fails, out of memory, and what it set is reset; the others stay, and
// so does the transaction around it.
func TestVariablesAreBounded(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	names := func() string {
		t.Helper()
		rows, err := c.QueryRows(ctx, "SELECT string_agg(name, ',' ORDER BY name) FROM duckdb_variables()")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var s *string
		if !rows.Next() || rows.Scan(&s) != nil {
			t.Fatal("no row")
		}
		if s == nil {
			return ""
		}
		return *s
	}
	refused := func(q, reset string) {
		t.Helper()
		_, err := c.Exec(ctx, q)
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindOutOfMemory || !strings.Contains(de.Msg, reset+" reset") {
			t.Fatalf("%s: %v, want out of memory, %s reset", q, err, reset)
		}
	}
	mustExec(t, c, "BEGIN")
	mustExec(t, c, "SET VARIABLE small = 42")
	mustExec(t, c, "SET VARIABLE half = repeat('x', 9 << 20)")
	refused("SET VARIABLE other = repeat('y', 9 << 20)", `"other"`)
	if got := names(); got != "half,small" {
		t.Fatalf("variables %q after the refusal", got)
	}
	// Set again past the bound: reset too.
	refused("SET VARIABLE half = repeat('x', 17 << 20)", `"half"`)
	// A list counts its elements: 1,000,000 integers are 7 MB as text.
	refused("SET VARIABLE ids = (SELECT list(range) FROM range(1000000))", `"ids"`)
	mustExec(t, c, "SET VARIABLE ids = (SELECT list(range) FROM range(100000))")
	mustExec(t, c, "SET VARIABLE again = repeat('z', 9 << 20)")
	if got := names(); got != "again,ids,small" {
		t.Fatalf("variables %q", got)
	}
	// Lists nested in lists count each nested list: 80,000 lists nested
	// 30 deep, 10 MB as text with their commas counted alone, took 590
	// MB of a coordinator.
	nested := "i::VARCHAR"
	for range 30 {
		nested = "[" + nested + "]"
	}
	mustExec(t, c, "RESET VARIABLE again")
	mustExec(t, c, "RESET VARIABLE ids")
	refused("SET VARIABLE deep = (SELECT list("+nested+") FROM range(80000) t(i))", `"deep"`)
	// What is text is counted as text, inside a nested value too: a JSON
	// value of 1 MB, and lists of strings of commas and brackets, were
	// refused as past 16 MiB.
	mustExec(t, c, "SET VARIABLE j = (SELECT to_json(list({'id': i, 'v': i})) FROM range(50000) t(i))")
	mustExec(t, c, "SET VARIABLE commas = [repeat(',', 300000), repeat('[', 70000), 'it''s']")
	mustExec(t, c, "RESET VARIABLE j")
	mustExec(t, c, "RESET VARIABLE commas")
	// The transaction was not aborted by the refusals.
	mustExec(t, c, "CREATE TABLE kept AS SELECT getvariable('small') AS v")
	mustExec(t, c, "COMMIT")
	// The check runs whatever became of the statement's context: a SET
	// that ran past --query-timeout had set its variable, and its check,
	// failing at the deadline, left it set.
	if _, err := c.sc.ExecContext(ctx, "SET VARIABLE late = repeat('x', 20 << 20)"); err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(ctx)
	cancel()
	var de *Error
	if err := c.boundVariables(ended); !errors.As(err, &de) || de.Kind != KindOutOfMemory || names() != "small" {
		t.Fatalf("checked with its context ended: %v, variables %q", err, names())
	}
}
