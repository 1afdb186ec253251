package duck

import (
	"context"
	"fmt"
	"strings"
)

// DuckDB stores a type created by SQL expanded: a type naming another
// holds a copy of it, and DuckDB binds a type by recursion over its
// nesting. A LIST type 20,000 levels deep, built by 1,000 statements of
// CREATE TYPE each naming the one before with twenty [] (each shallow,
// so the parser's max_expression_depth never saw the whole), ended the
// process preparing any statement that named it, the coordinator, and
// again at every restart, the types being stored in the managed database
// (a tester's). A STRUCT naming the type before twice doubles at each
// step: creating the twentieth took 6 s and 1.2 GB, a NULL of the
// eighteenth 41 s and 7.8 GB (DuckDB 1.5.5 alone), with no interrupt
// checked. So a type a client creates may not name another composite type
// (STRUCT, LIST, MAP, UNION, ARRAY) created by SQL: written in full, its
// size and depth are bounded by its text and the parser's depth limit.
// An ENUM created by SQL may be named.

// An ENUM's members from a query (AS ENUM (SELECT ...)) are refused:
// DuckDB builds the type from the query's rows in one call that checks
// for no interrupt, outside its buffer pool. Twenty million members held
// a core for over a minute past a 5 s --query-timeout, the process at 3 GB
// (2026-12-06; a tester's, earlier, minutes and 3.8 GB). Members written
// as a list are bounded by the statement's text (--max-sql-bytes).

// checkCreatedType refuses a CREATE TYPE statement (stmt, its tokens)
// whose type names a composite type created by SQL, or is an ENUM of a
// query's rows.
func (c *Conn) checkCreatedType(ctx context.Context, stmt []token) error {
	if enumOfQuery(stmt) {
		return &Error{Kind: KindInvalid, Msg: "Invalid Input Error: an ENUM's members from a query are refused: " +
			"list them instead, AS ENUM ('a', 'b', ...) (DuckDB builds the type from a query's rows in one call " +
			"that no timeout or cancel stops)"}
	}
	named := typeNames(typeBody(stmt))
	if len(named) == 0 {
		return nil
	}
	rows, err := c.QueryRows(ctx, `SELECT lower(type_name) FROM duckdb_types()
WHERE NOT internal AND logical_type IN ('STRUCT', 'LIST', 'MAP', 'UNION', 'ARRAY')`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return wrap(err)
		}
		if named[name] {
			return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: this type names %s, a composite type created by SQL: "+
				"write that type's definition in full instead (DuckDB stores a type naming another as a copy of it, "+
				"and a chain of such types grows past what the server can bind)", name)}
		}
	}
	return wrap(rows.Err())
}

// enumOfQuery says a CREATE TYPE statement's type is AS ENUM followed by
// a query rather than a list of strings.
func enumOfQuery(stmt []token) bool {
	for i, t := range stmt {
		if t.kind == 'w' && t.text == "as" {
			body := stmt[i+1:]
			return len(body) > 2 && body[0].kind == 'w' && body[0].text == "enum" && body[1].kind == '(' &&
				body[2].kind != 's' && body[2].kind != 'x' && body[2].kind != ')'
		}
	}
	return false
}

// typeBody is the tokens of a CREATE TYPE statement's type: after its
// AS (none for an ENUM from a query, AS ENUM (SELECT ...), whose
// values are not types).
func typeBody(stmt []token) []token {
	for i, t := range stmt {
		if t.kind == 'w' && t.text == "as" {
			body := stmt[i+1:]
			for _, b := range body {
				if b.kind == 'w' && b.text == "select" {
					return nil
				}
			}
			return body
		}
	}
	return nil
}

// typeNames are the names of types in a type's tokens, lower case: its
// words and quoted names but a STRUCT's or UNION's field names (the first
// of each of its arguments).
func typeNames(body []token) map[string]bool {
	named := map[string]bool{}
	var fields []bool // by open '(': whether its arguments start with a field name
	for i, t := range body {
		switch t.kind {
		case '(':
			w := i > 0 && body[i-1].kind == 'w' && (body[i-1].text == "struct" || body[i-1].text == "union" || body[i-1].text == "row")
			fields = append(fields, w)
		case ')':
			if len(fields) > 0 {
				fields = fields[:len(fields)-1]
			}
		case 'w', 'q':
			field := len(fields) > 0 && fields[len(fields)-1] && i > 0 && (body[i-1].kind == '(' || body[i-1].kind == ',')
			if !field {
				named[strings.ToLower(t.text)] = true
			}
		}
	}
	return named
}
