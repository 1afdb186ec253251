package duck

import (
	"context"
	"errors"
	"fmt"
)

// ErrRolledBack is a COMMIT that could not commit: a statement of the
// transaction had failed, and DuckDB rolled all of it back.
var ErrRolledBack = &Error{Kind: KindConflict,
	Msg: "TransactionContext Error: the transaction was rolled back, not committed: a statement in it failed"}

// commitChecked runs a COMMIT statement. DuckDB answers COMMIT of a
// transaction that a failed statement aborted as if it had committed, and
// rolls it back: a client that carried on after the error would be told
// its writes were kept. It asks first whether the transaction still runs
// statements, and rolls an aborted one back with ErrRolledBack.
func (s *Stmt) commitChecked(ctx context.Context) (int64, error) {
	if _, err := s.conn.Exec(ctx, "SELECT 1"); err != nil {
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindConflict {
			return 0, err // not an aborted transaction: a cancelled call
		}
		if _, rbErr := s.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rbErr != nil {
			return 0, errors.Join(ErrRolledBack, rbErr)
		}
		return 0, ErrRolledBack
	}
	return s.execBound(ctx)
}

// AbortTransaction makes the connection's open transaction refuse every
// statement but ROLLBACK, as DuckDB does after a statement of it fails:
// for a failure of Skein's own (an ingest or a parameter batch broken
// midway) that left part of its rows in the transaction, which no
// COMMIT may keep (Commit rolls it back). DuckDB aborts a transaction
// on a statement that fails as it runs, which error() does.
func (c *Conn) AbortTransaction(why string) error {
	_, err := c.Exec(context.Background(), "SELECT error($1::VARCHAR)", "Skein aborted the transaction: "+why)
	var de *Error
	if errors.As(err, &de) && de.Kind == KindInvalid {
		return nil // the expected failure
	}
	if err == nil {
		return errors.New("duck: abort transaction: error() did not fail")
	}
	return err
}

// InTransaction reports whether the connection has a transaction open:
// one begun by BEGIN, in SQL or through Flight SQL, and not yet ended by
// COMMIT or ROLLBACK, in SQL or not. DuckDB says so in no call; the
// transaction a statement runs in does: two statements in a row share
// one only inside a transaction, and a statement of an aborted one fails
// with a conflict. Two small statements: asked where a write chooses to
// be its own transaction, not for each query.
func (c *Conn) InTransaction(ctx context.Context) (bool, error) {
	_, open, err := c.Transaction(ctx)
	return open, err
}

// OutsideTxn runs read, a statement of Skein's own reading what files
// hold (Parquet footers, listings), on c, or, when c has a transaction
// open, on another connection of the instance (Aside): DuckDB aborts a
// transaction at any error but a parser's, binder's or catalog's, and a
// footer the planner could not read (a corrupt file that the query's
// own filters skip) aborted the client's transaction, its writes lost at
// COMMIT (a tester's). read must need nothing of c's own: no TEMP
// object, nothing the transaction wrote.
func (c *Conn) OutsideTxn(ctx context.Context, read func(*Conn) error) error {
	open, err := c.InTransaction(ctx)
	if err != nil {
		return err
	}
	if !open {
		return read(c)
	}
	return c.db.Aside(ctx, read)
}

// Aside runs fn on a connection of the instance's own, lent for fn's
// statements (Skein's, which leave no transaction open) and kept for the
// next: a connection made anew costs the macros of every connection
// (3.4 ms, bounded.go). fn may set its current catalog and search path;
// whoever borrows it next sets its own.
func (db *DB) Aside(ctx context.Context, fn func(*Conn) error) error {
	var other *Conn
	select {
	case other = <-db.outside:
	default:
		var err error
		if other, err = db.Connect(ctx); err != nil {
			return err
		}
	}
	err := fn(other)
	select {
	case db.outside <- other:
	default:
		err = errors.Join(err, other.Close())
	}
	return err
}

// maxOutside is how many idle connections Aside keeps.
const maxOutside = 2

