package duck

import (
	"context"
	"errors"
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
