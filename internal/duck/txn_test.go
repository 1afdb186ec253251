package duck

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestInTransaction(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	want := func(open bool) {
		t.Helper()
		got, err := c.InTransaction(ctx)
		if err != nil || got != open {
			t.Fatalf("InTransaction = %v, %v; want %v", got, err, open)
		}
	}
	want(false)
	mustExec(t, c, "BEGIN TRANSACTION")
	want(true)
	mustExec(t, c, "COMMIT")
	want(false)
	mustExec(t, c, "BEGIN")
	if _, err := c.Exec(ctx, "SELECT error('x')"); err == nil {
		t.Fatal("error() did not fail")
	}
	want(true) // aborted, open until rolled back
	mustExec(t, c, "ROLLBACK")
	want(false)
}

func mustExec(t *testing.T, c *Conn, q string) {
	t.Helper()
	if _, err := c.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// endsAfter is a reader of one batch that ends the call's context once
// the batch has been read, as a client's deadline that falls between a
// load's last rows and its COMMIT does.
type endsAfter struct {
	array.RecordReader
	cancel context.CancelFunc
}

func (e *endsAfter) Next() bool {
	if e.RecordReader.Next() {
		return true
	}
	e.cancel()
	return false
}

// A write whose context ends after its rows ran and before its COMMIT
// leaves no transaction open: the connection's next statements commit.
// (The transaction was left open, every later statement of the session
// ran in it, was acknowledged, and was lost with the session.)
func TestWriteCutBeforeCommitEndsItsTransaction(t *testing.T) {
	db, c, _ := openTest(t)
	ctx := context.Background()
	mustExec(t, c, "CREATE TABLE loaded (a BIGINT)")
	other, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	count := func() (n int64) {
		t.Helper()
		rows, err := other.QueryRows(ctx, "SELECT count(*) FROM loaded")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		rows.Next()
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewInt64Builder(memory.DefaultAllocator)
	b.AppendValues([]int64{1, 2, 3}, nil)
	col := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(sc, []arrow.Array{col}, 3)
	col.Release()
	defer rec.Release()

	for _, write := range []struct {
		name string
		run  func(ctx context.Context, cancel context.CancelFunc) error
	}{
		{"ingest", func(ctx context.Context, cancel context.CancelFunc) error {
			rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
			if err != nil {
				t.Fatal(err)
			}
			defer rdr.Release()
			_, err = c.Ingest(ctx, Table{Name: "loaded"}, IngestMode{Append: true}, &endsAfter{RecordReader: rdr, cancel: cancel})
			return err
		}},
		{"batch", func(ctx context.Context, cancel context.CancelFunc) error {
			return c.Atomic(ctx, "a batch", func() error {
				_, err := c.Exec(ctx, "INSERT INTO loaded VALUES (1), (2), (3)")
				cancel()
				return err
			})
		}},
	} {
		wctx, cancel := context.WithCancel(ctx)
		err := write.run(wctx, cancel)
		cancel()
		if err == nil { // the context's end, or the interrupt it sent
			t.Fatalf("%s: a write whose context ended succeeded", write.name)
		}
		if open, err := c.InTransaction(ctx); err != nil || open {
			t.Fatalf("%s: a transaction is left open (%v, %v)", write.name, open, err)
		}
		if n := count(); n != 0 {
			t.Fatalf("%s: %d rows of a write that failed", write.name, n)
		}
		mustExec(t, c, "INSERT INTO loaded VALUES (7)")
		if n := count(); n != 1 {
			t.Fatalf("%s: %d rows seen from another connection after the next insert, want 1", write.name, n)
		}
		mustExec(t, c, "DELETE FROM loaded")
	}
}

// A load that creates its table names its own scratch table uniquely: a
// client's TEMP table of the name it had was replaced, then dropped.
func TestIngestKeepsTheClientsTempTables(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	mustExec(t, c, "CREATE TEMP TABLE skein_ingest_types (k INTEGER)")
	mustExec(t, c, "INSERT INTO skein_ingest_types VALUES (42)")
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := c.Ingest(ctx, Table{Name: "created"}, IngestMode{CreateIfMissing: true}, rdr); err != nil {
		t.Fatal(err)
	}
	if got, err := c.QueryText(ctx, "SELECT k::VARCHAR FROM skein_ingest_types"); err != nil || got != "42" {
		t.Fatalf("the client's temp table: %q, %v", got, err)
	}
}

// A load into a table named in the catalog temp, as GetObjects lists a
// TEMP table, goes into the session's TEMP table, or makes one: the
// append was NotFound, the create a parser error (a tester's).
func TestIngestIntoTheTempCatalog(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	mustExec(t, c, "CREATE TEMP TABLE listed (a BIGINT)")
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2}, nil)
	rec := b.NewRecordBatch()
	defer rec.Release()
	for _, tc := range []struct {
		table Table
		mode  IngestMode
	}{
		{Table{Catalog: "temp", Schema: "main", Name: "listed"}, IngestMode{Append: true}},
		{Table{Catalog: "TEMP", Name: "made"}, IngestMode{CreateIfMissing: true, Append: true}},
	} {
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Ingest(ctx, tc.table, tc.mode, rdr)
		rdr.Release()
		if err != nil {
			t.Fatalf("%+v: %v", tc.table, err)
		}
		q := "SELECT count(*)::VARCHAR FROM duckdb_tables() WHERE temporary AND table_name = '" + tc.table.Name + "'"
		if got, err := c.QueryText(ctx, q); err != nil || got != "1" {
			t.Fatalf("%s: %q, %v: want one TEMP table", tc.table.Name, got, err)
		}
		if got, err := c.QueryText(ctx, "SELECT sum(a)::VARCHAR FROM temp.main."+tc.table.Name); err != nil || got != "3" {
			t.Fatalf("%s: sum %q, %v", tc.table.Name, got, err)
		}
	}
	// A schema of temp that is not: refused, as DuckDB refuses it, not
	// loaded into temp.main (a tester's).
	rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if _, err := c.Ingest(ctx, Table{Catalog: "temp", Schema: "other", Name: "elsewhere"}, IngestMode{CreateIfMissing: true}, rdr); err == nil {
		t.Error("a load into temp.other made a table")
	}
}