// Transaction is InTransaction with the open transaction's DuckDB id (0
// for an aborted one, whose statements fail).
func (c *Conn) Transaction(ctx context.Context) (id int64, open bool, err error) {
	var ids [2]int64
	for i := range ids {
		if ids[i], err = c.TransactionID(ctx); err != nil {
			var de *Error
			if errors.As(err, &de) && de.Kind == KindConflict {
				return 0, true, nil // an aborted transaction, open until rolled back
			}
			return 0, false, err
		}
	}
	if ids[0] != ids[1] {
		return 0, false, nil
	}
	return ids[1], true, nil
}

// TransactionID is DuckDB's id of the transaction its statement runs in:
// the connection's open one, or the statement's own.
func (c *Conn) TransactionID(ctx context.Context) (int64, error) {
	rows, err := c.QueryRows(ctx, "SELECT current_transaction_id()")
	if err != nil {
		return 0, err
	}
	var id int64
	if rows.Next() {
		err = rows.Scan(&id)
	}
	if err = errors.Join(err, rows.Err(), rows.Close()); err != nil {
		return 0, wrap(err)
	}
	return id, nil
}

// Atomic runs fn as one transaction: in the connection's open one if
// there is one, which fn's failure aborts (AbortTransaction: no COMMIT
// may keep part of it), else in its own, committed if fn succeeds and ctx
// is live, rolled back otherwise. Its own always ends, whatever ctx says:
// one left open takes every later statement of the connection into it,
// each acknowledged and none ever committed (until 2026-12-04 a
// client's deadline that fell between a load's last rows and its COMMIT
// did that). why says what failed, for the aborted transaction's error.
func (c *Conn) Atomic(ctx context.Context, why string, fn func() error) error {
	open, err := c.InTransaction(ctx)
	if err != nil {
		return err
	}
	if open {
		if err := recovered(fn); err != nil {
			return errors.Join(err, c.AbortTransaction(why))
		}
		return nil
	}
	if _, err := c.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return err
	}
	err = recovered(fn)
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		if _, err = c.Exec(ctx, "COMMIT"); err == nil {
			return nil
		}
	}
	// A COMMIT that ran and failed ended the transaction; one that did
	// not run (its context ended first) left it open.
	bg := context.WithoutCancel(ctx)
	open, oerr := c.InTransaction(bg)
	if oerr == nil && open {
		_, oerr = c.Exec(bg, "ROLLBACK")
	}
	if oerr != nil {
		oerr = fmt.Errorf("duck: ending the transaction of a failed write: %w", oerr)
	}
	return errors.Join(err, oerr)
}

// recovered is fn's error, or a panic in fn as one: a panic that left
// Atomic past its BEGIN skipped the ROLLBACK, and the session, its
// client in autocommit mode, stayed in a transaction it never opened:
// every later write acknowledged, none committed (a bulk load whose
// schema arrow-go could not decode, until 2026-12-06).
func recovered(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &Error{Kind: KindInternal, Msg: fmt.Sprintf("duck: the write failed: %v", r)}
		}
	}()
	return fn()
}

// HoldsState says whether the connection holds what its client could
// come back for: a transaction open (InTransaction), a temporary object
// (table, view, sequence, macro, type) or a variable (SET VARIABLE).
func (c *Conn) HoldsState(ctx context.Context) (bool, error) {
	if in, err := c.InTransaction(ctx); err != nil || in {
		return in, err
	}
	rows, err := c.QueryRows(ctx, `SELECT (SELECT count(*) FROM (
    SELECT database_name FROM duckdb_tables()
    UNION ALL SELECT database_name FROM duckdb_views() WHERE NOT internal
    UNION ALL SELECT database_name FROM duckdb_sequences()
    UNION ALL SELECT database_name FROM duckdb_functions() WHERE NOT internal AND `+notServerMacro+`
    UNION ALL SELECT database_name FROM duckdb_types() WHERE NOT internal) WHERE database_name = 'temp')
  + (SELECT count(*) FROM duckdb_variables())`)
	if err != nil {
		return false, err
	}
	var n int64
	if rows.Next() {
		err = rows.Scan(&n)
	}
	if err = errors.Join(err, rows.Err(), rows.Close()); err != nil {
		return false, wrap(err)
	}
	return n > 0, nil
}
