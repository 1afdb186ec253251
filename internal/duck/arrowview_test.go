package duck

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A stream loaded with LoadTemp reads like the rows it held: a query of
// some of its columns, out of order and filtered, gets those columns and
// rows (DuckDB's C API Arrow scan, read narrower, would give the first
// columns and unfiltered rows), and the load releases every buffer.
func TestLoadTemp(t *testing.T) {
	c, mem := streamTest(t)
	ctx := context.Background()
	rdr := testStream(t, mem)
	if err := c.LoadTemp(ctx, "skein_x0", rdr); err != nil {
		t.Fatal(err)
	}
	checkTestStream(t, c, "skein_x0")
	var views int64
	if err := c.sc.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_views() WHERE view_name LIKE 'skein_arrow_%'").Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 0 {
		t.Errorf("%d Arrow scan views left after the load", views)
	}
}

// A registered stream reads like the rows it sends, pulled as the query
// runs: some columns, out of order, filtered. A query scanning it twice
// fails rather than read it empty the second time, and so does a second
// query; every buffer is released.
func TestRegisterStream(t *testing.T) {
	c, mem := streamTest(t)
	ctx := context.Background()
	rdr := testStream(t, mem)
	release, err := c.RegisterStream(rdr, "skein_x0", -1)
	if err != nil {
		t.Fatal(err)
	}
	checkTestStream(t, c, "skein_x0")
	if _, err := c.QueryRows(ctx, "SELECT count(*) FROM skein_x0"); err == nil || !strings.Contains(err.Error(), "scanned once") {
		t.Errorf("a second scan: %v", err)
	}
	release()

	rdr2 := testStream(t, mem)
	release, err = c.RegisterStream(rdr2, "skein_x1", 20)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// DuckDB plans with the row count given (without it, it guesses 1 and
	// can join a broadcast input on the wrong side).
	if plan := explain(t, c, "SELECT a FROM skein_x1"); !strings.Contains(plan, `"Estimated Cardinality": "20"`) {
		t.Errorf("the stream's plan has not its 20 rows: %s", plan)
	}
	rows, err := c.QueryRows(ctx, "SELECT count(*) FROM skein_x1 a JOIN skein_x1 b USING (a)")
	if err == nil {
		rows.Close()
		t.Fatal("a self-join of a stream ran")
	}
	if !strings.Contains(err.Error(), "scanned once") {
		t.Errorf("a self-join of a stream: %v", err)
	}
}

// A stream's name binds, on the connection that registered it, to that
// stream only, for as long as it is registered, and leaves nothing in the
// catalog: the same name on one connection takes another schema at the
// next registration; two connections read each their own stream under one
// name at once, and a third sees none; after release neither the name nor
// a statement prepared before reads anything, even after a query that was
// cancelled as it scanned.
func TestStreamScope(t *testing.T) {
	db, c, _ := openTest(t)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	ctx := context.Background()

	release, err := c.RegisterStream(testStream(t, mem), "skein_x0", -1)
	if err != nil {
		t.Fatal(err)
	}
	checkTestStream(t, c, "skein_x0")
	if _, err := c.RegisterStream(testStream(t, mem), "SKEIN_X0", -1); err == nil {
		t.Error("a name registered twice on one connection")
	}
	release()
	if ran(c, "SELECT * FROM skein_x0") {
		t.Error("a released stream's name still binds")
	}
	// The same name, another schema.
	other := arrowStream(t, mem, arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil), "p", "q")
	release, err = c.RegisterStream(other, "skein_x0", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := firstColumn(t, c, "SELECT s FROM skein_x0 ORDER BY s"); got != "p,q" {
		t.Errorf("the second stream reads %q, want p,q", got)
	}
	release()
	var views int64
	if err := c.sc.QueryRowContext(ctx, "SELECT count(*) FROM duckdb_views() WHERE NOT internal").Scan(&views); err != nil {
		t.Fatal(err)
	}
	if views != 0 {
		t.Errorf("%d views left", views)
	}

	// Two connections, one name, at once; a third has none.
	c2, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c3, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	schema := arrow.NewSchema([]arrow.Field{{Name: "s", Type: arrow.BinaryTypes.String}}, nil)
	r1, err := c.RegisterStream(arrowStream(t, mem, schema, "one"), "skein_partials", 1)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c2.RegisterStream(arrowStream(t, mem, schema, "two"), "skein_partials", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SELECT * FROM skein_partials", "SELECT * FROM skein_stream('skein_partials')"} {
		if ran(c3, q) {
			t.Errorf("%s on a connection without the stream ran", q)
		}
	}
	if got := firstColumn(t, c2, "SELECT s FROM skein_partials"); got != "two" {
		t.Errorf("the second connection reads %q", got)
	}
	if got := firstColumn(t, c, "SELECT s FROM skein_partials"); got != "one" {
		t.Errorf("the first connection reads %q", got)
	}
	r1()
	r2()

	// A query cancelled as it scans; its statement, run again after the
	// release, reads nothing.
	qctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cancelling := &cancelOnNext{RecordReader: testStream(t, mem), cancel: cancel}
	release, err = c.RegisterStream(cancelling, "skein_x1", 20)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Prepare(qctx, "SELECT a FROM skein_x1")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if rdr, err := st.Query(qctx, mem, nil, DefaultBatchSize); err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
		if err == nil {
			t.Error("a cancelled query ended without error")
		}
	}
	release()
	if rdr, err := st.Query(ctx, mem, nil, DefaultBatchSize); err == nil {
		n := 0
		for rdr.Next() {
			n += int(rdr.RecordBatch().NumRows())
		}
		err = rdr.Err()
		rdr.Release()
		if err == nil {
			t.Errorf("a statement run after its stream's release read %d rows", n)
		}
	}
	if ran(c, "SELECT * FROM skein_x1") {
		t.Error("a released stream's name still binds after a cancelled query")
	}
}

