package duck

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/skeindb/skein/internal/joined"
)

// openWith opens an instance of cfg and a connection to it, both closed
// (without an error) when the test ends.
func openWith(t *testing.T, cfg Config) (*DB, *Conn) {
	t.Helper()
	db, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db, c
}

func openTest(t *testing.T) (*DB, *Conn, string) {
	t.Helper()
	dir := t.TempDir()
	db, c := openWith(t, Config{Path: filepath.Join(dir, "t.duckdb"), AllowedDirs: []string{dir}, Threads: 2})
	return db, c, dir
}

const allTypes = `SELECT 1::TINYINT a, 2::SMALLINT b, 3::INTEGER c, 4::BIGINT d, 5::UTINYINT e, 6::USMALLINT f,
 7::UINTEGER g, 8::UBIGINT h, 9::HUGEINT i, 10::UHUGEINT j, 1.5::FLOAT k, 2.5::DOUBLE l,
 1.5::DECIMAL(4,1) m, 1.5::DECIMAL(9,3) n, 1.5::DECIMAL(18,6) o, 1.5::DECIMAL(38,10) p,
 'x'::VARCHAR q, 'x'::BLOB r, true s, DATE '2020-01-01' t, TIME '01:02:03' u,
 TIMESTAMP '2020-01-01 01:02:03' v, '2020-01-01'::TIMESTAMP_S w, '2020-01-01'::TIMESTAMP_MS x,
 '2020-01-01'::TIMESTAMP_NS y, TIMESTAMPTZ '2020-01-01 00:00:00+00' z, INTERVAL 1 DAY aa,
 uuid() bb, 'a'::ENUM('a','b') cc, '{"a":1}'::JSON dd, [1,2] ee, [1,2]::INTEGER[2] ff,
 {'a': 1, 'b': 'x'} gg, MAP {'k': 1} hh, NULL::INTEGER ii`

