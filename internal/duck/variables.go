package duck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxVariableBytes bounds what a connection's variables (SET VARIABLE)
// hold together. DuckDB keeps them in the connection, outside its memory
// limit, for as long as the connection lives: a reader's
// SET VARIABLE v = repeat('x', 200000000) held 200 MB a session, for
// every session it opened, until they went idle (a tester's). A
// variable's size is its text's length, plus 64 bytes an element of a
// list, struct or map and 256 a list, struct or map (DuckDB keeps each
// element as a value of its own, and each nested value with its own
// vector: a list of 10 million integers, 89 MB as text, takes some 600
// MB; 80,000 lists nested 30 deep, 10 MB as text with commas counted
// alone, took 590 MB, a tester's).
const MaxVariableBytes = 16 << 20

// variableCost is a variable's size, as MaxVariableBytes counts it, in
// SQL over duckdb_variables()' rows with bare, the value's text without
// the strings it quotes. Separators and nested values are counted for
// every type but the text ones, whose commas and brackets are characters,
// and outside the strings of a nested value: a JSON value of 1 MB, and a
// list of strings of commas, were refused as past 16 MiB (a tester's).
const variableCost = `strlen(value) + CASE WHEN type IN ('VARCHAR', 'BLOB', 'BIT', 'JSON') THEN 0
  ELSE 64 * (strlen(bare) - strlen(replace(bare, ',', '')))
    + 256 * (strlen(bare) - strlen(replace(replace(bare, '[', ''), '{', ''))) END`

// variablesWithBare are duckdb_variables()' rows with bare: DuckDB writes
// a string of a nested value in single quotes, a quote within it escaped
// with a backslash, when it holds a comma, a bracket or a quote.
const variablesWithBare = `(SELECT name, value, type, regexp_replace(value, '''(?:[^''\\]|\\.)*''', '', 'g') AS bare
  FROM duckdb_variables())`

// boundVariables checks, after a SET statement ran, that the connection's
// variables come to at most MaxVariableBytes; past it, those the
// statement set (new ones, or of another size than before) are reset and
// the statement fails as out of memory. A variable set again loses its
// value before the statement.
func (c *Conn) boundVariables(ctx context.Context) error {
	// Whatever became of the statement's context: a SET that ran past
	// --query-timeout had set its variable, and its check, failing at
	// the deadline, left it set whatever its size (a tester's).
	ctx = context.WithoutCancel(ctx)
	rows, err := c.QueryRows(ctx, `SELECT name, `+variableCost+` FROM `+variablesWithBare)
	if err != nil {
		return err
	}
	sizes := map[string]int64{}
	var total int64
	for rows.Next() {
		var name string
		var n int64
		if err = rows.Scan(&name, &n); err != nil {
			break
		}
		sizes[name] = n
		total += n
	}
	if err = errors.Join(err, rows.Err(), rows.Close()); err != nil {
		return wrap(err)
	}
	was := c.variables
	c.variables = sizes
	if total <= MaxVariableBytes {
		return nil
	}
	var set []string
	for name, n := range sizes {
		if old, ok := was[name]; !ok || old != n {
			set = append(set, name)
		}
	}
	if len(set) == 0 { // none known to be new: all of them
		for name := range sizes {
			set = append(set, name)
		}
	}
	slices.Sort(set)
	for _, name := range set {
		if _, err := c.sc.ExecContext(ctx, "RESET VARIABLE "+QuoteIdent(name)); err != nil {
			return wrap(err)
		}
		delete(sizes, name)
	}
	return &Error{Kind: KindOutOfMemory, Msg: fmt.Sprintf("Out of Memory Error: a session's variables hold at most %d MiB "+
		"(SET VARIABLE; a list, struct or map counts 64 bytes an element and 256 a nested one beside its text): %s reset; large values go in a TEMP table",
		MaxVariableBytes>>20, strings.Join(quoteAll(set), ", "))}
}

func quoteAll(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = QuoteIdent(n)
	}
	return out
}
