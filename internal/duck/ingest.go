package duck

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
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

// Ingest loads an Arrow stream into a table and returns the rows loaded.
//
// Rows move as columns, never as SQL text: each record batch is converted
// to DuckDB vectors (the conversion DuckDB's Arrow scan uses) and handed
// to an appender whose query inserts them. Nothing is registered in a
// catalog, so no other connection can see the stream, and a crash leaves
// nothing behind but an uncommitted transaction. The load is one
// transaction (Atomic): all rows or none, its own, or the connection's
// open one, which a load that fails aborts (DuckDB's appender inserts
// what it holds as it fills, and when destroyed: part of the rows may be
// in it).
func (c *Conn) Ingest(ctx context.Context, t Table, mode IngestMode, rdr array.RecordReader) (n int64, err error) {
	err = c.Atomic(ctx, fmt.Sprintf("the load into %s failed", t.Quoted()), func() (err error) {
		n, err = c.ingest(ctx, t, mode, rdr)
		return err
	})
	return n, err
}

func (c *Conn) ingest(ctx context.Context, t Table, mode IngestMode, rdr array.RecordReader) (int64, error) {
	t, exists, err := c.findTable(ctx, t)
	if err != nil {
		return 0, err
	}
	create := "CREATE TABLE "
	if t.Temporary {
		create = "CREATE TEMP TABLE "
	}
	switch {
	case !exists && !mode.CreateIfMissing:
		return 0, &Error{Kind: KindNotFound, Msg: fmt.Sprintf("Catalog Error: Table %s does not exist and the ingest mode does not create it", t.Quoted())}
	case exists && mode.Replace:
		create = strings.Replace(create, "CREATE", "CREATE OR REPLACE", 1)
	case exists && !mode.Append:
		return 0, &Error{Kind: KindAlreadyExists, Msg: fmt.Sprintf("Catalog Error: Table %s already exists", t.Quoted())}
	}
	// DuckDB's own refusal of a struct's two fields of one name named
	// neither the column nor the fields (a tester's).
	for i, f := range rdr.Schema().Fields() {
		if a, b, found := sameFieldNames(f.Type); found {
			return 0, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: column %d (%.60q) has struct fields named %.60q "+
				"and %.60q (DuckDB's names ignore the case of ASCII letters): give every field its own name", i+1, f.Name, a, b)}
		}
	}
	in, err := c.newArrowInput(rdr.Schema())
	if err != nil {
		return 0, fmt.Errorf("duck: ingest into %s: %w", t.Quoted(), err)
	}
	defer in.close()
	// Refused by name: DuckDB's own refusal named the appender's table,
	// appended_data, which the client never heard of (a tester's).
	if i, j := sameNames(in.names); j > 0 {
		return 0, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: columns %d and %d are both named %.60q "+
			"(DuckDB's names ignore the case of ASCII letters): give every column its own name", i+1, j+1, in.names[j])}
	}
	if !exists || mode.Replace {
		cols, err := in.columnDefs(ctx, c)
		if err != nil {
			return 0, err
		}
		if _, err := c.Exec(ctx, create+t.Quoted()+" ("+cols+")"); err != nil {
			return 0, err
		}
	}
	return in.insert(ctx, c, "INSERT INTO "+t.Quoted()+" BY NAME SELECT * FROM "+appendedData, rdr)
}

// findTable says whether t exists, and names it in full: a table not
// temporary by its catalog and schema, those of the connection where t
// has none. DuckDB binds a name of one or two parts to a TEMP table of
// that name first: a load into "t" (or "main"."t") went into the
// session's TEMP table t, the new table left empty, every row lost when
// the session ended (a tester's).
//
// A table named in the catalog temp (and its schema main, the only
// one), as GetObjects lists TEMP tables, is temporary: its append was
// NotFound, its create a parser error (a tester's). One in another
// schema of temp is refused as DuckDB refuses it.
func (c *Conn) findTable(ctx context.Context, t Table) (Table, bool, error) {
	t.Temporary = t.Temporary || equalFoldASCII(t.Catalog, "temp") && (t.Schema == "" || equalFoldASCII(t.Schema, "main"))
	if !t.Temporary {
		var catalog, schema string
		if err := c.sc.QueryRowContext(ctx, "SELECT current_database(), current_schema()").Scan(&catalog, &schema); err != nil {
			return t, false, wrap(err)
		}
		t.Catalog, t.Schema = cmp.Or(t.Catalog, catalog), cmp.Or(t.Schema, schema)
	}
	rows, err := c.QueryRows(ctx, `SELECT database_name, schema_name, table_name FROM duckdb_tables()
WHERE lower(table_name) = lower($1) AND temporary = $2`, t.Name, t.Temporary)
	if err != nil {
		return t, false, err
	}
	defer rows.Close()
	exists := false
	for rows.Next() {
		var catalog, schema, name string
		if err := rows.Scan(&catalog, &schema, &name); err != nil {
			return t, false, wrap(err)
		}
		// As DuckDB binds names: whatever their case in ASCII ("mixed" is
		// Mixed), not beyond it ("É" is not "é", which SQL's lower folds).
		exists = exists || equalFoldASCII(name, t.Name) &&
			(t.Temporary || equalFoldASCII(catalog, t.Catalog) && equalFoldASCII(schema, t.Schema))
	}
	return t, exists, wrap(rows.Err())
}

