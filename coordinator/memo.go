package coordinator

import (
	"context"
	"fmt"
	"strings"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// What the planner asks DuckDB about a query's inputs while it analyses
// the query, before the plan cache is consulted: the columns a FROM item
// gives (DESCRIBE) and the rows DuckDB expects a join input to give
// (EXPLAIN), each a round of json_deserialize_sql and a bind, about a
// millisecond, a dozen times for a query of several joins and
// subqueries. Of an input that reads nothing but files named by constants,
// directly or through views, the answer follows from its AST, the views'
// definitions and the files (partition.FileReads), so it is remembered by
// them: the AST's JSON, the definitions of the views it names as the
// catalog resolves them now, and each file's path, size and modification
// time, listed again at every planning (a view redefined, a file
// rewritten or added to a glob is a new key). Any other input is asked
// every time.

// Bounds of the memo: answers by count and bytes (an answer costs its
// key, most of it the input's AST).
const (
	maxFacts     = 4096
	maxFactBytes = 32 << 20
)

// factKind keeps the two memos' keys apart.
type factKind byte

const (
	factColumns factKind = 'c'
	factRows    factKind = 'r'
)

// inputFacts answers the planner's questions about one planning's inputs,
// from the memo when it can; seen are the planning's listings (one a
// pattern).
type inputFacts struct {
	d     *dist
	views func(catalog, schema, name string) (partition.View, bool)
	ctx   context.Context
	conn  *duck.Conn
	seen  listings
}

// key is the memo key of an answer about n (whose AST is ast), or false
// when n reads anything but files or its files cannot be listed.
func (f *inputFacts) key(kind factKind, n partition.Node, ast []byte) (string, bool) {
	reads, ok := partition.FileReads(n, f.views)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteByte(byte(kind))
	b.Write(ast)
	for _, v := range reads.Views {
		b.WriteString("\x02" + v)
	}
	for _, p := range reads.Paths {
		stats, err := f.seen.stat(f.ctx, f.conn, []string{p})
		if err != nil {
			return "", false
		}
		b.WriteString("\x01")
		for _, st := range stats {
			b.WriteString("\x00" + st.identity())
		}
	}
	return b.String(), true
}

// columns implements partition.Env.Columns.
func (f *inputFacts) columns(item partition.Node) ([]partition.Column, error) {
	star, err := partition.StarAST(item)
	if err != nil {
		return nil, err
	}
	key, memo := f.key(factColumns, item, star)
	if c, ok := f.lookup(key, memo); ok {
		return c.cols, nil
	}
	cols, err := describe(f.ctx, f.conn, star)
	if err == nil && memo {
		f.d.facts.put(key, inputFact{cols: cols})
	}
	return cols, err
}

// estimate implements partition.Env.Estimate.
func (f *inputFacts) estimate(query partition.Node) (int64, error) {
	ast, err := partition.QueryAST(query)
	if err != nil {
		return 0, err
	}
	key, memo := f.key(factRows, query, ast)
	if c, ok := f.lookup(key, memo); ok {
		return c.rows, nil
	}
	n, err := estimateRows(f.ctx, f.conn, ast)
	if err == nil && memo {
		f.d.facts.put(key, inputFact{rows: n})
	}
	return n, err
}

// lookup is the remembered answer for key, if memo says the input has one
// and it is there, counted.
func (f *inputFacts) lookup(key string, memo bool) (inputFact, bool) {
	if !memo {
		f.d.factLookups.WithLabelValues("asked").Inc()
		return inputFact{}, false
	}
	c, ok := f.d.facts.get(key)
	if ok {
		f.d.factLookups.WithLabelValues("hit").Inc()
	} else {
		f.d.factLookups.WithLabelValues("miss").Inc()
	}
	return c, ok
}

// inputFact is one remembered answer: an input's columns or its rows.
type inputFact struct {
	cols []partition.Column
	rows int64
}

func factCost(k string, v inputFact) int64 {
	n := int64(len(k)) + 8
	for _, c := range v.cols {
		n += int64(len(c.Name) + len(c.Type))
	}
	return n
}

// describe is the columns of a query (a statement's AST): name and type.
func describe(ctx context.Context, conn *duck.Conn, ast []byte) ([]partition.Column, error) {
	q, err := deserialize(ctx, conn, ast)
	if err != nil {
		return nil, err
	}
	rows, err := conn.QueryRows(ctx, "SELECT column_name, column_type FROM (DESCRIBE "+q+")")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []partition.Column
	for rows.Next() {
		var c partition.Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no columns")
	}
	return out, nil
}