// TestSchemaMatchesStream checks that a prepared statement's Schema is the
// one DuckDB's Arrow export gives its result: at a resolved statement's
// first run Query takes its Schema as the stream's rather than converting
// the result types again, which is right only while the two agree, and at
// a later run it compares the two, which must not fail on any type.
func TestSchemaMatchesStream(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{allTypes, "SELECT 1 x, 'a' x, 2.5 x", "SELECT 42"} {
		st, err := c.Prepare(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
		// The schema converted from the result's own column types.
		derived, err := c.stream(ctx, st.handle, mem, DefaultBatchSize, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !derived.Schema().Equal(st.Schema) {
			t.Fatalf("%s: result schema\n%s\nprepared schema\n%s", q, derived.Schema(), st.Schema)
		}
		derived.Release()
		// A second run checks the result's types against Schema (DuckDB
		// may have bound the statement again): over every type, they agree.
		for range 2 {
			r, err := st.Query(ctx, mem, nil, DefaultBatchSize)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for r.Next() {
				rec := r.RecordBatch()
				if !rec.Schema().Equal(st.Schema) {
					t.Fatalf("stream schema\n%s\nprepared schema\n%s", rec.Schema(), st.Schema)
				}
				n += int(rec.NumRows())
			}
			if r.Err() != nil || n != 1 {
				t.Fatalf("rows %d err %v", n, r.Err())
			}
			r.Release()
		}
		_ = st.Close()
		mem.AssertSize(t, 0)
	}
}

func TestDDLAndDML(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{"CREATE TABLE t (a INT PRIMARY KEY)", "INSERT INTO t VALUES (1),(2)", "UPDATE t SET a = a + 10"} {
		st, err := c.Prepare(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if st.ReturnsRows {
			t.Errorf("%s: returns rows", q)
		}
		n, err := st.Exec(ctx, nil)
		t.Log(q, n, err, st.Schema)
		st.Close()
	}
	_, err := c.Exec(ctx, "INSERT INTO t VALUES (11)")
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindAlreadyExists {
		t.Fatalf("duplicate key: %v", err)
	}
	st, err := c.Prepare(ctx, "INSERT INTO t VALUES ($1) RETURNING a")
	if err != nil {
		t.Fatal(err)
	}
	if !st.ReturnsRows {
		t.Error("RETURNING should return rows")
	}
	t.Log(st.Params, st.Schema)
	st.Close()
	// Run as an update (ExecuteUpdate, a parameter batch), a write with
	// RETURNING counts the rows it changed, those it returns: it said 0
	// (a tester's).
	for _, tc := range []struct {
		q    string
		want int64
	}{
		{"INSERT INTO t VALUES (21), (22), (23) RETURNING a", 3},
		{"UPDATE t SET a = a + 100 WHERE a > 20 RETURNING a", 3},
		{"DELETE FROM t WHERE a = 121 RETURNING *", 1},
		{"INSERT INTO t SELECT 30 WHERE false RETURNING a", 0},
	} {
		if n, err := c.Exec(ctx, tc.q); err != nil || n != tc.want {
			t.Errorf("%s: %d rows changed (%v), want %d", tc.q, n, err, tc.want)
		}
	}
}

func TestSandbox(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(dir, "ok.csv"), []byte("a\n1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE ok AS SELECT * FROM read_csv('"+filepath.Join(dir, "ok.csv")+"')"); err != nil {
		t.Fatalf("reading inside the sandbox: %v", err)
	}
	for _, q := range []string{
		"SELECT * FROM read_csv('/etc/passwd')",
		"COPY (SELECT 1) TO '/tmp/skein-escape.csv'",
		"INSTALL httpfs",
		"LOAD httpfs",
		"ATTACH '/tmp/skein-escape.duckdb'",
		"SET enable_external_access=true",
		"SET preserve_insertion_order=false", // resuming task streams depends on it
	} {
		_, err := c.Exec(ctx, q)
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindPermission {
			t.Errorf("%s: want permission error, got %v (%#v)", q, err, de)
		}
	}
	rows, err := c.QueryRows(ctx, "SELECT current_setting('preserve_insertion_order')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var on bool
	if !rows.Next() || rows.Scan(&on) != nil || !on {
		t.Errorf("preserve_insertion_order is %v, want true", on)
	}
}

// Nested parameters, with NULLs at every level and awkward strings, bind
// and read back exactly.
func TestNestedParameters(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, `CREATE TABLE n (l INTEGER[], s STRUCT(a VARCHAR, b BIGINT), m MAP(VARCHAR, DOUBLE[]),
		a VARCHAR[2], b BLOB[], d DATE[], ts TIMESTAMP[])`); err != nil {
		t.Fatal(err)
	}
	const rows = `[
	 {"l": [1, null, 3], "s": {"a": "it's \\ \"q\" [x], {y}", "b": null}, "m": [{"key": "k", "value": [1.5, null]}, {"key": "e", "value": null}],
	  "a": ["x", null], "b": ["qg=="], "d": [19000, null], "ts": [1700000000123456]},
	 {"l": [], "s": null, "m": [], "a": null, "b": null, "d": null, "ts": null},
	 {"l": null, "s": {"a": null, "b": -5}, "m": null, "a": ["NULL", ""], "b": [null], "d": [], "ts": [null]}
	]`
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "l", Type: arrow.ListOf(arrow.PrimitiveTypes.Int64), Nullable: true},
		{Name: "s", Type: arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true}, arrow.Field{Name: "b", Type: arrow.PrimitiveTypes.Int32, Nullable: true}), Nullable: true},
		{Name: "m", Type: arrow.MapOf(arrow.BinaryTypes.String, arrow.ListOf(arrow.PrimitiveTypes.Float64)), Nullable: true},
		{Name: "a", Type: arrow.FixedSizeListOf(2, arrow.BinaryTypes.String), Nullable: true},
		{Name: "b", Type: arrow.ListOf(arrow.BinaryTypes.Binary), Nullable: true},
		{Name: "d", Type: arrow.ListOf(arrow.FixedWidthTypes.Date32), Nullable: true},
		{Name: "ts", Type: arrow.ListOf(&arrow.TimestampType{Unit: arrow.Microsecond}), Nullable: true},
	}, nil)
	rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(rows))
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	st, err := c.Prepare(ctx, "INSERT INTO n VALUES ($1, $2, $3, $4, $5, $6, $7)")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := 0; i < int(rec.NumRows()); i++ {
		args, err := RowArgs(rec, i, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Exec(ctx, args); err != nil {
			t.Fatalf("row %d %v: %v", i, args, err)
		}
	}
	// Each check must hold on exactly one row.
	checks := []string{
		`l = [1, NULL, 3] AND s.a = 'it''s \ "q" [x], {y}' AND s.b IS NULL AND m['k'] = [1.5, NULL] AND m['e'] IS NULL`,
		`a[1] = 'x' AND a[2] IS NULL`,
		`b = ['\xAA'::BLOB]`,
		`d = [DATE '2022-01-08', NULL]`,
		`ts = [TIMESTAMP '2023-11-14 22:13:20.123456']`,
		`l = [] AND s IS NULL AND cardinality(m) = 0 AND a IS NULL AND b IS NULL AND d IS NULL AND ts IS NULL`,
		`l IS NULL AND s.a IS NULL AND s.b = -5 AND m IS NULL AND a[1] = 'NULL' AND a[2] = '' AND b[1] IS NULL AND d = [] AND ts[1] IS NULL`,
	}
	for _, cond := range checks {
		rows, err := c.QueryRows(ctx, "SELECT count(*) FROM n WHERE "+cond)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		rows.Next()
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if n != 1 {
			t.Errorf("%d rows satisfy %s", n, cond)
		}
	}
}

