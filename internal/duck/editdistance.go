package duck

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strings"

	"github.com/skeindb/skein/internal/sqltext"
)

// editDistanceCalls are DuckDB's edit distances. DuckDB 1.5.5 computes
// each by dynamic programming over the two strings' bytes, in one call
// that checks for no interrupt: levenshtein of two strings of 10,000
// bytes took 0.41 s, damerau_levenshtein 1.7 s (and 8 bytes of memory a
// cell, outside the buffer pool), so two strings of 200,000 bytes held a
// core for minutes past --query-timeout and the client's cancel. Every
// connection has a TEMP macro of each name (temp shadows DuckDB's own in
// a call) that refuses strings whose lengths multiply past
// Config.MaxEditCells, and calls DuckDB's function, named by its catalog,
// otherwise; the guard refuses SQL that names DuckDB's (system.levenshtein)
// or drops a macro of those names (checkEditDistances).
var editDistanceCalls = map[string]bool{"levenshtein": true, "editdist3": true, "damerau_levenshtein": true}

// notServerMacro is a condition on duckdb_functions()'s rows that leaves
// out the macros boundEditDistances gives every connection: they are the
// server's, not a session's state nor a definition to analyse.
const notServerMacro = "NOT (database_name = 'temp' AND function_name IN ('levenshtein', 'editdist3', 'damerau_levenshtein'))"

// DefaultMaxEditCells is Config.MaxEditCells's default: a call of
// levenshtein then runs in at most about 40 ms (damerau_levenshtein 170
// ms and 80 MB), and two strings of 3,000 bytes are compared.
const DefaultMaxEditCells = 10_000_000

// editCells is the bound of a Config.MaxEditCells: 0 is the default, a
// negative value none (0).
func editCells(max int64) int64 {
	switch {
	case max == 0:
		return DefaultMaxEditCells
	case max < 0:
		return 0
	}
	return max
}

// boundEditDistances creates the macros of editDistanceCalls on a new
// connection, refusing calls of more than max cells; none when max is 0.
func boundEditDistances(max int64) func(driver.ExecerContext) error {
	if max == 0 {
		return nil
	}
	return func(ex driver.ExecerContext) error {
		for name := range editDistanceCalls {
			macro := fmt.Sprintf(`CREATE TEMP MACRO %[1]s(a, b) AS CASE
  WHEN strlen(a)::DOUBLE * strlen(b) > %[2]d THEN error(printf('%[1]s() of strings of %%d and %%d bytes is refused: '
    || 'it would take more steps than the product of their lengths the server allows (%[2]d, --max-edit-distance-cells), '
    || 'and DuckDB cannot cancel it while it runs', strlen(a), strlen(b)))
  ELSE system.main.%[1]s(a, b) END`, name, max)
			if _, err := ex.ExecContext(context.Background(), macro, nil); err != nil {
				return fmt.Errorf("duck: bounding %s: %w", name, err)
			}
		}
		return nil
	}
}

// checkEditDistances refuses, where the edit distances are bounded, a
// statement that calls DuckDB's own (system.levenshtein(...),
// "system".main.levenshtein(...)) or drops a macro of their names: either
// would reach a call without the bound.
func checkEditDistances(query string) error {
	return perStatement(query, func(st []sqltext.Token) error {
		drop := len(st) > 1 && st[0].Kind == 'w' && st[0].Text == "drop" && st[1].Kind == 'w' && (st[1].Text == "macro" || st[1].Text == "function")
		for k, t := range st {
			if (t.Kind != 'w' && t.Kind != 'q') || !editDistanceCalls[strings.ToLower(t.Text)] {
				continue
			}
			name := strings.ToLower(t.Text)
			if drop {
				return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s is not dropped: the server's macro of that name bounds the work of a call (--max-edit-distance-cells)", name)}
			}
			first := k // the qualified name's first part
			for first >= 2 && st[first-1].Kind == '.' && (st[first-2].Kind == 'w' || st[first-2].Kind == 'q') {
				first -= 2
			}
			if first < k && strings.EqualFold(st[first].Text, "system") {
				return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: DuckDB's own %s() is not called by its catalog: call %s(), whose work the server bounds (--max-edit-distance-cells)", name, name)}
			}
		}
		return nil
	})
}
