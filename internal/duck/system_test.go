package duck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// openSystem opens a database with one system table, skein.queries, whose
// rows the test sets.
func openSystem(t *testing.T) (*Conn, func([][]any)) {
	t.Helper()
	dir := t.TempDir()
	var mu sync.Mutex
	var rows [][]any
	set := func(r [][]any) { mu.Lock(); rows = r; mu.Unlock() }
	sys := &System{Catalog: "skein", Path: filepath.Join(dir, "system.duckdb"), Tables: []SystemTable{{
		Name:    "queries",
		Columns: []Column{{"query_id", Varchar}, {"tasks", Integer}, {"rows", BigInt}, {"started_at", TimestampTZ}},
		Rows:    func(Reader) [][]any { mu.Lock(); defer mu.Unlock(); return rows },
	}}}
	ctx := context.Background()
	// Opened twice: the second start rebuilds the catalog's file.
	for range 2 {
		db, err := Open(ctx, Config{Path: filepath.Join(dir, "d.duckdb"), AllowedDirs: []string{filepath.Join(dir, "files")}, System: sys})
		if err != nil {
			t.Fatal(err)
		}
		c, err := db.Connect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close(); _ = db.Close() })
		if t.Failed() {
			break
		}
		return c, set
	}
	return nil, nil
}

func runCount(t *testing.T, st *Stmt) int64 {
	t.Helper()
	r, err := st.Query(context.Background(), memory.DefaultAllocator, nil, DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	if !r.Next() {
		t.Fatal(r.Err())
	}
	return r.RecordBatch().Column(0).(*array.Int64).Value(0)
}

func TestSystemTablesShowGoMemory(t *testing.T) {
	c, set := openSystem(t)
	ctx := context.Background()
	now := time.Now()
	set([][]any{{"q1", int32(2), int64(5), now}, {"q2", nil, nil, nil}, {nil, int32(1), nil, now}})
	st, err := c.Prepare(ctx, "SELECT count(*) FILTER (WHERE query_id IS NULL) * 100 + count(*) FILTER (WHERE rows IS NULL) * 10 + count(*) FROM skein.queries")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := runCount(t, st); n != 123 {
		t.Fatalf("got %d, want 3 rows, two with NULLs, one of them a NULL query_id", n)
	}
	// More rows than a DuckDB chunk holds.
	many := make([][]any, 5000)
	for i := range many {
		many[i] = []any{"q", int32(i), int64(i), now}
	}
	set(many)
	if n := runCount(t, st); n != 5000 {
		t.Fatalf("got %d of 5000 rows", n)
	}
	// A prepared statement run again sees the table as it is then.
	set([][]any{{"q3", int32(1), int64(1), now}})
	if n := runCount(t, st); n != 1 {
		t.Fatalf("second run: got %d, want 1 row", n)
	}
	types, err := c.Prepare(ctx, "SELECT * FROM skein.queries")
	if err != nil {
		t.Fatal(err)
	}
	defer types.Close()
	want := []arrow.Type{arrow.STRING, arrow.INT32, arrow.INT64, arrow.TIMESTAMP}
	for i, f := range types.Schema.Fields() {
		if i >= len(want) || f.Type.ID() != want[i] {
			t.Fatalf("schema %s", types.Schema)
		}
	}
}

// No statement changes a system table or what its name means.
func TestSystemTablesAreReadOnly(t *testing.T) {
	c, set := openSystem(t)
	ctx := context.Background()
	set([][]any{{"q1", int32(2), int64(5), time.Now()}})
	for _, q := range []string{
		"DELETE FROM skein.queries",
		"UPDATE skein.queries SET rows = 0",
		"INSERT INTO skein.queries VALUES ('x', 1, 1, now())",
		"DROP VIEW skein.queries",
		"DROP TABLE skein.queries",
		"CREATE OR REPLACE TABLE skein.queries AS SELECT 1 AS a",
		"CREATE OR REPLACE VIEW skein.queries AS SELECT 1 AS a",
		"ALTER VIEW skein.queries RENAME TO q",
		"CREATE TABLE skein.main.t (a INT)",
		"CREATE SCHEMA skein.s",
		"DROP FUNCTION system.main.skein_queries",
		"CREATE OR REPLACE MACRO system.main.skein_queries() AS TABLE SELECT 1 AS a",
	} {
		if _, err := c.Exec(ctx, q); err == nil {
			t.Errorf("%s: accepted", q)
		} else {
			t.Logf("%s: %v", q, err)
		}
	}
	// A macro of the same name elsewhere does not stand in for the table.
	for _, q := range []string{
		"CREATE MACRO skein_queries() AS TABLE SELECT 1 AS a",
		"CREATE TEMP MACRO skein_queries() AS TABLE SELECT 1 AS a",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Prepare(ctx, "SELECT count(*) FROM skein.queries WHERE query_id = 'q1'")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := runCount(t, st); n != 1 {
		t.Fatalf("skein.queries after the attempts: %d rows of q1", n)
	}
}

// A system catalog that cannot be written where asked (its disk full: a
// data directory a failed CREATE TABLE AS filled kept the coordinator
// from starting) is written under the temporary directory, read-only as
// ever, and removed at Close.
func TestSystemCatalogWrittenElsewhereWhenItCannotBe(t *testing.T) {
	dir := t.TempDir()
	sys := &System{Catalog: "skein", Path: filepath.Join(dir, "gone", "system.duckdb"), Tables: []SystemTable{{
		Name: "queries", Columns: []Column{{"query_id", Varchar}},
		Rows: func(Reader) [][]any { return [][]any{{"q1"}} },
	}}}
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: filepath.Join(dir, "d.duckdb"), System: sys})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	elsewhere, why := db.SystemElsewhere()
	if elsewhere == "" || why == nil || !strings.Contains(why.Error(), "gone") {
		t.Fatalf("written at %q (%v): want a directory of its own, and why not at %s", elsewhere, why, sys.Path)
	}
	c, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Prepare(ctx, "SELECT count(*) FROM skein.queries WHERE query_id = 'q1'")
	if err != nil {
		t.Fatal(err)
	}
	if n := runCount(t, st); n != 1 {
		t.Fatalf("skein.queries: %d rows", n)
	}
	_ = st.Close()
	if _, err := c.Exec(ctx, "CREATE TABLE skein.main.t (i INTEGER)"); err == nil {
		t.Fatal("a table created in the system catalog")
	}
	_ = c.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(elsewhere); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s after Close: %v", elsewhere, err)
	}
}
