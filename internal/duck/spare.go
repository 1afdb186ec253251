package duck

import (
	"context"
	"slices"
)

// DuckDB binds and plans a prepared statement again at every execution
// when it reads files: the bind data of a multi-file scan (read_parquet,
// and any view over one) is never cached with a statement, so the
// statement always requires a rebind. A query prepared to learn its result
// schema (GetFlightInfo) and executed later (DoGet) is then planned twice,
// where DuckDB in process plans it once: 3 to 5 ms of TPC-H Q2's 40 at
// scale factor 1 (see the README's serving section). A statement handed
// back with Keep after its run and taken again by PrepareAgain for the
// same text skips the first of the two plans.

// maxSpareStmts bounds the statements Keep holds on one connection, and
// maxSpareText the text of one: DuckDB's statement of a long text holds
// several times its bytes (4 sessions' 8 kept SELECTs of 50 MB each
// took skein serve from 79 MB to 6,069 MB, found 2026-12-05), and a
// long text's planning is the smaller part of its run anyway.
//
// maxSpareHeld bounds what the statements kept held as they were
// prepared (Stmt.Held), together: a statement handed back is no longer
// counted against its user's budget of statements, so 3 sessions' 8 kept
// statements of a folded 50 MB constant each took a coordinator from 76
// to 1,321 MB, counted as nothing (a tester's).
const (
	maxSpareStmts = 8
	maxSpareText  = 64 << 10
	maxSpareHeld  = 4 << 20
)

// PrepareAgain is Prepare, but hands out a statement of the same text that
// Keep kept, while the connection's catalog version is the one it was
// prepared at. DuckDB binds such a statement again when it runs, and Query
// checks that its result types are still the ones Schema says.
func (c *Conn) PrepareAgain(ctx context.Context, query string) (*Stmt, error) {
	if i := slices.IndexFunc(c.spare, func(st *Stmt) bool { return st.text == query }); i >= 0 {
		st := c.spare[i]
		c.spare = slices.Delete(c.spare, i, i+1)
		if st.version == c.CatalogVersion() {
			return st, nil
		}
		_ = st.Close()
	}
	v := c.CatalogVersion() // before: a change while it prepares makes it stale
	st, err := c.Prepare(ctx, query)
	if err != nil {
		return nil, err
	}
	if st.reusable() {
		st.version = v
	} else {
		st.text = ""
	}
	return st, nil
}

// Keep takes back a statement from PrepareAgain once its caller is done
// with it, for the next PrepareAgain of its text; one that cannot be
// reused (not a query of rows, one with parameters, or one of several
// statements) is closed, and so is one of a text over maxSpareText or
// that held more than maxSpareHeld. The connection holds at most
// maxSpareStmts, holding maxSpareHeld together, the oldest closed first,
// and closes them with itself.
func (c *Conn) Keep(st *Stmt) {
	if !st.reusable() || len(st.text) > maxSpareText || st.Held > maxSpareHeld {
		_ = st.Close()
		return
	}
	if i := slices.IndexFunc(c.spare, func(o *Stmt) bool { return o.text == st.text }); i >= 0 {
		if c.spare[i] == st {
			return
		}
		_ = c.spare[i].Close()
		c.spare = slices.Delete(c.spare, i, i+1)
	}
	held := st.Held
	for _, o := range c.spare {
		held += o.Held
	}
	for len(c.spare) > 0 && (len(c.spare) >= maxSpareStmts || held > maxSpareHeld) {
		held -= c.spare[0].Held
		_ = c.spare[0].Close()
		c.spare = slices.Delete(c.spare, 0, 1)
	}
	c.spare = append(c.spare, st)
}

// Reusable says whether the statement, closed, can be prepared again
// from its text alone, to the same result (see reusable).
func (s *Stmt) Reusable() bool { return s.reusable() }

// reusable says whether a statement may serve another execution of its
// text: a lone query of rows whose types are known without parameters.
func (s *Stmt) reusable() bool {
	return s.text != "" && !s.changes && s.ReturnsRows && s.Resolved && s.Params.NumFields() == 0
}

// closeSpare closes the statements Keep holds.
func (c *Conn) closeSpare() {
	for _, st := range c.spare {
		_ = st.Close()
	}
	c.spare = nil
}