// ran says whether query ran on c without error, to the end.
func ran(c *Conn, query string) bool {
	rows, err := c.QueryRows(context.Background(), query)
	if err != nil {
		return false
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err() == nil
}

// cancelOnNext cancels its context as its first batch is asked for.
type cancelOnNext struct {
	array.RecordReader
	cancel func()
}

func (r *cancelOnNext) Next() bool {
	r.cancel()
	return r.RecordReader.Next()
}

// arrowStream is one batch of the strings vals in schema's one column,
// released when the test ends.
func arrowStream(t *testing.T, mem memory.Allocator, schema *arrow.Schema, vals ...string) array.RecordReader {
	t.Helper()
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	bld.Field(0).(*array.StringBuilder).AppendValues(vals, nil)
	rec := bld.NewRecordBatch()
	defer rec.Release()
	rdr, err := array.NewRecordReader(schema, []arrow.RecordBatch{rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdr.Release)
	return rdr
}

// firstColumn is the first column of query's rows, joined by commas.
func firstColumn(t *testing.T, c *Conn, query string) string {
	t.Helper()
	rows, err := c.QueryRows(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		got = append(got, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, ",")
}

// streamTest opens a connection and an allocator that must hold nothing
// once the test's streams are released.
func streamTest(t *testing.T) (*Conn, *memory.CheckedAllocator) {
	_, c, _ := openTest(t)
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	return c, mem
}

// testStream is 20 rows of (a 0..19, b a%2, c 'x') in two batches,
// released when the test ends.
func testStream(t *testing.T, mem memory.Allocator) array.RecordReader {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64}, {Name: "c", Type: arrow.BinaryTypes.String}}, nil)
	bld := array.NewRecordBuilder(mem, schema)
	defer bld.Release()
	var recs []arrow.RecordBatch
	for r := 0; r < 2; r++ {
		for i := 0; i < 10; i++ {
			bld.Field(0).(*array.Int64Builder).Append(int64(r*10 + i))
			bld.Field(1).(*array.Int64Builder).Append(int64(i % 2))
			bld.Field(2).(*array.StringBuilder).Append("x")
		}
		recs = append(recs, bld.NewRecordBatch())
	}
	rdr, err := array.NewRecordReader(schema, recs)
	for _, r := range recs {
		r.Release()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdr.Release)
	return rdr
}

// checkTestStream reads some of testStream's columns, filtered.
func checkTestStream(t *testing.T, c *Conn, table string) {
	t.Helper()
	rows, err := c.QueryRows(context.Background(), "SELECT b, count(*), sum(a) FROM "+table+" WHERE a >= 7 GROUP BY b ORDER BY b")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got [][3]int64
	for rows.Next() {
		var b, n, s int64
		if err := rows.Scan(&b, &n, &s); err != nil {
			t.Fatal(err)
		}
		got = append(got, [3]int64{b, n, s})
	}
	// a in 7..19: odd a (b = 1): 7, 9, ..., 19 (7 rows, sum 91); even (b = 0): 8, ..., 18 (6 rows, sum 78).
	if len(got) != 2 || got[0] != [3]int64{0, 6, 78} || got[1] != [3]int64{1, 7, 91} {
		t.Fatalf("got %v", got)
	}
}

// explain is DuckDB's physical plan of query, as JSON.
func explain(t *testing.T, c *Conn, query string) string {
	t.Helper()
	var key, plan string
	if err := c.sc.QueryRowContext(context.Background(), "EXPLAIN (FORMAT json) "+query).Scan(&key, &plan); err != nil {
		t.Fatal(err)
	}
	return plan
}