// sameNames is the first two of names equal but for the case of their
// ASCII letters, as DuckDB compares them (j is 0 if none).
func sameNames(names []string) (i, j int) {
	seen := make(map[string]int, len(names))
	for j, n := range names {
		k := []byte(n)
		for x, b := range k {
			if 'A' <= b && b <= 'Z' {
				k[x] = b + 'a' - 'A'
			}
		}
		if i, dup := seen[string(k)]; dup {
			return i, j
		}
		seen[string(k)] = j
	}
	return 0, 0
}

// sameFieldNames finds, in a column's type, a struct with two fields of
// one name as DuckDB compares names, and gives their names.
func sameFieldNames(dt arrow.DataType) (a, b string, found bool) {
	switch t := dt.(type) {
	case *arrow.StructType:
		names := make([]string, t.NumFields())
		for i, f := range t.Fields() {
			names[i] = f.Name
		}
		if i, j := sameNames(names); j > 0 {
			return names[i], names[j], true
		}
		for _, f := range t.Fields() {
			if a, b, found := sameFieldNames(f.Type); found {
				return a, b, true
			}
		}
	case arrow.ListLikeType: // lists of every kind, and maps
		return sameFieldNames(t.Elem())
	case *arrow.DictionaryType:
		return sameFieldNames(t.ValueType)
	}
	return "", "", false
}

// equalFoldASCII says whether a and b are equal but for the case of their
// ASCII letters, as DuckDB compares names.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// DropArrowLeftovers drops the Arrow scan views (skein_arrow_*) that a
// server killed during an ingest left in the database file, before
// version where ingest stopped registering views: selecting from one
// reads a stream that died with that process. It returns how many it
// dropped.
func (db *DB) DropArrowLeftovers(ctx context.Context) (int, error) {
	rows, err := db.pool.QueryContext(ctx, `SELECT database_name, schema_name, view_name FROM duckdb_views()
WHERE NOT internal AND NOT temporary AND view_name LIKE 'skein\_arrow\_%' ESCAPE '\'
AND NOT starts_with(upper(ltrim(coalesce(sql, ''))), 'CREATE')`)
	if err != nil {
		return 0, wrap(err)
	}
	var drops []string
	for rows.Next() {
		var d, s, v string
		if err := rows.Scan(&d, &s, &v); err != nil {
			rows.Close()
			return 0, wrap(err)
		}
		drops = append(drops, "DROP VIEW "+QuoteIdent(d)+"."+QuoteIdent(s)+"."+QuoteIdent(v))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, wrap(err)
	}
	defer db.changed()
	for _, q := range drops {
		if _, err := db.pool.ExecContext(ctx, q); err != nil {
			return 0, wrap(fmt.Errorf("duck: removing a leftover Arrow view: %w", err))
		}
	}
	return len(drops), nil
}

// LoadTemp loads an Arrow stream into a new TEMP table of this connection
// with DuckDB's Arrow scan (which converts the batches to vectors as
// Ingest's appender does, and writes them as one CREATE TABLE AS, about
// twice as fast). DuckDB's Arrow scan registers its view in the
// connection's current catalog, where every connection sees it (and a
// database file would keep it): so under a unique name, dropped after the
// load.
//
// The scan is read whole (SELECT *: every column in order, no filter).
// DuckDB's C API Arrow scan ignores the projection and the filters DuckDB
// pushes into it (the stream must be already projected and filtered), so
// a query reading some columns, or filtering them, straight from the
// stream would get wrong columns or unfiltered rows.
func (c *Conn) LoadTemp(ctx context.Context, name string, rdr array.RecordReader) error {
	a, err := duckdb.NewArrowFromConn(c.raw)
	if err != nil {
		return err
	}
	scan := uniqueName("skein_arrow_")
	c.changed()
	defer c.changed()
	releaseStream, err := a.RegisterView(rdr, scan)
	if err != nil {
		return fmt.Errorf("duck: load %s: %w", name, err)
	}
	defer func() {
		_, _ = c.sc.ExecContext(context.WithoutCancel(ctx), "DROP VIEW IF EXISTS "+QuoteIdent(scan))
		releaseStream()
	}()
	// Types Arrow does not give back cast back (kept.go).
	_, err = c.Exec(ctx, "CREATE TEMP TABLE "+QuoteIdent(name)+" AS SELECT "+castSelect(rdr.Schema())+" FROM "+QuoteIdent(scan))
	return err
}

// uniqueName is prefix and 16 random hex digits: a name of Skein's own in
// a catalog the client's SQL shares (its TEMP objects), which no name of
// the client's meets.
func uniqueName(prefix string) string {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return prefix + hex.EncodeToString(rnd[:])
}
