package duck

import (
	"context"
	"fmt"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// CreateAs is a statement CREATE [OR REPLACE] [TEMP | TEMPORARY] TABLE
// [IF NOT EXISTS] name [(columns)] AS query [WITH [NO] DATA], as the lexer
// reads it: the coordinator runs such a statement's query across
// executors and appends its rows into the new table.
type CreateAs struct {
	// Table is the table's name as given (qualified and quoted as given).
	Table string
	// Name is its last part, unquoted (a word in lower case).
	Name string
	// Query is the text after AS, exactly as given.
	Query string
	// head is the statement up to and including AS, without IF NOT
	// EXISTS.
	head                            string
	Replace, Temporary, IfNotExists bool
	// NoData says the statement ends WITH NO DATA: it creates the table
	// empty.
	NoData bool
}

// Empty is the statement that creates the table, empty, with the columns
// and types of query (the statement's query, or an equivalent text of
// it): DuckDB's own CREATE TABLE ... AS ... WITH NO DATA, without IF NOT
// EXISTS, so that a table already there is an error (KindAlreadyExists).
func (c CreateAs) Empty(query string) string {
	return c.head + " " + query + " WITH NO DATA"
}

// ParseCreateAs reads sql as one CREATE TABLE ... AS query statement, or
// returns false for any other statement (a CREATE TABLE with a column
// definition list, several statements). It follows the lexer the guard
// uses, which splits statements exactly as DuckDB does; the caller still
// prepares the statement and its query with DuckDB.
func ParseCreateAs(sql string) (CreateAs, bool) {
	stmts, err := lexSQL(sql)
	if err != nil || len(stmts) != 1 {
		return CreateAs{}, false
	}
	st := stmts[0]
	i := 0
	word := func(w string) bool {
		if i < len(st) && st[i].kind == 'w' && st[i].text == w {
			i++
			return true
		}
		return false
	}
	var c CreateAs
	if !word("create") {
		return CreateAs{}, false
	}
	if word("or") {
		if !word("replace") {
			return CreateAs{}, false
		}
		c.Replace = true
	}
	c.Temporary = word("temp") || word("temporary")
	if !word("table") {
		return CreateAs{}, false
	}
	skipFrom, skipTo := -1, -1
	if i < len(st) && st[i].kind == 'w' && st[i].text == "if" {
		skipFrom = st[i].at
		i++
		if !word("not") || !word("exists") {
			return CreateAs{}, false
		}
		skipTo, c.IfNotExists = st[i-1].end, true
	}
	// A name: identifiers separated by dots.
	first := i
	for {
		if i >= len(st) || st[i].kind != 'w' && st[i].kind != 'q' {
			return CreateAs{}, false
		}
		i++
		if i < len(st) && st[i].kind == '.' {
			i++
			continue
		}
		break
	}
	c.Table, c.Name = sql[st[first].at:st[i-1].end], st[i-1].text
	if i < len(st) && st[i].kind == '(' {
		// A list of column names (DuckDB takes names only, before AS).
		depth := 0
		for ; i < len(st); i++ {
			if st[i].kind == '(' {
				depth++
			} else if st[i].kind == ')' {
				if depth--; depth == 0 {
					i++
					break
				}
			}
		}
	}
	if !word("as") || i >= len(st) {
		return CreateAs{}, false
	}
	end := len(st)
	n := len(st)
	switch {
	case n-i > 3 && st[n-3].kind == 'w' && st[n-3].text == "with" && st[n-2].kind == 'w' && st[n-2].text == "no" &&
		st[n-1].kind == 'w' && st[n-1].text == "data":
		c.NoData, end = true, n-3
	case n-i > 2 && st[n-2].kind == 'w' && st[n-2].text == "with" && st[n-1].kind == 'w' && st[n-1].text == "data":
		end = n - 2
	}
	asEnd := st[i-1].end
	c.Query = sql[st[i].at:st[end-1].end]
	if skipFrom >= 0 {
		c.head = sql[:skipFrom] + sql[skipTo:asEnd]
	} else {
		c.head = sql[:asEnd]
	}
	return c, true
}

// Shadowed says whether a TEMP table or view may be named name (a
// CreateAs.Name), whatever the case: DuckDB binds a name of one or two
// parts to it first.
func (c *Conn) Shadowed(ctx context.Context, name string) (bool, error) {
	var n int64
	err := c.sc.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM duckdb_tables() WHERE temporary AND lower(table_name) = lower($1))
 + (SELECT count(*) FROM duckdb_views() WHERE temporary AND lower(view_name) = lower($1))`, name).Scan(&n)
	return n > 0, wrap(err)
}

// Append inserts the rows of an Arrow stream into the table named table
// (SQL, as CreateAs.Table gives it), column by column in order, within the
// caller's transaction, and returns the rows inserted. Rows move as
// columns, as Ingest moves them.
func (c *Conn) Append(ctx context.Context, table string, rdr array.RecordReader) (int64, error) {
	in, err := c.newArrowInput(rdr.Schema())
	if err != nil {
		return 0, fmt.Errorf("duck: append into %s: %w", table, err)
	}
	defer in.close()
	// By position: a query's columns may share a name (DuckDB's CREATE
	// TABLE AS renames them), which the appender's rows may not.
	fields := slices.Clone(rdr.Schema().Fields())
	for i := range in.names {
		in.names[i] = fmt.Sprintf("c%d", i)
		fields[i].Name = in.names[i]
	}
	// Columns of types Arrow does not give back, as their text or marked
	// (a task's result read by Skein: cluster.Task.Merged), cast back.
	sel := castSelect(arrow.NewSchema(fields, nil))
	return in.insert(ctx, c, "INSERT INTO "+table+" SELECT "+sel+" FROM "+appendedData, rdr)
}
