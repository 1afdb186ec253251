package duck

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
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
// or drops a macro of those names (checkBoundedCalls).
var editDistanceCalls = map[string]bool{"levenshtein": true, "editdist3": true, "damerau_levenshtein": true}

// patternCalls are DuckDB's pattern matches: LIKE, NOT LIKE, ILIKE, NOT
// ILIKE and GLOB as their operators' functions, and the ESCAPE forms.
// DuckDB 1.5.5 matches most patterns by recursion, a native stack frame
// a wildcard: repeat('a', 300000) GLOB repeat('*a', 300000), or ILIKE
// with '%a', ended the process that ran it (SIGSEGV), the coordinator
// for a constant it folded while preparing (a tester's; DuckDB alone the
// same). Every connection has a TEMP macro of each name that refuses a
// pattern of more than MaxPatternWildcards wildcards, by its parameter
// count (2 or 3, the escape).
var patternCalls = map[string]int{
	"~~": 2, "!~~": 2, "~~*": 2, "!~~*": 2, "~~~": 2,
	"like_escape": 3, "not_like_escape": 3, "ilike_escape": 3, "not_ilike_escape": 3,
}

// MaxPatternWildcards is how many wildcards a LIKE, ILIKE or GLOB pattern
// may hold (% and _, or *, ? and [): 30,000 were matched, 300,000 ended
// the process.
const MaxPatternWildcards = 1000

// notServerMacro is a condition on duckdb_functions()'s rows that leaves
// out the macros boundingMacros gives connections: they are the server's,
// not a session's state nor a definition to analyse.
var notServerMacro = func() string {
	var names []string
	for name := range editDistanceCalls {
		names = append(names, QuoteString(name))
	}
	for name := range patternCalls {
		names = append(names, QuoteString(name))
	}
	slices.Sort(names)
	return "NOT (database_name = 'temp' AND function_name IN (" + strings.Join(names, ", ") + "))"
}()

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

// boundMacro is one macro bounding a call: the SQL creating it, and the
// words (lower case) a statement that may call it holds.
type boundMacro struct {
	sql   string
	words []string
}

// boundingMacros are the macros of patternCalls, and of editDistanceCalls
// unless cells is 0 (no bound), refusing calls of more than cells. Each
// calls DuckDB's own functions by their catalog: a session's TEMP macro
// named strlen (a tester's) or "*" would shadow them. Creating one costs
// about 0.3 ms.
func boundingMacros(cells int64) []boundMacro {
	var macros []boundMacro
	if cells > 0 {
		for name := range editDistanceCalls {
			macros = append(macros, boundMacro{fmt.Sprintf(`CREATE TEMP MACRO %[1]s(a, b) AS CASE
  WHEN system.main.multiply(system.main.strlen(a)::DOUBLE, system.main.strlen(b)::DOUBLE) > %[2]d
  THEN system.main.error(system.main.printf('%[1]s() of strings of %%d and %%d bytes is refused: '
    || 'it would take more steps than the product of their lengths the server allows (%[2]d, --max-edit-distance-cells), '
    || 'and DuckDB cannot cancel it while it runs', system.main.strlen(a), system.main.strlen(b)))
  ELSE system.main.%[1]s(a, b) END`, name, cells), []string{name}})
		}
	}
	for name, params := range patternCalls {
		wild := "%_"
		if name == "~~~" {
			wild = "*?["
		}
		left := "p" // p without its wildcards
		for _, w := range wild {
			left = fmt.Sprintf("system.main.replace(%s, '%c', '')", left, w)
		}
		count := fmt.Sprintf("system.main.subtract(system.main.strlen(p), system.main.strlen(%s))", left)
		args := "s, p"
		if params == 3 {
			args = "s, p, e"
		}
		macros = append(macros, boundMacro{fmt.Sprintf(`CREATE TEMP MACRO "%[1]s"(%[2]s) AS CASE
  WHEN %[3]s > %[4]d
  THEN system.main.error(system.main.printf('a pattern of %%d wildcards is refused: one holds at most %[4]d, '
    || 'as DuckDB matches a pattern by recursion, a level a wildcard, and a long one ends the server', %[3]s))
  ELSE system.main."%[1]s"(%[2]s) END`, name, args, count, MaxPatternWildcards), patternWords(name)})
	}
	return macros
}

// patternWords are the words of a statement that may call a pattern
// match's function: its operator as DuckDB writes it (~~, ~~*, ~~~), or
// as SQL does.
func patternWords(name string) []string {
	switch name {
	case "~~", "!~~":
		return []string{"~~", "like"}
	case "~~*", "!~~*":
		return []string{"~~*", "ilike"}
	case "~~~":
		return []string{"~~~", "glob"}
	}
	return []string{"escape", name} // like_escape and its kin
}

// boundEveryConnection creates the macros on each new connection.
func boundEveryConnection(macros []boundMacro) func(driver.ExecerContext) error {
	all := make([]string, len(macros))
	for i, m := range macros {
		all[i] = m.sql
	}
	sql := strings.Join(all, ";\n")
	return func(ex driver.ExecerContext) error {
		if _, err := ex.ExecContext(context.Background(), sql, nil); err != nil {
			return fmt.Errorf("duck: bounding functions: %w", err)
		}
		return nil
	}
}

// boundFor creates on the connection, where the instance creates them on
// demand (Config.BoundsOnDemand), the macros a statement may call before
// it is prepared: the statement names every function it calls (the
// planner's SQL, views inlined), so it needs the macros of the names it
// holds, and no other.
func (c *Conn) boundFor(ctx context.Context, query string) error {
	if len(c.db.onDemand) == 0 || len(c.bounded) == len(c.db.onDemand) {
		return nil
	}
	var q string
	for i, m := range c.db.onDemand {
		if c.bounded[i] {
			continue
		}
		if q == "" {
			q = strings.ToLower(query)
		}
		if !slices.ContainsFunc(m.words, func(w string) bool { return strings.Contains(q, w) }) {
			continue
		}
		if _, err := c.sc.ExecContext(ctx, m.sql); err != nil {
			return wrap(fmt.Errorf("duck: bounding functions: %w", err))
		}
		if c.bounded == nil {
			c.bounded = map[int]bool{}
		}
		c.bounded[i] = true
	}
	return nil
}

// checkBoundedCalls refuses a statement that calls DuckDB's own function
// of a bounded name (system.levenshtein(...), "system".main."~~"(...)) or
// drops a macro of such a name: either would reach a call without the
// bound. The edit distances count unless edits is false (no bound).
func checkBoundedCalls(query string, edits bool) error {
	bounded := func(name string) bool { return patternCalls[name] > 0 || edits && editDistanceCalls[name] }
	return perStatement(query, func(st []sqltext.Token) error {
		drop := len(st) > 1 && st[0].Kind == 'w' && st[0].Text == "drop" && st[1].Kind == 'w' && (st[1].Text == "macro" || st[1].Text == "function")
		for k, t := range st {
			if t.Kind != 'w' && t.Kind != 'q' {
				continue
			}
			name := strings.ToLower(t.Text)
			if !bounded(name) {
				continue
			}
			if drop {
				return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s is not dropped: the server's macro of that name bounds the work of a call", name)}
			}
			first := k // the qualified name's first part
			for first >= 2 && st[first-1].Kind == '.' && (st[first-2].Kind == 'w' || st[first-2].Kind == 'q') {
				first -= 2
			}
			if first < k && strings.EqualFold(st[first].Text, "system") {
				return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: DuckDB's own %s() is not called by its catalog: the server's macro of that name bounds the work of a call", name)}
			}
		}
		return nil
	})
}