// batchRows streams query with batch and gives the rows of each batch.
func batchRows(t *testing.T, c *Conn, query string, batch BatchSize) []int64 {
	t.Helper()
	ctx := context.Background()
	st, err := c.Prepare(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r, err := st.Query(ctx, mem, nil, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	var got []int64
	for r.Next() {
		got = append(got, r.RecordBatch().NumRows())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// A stream starts with one DuckDB chunk and doubles its batches up to the
// bound, so a small result leaves in pieces the client decodes while the
// rest is sent; without First every batch fills to the bound.
func TestBatchesStartSmall(t *testing.T) {
	_, c, _ := openTest(t)
	const q = "SELECT i, i::VARCHAR s FROM range(20000) t(i)"
	for _, tc := range []struct {
		name  string
		batch BatchSize
		want  []int64
	}{
		{"default", DefaultBatchSize, []int64{2048, 4096, 8192, 5664}},
		{"bound 4096", Batches(4096), []int64{2048, 4096, 4096, 4096, 4096, 1568}},
		{"no first", BatchSize{Rows: DefaultBatchSize.Rows, Bytes: DefaultBatchSize.Bytes}, []int64{20000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := batchRows(t, c, q, tc.batch); !slices.Equal(got, tc.want) {
				t.Fatalf("batches of %v rows, want %v", got, tc.want)
			}
		})
	}
}

// A result with a UNION column (at any depth), which arrow-go cannot
// concatenate, goes in DuckDB's chunks as they come: joined, it failed
// ("concatenate not implemented for type sparse_union").
func TestBatchesOfUnionsAreChunks(t *testing.T) {
	_, c, _ := openTest(t)
	for _, q := range []string{
		"SELECT i, CASE WHEN i % 2 = 0 THEN union_value(n := i)::UNION(n BIGINT, s VARCHAR) ELSE union_value(s := i::VARCHAR)::UNION(n BIGINT, s VARCHAR) END u FROM range(20000) t(i)",
		"SELECT i, [union_value(n := i)::UNION(n BIGINT, s VARCHAR)] l FROM range(20000) t(i)",
	} {
		got := batchRows(t, c, q, DefaultBatchSize)
		want := []int64{2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 2048, 1568}
		if !slices.Equal(got, want) {
			t.Errorf("%s: batches of %v rows, want %v", q, got, want)
		}
	}
}

// A batch of several chunks of flat columns is left in DuckDB's chunks
// (a joined.Record that flightwire sends without joining them), joined
// only when its columns are read; one with a nested column is joined at
// once. Either way it holds the rows in order, and every buffer is
// released.
func TestBatchesLeaveChunksUnjoined(t *testing.T) {
	_, c, _ := openTest(t)
	for _, tc := range []struct {
		query string
		parts []int // of each batch; 0: not a joined.Record
	}{
		{"SELECT i, i::VARCHAR s, CASE WHEN i % 7 = 0 THEN NULL ELSE i * 0.5 END d, i % 2 = 0 b FROM range(10000) t(i)",
			[]int{0, 2, 2}},
		{"SELECT i, [i] l FROM range(10000) t(i)", []int{0, 0, 0}},
	} {
		t.Run(tc.query, func(t *testing.T) {
			ctx := context.Background()
			st, err := c.Prepare(ctx, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer mem.AssertSize(t, 0)
			r, err := st.Query(ctx, mem, nil, Batches(4096))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Release()
			var parts []int
			var next int64
			for r.Next() {
				rec := r.RecordBatch()
				parts = append(parts, len(joined.Parts(rec)))
				ids := rec.Column(0).(*array.Int64)
				for i := range ids.Len() {
					if ids.Value(i) != next {
						t.Fatalf("row %d: i %d", next, ids.Value(i))
					}
					next++
				}
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			if next != 10000 || !slices.Equal(parts[:min(len(parts), len(tc.parts))], tc.parts) {
				t.Errorf("%d rows in batches of %v parts, want %v", next, parts, tc.parts)
			}
		})
	}
}

// TestParquetFootersCached: Parquet footers are kept between queries
// (every task of a scan opens its files), and a file rewritten at once,
// within the same second, is read anew.
func TestParquetFootersCached(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	rows, err := c.QueryRows(ctx, "SELECT current_setting('parquet_metadata_cache')")
	if err != nil {
		t.Fatal(err)
	}
	var on bool
	if !rows.Next() || rows.Scan(&on) != nil || !on {
		t.Errorf("parquet_metadata_cache is %v, want true", on)
	}
	rows.Close()
	f := QuoteString(filepath.Join(dir, "f.parquet"))
	for i, n := range []int{1000, 3000, 2000} {
		if _, err := c.Exec(ctx, "COPY (SELECT range AS k FROM range("+strconv.Itoa(n)+")) TO "+f+" (FORMAT parquet, ROW_GROUP_SIZE 500)"); err != nil {
			t.Fatal(err)
		}
		rows, err := c.QueryRows(ctx, "SELECT count(*), sum(k) FROM read_parquet("+f+")")
		if err != nil {
			t.Fatal(err)
		}
		var count, sum int64
		if !rows.Next() || rows.Scan(&count, &sum) != nil {
			t.Fatal("no count")
		}
		rows.Close()
		if want := int64(n); count != want || sum != want*(want-1)/2 {
			t.Fatalf("write %d: read %d rows summing to %d, want %d rows", i, count, sum, want)
		}
	}
}

// TestParquetFooterCacheIsBounded: the footers parquet_metadata_cache
// keeps are in DuckDB's object cache, whose entries are reserved against
// the buffer pool by their estimated size and evicted, least recently used
// first, to stay within memory_limit. Read once, 80 footers of 200 columns
// take ~20 MB in an instance of a large limit and at most the limit in one
// of 8 MB, which still reads them all.
func TestParquetFooterCacheIsBounded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func(limit string) *Conn {
		_, c := openWith(t, Config{AllowedDirs: []string{dir}, Threads: 1, MemoryLimit: limit})
		return c
	}
	cols := make([]string, 200)
	for i := range cols {
		cols[i] = fmt.Sprintf("range + %d AS c%d", i, i)
	}
	big := open("1GB")
	const files = 80
	for f := range files {
		if _, err := big.Exec(ctx, fmt.Sprintf("COPY (SELECT %s FROM range(1)) TO %s (FORMAT parquet)",
			strings.Join(cols, ", "), QuoteString(filepath.Join(dir, fmt.Sprintf("f%03d.parquet", f))))); err != nil {
			t.Fatal(err)
		}
	}
	// cached reads every footer and says what the object cache holds.
	cached := func(c *Conn) int64 {
		t.Helper()
		rows, err := c.QueryRows(ctx, "SELECT count(*) FROM read_parquet("+QuoteString(filepath.Join(dir, "*.parquet"))+")")
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if !rows.Next() || rows.Scan(&n) != nil || n != files {
			t.Fatalf("%d rows, want %d (%v)", n, files, rows.Err())
		}
		rows.Close()
		rows, err = c.QueryRows(ctx, "SELECT memory_usage_bytes FROM duckdb_memory() WHERE tag = 'OBJECT_CACHE'")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() || rows.Scan(&n) != nil {
			t.Fatalf("no OBJECT_CACHE in duckdb_memory() (%v)", rows.Err())
		}
		return n
	}
	const limit = 8 << 20
	all, bounded := cached(big), cached(open("8MB"))
	t.Logf("object cache: %d bytes under a 1 GB limit, %d under 8 MB", all, bounded)
	if all < 2*limit || bounded > limit || bounded < limit/4 {
		t.Fatalf("the footers take %d bytes of the object cache under a limit of 1 GB, %d under one of %d: want over twice, and within it",
			all, bounded, limit)
	}
}

// listViews is one row of LIST_VIEW<LIST_VIEW<INT8>>: k views that all
// point at the same m zeros, a few kilobytes of Arrow standing for k*m
// elements.
func listViews(k, m int) arrow.RecordBatch {
	i32 := func(vs ...int32) *memory.Buffer {
		return memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(vs))
	}
	child := array.NewData(arrow.PrimitiveTypes.Int8, m, []*memory.Buffer{nil, memory.NewBufferBytes(make([]byte, m))}, nil, 0, 0)
	innerType := arrow.ListViewOf(arrow.PrimitiveTypes.Int8)
	inner := array.NewData(innerType, k, []*memory.Buffer{nil, i32(make([]int32, k)...), i32(slices.Repeat([]int32{int32(m)}, k)...)},
		[]arrow.ArrayData{child}, 0, 0)
	outer := array.NewData(arrow.ListViewOf(innerType), 1, []*memory.Buffer{nil, i32(0), i32(int32(k))}, []arrow.ArrayData{inner}, 0, 0)
	col := array.MakeFromData(outer)
	sc := arrow.NewSchema([]arrow.Field{{Name: "p", Type: col.DataType(), Nullable: true}}, nil)
	return array.NewRecordBatch(sc, []arrow.Array{col}, 1)
}

// A nested parameter's text is bounded as it is written: 20,000 views of
// one 20,000-long list (180 KB of Arrow) would be 1.2 GB of text, and took
// 46 s of CPU and 5.8 GB to render before its size was checked. Within
// the bound the same shape renders as DuckDB reads it.
func TestNestedParameterTextIsBounded(t *testing.T) {
	rec := listViews(20_000, 20_000)
	defer rec.Release()
	if _, err := RowArgs(rec, 0, 1<<20); !errors.Is(err, ErrParamsTooLarge) || !errors.Is(err, ErrBadParameter) {
		t.Fatalf("20,000 x 20,000: %v, want ErrParamsTooLarge", err)
	}
	small := listViews(2, 3)
	defer small.Release()
	args, err := RowArgs(small, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := args[0].(Nested); !ok || n.text != "[[0, 0, 0], [0, 0, 0]]" {
		t.Fatalf("2 x 3: %q, %v", args, err)
	}
	if _, err := RowArgs(small, 0, 10); !errors.Is(err, ErrParamsTooLarge) {
		t.Fatalf("2 x 3 within 10 bytes: %v, want ErrParamsTooLarge", err)
	}
}

// A chunk of DuckDB's over the batch's byte bound is cut into batches of
// about that size: rows of megabytes (lists, long strings) had gone as
// one message of their whole chunk (24 MB for 5 rows), over the 16 MiB a
// client's driver takes. Rows of a few hundred bytes still go 2048 and
// more to a batch.
func TestBatchesCutChunksOverTheBound(t *testing.T) {
	_, c, _ := openTest(t)
	b := BatchSize{Rows: 1 << 20, Bytes: 2 << 20}
	if got := batchRows(t, c, "SELECT repeat('x', 3000000) AS s FROM range(5)", b); !slices.Equal(got, []int64{1, 1, 1, 1, 1}) {
		t.Errorf("rows of 3 MB: batches of %v rows, want one each", got)
	}
	got := batchRows(t, c, "SELECT repeat('x', 1500) || range AS s FROM range(4096)", b)
	if len(got) < 3 || slices.Max(got) >= 2048 {
		t.Errorf("rows of 1.5 kB: batches of %v rows, want about 1,400 each", got)
	}
	var n int64
	for _, k := range got {
		n += k
	}
	if n != 4096 {
		t.Errorf("%d rows in all, want 4096", n)
	}
	if got := batchRows(t, c, "SELECT range AS i FROM range(100000)", b); len(got) != 1 {
		t.Errorf("small rows: batches of %v rows, want one batch", got)
	}
}

// TestWrongKindOfPathIsTheClientsError checks that DuckDB's IO error for a
// path naming a directory where it wants a file is the SQL's fault, not a
// failure of the server: a client's COPY TO 'dir/' in a transaction.
func TestWrongKindOfPathIsTheClientsError(t *testing.T) {
	_, c, dir := openTest(t)
	sub := filepath.Join(dir, "out")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := c.Exec(context.Background(), "COPY (SELECT 1 a) TO '"+sub+"/' (FORMAT parquet)")
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindInvalid || !strings.Contains(de.Msg, "Is a directory") {
		t.Fatalf("COPY to a directory: %v", err)
	}
	// So are a negative INTERVAL written to Parquet, and a path of
	// object storage with a query string DuckDB does not take: both were
	// Internal (a tester's).
	_, err = c.Exec(context.Background(), "COPY (SELECT INTERVAL '-1 day' AS i) TO '"+filepath.Join(dir, "i.parquet")+"' (FORMAT parquet)")
	if !errors.As(err, &de) || de.Kind != KindInvalid {
		t.Errorf("a negative interval to Parquet: %v, want KindInvalid", err)
	}
	s3 := &duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: "IO Error: Invalid query parameters found. Supported parameters are:\ns3_region, s3_access_key_id"}
	if k := classify(s3); k != KindInvalid {
		t.Errorf("an object path's unknown query parameter: %v, want KindInvalid", k)
	}
}

// TestParametersBindAsTheirTypes: a parameter value binds as its Arrow
// type's DuckDB type, as DuckDB's Arrow clients bind it, also where the SQL
// leaves the parameter's type open. A DECIMAL went as its text (compared
// with an INTEGER, cast to one: 2.6 matched 3), a DATE or TIMESTAMP as a
// TIMESTAMP WITH TIME ZONE, a TIME not at all.
func TestParametersBindAsTheirTypes(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	dec := func(s string, p, sc int32) arrow.Array {
		b := array.NewDecimal128Builder(memory.DefaultAllocator, &arrow.Decimal128Type{Precision: p, Scale: sc})
		defer b.Release()
		v, err := decimal128.FromString(s, p, sc)
		if err != nil {
			t.Fatal(err)
		}
		b.Append(v)
		return b.NewArray()
	}
	one := func(typ arrow.DataType, js string) arrow.Array {
		a, _, err := array.FromJSON(memory.DefaultAllocator, typ, strings.NewReader(js))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		sql  string
		arg  arrow.Array
		want string
	}{
		{"SELECT count(*) FROM range(10) t(i) WHERE i::INTEGER = ?", dec("2.6", 2, 1), "0"},
		{"SELECT count(*) FROM range(10) t(i) WHERE i::INTEGER = ?", dec("-3.0", 3, 1), "0"},
		{"SELECT count(*) FROM range(10) t(i) WHERE -i::INTEGER = ?", dec("-3.0", 3, 1), "1"},
		{"SELECT (? + 1)::VARCHAR", dec("0.125", 4, 3), "1.125"},
		{"SELECT (? * 2)::VARCHAR", dec("-12345678901234567890.5", 38, 1), "-24691357802469135781.0"},
		{"SELECT typeof(?)", dec("1.50", 9, 2), "DECIMAL(9,2)"},
		{"SELECT ? || ''", one(arrow.FixedWidthTypes.Date32, "[9131]"), "1995-01-01"},
		{"SELECT (DATE '1995-01-08' - ?)::VARCHAR", one(arrow.FixedWidthTypes.Date32, "[9131]"), "7"},
		{"SELECT ?::VARCHAR", one(arrow.FixedWidthTypes.Date64, "[-86399999]"), "1969-12-31"},
		{"SELECT ?::VARCHAR", one(arrow.FixedWidthTypes.Time64us, "[3723000000]"), "01:02:03"},
		// A time64[ns] as DuckDB's Arrow clients bind it: a TIME_NS, its
		// nanoseconds kept (a TIME lost them).
		{"SELECT typeof(?)", one(arrow.FixedWidthTypes.Time64ns, "[45000000000001]"), "TIME_NS"},
		{"SELECT ?::VARCHAR", one(arrow.FixedWidthTypes.Time64ns, "[45000000000001]"), "12:30:00.000000001"},
		{"SELECT typeof(?)", one(&arrow.TimestampType{Unit: arrow.Microsecond}, "[788929445000000]"), "TIMESTAMP"},
		{"SELECT typeof(?)", one(&arrow.TimestampType{Unit: arrow.Millisecond}, "[788929445000]"), "TIMESTAMP_MS"},
		{"SELECT typeof(?)", one(&arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, "[788929445000000]"), "TIMESTAMP WITH TIME ZONE"},
		{"SELECT ?::VARCHAR", one(&arrow.TimestampType{Unit: arrow.Nanosecond}, "[788929445123456789]"), "1995-01-01 03:04:05.123456789"},
		// Nested values went as their text: a VARCHAR where the SQL
		// leaves the type open.
		{"SELECT len(?)", one(arrow.ListOf(arrow.PrimitiveTypes.Int64), "[[10, 20, null]]"), "3"},
		{"SELECT (?)[2]", one(arrow.ListOf(arrow.PrimitiveTypes.Int64), "[[10, 20, null]]"), "20"},
		{"SELECT count(*) FROM range(10) t(i) WHERE i IN (SELECT unnest(?))", one(arrow.ListOf(arrow.PrimitiveTypes.Int32), "[[1, 3, 5, null]]"), "3"},
		{"SELECT (?).b::VARCHAR", one(arrow.StructOf(arrow.Field{Name: "a", Type: arrow.BinaryTypes.String, Nullable: true},
			arrow.Field{Name: "b", Type: arrow.ListOf(arrow.FixedWidthTypes.Date32), Nullable: true}), `[{"a": "x", "b": [9131, null]}]`), "[1995-01-01, NULL]"},
		{"SELECT (?)['k']", one(arrow.MapOf(arrow.BinaryTypes.String, &arrow.Decimal128Type{Precision: 5, Scale: 2}), `[[{"key": "k", "value": "1.25"}]]`), "1.25"},
		{"SELECT typeof(?)", one(arrow.FixedSizeListOf(2, arrow.PrimitiveTypes.Float64), "[[1.5, 2]]"), "DOUBLE[2]"},
	} {
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: tc.arg.DataType(), Nullable: true}}, nil), []arrow.Array{tc.arg}, 1)
		tc.arg.Release()
		args, err := RowArgs(rec, 0, 1<<20)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		got, err := firstValue(ctx, c, tc.sql, args)
		if err != nil || got != tc.want {
			t.Errorf("%s with %v: %q, %v; want %q", tc.sql, args, got, err, tc.want)
		}
	}
}

