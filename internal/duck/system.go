package duck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/duckdb/duckdb-go/v2"
)

// System is the server's catalog of system tables: read-only views, in a
// database file attached READ_ONLY, over table functions that read Go
// memory. No statement can change what they show: the views' catalog
// refuses every write, and the rows live where SQL cannot reach.
//
// A table shows each connection what its Reader may see (a client's
// queries, not other users' SQL text and errors): the view passes its
// table function the DuckDB id of the connection binding it
// (system.main.current_connection_id()), and the reader of that id is the one the
// server set (Conn.SetReader). No client names a table function itself
// (the guard refuses their names wherever they appear), so none can pass
// another connection's id.
type System struct {
	// Catalog is the name SQL uses, as in skein.queries.
	Catalog string
	// Path is the file holding the views; it is rebuilt at every start.
	Path string
	// Tables are the catalog's tables.
	Tables []SystemTable
}

// SystemTable is one read-only table of the system catalog.
type SystemTable struct {
	// Name is the view's name in the catalog; its table function is named
	// skein_system_<catalog>_<name> (systemFunctionPrefix).
	Name    string
	Columns []Column
	// Rows gives a snapshot of the table as r may see it, each row a
	// value per column (nil for NULL); it is called once per query that
	// reads the table.
	Rows func(r Reader) [][]any
}

// systemFunctionPrefix starts the names of the system tables' functions,
// which no client may write (checkText).
const systemFunctionPrefix = "skein_system_"

// Reader is who reads a system table through a connection.
type Reader struct {
	// User is the connection's user; a connection the server never set a
	// reader on has none.
	User string
	// All says the reader sees every user's rows (an admin).
	All bool
}

// Column is a system table column and its DuckDB type.
type Column struct {
	Name string
	Type ColumnType
}

// ColumnType is a type a system table column can have.
type ColumnType int

// The column types, with the Go values Rows gives for them.
const (
	Varchar     ColumnType = iota // string
	Integer                       // int32
	BigInt                        // int64
	TimestampTZ                   // time.Time
)

var columnTypes = map[ColumnType]duckdb.Type{
	Varchar: duckdb.TYPE_VARCHAR, Integer: duckdb.TYPE_INTEGER,
	BigInt: duckdb.TYPE_BIGINT, TimestampTZ: duckdb.TYPE_TIMESTAMP_TZ,
}

// attachSystem registers the table functions and attaches the catalog of
// views over them. It runs before the sandbox locks ATTACH. The catalog's
// file is written at s.Path; where that fails (its disk full: a data
// directory a failed CREATE TABLE AS had filled kept the coordinator from
// starting, its committed tables out of reach) it is written in a
// directory of its own under the system's temporary directory, removed at
// Close, and SystemElsewhere says why.
func (db *DB) attachSystem(ctx context.Context, s System) error {
	conn, err := db.pool.Conn(ctx)
	if err != nil {
		return wrap(fmt.Errorf("duck: system catalog: %w", err))
	}
	defer conn.Close()
	exec := func(q string) error {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return wrap(fmt.Errorf("duck: system catalog (%s): %w", q, err))
		}
		return nil
	}
	for _, t := range s.Tables {
		if err := db.registerTable(conn, systemFunctionPrefix+s.Catalog+"_"+t.Name, t); err != nil {
			return err
		}
	}
	err = writeSystem(exec, s, s.Path)
	if err == nil {
		return nil
	}
	_ = exec("DETACH DATABASE IF EXISTS " + QuoteIdent(s.Catalog))
	dir, derr := os.MkdirTemp("", "skein-system-")
	if derr != nil {
		return err
	}
	if werr := writeSystem(exec, s, filepath.Join(dir, filepath.Base(s.Path))); werr != nil {
		_ = exec("DETACH DATABASE IF EXISTS " + QuoteIdent(s.Catalog))
		_ = os.RemoveAll(dir)
		return errors.Join(err, werr)
	}
	db.systemDir, db.systemErr = dir, err
	return nil
}

// SystemElsewhere says where the system catalog's file was written instead
// of System.Path, and why; "" when it is there.
func (db *DB) SystemElsewhere() (string, error) { return db.systemDir, db.systemErr }

