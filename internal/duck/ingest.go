package duck

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// IngestMode says what to do when the target table exists or does not.
type IngestMode struct {
	CreateIfMissing bool // else a missing table is an error
	Append          bool // if it exists: add rows
	Replace         bool // if it exists: drop and create anew
	// With neither Append nor Replace, an existing table is an error.
}

// Table names a table, optionally in a catalog and schema.
type Table struct {
	Catalog, Schema, Name string
	Temporary             bool
}

// Quoted is the table's qualified, quoted name.
func (t Table) Quoted() string {
	var parts []string
	if t.Catalog != "" && !t.Temporary {
		parts = append(parts, QuoteIdent(t.Catalog))
	}
	if t.Schema != "" && !t.Temporary {
		parts = append(parts, QuoteIdent(t.Schema))
	}
	return strings.Join(append(parts, QuoteIdent(t.Name)), ".")
}

// Ingest loads an Arrow stream into a table through DuckDB's Arrow scan, so
// rows move as columns, never as SQL text. It returns the rows loaded.
func (c *Conn) Ingest(ctx context.Context, t Table, mode IngestMode, rdr array.RecordReader) (int64, error) {
	exists, err := c.tableExists(ctx, t)
	if err != nil {
		return 0, err
	}
	const view = "skein_ingest"
	release, err := c.RegisterArrow(rdr, view)
	if err != nil {
		return 0, fmt.Errorf("duck: ingest into %s: %w", t.Quoted(), err)
	}
	defer release()

	create := "CREATE TABLE "
	if t.Temporary {
		create = "CREATE TEMP TABLE "
	}
	var q string
	switch {
	case !exists && !mode.CreateIfMissing:
		return 0, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("Catalog Error: Table %s does not exist and the ingest mode does not create it", t.Quoted())}
	case !exists:
		q = create + t.Quoted() + " AS SELECT * FROM " + QuoteIdent(view)
	case mode.Replace:
		q = strings.Replace(create, "CREATE", "CREATE OR REPLACE", 1) + t.Quoted() + " AS SELECT * FROM " + QuoteIdent(view)
	case mode.Append:
		q = "INSERT INTO " + t.Quoted() + " BY NAME SELECT * FROM " + QuoteIdent(view)
	default:
		return 0, &Error{Kind: KindAlreadyExists, Msg: fmt.Sprintf("Catalog Error: Table %s already exists", t.Quoted())}
	}
	if !exists || mode.Replace {
		// CREATE TABLE AS reports no count; count what the view delivered.
		if _, err := c.Exec(ctx, q); err != nil {
			return 0, err
		}
		return c.countRows(ctx, t)
	}
	return c.Exec(ctx, q)
}

func (c *Conn) countRows(ctx context.Context, t Table) (int64, error) {
	rows, err := c.QueryRows(ctx, "SELECT count(*) FROM "+t.Quoted())
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, wrap(err)
		}
	}
	return n, wrap(rows.Err())
}

func (c *Conn) tableExists(ctx context.Context, t Table) (bool, error) {
	q := "SELECT count(*) FROM duckdb_tables() WHERE table_name = $1"
	args := []any{t.Name}
	if t.Temporary {
		q += " AND temporary"
	} else {
		q += " AND NOT temporary"
		if t.Catalog != "" {
			q += " AND database_name = $2"
			args = append(args, t.Catalog)
		} else {
			q += " AND database_name = current_database()"
		}
		if t.Schema != "" {
			q += fmt.Sprintf(" AND schema_name = $%d", len(args)+1)
			args = append(args, t.Schema)
		} else {
			q += " AND schema_name = current_schema()"
		}
	}
	rows, err := c.QueryRows(ctx, q, args...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var n int64
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, wrap(err)
		}
	}
	return n > 0, wrap(rows.Err())
}

// RegisterArrow makes rdr scannable as the view name on this connection
// only, until release is called. DuckDB pulls from rdr as it scans, once.
//
// DuckDB's Arrow scan registers its view in the connection's current
// catalog, where every connection sees it (and, in a database file, it
// would be written to the file). So the scan is registered under a unique
// name and name is a temporary view over it, private to the connection;
// release drops both. Register on a connection whose current catalog is
// scratch (an in-memory database) unless the write is wanted.
func (c *Conn) RegisterArrow(rdr array.RecordReader, name string) (release func(), err error) {
	a, err := duckdb.NewArrowFromConn(c.raw)
	if err != nil {
		return nil, err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	scan := "skein_arrow_" + hex.EncodeToString(rnd[:])
	releaseStream, err := a.RegisterView(rdr, scan)
	if err != nil {
		return nil, fmt.Errorf("duck: register %s: %w", name, err)
	}
	ctx := context.Background()
	dropScan := func() { _, _ = c.sc.ExecContext(ctx, "DROP VIEW IF EXISTS "+QuoteIdent(scan)) }
	if _, err := c.sc.ExecContext(ctx, "CREATE OR REPLACE TEMP VIEW "+QuoteIdent(name)+" AS SELECT * FROM "+QuoteIdent(scan)); err != nil {
		dropScan()
		releaseStream()
		return nil, wrap(fmt.Errorf("duck: register %s: %w", name, err))
	}
	return func() {
		_, _ = c.sc.ExecContext(ctx, "DROP VIEW IF EXISTS temp.main."+QuoteIdent(name))
		dropScan()
		releaseStream()
	}, nil
}