// A decimal parameter holding more digits than its precision (Arrow does
// not check) is refused: DuckDB's cast of it threw an INTERNAL error that
// ended the process (decimal128(4,2) of 1234.56, a tester's), and one past
// 18 digits was bound wrapped.
func TestDecimalParametersFitTheirPrecision(t *testing.T) {
	for _, tc := range []struct {
		p, s    int32
		v       decimal128.Num
		refused bool
	}{
		{4, 2, decimal128.FromI64(123456), true},
		{4, 2, decimal128.FromI64(-9999), false},
		{4, 2, decimal128.FromI64(-10000), true},
		{18, 2, decimal128.FromU64(10_000_000_000_000_000_000), true},
		{38, 0, decimal128.GetMaxValue(38), false},
		{38, 0, decimal128.GetMaxValue(38).Add(decimal128.FromI64(1)), true},
	} {
		b := array.NewDecimal128Builder(memory.DefaultAllocator, &arrow.Decimal128Type{Precision: tc.p, Scale: tc.s})
		b.Append(tc.v)
		arg := b.NewArray()
		b.Release()
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: arg.DataType(), Nullable: true}}, nil), []arrow.Array{arg}, 1)
		arg.Release()
		_, err := RowArgs(rec, 0, 1<<20)
		rec.Release()
		if refused := err != nil; refused != tc.refused || refused && !strings.Contains(err.Error(), "more than its precision") {
			t.Errorf("decimal(%d, %d) of %s: %v, refused %v", tc.p, tc.s, tc.v.BigInt(), err, tc.refused)
		}
	}
}