// writeSystem writes the catalog of views over s's table functions at
// path, and attaches it read-only.
func writeSystem(exec func(string) error, s System, path string) error {
	// The file holds only views, written here: a fresh one each start
	// cannot carry anything a previous run (or an attack on it) left.
	for _, p := range []string{path, path + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("duck: system catalog: %w", err)
		}
	}
	catalog := QuoteIdent(s.Catalog)
	if err := exec("ATTACH " + QuoteString(path) + " AS " + catalog); err != nil {
		return err
	}
	for _, t := range s.Tables {
		fn := systemFunctionPrefix + s.Catalog + "_" + t.Name
		// Functions live in the catalog "system", where SQL creates
		// nothing: naming it means no macro of the same name can stand
		// in for the table function, nor for the connection's id (a
		// user's TEMP macro current_connection_id() naming an admin's
		// connection read every user's rows; a persistent one returning
		// an INTEGER broke the tables for everyone: found 2026-12-05).
		if err := exec("CREATE VIEW " + catalog + ".main." + QuoteIdent(t.Name) +
			" AS SELECT * FROM system.main." + QuoteIdent(fn) + "(system.main.current_connection_id())"); err != nil {
			return err
		}
	}
	if err := exec("DETACH " + catalog); err != nil {
		return err
	}
	return exec("ATTACH " + QuoteString(path) + " AS " + catalog + " (READ_ONLY)")
}

func (db *DB) registerTable(conn *sql.Conn, name string, t SystemTable) error {
	cols := make([]duckdb.ColumnInfo, len(t.Columns))
	for i, c := range t.Columns {
		ti, err := duckdb.NewTypeInfo(columnTypes[c.Type])
		if err != nil {
			return wrap(fmt.Errorf("duck: system table %s: %w", name, err))
		}
		cols[i] = duckdb.ColumnInfo{Name: c.Name, T: ti}
	}
	id, err := duckdb.NewTypeInfo(duckdb.TYPE_UBIGINT)
	if err != nil {
		return wrap(fmt.Errorf("duck: system table %s: %w", name, err))
	}
	err = duckdb.RegisterTableUDF(conn, name, duckdb.ChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{id}},
		BindArguments: func(_ map[string]any, args ...any) (duckdb.ChunkTableSource, error) {
			conn, ok := args[0].(uint64)
			if !ok {
				return nil, fmt.Errorf("duck: system table %s: connection id %T", name, args[0])
			}
			r := db.reader(conn)
			return &rowSource{cols: cols, rows: func() [][]any { return t.Rows(r) }}, nil
		},
	})
	if err != nil {
		return wrap(fmt.Errorf("duck: system table %s: %w", name, err))
	}
	return nil
}

// SetReader makes r the reader of the system tables through c, until c
// closes.
func (c *Conn) SetReader(r Reader) {
	c.db.readers.Store(c.duckConnID(), r)
}

// reader is the reader set on the DuckDB connection of id conn: none
// (no user, no rows) if the server set none.
func (db *DB) reader(conn uint64) Reader {
	r, _ := db.readers.Load(conn)
	reader, _ := r.(Reader)
	return reader
}

// rowSource serves a system table to one query. A prepared statement
// keeps its bound source and runs it again, so each run takes its own
// snapshot.
type rowSource struct {
	cols []duckdb.ColumnInfo
	rows func() [][]any
	snap [][]any
	next int
}

func (r *rowSource) ColumnInfos() []duckdb.ColumnInfo { return r.cols }

func (r *rowSource) Cardinality() *duckdb.CardinalityInfo { return nil }

func (r *rowSource) Init() { r.snap, r.next = r.rows(), 0 }

// FillChunk writes the next rows of the snapshot. It writes through
// DataChunk.SetValue, which takes nil as NULL (duckdb-go v2.10505's
// Row.SetRowValue does not).
func (r *rowSource) FillChunk(chunk duckdb.DataChunk) error {
	n := 0
	for ; n < duckdb.GetDataChunkCapacity() && r.next < len(r.snap); n, r.next = n+1, r.next+1 {
		for i, v := range r.snap[r.next] {
			if err := chunk.SetValue(i, n, v); err != nil {
				return err
			}
		}
	}
	return chunk.SetSize(n)
}
