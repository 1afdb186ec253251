package duck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/duckdb/duckdb-go/v2"
)

// System is the server's catalog of system tables: read-only views, in a
// database file attached READ_ONLY, over table functions that read Go
// memory. No statement can change what they show: the views' catalog
// refuses every write, and the rows live where SQL cannot reach.
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
	// <catalog>_<name>.
	Name    string
	Columns []Column
	// Rows gives a snapshot of the table, each row a value per column (nil
	// for NULL); it is called once per query that reads the table.
	Rows func() [][]any
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
// views over them. It runs before the sandbox locks ATTACH.
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
	// The file holds only views, written here: a fresh one each start
	// cannot carry anything a previous run (or an attack on it) left.
	for _, p := range []string{s.Path, s.Path + ".wal"} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("duck: system catalog: %w", err)
		}
	}
	catalog := QuoteIdent(s.Catalog)
	if err := exec("ATTACH " + QuoteString(s.Path) + " AS " + catalog); err != nil {
		return err
	}
	for _, t := range s.Tables {
		fn := s.Catalog + "_" + t.Name
		if err := registerTable(conn, fn, t); err != nil {
			return err
		}
		// Table functions live in the catalog "system"; naming it means
		// no macro of the same name elsewhere can stand in for it.
		if err := exec("CREATE VIEW " + catalog + ".main." + QuoteIdent(t.Name) +
			" AS SELECT * FROM system.main." + QuoteIdent(fn) + "()"); err != nil {
			return err
		}
	}
	if err := exec("DETACH " + catalog); err != nil {
		return err
	}
	return exec("ATTACH " + QuoteString(s.Path) + " AS " + catalog + " (READ_ONLY)")
}

func registerTable(conn *sql.Conn, name string, t SystemTable) error {
	cols := make([]duckdb.ColumnInfo, len(t.Columns))
	for i, c := range t.Columns {
		ti, err := duckdb.NewTypeInfo(columnTypes[c.Type])
		if err != nil {
			return wrap(fmt.Errorf("duck: system table %s: %w", name, err))
		}
		cols[i] = duckdb.ColumnInfo{Name: c.Name, T: ti}
	}
	err := duckdb.RegisterTableUDF(conn, name, duckdb.ChunkTableFunction{
		BindArguments: func(map[string]any, ...any) (duckdb.ChunkTableSource, error) {
			return &rowSource{cols: cols, rows: t.Rows}, nil
		},
	})
	if err != nil {
		return wrap(fmt.Errorf("duck: system table %s: %w", name, err))
	}
	return nil
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