// A time or timestamp parameter written into a distributed plan (Text)
// or bound (value) means what DuckDB takes it to: 24:00:00 was written
// 00:00:00, a nanosecond instant before 1970 was floored to the earlier
// microsecond where DuckDB truncates, a zoned timestamp past DuckDB's
// range wrapped around to 1970, and a TIMESTAMP_MS written for a
// TIMESTAMP_S parameter (castable) failed on the executors (a tester's).
func TestTimeParametersAsDuckDBTakesThem(t *testing.T) {
	for _, tc := range []struct {
		v    Typed
		want string
	}{
		{Time{Micros: 24 * 3600 * 1e6}, "24:00:00"},
		{Time{Micros: 3723000010}, "01:02:03.00001"},
		{Time{Micros: 0}, "00:00:00"},
		{Timestamp{Value: -1001, Unit: arrow.Nanosecond, Zoned: true}, "1969-12-31 23:59:59.999999+00"},
		{Timestamp{Value: -1001, Unit: arrow.Nanosecond}, "1969-12-31 23:59:59.999998999"},
	} {
		if got, ok := tc.v.Text(); !ok || got != tc.want {
			t.Errorf("%#v: %q %v, want %q", tc.v, got, ok, tc.want)
		}
	}
	if us, ok := (Timestamp{Value: -1001, Unit: arrow.Nanosecond, Zoned: true}).micros(); !ok || us != -1 {
		t.Errorf("-1001 ns: %d µs, want -1", us)
	}
	b := array.NewTimestampBuilder(memory.DefaultAllocator, &arrow.TimestampType{Unit: arrow.Second, TimeZone: "UTC"})
	b.Append(1 << 62)
	arg := b.NewArray()
	b.Release()
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "p", Type: arg.DataType(), Nullable: true}}, nil), []arrow.Array{arg}, 1)
	arg.Release()
	if _, err := RowArgs(rec, 0, 1<<20); err == nil || !strings.Contains(err.Error(), "out of DuckDB's range") {
		t.Errorf("2^62 s with a time zone: %v, want refused", err)
	}
	rec.Release()
	_, c, _ := openTest(t)
	st, err := c.Prepare(context.Background(), "SELECT ?::TIMESTAMP_S, ?::TIME_NS, ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms := Timestamp{Value: 1709296496789, Unit: arrow.Millisecond}
	got := st.AsBound([]any{ms, Time{Micros: 5}, ms})
	if want := []any{Timestamp{Value: 1709296496789000, Unit: arrow.Microsecond}, TimeNS{Nanos: 5000}, ms}; !slices.Equal(got, want) {
		t.Errorf("AsBound: %v, want %v", got, want)
	}
}