// CREATE TABLE ... AS answers the rows it wrote, as DuckDB does in its
// result (its rows changed, what other statements answer, are 0).
func TestCreateAsCountsItsRows(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{"CREATE TABLE t AS SELECT * FROM range(1234)", "CREATE OR REPLACE TABLE t AS SELECT * FROM range(1234)"} {
		if n, err := c.Exec(ctx, q); err != nil || n != 1234 {
			t.Fatalf("%s: %d, %v; want 1234", q, n, err)
		}
	}
	if n, err := c.Exec(ctx, "CREATE TABLE u (a INTEGER)"); err != nil || n != 0 {
		t.Fatalf("CREATE TABLE: %d, %v", n, err)
	}
}

// A write that panics inside Atomic ends the transaction Atomic began and
// is an error: the panic skipped the ROLLBACK, and the connection stayed
// in a transaction its client never opened, every later write
// acknowledged and none committed.
func TestPanicInAtomicEndsItsTransaction(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	err := c.Atomic(ctx, "a write", func() error {
		mustExec(t, c, "CREATE TABLE half (a INTEGER)")
		var m map[string]int
		m["x"] = 1 // a nil map: panics
		return nil
	})
	if err == nil {
		t.Fatal("a write that panicked succeeded")
	}
	if open, err := c.InTransaction(ctx); err != nil || open {
		t.Fatalf("InTransaction = %v, %v after the panic; want false", open, err)
	}
	rows, err := c.QueryRows(ctx, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'half'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	if !rows.Next() || rows.Scan(&n) != nil || n != 0 {
		t.Fatalf("the panicked write's table is there (%d)", n)
	}
}

// A column of Arrow's null type is created INTEGER, as DuckDB's CREATE
// TABLE AS makes it (of type NULL, the table could never hold a value),
// lists of it INTEGER[]; a struct field of empty name, which a CREATE
// TABLE cannot write, is refused saying so, not with a parser error about
// SQL the client never sent (testers').
func TestIngestOfNullTypesAndEmptyFieldNames(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	ingest := func(name string, f arrow.Field) error {
		t.Helper()
		sc := arrow.NewSchema([]arrow.Field{f}, nil)
		arr := array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 2)
		defer arr.Release()
		rec := array.NewRecordBatch(sc, []arrow.Array{arr}, 2)
		defer rec.Release()
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		defer rdr.Release()
		_, err = c.Ingest(ctx, Table{Name: name}, IngestMode{CreateIfMissing: true}, rdr)
		return err
	}
	if err := ingest("nulls", arrow.Field{Name: "n", Type: arrow.Null, Nullable: true}); err != nil {
		t.Fatal(err)
	}
	if err := ingest("null_lists", arrow.Field{Name: "l", Type: arrow.ListOf(arrow.Null), Nullable: true}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, c, "INSERT INTO nulls VALUES (5)")
	mustExec(t, c, "INSERT INTO null_lists VALUES ([5])")
	if got, err := c.QueryText(ctx, "SELECT (SELECT sum(n) FROM nulls)::VARCHAR || ' ' || (SELECT typeof(l) FROM null_lists LIMIT 1)"); err != nil || got != "5 INTEGER[]" {
		t.Fatalf("%q %v", got, err)
	}
	st := arrow.StructOf(arrow.Field{Name: "z", Type: arrow.PrimitiveTypes.Int32, Nullable: true},
		arrow.Field{Name: "", Type: arrow.PrimitiveTypes.Int32, Nullable: true})
	err := ingest("empty_name", arrow.Field{Name: "st", Type: arrow.ListOf(st), Nullable: true})
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(de.Msg, "empty name") {
		t.Fatalf("a struct field of empty name: %v", err)
	}
	// A column of empty name: a parser error about a zero-length
	// identifier in Skein's own DDL.
	err = ingest("empty_column", arrow.Field{Name: "", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(de.Msg, "column 1 has an empty name") {
		t.Fatalf("a column of empty name: %v", err)
	}
}

// Two columns of one name, as DuckDB compares names (ASCII letters in
// either case), are refused naming them, on a create and an append: the
// error was DuckDB's, about its appender's table "appended_data". Names
// that differ beyond ASCII ("É" and "é") are two columns, as in DuckDB.
func TestIngestOfColumnsOfOneName(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	ingest := func(table string, mode IngestMode, names ...string) error {
		t.Helper()
		fields := make([]arrow.Field, len(names))
		cols := make([]arrow.Array, len(names))
		for i, n := range names {
			fields[i] = arrow.Field{Name: n, Type: arrow.PrimitiveTypes.Int64, Nullable: true}
			cols[i] = array.MakeArrayOfNull(memory.DefaultAllocator, arrow.PrimitiveTypes.Int64, 2)
			defer cols[i].Release()
		}
		sc := arrow.NewSchema(fields, nil)
		rec := array.NewRecordBatch(sc, cols, 2)
		defer rec.Release()
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		if err != nil {
			t.Fatal(err)
		}
		defer rdr.Release()
		_, err = c.Ingest(ctx, Table{Name: table}, mode, rdr)
		return err
	}
	create, appendTo := IngestMode{CreateIfMissing: true}, IngestMode{Append: true}
	mustExec(t, c, "CREATE TABLE existing (a BIGINT, b BIGINT)")
	for _, tc := range []struct {
		table string
		mode  IngestMode
		names []string
		msg   string
	}{
		{"t1", create, []string{"a", "b", "A"}, `columns 1 and 3 are both named "A"`},
		{"t2", create, []string{"x", "x"}, `columns 1 and 2 are both named "x"`},
		{"existing", appendTo, []string{"b", "B"}, `columns 1 and 2 are both named "B"`},
	} {
		err := ingest(tc.table, tc.mode, tc.names...)
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(de.Msg, tc.msg) {
			t.Errorf("%v into %s: %v, want InvalidArgument saying %s", tc.names, tc.table, err, tc.msg)
		}
	}
	// Fields of a struct, at any depth, likewise.
	s := arrow.StructOf(arrow.Field{Name: "x", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
		arrow.Field{Name: "X", Type: arrow.PrimitiveTypes.Int64, Nullable: true})
	for _, dt := range []arrow.DataType{s, arrow.ListOf(s), arrow.MapOf(arrow.BinaryTypes.String, s)} {
		sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: dt, Nullable: true}}, nil)
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		b.Field(0).(*array.Int64Builder).Append(1)
		b.Field(1).AppendNull()
		rec := b.NewRecordBatch()
		b.Release()
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec})
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Ingest(ctx, Table{Name: "nested"}, create, rdr)
		rdr.Release()
		var de *Error
		if want := `column 2 ("s") has struct fields named "x" and "X"`; !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(de.Msg, want) {
			t.Errorf("%s: %v, want InvalidArgument saying %s", dt, err, want)
		}
	}
	if err := ingest("accents", create, "É", "é"); err != nil {
		t.Fatal(err)
	}
	if got, err := c.QueryText(ctx, "SELECT count(*)::VARCHAR FROM duckdb_columns() WHERE table_name = 'accents'"); err != nil || got != "2" {
		t.Fatalf("%q %v", got, err)
	}
}
