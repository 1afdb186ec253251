package coordinator

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/skeindb/skein/internal/duck"
)

// rewriteSchema prepares a planner's rewrite of the session's query (its
// check over one slice) on the session's connection, and gives its result
// schema. Inside the session's open transaction it prepares it first on a
// connection of its own, set to the session's database and search path:
// a rewrite reading one file of a glob met errors the query does not (a
// hive partition's column of the name of a file's, an INTERNAL error),
// which aborted the client's transaction and lost its uncommitted writes
// where DuckDB answered the query (a tester's). An error there that would
// abort a transaction runs the query local without the session's
// connection meeting it; one that would not (a name only the session
// sees: a TEMP view, a table created in the transaction) leaves the
// answer to the session's connection.
func (d *dist) rewriteSchema(ctx context.Context, conn *duck.Conn, sql string) (*arrow.Schema, error) {
	if inTxn, err := conn.InTransaction(ctx); err != nil {
		return nil, err
	} else if inTxn {
		if err := d.prepareAside(ctx, conn, sql); err != nil {
			return nil, err
		}
	}
	st, err := conn.Prepare(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Schema, nil
}

// prepareAside prepares sql on a connection of the instance's own (Aside)
// set as conn is, and returns its error if it is one that aborts a
// transaction.
func (d *dist) prepareAside(ctx context.Context, conn *duck.Conn, sql string) error {
	var catalog, path string
	rows, err := conn.QueryRows(ctx, "SELECT current_database(), current_setting('search_path')")
	if err != nil {
		return err
	}
	if rows.Next() {
		err = rows.Scan(&catalog, &path)
	}
	rows.Close()
	if err != nil {
		return err
	}
	return d.db.Aside(ctx, func(aside *duck.Conn) error {
		if _, err := aside.Exec(ctx, "USE "+duck.QuoteIdent(catalog)); err != nil {
			return nil // the session's to answer
		}
		if _, err := aside.Exec(ctx, "SET search_path = "+duck.QuoteString(path)); err != nil {
			return nil
		}
		st, err := aside.Prepare(ctx, sql)
		if err == nil {
			_ = st.Close()
			return nil
		}
		var de *duck.Error
		if errors.As(err, &de) && !de.AbortsTransaction() {
			return nil
		}
		return fmt.Errorf("prepared outside the session's transaction, which it would have aborted: %w", err)
	})
}