// Time and timestamp parameters are declared in milliseconds, whatever
// their unit in DuckDB: the JDBC driver writes setTime and setTimestamp
// values as milliseconds whatever the declared unit, so a TIME declared
// in microseconds bound 12:30:00 as 00:00:45, a TIMESTAMP_NS 2024 as
// 1970, silently (a tester's). Each value below is what the driver sends
// for the declared type.
func TestTimeParametersAreDeclaredInMilliseconds(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	const noon30 = (12*3600 + 30*60) * 1000 // 12:30:00 in milliseconds
	const day = int64(1709296496789)        // 2024-03-01 12:34:56.789 UTC in milliseconds
	for _, tc := range []struct {
		typ, want string
		value     int64
	}{
		{"TIME", "12:30:00", noon30},
		{"TIME_NS", "12:30:00", noon30},
		{"TIMESTAMP", "2024-03-01 12:34:56.789", day},
		{"TIMESTAMP_NS", "2024-03-01 12:34:56.789", day},
		{"TIMESTAMP_MS", "2024-03-01 12:34:56.789", day},
		{"TIMESTAMP_S", "2024-03-01 12:34:57", day}, // rounded, as DuckDB casts TIMESTAMP '2024-03-01 12:34:56.789'
		{"TIMESTAMP_S", "1969-12-31 23:59:59", -1000},
	} {
		q := "SELECT CAST(x AS VARCHAR) FROM (SELECT CAST(? AS " + tc.typ + ") AS x)"
		st, err := c.Prepare(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		typ := st.Params.Field(0).Type
		st.Close()
		unit := arrow.TimeUnit(-1)
		switch typ := typ.(type) {
		case *arrow.Time32Type:
			unit = typ.Unit
		case *arrow.TimestampType:
			unit = typ.Unit
		}
		if unit != arrow.Millisecond {
			t.Errorf("%s: parameter declared %s", q, typ)
			continue
		}
		arg, _, err := array.FromJSON(memory.DefaultAllocator, typ, strings.NewReader(fmt.Sprintf("[%d]", tc.value)))
		if err != nil {
			t.Fatal(err)
		}
		rec := array.NewRecordBatch(st.Params, []arrow.Array{arg}, 1)
		arg.Release()
		args, err := RowArgs(rec, 0, 1<<20)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		got, err := firstValue(ctx, c, q, args)
		if err != nil || got != tc.want {
			t.Errorf("%s with %d ms: %q, %v; want %q", q, tc.value, got, err, tc.want)
		}
	}
}

// firstValue is the text of the first value of sql's result, run with
// args bound.
func firstValue(ctx context.Context, c *Conn, sql string, args []any) (string, error) {
	st, err := c.Prepare(ctx, sql)
	if err != nil {
		return "", err
	}
	defer st.Close()
	r, err := st.Query(ctx, memory.DefaultAllocator, args, DefaultBatchSize)
	if err != nil {
		return "", err
	}
	defer r.Release()
	if !r.Next() {
		return "", fmt.Errorf("no rows: %v", r.Err())
	}
	return strings.Clone(r.RecordBatch().Column(0).ValueStr(0)), nil // the record's memory goes with r
}

// A text DuckDB could not split into statements is a parser's error,
// unless its message names another type: a parser out of memory was
// InvalidArgument.
func TestExtractErrorKinds(t *testing.T) {
	for msg, want := range map[string]Kind{
		"Out of Memory Error: Allocation failure":         KindOutOfMemory,
		"Parser Error: syntax error at or near \"SELEC\"": KindInvalid,
		"something DuckDB never said before":              KindInvalid,
	} {
		var e *Error
		if err := extractError(msg); !errors.As(err, &e) || e.Kind != want {
			t.Errorf("%q: %v, want kind %v", msg, err, want)
		}
	}
}

// TestFullDiskIsResourceExhaustion: a write that found the disk full is
// KindOutOfMemory (ResourceExhausted) whatever DuckDB's error type: a
// commit's failure came as a transaction error, Aborted, which says a
// retry may succeed.
func TestFullDiskIsResourceExhaustion(t *testing.T) {
	for _, e := range []*duckdb.Error{
		{Type: duckdb.ErrorTypeTransaction, Msg: `TransactionContext Error: Failed to commit: Could not write file "/d/skein.duckdb.wal": No space left on device`},
		{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Could not write file "/d/x.parquet": No space left on device`},
	} {
		if k := classify(e); k != KindOutOfMemory {
			t.Errorf("%s: kind %v, want KindOutOfMemory", e.Msg, k)
		}
	}
}

// TestGeometryWithCRS checks a GEOMETRY that carries a coordinate
// reference system: DuckDB converts its type to Arrow only inside a
// transaction, and a statement is prepared outside one (it failed with
// an INTERNAL error); preparing it must leave no transaction open, and
// its type through an exchange keeps the reference system.
func TestGeometryWithCRS(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	const q = "SELECT 'POINT(1 2)'::GEOMETRY('OGC:CRS84') AS g, ['POINT(3 4)'::GEOMETRY('OGC:CRS84')] AS l"
	st, err := c.Prepare(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if md := st.Schema.Field(0).Metadata; !strings.Contains(md.Values()[md.FindKey("ARROW:extension:metadata")], "CRS84") {
		t.Fatalf("schema without its CRS: %s", st.Schema)
	}
	if in, err := c.InTransaction(ctx); err != nil || in {
		t.Fatalf("in a transaction after prepare: %v %v", in, err)
	}
	texts, known := st.ExchangeTypes()
	if !known || texts[0] != "GEOMETRY('OGC:CRS84')" || texts[1] != "GEOMETRY('OGC:CRS84')[]" {
		t.Fatalf("exchange types %v %v", texts, known)
	}
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	r, err := st.Query(ctx, mem, nil, DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r.Next() {
		n += int(r.RecordBatch().NumRows())
	}
	if r.Err() != nil || n != 1 {
		t.Fatalf("rows %d err %v", n, r.Err())
	}
	r.Release()
	mem.AssertSize(t, 0)
	// The cast back gives the type itself.
	rows, err := c.QueryRows(ctx, "SELECT typeof(CAST(CAST(g AS VARCHAR) AS "+texts[0]+")) FROM ("+q+")")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var typ string
	if !rows.Next() || rows.Scan(&typ) != nil || typ != "GEOMETRY('OGC:CRS84')" {
		t.Fatalf("cast back to %q (%v)", typ, rows.Err())
	}
}

// Nested parameters DuckDB makes no value of (a MAP with two equal keys
// or a NULL key, a STRUCT without fields, or a value holding one) are
// refused as bad parameters: bound, DuckDB's NULL handle for them ended
// the process (SIGSEGV in duckdb_bind_value), from a reader's SELECT ?.
func TestParametersDuckDBCannotHoldAreRefused(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	mapType := arrow.MapOf(arrow.BinaryTypes.String, arrow.PrimitiveTypes.Int32)
	for _, tc := range []struct {
		name  string
		typ   arrow.DataType
		value string
	}{
		{"map with equal keys", mapType, `[{"key": "a", "value": 1}, {"key": "a", "value": 2}]`},
		{"list of such maps", arrow.ListOf(mapType), `[[{"key": "a", "value": 1}, {"key": "a", "value": 2}]]`},
		{"struct holding one", arrow.StructOf(arrow.Field{Name: "m", Type: mapType, Nullable: true}), `{"m": [{"key": "b", "value": 1}, {"key": "b", "value": 1}]}`},
		{"map with NaN keys", arrow.MapOf(arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Int32), `[{"key": "NaN", "value": 1}, {"key": "NaN", "value": 2}]`},
		{"list of empty structs", arrow.ListOf(arrow.StructOf()), `[{}, {}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := arrow.NewSchema([]arrow.Field{{Name: "p", Type: tc.typ, Nullable: true}}, nil)
			rec, _, err := array.RecordFromJSON(memory.DefaultAllocator, sc, strings.NewReader(`[{"p": `+tc.value+`}]`))
			if err != nil {
				t.Fatal(err)
			}
			defer rec.Release()
			args, err := RowArgs(rec, 0, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			st, err := c.Prepare(ctx, "SELECT ?::VARCHAR")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = st.Exec(ctx, args)
			if !errors.Is(err, ErrBadParameter) {
				t.Fatalf("bound %s: %v, want ErrBadParameter", tc.value, err)
			}
		})
	}
}

// A dictionary of STRUCTs inside a nested parameter is refused for its
// type: the error said a date was out of the years 1 to 9999.
func TestNestedDictionaryOfStructsIsRefusedForItsType(t *testing.T) {
	mem := memory.DefaultAllocator
	values, _, err := array.FromJSON(mem, arrow.StructOf(arrow.Field{Name: "a", Type: arrow.PrimitiveTypes.Int64, Nullable: true}), strings.NewReader(`[{"a": 1}]`))
	if err != nil {
		t.Fatal(err)
	}
	defer values.Release()
	indices, _, err := array.FromJSON(mem, arrow.PrimitiveTypes.Int64, strings.NewReader(`[0, 0]`))
	if err != nil {
		t.Fatal(err)
	}
	defer indices.Release()
	dict := array.NewDictionaryArray(&arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int64, ValueType: values.DataType()}, indices, values)
	defer dict.Release()
	list := array.NewListData(array.NewData(arrow.ListOf(dict.DataType()), 1, []*memory.Buffer{nil, memory.NewBufferBytes([]byte{0, 0, 0, 0, 2, 0, 0, 0})}, []arrow.ArrayData{dict.Data()}, 0, 0))
	defer list.Release()
	sc := arrow.NewSchema([]arrow.Field{{Name: "p", Type: list.DataType(), Nullable: true}}, nil)
	rec := array.NewRecordBatch(sc, []arrow.Array{list}, 1)
	defer rec.Release()
	_, err = RowArgs(rec, 0, 1<<20)
	if err == nil || strings.Contains(err.Error(), "years") || !strings.Contains(err.Error(), "dictionary") {
		t.Fatalf("RowArgs: %v, want a refusal naming the dictionary type", err)
	}
}
