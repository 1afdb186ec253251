package flightsql_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// allTypes selects one row of every DuckDB type and one row of NULLs.
const allTypes = `SELECT * FROM (VALUES
 (1::TINYINT, 2::SMALLINT, 3::INTEGER, 4::BIGINT, 5::UTINYINT, 6::USMALLINT, 7::UINTEGER, 8::UBIGINT,
  170141183460469231731687303715884105727::HUGEINT, 340282366920938463463374607431768211455::UHUGEINT,
  1.5::FLOAT, 2.25::DOUBLE, 123.4::DECIMAL(4,1), 123456.789::DECIMAL(9,3), 123456789012.345678::DECIMAL(18,6),
  1234567890123456789012345678.0123456789::DECIMAL(38,10), 'héllo'::VARCHAR, '\xAA\xBB'::BLOB, true,
  DATE '2024-02-29', TIME '12:34:56.789', TIMESTAMP '2024-02-29 12:34:56.789012', TIMESTAMP_S '2024-02-29 12:34:56',
  TIMESTAMP_MS '2024-02-29 12:34:56.789', TIMESTAMP_NS '2024-02-29 12:34:56.789012345',
  TIMESTAMPTZ '2024-02-29 12:34:56+02', INTERVAL '1 year 2 days 3 seconds', '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID,
  'b'::ENUM('a', 'b'), '{"k": [1, 2]}'::JSON, [1, NULL, 3], [1.5, 2.5]::DOUBLE[2], {'x': 1, 'y': 'z'}, MAP {'k': 1}),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
) t(i8, i16, i32, i64, u8, u16, u32, u64, hi, uhi, f32, f64, d4, d9, d18, d38, s, b, bo, dt, tm, ts, ts_s, ts_ms,
    ts_ns, tstz, iv, id, en, js, li, ar, st, mp)`

func TestTypesMatchInProcessDuckDB(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	schema, recs := query(t, ctx, c, allTypes)
	got := table(t, schema, recs)

	// The same SQL on an in-process DuckDB is the reference.
	db, err := duck.Open(ctx, duck.Config{AllowedDirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := conn.Prepare(ctx, allTypes)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var want []arrow.RecordBatch
	for rdr.Next() {
		r := rdr.RecordBatch()
		r.Retain()
		want = append(want, r)
	}
	wantTbl := table(t, rdr.Schema(), want)
	for i, f := range got.Schema().Fields() {
		w := wantTbl.Schema().Field(i)
		if f.Name != w.Name || f.Nullable != w.Nullable || !arrow.TypeEqual(f.Type, w.Type) {
			t.Errorf("field %s\n got %s\nwant %s", f.Name, f, w)
		}
		// Decimals carry their precision and scale for the JDBC driver.
		if d, ok := f.Type.(arrow.DecimalType); ok {
			if p, ok := f.Metadata.GetValue("ARROW:FLIGHT:SQL:PRECISION"); !ok || p != fmt.Sprint(d.GetPrecision()) {
				t.Errorf("decimal %s lacks its precision metadata: %v", f.Name, f.Metadata)
			}
		}
	}
	if got.NumRows() != 2 {
		t.Fatalf("rows %d", got.NumRows())
	}
	for i := 0; i < int(got.NumCols()); i++ {
		if !array.ChunkedEqual(got.Column(i).Data(), wantTbl.Column(i).Data()) {
			t.Errorf("column %s differs", got.Schema().Field(i).Name)
		}
	}
}

func TestDDLDMLAndUpdates(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	// DDL through CommandStatementQuery runs at GetFlightInfo, as ADBC sends it.
	info, err := c.Execute(ctx, "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR)")
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); rowCount(recs) != 0 {
		t.Fatal("DDL returned rows")
	}
	n, err := c.ExecuteUpdate(ctx, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")
	if err != nil || n != 3 {
		t.Fatalf("insert: %d %v", n, err)
	}
	n, err = c.ExecuteUpdate(ctx, "UPDATE t SET name = upper(name) WHERE id >= 2")
	if err != nil || n != 2 {
		t.Fatalf("update: %d %v", n, err)
	}
	_, recs := query(t, ctx, c, "SELECT string_agg(name, ',' ORDER BY id) AS s FROM t")
	if got := recs[0].Column(0).(*array.String).Value(0); got != "a,B,C" {
		t.Fatalf("got %q", got)
	}
	// DML with RETURNING is a query.
	_, recs = query(t, ctx, c, "DELETE FROM t WHERE id = 1 RETURNING id")
	if rowCount(recs) != 1 {
		t.Fatal("RETURNING gave no row")
	}
	sr, err := c.GetExecuteSchema(ctx, "SELECT id, name FROM t")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := flight.DeserializeSchema(sr.GetSchema(), memory.DefaultAllocator)
	if err != nil || sc.NumFields() != 2 || sc.Field(0).Type.ID() != arrow.INT32 {
		t.Fatalf("schema %v %v", sc, err)
	}
}

func TestErrorsMapToCodes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ctx, "INSERT INTO k VALUES (1, 1)"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		sql  string
		code codes.Code
		text string
	}{
		{"SELEC 1", codes.InvalidArgument, "Parser Error"},
		{"SELECT nope FROM k", codes.InvalidArgument, "Binder Error"},
		{"SELECT * FROM missing_table", codes.NotFound, "missing_table"},
		{"CREATE TABLE k (a INTEGER)", codes.AlreadyExists, "already exists"},
		{"INSERT INTO k VALUES (1, 2)", codes.AlreadyExists, "Duplicate key"},
		{"INSERT INTO k VALUES (2, NULL)", codes.FailedPrecondition, "NOT NULL"},
		{"SELECT * FROM read_csv('/etc/passwd')", codes.PermissionDenied, "/etc/passwd"},
		{"COPY (SELECT 1) TO '/tmp/skein-escape.csv'", codes.PermissionDenied, "Permission Error"},
		{"INSTALL httpfs", codes.PermissionDenied, ""},
		{"LOAD httpfs", codes.PermissionDenied, ""},
		{"ATTACH '/tmp/skein-escape.duckdb' AS x", codes.PermissionDenied, ""},
		{"SET enable_external_access = true", codes.PermissionDenied, "locked"},
	}
	for _, tc := range cases {
		_, err := c.ExecuteUpdate(ctx, tc.sql)
		wantCode(t, err, tc.code)
		if !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: message %q lacks %q", tc.sql, err, tc.text)
		}
	}
	// No ATTACH at all, not even of a file SQL may write.
	_, err := c.ExecuteUpdate(ctx, fmt.Sprintf("ATTACH '%s/files/other.duckdb' AS other", ts.dataDir))
	wantCode(t, err, codes.PermissionDenied)
}

func TestAuth(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.User, c.Password = "ann", "s3cret" })
	ctx := context.Background()
	c := ts.client(t)
	_, err := c.Execute(ctx, "SELECT 1")
	wantCode(t, err, codes.Unauthenticated)
	_, err = c.Client.AuthenticateBasicToken(ctx, "ann", "wrong")
	wantCode(t, err, codes.Unauthenticated)
	_, err = c.Client.AuthenticateBasicToken(ctx, "bob", "s3cret")
	wantCode(t, err, codes.Unauthenticated)
	bad := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer forged.token")
	_, err = c.Execute(bad, "SELECT 1")
	wantCode(t, err, codes.Unauthenticated)

	actx, err := c.Client.AuthenticateBasicToken(ctx, "ann", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := query(t, actx, c, "SELECT 42"); rowCount(recs) != 1 {
		t.Fatal("no row")
	}
	// The token also works on Handshake (the JDBC driver's token=).
	md, _ := metadata.FromOutgoingContext(actx)
	tok := strings.TrimPrefix(md.Get("authorization")[0], "Bearer ")
	hs, err := c.Client.Handshake(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hs.Recv()
	if err != nil || len(resp.Payload) == 0 {
		t.Fatalf("handshake with token: %v", err)
	}
	// Basic credentials are accepted only on Handshake.
	basic := metadata.AppendToOutgoingContext(ctx, "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ann:s3cret")))
	_, err = c.Execute(basic, "SELECT 1")
	wantCode(t, err, codes.Unauthenticated)
}

func TestNonLoopbackNeedsAuth(t *testing.T) {
	cfg := coordinator.Config{Addr: "0.0.0.0:0", DataDir: t.TempDir()}
	if err := cfg.Validate(); err == nil {
		t.Fatal("serving 0.0.0.0 without auth was accepted")
	}
	cfg.InsecureNoAuth = true
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestPreparedStatements(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE p (id BIGINT, name VARCHAR, amount DECIMAL(10,2) CHECK (amount >= 0), ts TIMESTAMP)"); err != nil {
		t.Fatal(err)
	}
	ins, err := c.Prepare(ctx, "INSERT INTO p VALUES ($1, $2, $3, $4)")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close(ctx)
	if up, ok := ins.IsUpdate(); !ok || !up || ins.DatasetSchema().NumFields() != 0 {
		t.Fatalf("insert should be an update with an empty dataset schema: %v %v %s", up, ok, ins.DatasetSchema())
	}
	ps := ins.ParameterSchema()
	if ps.NumFields() != 4 || ps.Field(0).Type.ID() != arrow.INT64 || ps.Field(1).Type.ID() != arrow.STRING {
		t.Fatalf("parameter schema %s", ps)
	}
	// executemany: one batch of many rows, all or nothing.
	b := array.NewRecordBuilder(memory.DefaultAllocator, ps)
	defer b.Release()
	const rows = 1000
	for i := 0; i < rows; i++ {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		if i%10 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.StringBuilder).Append(fmt.Sprint("n", i))
		}
		b.Field(2).(*array.Decimal128Builder).AppendValueFromString("12.34")
		b.Field(3).(*array.TimestampBuilder).Append(arrow.Timestamp(int64(i) * 1000)) // the schema says milliseconds
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	ins.SetParameters(rec)
	n, err := ins.ExecuteUpdate(ctx)
	if err != nil || n != rows {
		t.Fatalf("executemany: %d %v", n, err)
	}
	_, recs := query(t, ctx, c, "SELECT count(*), count(name), sum(amount)::VARCHAR, max(ts)::VARCHAR FROM p")
	r := recs[0]
	if r.Column(0).(*array.Int64).Value(0) != rows || r.Column(1).(*array.Int64).Value(0) != 900 ||
		r.Column(2).(*array.String).Value(0) != "12340.00" || r.Column(3).(*array.String).Value(0) != "1970-01-01 00:16:39" {
		t.Fatalf("after executemany: %v", r)
	}
	// A prepared query with a parameter.
	sel, err := c.Prepare(ctx, "SELECT id, name FROM p WHERE id < $1 ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer sel.Close(ctx)
	if sel.DatasetSchema().NumFields() != 2 {
		t.Fatalf("dataset schema %s", sel.DatasetSchema())
	}
	pb := array.NewRecordBuilder(memory.DefaultAllocator, sel.ParameterSchema())
	defer pb.Release()
	pb.Field(0).(*array.Int64Builder).Append(5)
	prec := pb.NewRecordBatch()
	defer prec.Release()
	sel.SetParameters(prec)
	info, err := sel.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); rowCount(recs) != 5 {
		t.Fatalf("prepared query gave %d rows", rowCount(recs))
	}
	// A bad row rolls the whole batch back.
	bad := array.NewRecordBuilder(memory.DefaultAllocator, ps)
	defer bad.Release()
	bad.Field(0).(*array.Int64Builder).AppendValues([]int64{5000, 5001}, nil)
	bad.Field(1).(*array.StringBuilder).AppendValues([]string{"x", "y"}, nil)
	bad.Field(2).(*array.Decimal128Builder).AppendValueFromString("1")
	bad.Field(2).(*array.Decimal128Builder).AppendValueFromString("-1")
	bad.Field(3).AppendNulls(2)
	brec := bad.NewRecordBatch()
	defer brec.Release()
	ins.SetParameters(brec)
	_, err = ins.ExecuteUpdate(ctx)
	wantCode(t, err, codes.FailedPrecondition)
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM p WHERE id >= 5000"); recs[0].Column(0).(*array.Int64).Value(0) != 0 {
		t.Fatal("a failed batch left rows behind")
	}
}

func TestIngest(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	sc := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "s", Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
	batch := func(n int, base int64) array.RecordReader {
		b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
		defer b.Release()
		for i := 0; i < n; i++ {
			b.Field(0).(*array.Int64Builder).Append(base + int64(i))
			b.Field(1).(*array.StringBuilder).Append("v")
		}
		rec := b.NewRecordBatch()
		defer rec.Release()
		rdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{rec, rec})
		if err != nil {
			t.Fatal(err)
		}
		return rdr
	}
	opts := func(ne flightsql.TableDefinitionOptionsTableNotExistOption, ex flightsql.TableDefinitionOptionsTableExistsOption) *flightsql.ExecuteIngestOpts {
		return &flightsql.ExecuteIngestOpts{Table: "ing", TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: ne, IfExists: ex}}
	}
	create := opts(flightsql.TableDefinitionOptionsTableNotExistOptionCreate, flightsql.TableDefinitionOptionsTableExistsOptionFail)
	appendOnly := opts(flightsql.TableDefinitionOptionsTableNotExistOptionFail, flightsql.TableDefinitionOptionsTableExistsOptionAppend)
	replace := opts(flightsql.TableDefinitionOptionsTableNotExistOptionCreate, flightsql.TableDefinitionOptionsTableExistsOptionReplace)
	createAppend := opts(flightsql.TableDefinitionOptionsTableNotExistOptionCreate, flightsql.TableDefinitionOptionsTableExistsOptionAppend)

	count := func() int64 {
		_, recs := query(t, ctx, c, "SELECT count(*) FROM ing")
		return recs[0].Column(0).(*array.Int64).Value(0)
	}
	_, err := c.ExecuteIngest(ctx, batch(10, 0), appendOnly)
	wantCode(t, err, codes.NotFound)
	if n, err := c.ExecuteIngest(ctx, batch(50000, 0), create); err != nil || n != 100000 {
		t.Fatalf("create: %d %v", n, err)
	}
	_, err = c.ExecuteIngest(ctx, batch(10, 0), create)
	wantCode(t, err, codes.AlreadyExists)
	if n, err := c.ExecuteIngest(ctx, batch(5, 0), appendOnly); err != nil || n != 10 || count() != 100010 {
		t.Fatalf("append: %d %v", n, err)
	}
	if n, err := c.ExecuteIngest(ctx, batch(3, 0), replace); err != nil || n != 6 || count() != 6 {
		t.Fatalf("replace: %d %v", n, err)
	}
	if n, err := c.ExecuteIngest(ctx, batch(2, 0), createAppend); err != nil || n != 4 || count() != 10 {
		t.Fatalf("create_append: %d %v", n, err)
	}
	tmp := &flightsql.ExecuteIngestOpts{Table: "tmp_ing", Temporary: true, TableDefinitionOptions: create.TableDefinitionOptions}
	if n, err := c.ExecuteIngest(ctx, batch(7, 0), tmp); err != nil || n != 14 {
		t.Fatalf("temporary: %d %v", n, err)
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM temp.main.tmp_ing"); recs[0].Column(0).(*array.Int64).Value(0) != 14 {
		t.Fatal("temporary table not visible in its session")
	}
	if _, err := c.ExecuteUpdate(ctx, "CREATE SCHEMA s2"); err != nil {
		t.Fatal(err)
	}
	cat := "data"
	sch := "s2"
	qual := &flightsql.ExecuteIngestOpts{Table: "q", Catalog: &cat, Schema: &sch, TableDefinitionOptions: create.TableDefinitionOptions}
	if n, err := c.ExecuteIngest(ctx, batch(1, 0), qual); err != nil || n != 2 {
		t.Fatalf("catalog and schema: %d %v", n, err)
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM data.s2.q"); recs[0].Column(0).(*array.Int64).Value(0) != 2 {
		t.Fatal("qualified ingest went elsewhere")
	}
	// Names match whatever their case, as DuckDB binds them: appending to
	// "ING" in "S2" of "DATA" is appending to ing, q (NotFound, and
	// create_append's AlreadyExists, before).
	sch, cat = "S2", "DATA"
	upper := &flightsql.ExecuteIngestOpts{Table: "Q", Catalog: &cat, Schema: &sch, TableDefinitionOptions: createAppend.TableDefinitionOptions}
	if n, err := c.ExecuteIngest(ctx, batch(1, 0), upper); err != nil || n != 2 {
		t.Fatalf("another case: %d %v", n, err)
	}
	if _, recs := query(t, ctx, c, "SELECT count(*) FROM data.s2.q"); recs[0].Column(0).(*array.Int64).Value(0) != 4 {
		t.Fatal("an ingest into Q did not append to q")
	}
	// A TEMP table of the name: loads not temporary go to the table they
	// name, not to it (DuckDB binds "shadow" and main.shadow to the TEMP
	// table first: every row went there, the new table left empty).
	tmpShadow := &flightsql.ExecuteIngestOpts{Table: "shadow", Temporary: true, TableDefinitionOptions: create.TableDefinitionOptions}
	if _, err := c.ExecuteIngest(ctx, batch(1, 0), tmpShadow); err != nil {
		t.Fatal(err)
	}
	main := "main"
	for _, o := range []*flightsql.ExecuteIngestOpts{
		{Table: "shadow", TableDefinitionOptions: create.TableDefinitionOptions},
		{Table: "shadow", TableDefinitionOptions: replace.TableDefinitionOptions},
		{Table: "shadow", Schema: &main, TableDefinitionOptions: appendOnly.TableDefinitionOptions},
	} {
		if n, err := c.ExecuteIngest(ctx, batch(3, 0), o); err != nil || n != 6 {
			t.Fatalf("a load into shadow, not temporary (schema %v): %d %v", o.Schema, n, err)
		}
	}
	for table, want := range map[string]int64{"data.main.shadow": 12, "temp.main.shadow": 2} {
		if _, recs := query(t, ctx, c, "SELECT count(*) FROM "+table); recs[0].Column(0).(*array.Int64).Value(0) != want {
			t.Errorf("%s holds %d rows, want %d", table, recs[0].Column(0).(*array.Int64).Value(0), want)
		}
	}
	// DuckDB folds the case of ASCII letters only: "É" is not "é".
	if _, err := c.ExecuteUpdate(ctx, `CREATE TABLE "é" (id BIGINT, s VARCHAR)`); err != nil {
		t.Fatal(err)
	}
	accent := &flightsql.ExecuteIngestOpts{Table: "É", TableDefinitionOptions: create.TableDefinitionOptions}
	if n, err := c.ExecuteIngest(ctx, batch(1, 0), accent); err != nil || n != 2 {
		t.Fatalf(`a load creating "É" beside "é": %d %v`, n, err)
	}
	// A constraint the rows break is FailedPrecondition, as an INSERT's
	// (Internal before: the appender's text does not say its type).
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE nn (id BIGINT, s VARCHAR NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	nulls := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer nulls.Release()
	nulls.Field(0).(*array.Int64Builder).Append(1)
	nulls.Field(1).(*array.StringBuilder).AppendNull()
	nrec := nulls.NewRecordBatch()
	defer nrec.Release()
	nrdr, err := array.NewRecordReader(sc, []arrow.RecordBatch{nrec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ExecuteIngest(ctx, nrdr, &flightsql.ExecuteIngestOpts{Table: "nn", TableDefinitionOptions: appendOnly.TableDefinitionOptions})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestTransactions(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE tx (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	other := ts.client(t)
	visible := func(cl *flightsql.Client) int64 {
		_, recs := query(t, ctx, cl, "SELECT count(*) FROM tx")
		return recs[0].Column(0).(*array.Int64).Value(0)
	}
	tx, err := c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO tx VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	if visible(other) != 0 {
		t.Fatal("uncommitted rows visible to another session")
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if visible(c) != 0 {
		t.Fatal("rollback kept rows")
	}
	tx, err = c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO tx VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	info, err := tx.Execute(ctx, "SELECT count(*) FROM tx")
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); recs[0].Column(0).(*array.Int64).Value(0) != 1 {
		t.Fatal("transaction does not see its own row")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if visible(other) != 1 {
		t.Fatal("commit lost the row")
	}
	// A query planned in a transaction is not read outside it: after
	// the rollback, it would count without the row the transaction
	// inserted. Read after the commit, it sees what that wrote.
	countAfter := func(row int, end func(*flightsql.Txn) error) (*flight.FlightInfo, error) {
		tx, err := c.BeginTransaction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecuteUpdate(ctx, fmt.Sprintf("INSERT INTO tx VALUES (%d)", row)); err != nil {
			t.Fatal(err)
		}
		info, err := tx.Execute(ctx, "SELECT count(*) FROM tx")
		if err != nil {
			t.Fatal(err)
		}
		return info, end(tx)
	}
	refused := func(info *flight.FlightInfo) {
		t.Helper()
		rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err == nil {
			for rdr.Next() {
			}
			err = rdr.Err()
			rdr.Release()
		}
		wantMessage(t, err, codes.InvalidArgument, "rolled back since")
	}
	info, err = countAfter(4, func(tx *flightsql.Txn) error { return tx.Rollback(ctx) })
	if err != nil {
		t.Fatal(err)
	}
	refused(info)
	// So with a ROLLBACK in SQL followed, in one text, by a new
	// transaction, which the Flight SQL transaction goes on in.
	var again *flightsql.Txn
	info, err = countAfter(6, func(tx *flightsql.Txn) error {
		again = tx
		_, err := tx.ExecuteUpdate(ctx, "ROLLBACK; BEGIN; CREATE TABLE IF NOT EXISTS other (i INTEGER)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	refused(info)
	if err := again.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	// A text that ends with the BEGIN: the transaction goes on in it.
	if info, err = countAfter(7, func(tx *flightsql.Txn) error {
		again = tx
		// As ADBC sends it: a query.
		info, err := tx.Execute(ctx, "ROLLBACK; BEGIN")
		if err == nil {
			fetch(t, ctx, c, info)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	refused(info)
	if _, err := again.ExecuteUpdate(ctx, "INSERT INTO tx VALUES (8)"); err != nil {
		t.Fatalf("the transaction after ROLLBACK; BEGIN: %v", err)
	}
	if err := again.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if info, err = countAfter(5, func(tx *flightsql.Txn) error { return tx.Commit(ctx) }); err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); recs[0].Column(0).(*array.Int64).Value(0) != 2 {
		t.Fatal("a query of a committed transaction, read after the commit")
	}
}

// A table's schema in GetTables (JDBC's getColumns, ADBC's GetObjects)
// is its SELECT *, checked as a client's query is before DuckDB prepares
// it: a view over a JSON file rewritten too deep ended the server, and a
// view whose aggregates came to nest past the bound (the table under it
// replaced by a view) held a core for minutes (a tester's). Such a view
// is listed with an empty schema, as a broken one is.
func TestTableSchemasAreCheckedAsQueries(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) { c.AllowDirs = []string{dir} })
	ctx := context.Background()
	c := ts.client(t)
	f := filepath.Join(dir, "v.json")
	if err := os.WriteFile(f, []byte(`{"a": 1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	nest := func(n int, from string) string {
		q := "SELECT count(*) AS c FROM " + from
		for range n - 1 {
			q = "SELECT count(*) AS c FROM (" + q + ")"
		}
		return q
	}
	for _, sql := range []string{
		"CREATE VIEW jv AS SELECT * FROM read_json('" + f + "')",
		"CREATE TABLE nmid AS SELECT 1 AS c",
		"CREATE VIEW ntop AS " + nest(10, "nmid"),
		"CREATE VIEW nlow AS " + nest(10, "range(3)"),
		"DROP TABLE nmid",
		"CREATE VIEW nmid AS SELECT * FROM nlow",
	} {
		if _, err := c.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := os.WriteFile(f, []byte(`{"a": `+strings.Repeat("[", 2000)+strings.Repeat("]", 2000)+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("%"), IncludeSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	_, recs := fetch(t, ctx, c, info)
	widths := schemaWidths(t, recs)
	if widths["jv"] != 0 || widths["ntop"] != 0 || widths["nlow"] != 1 {
		t.Errorf("schema widths %v: want jv (its JSON too deep) and ntop (nesting 20 aggregates) listed empty, nlow with its column", widths)
	}
}

// tableSchemaOf is the schema GetTables gives of the one table name.
func tableSchemaOf(t *testing.T, ctx context.Context, c *flightsql.Client, name string) *arrow.Schema {
	t.Helper()
	info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr(name), IncludeSchema: true})
	if err != nil {
		t.Fatal(err)
	}
	_, recs := fetch(t, ctx, c, info)
	if rowCount(recs) != 1 {
		t.Fatalf("%d tables", rowCount(recs))
	}
	sc, err := flight.DeserializeSchema(recs[0].Column(4).(*array.Binary).Value(0), memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// A table's decimal columns say their digits in GetTables' schemas as a
// query's do: DuckDB lists a HUGEINT's precision in bits, and JDBC's
// getColumns said COLUMN_SIZE 128 of what a query calls DECIMAL(38,0) (a
// tester's).
func TestDecimalColumnsSayTheirDigits(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE hd (h HUGEINT, d DECIMAL(9,2))"); err != nil {
		t.Fatal(err)
	}
	sc := tableSchemaOf(t, ctx, c, "hd")
	for i, want := range []string{"38", "9"} {
		if p, _ := sc.Field(i).Metadata.GetValue("ARROW:FLIGHT:SQL:PRECISION"); p != want {
			t.Errorf("%s: precision %q, want %s", sc.Field(i).Name, p, want)
		}
	}
}

// GetSqlInfo says how long a prepared statement's handle lives unused
// (the spec's statement timeout, in milliseconds: its session's
// --session-idle-timeout; it said 0, none) and that catalogs are not
// created or dropped (ATTACH is refused; it said they were).
func TestSqlInfoSaysTheTimeoutAndFixedCatalogs(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.SessionIdle = 10 * time.Second })
	ctx := context.Background()
	c := ts.client(t)
	info, err := c.GetSqlInfo(ctx, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerStatementTimeout, flightsql.SqlInfoDDLCatalog})
	if err != nil {
		t.Fatal(err)
	}
	_, recs := fetch(t, ctx, c, info)
	got := map[uint32]string{}
	for _, r := range recs {
		ids, u := r.Column(0).(*array.Uint32), r.Column(1).(*array.DenseUnion)
		for i := 0; i < int(r.NumRows()); i++ {
			got[ids.Value(i)] = u.Field(u.ChildID(i)).ValueStr(int(u.ValueOffset(i)))
		}
	}
	if got[uint32(flightsql.SqlInfoFlightSqlServerStatementTimeout)] != "10000" || got[uint32(flightsql.SqlInfoDDLCatalog)] != "false" {
		t.Errorf("sql info %v: want a handle timeout of 10000 ms and no catalog DDL", got)
	}
}

// A Flight SQL transaction ended by COMMIT in SQL is ended for the
// server too, as the README says: a write carrying its id is refused
// rather than committed at once, the session may begin another, and a
// rollback of the ended one succeeds (nothing is left to roll back). The
// session kept it open: its id was taken, the write committed alone, and
// BeginTransaction was refused "already has an open transaction" (a
// tester's).
func TestTransactionEndedInSQL(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE te (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{"INSERT INTO te VALUES (1)", "COMMIT"} {
		if _, err := tx.ExecuteUpdate(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO te VALUES (2)"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not open") {
		t.Fatalf("a write in the transaction COMMIT ended: %v, want refused", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback of the ended transaction: %v", err)
	}
	tx, err = c.BeginTransaction(ctx)
	if err != nil {
		t.Fatalf("a new transaction after COMMIT in SQL: %v", err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO te VALUES (3)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	_, recs := query(t, ctx, c, "SELECT string_agg(a::VARCHAR, ',' ORDER BY a) FROM te")
	if got := recs[0].Column(0).ValueStr(0); got != "1" {
		t.Fatalf("rows %q, want 1: the committed row alone", got)
	}
	// EndTransaction's commit of one a COMMIT in SQL ended succeeds, its
	// writes committed (ADBC's driver, autocommit off, failed every call
	// after a refused one); of one ROLLBACK ended, it is refused.
	for _, end := range []string{"COMMIT", "ROLLBACK"} {
		tx, err := c.BeginTransaction(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecuteUpdate(ctx, end); err != nil {
			t.Fatal(err)
		}
		err = tx.Commit(ctx)
		if committed := end == "COMMIT"; committed != (err == nil) {
			t.Errorf("EndTransaction's commit after %s in SQL: %v", end, err)
		}
	}
}

// A transaction whose session ended (a restart, its idle timeout; here
// closed) says so to each call that names it, and its rollback succeeds,
// as it was rolled back then: a client of ADBC's default (autocommit off)
// failed every call after, its rollback too, until it opened a new
// connection (a tester's, 2026-12-06). Its client then begins again.
func TestTransactionOfAnEndedSession(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE tx (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	tx, err := c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO tx VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if res, err := c.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil || res.Status != flight.CloseSessionResultClosed {
		t.Fatalf("close: %v %v", res, err)
	}
	_, err = tx.Execute(ctx, "SELECT count(*) FROM tx")
	wantMessage(t, err, codes.NotFound, "its session ended")
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("rollback of a transaction its session's end rolled back: %v", err)
	}
	tx, err = c.BeginTransaction(ctx)
	if status.Code(err) == codes.Unauthenticated { // the cookie's expiry missed (TestCookieSessionClose)
		tx, err = c.BeginTransaction(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecuteUpdate(ctx, "INSERT INTO tx VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if v := scalarInt(t, ctx, c, "SELECT sum(a)::BIGINT FROM tx"); v != 2 {
		t.Fatalf("sum %d, want the second transaction's 2 only", v)
	}
}

func TestSessionOptions(t *testing.T) {
	ts := startServer(t)
	c := ts.client(t)
	// A Handshake names the session in a bearer token (any credentials do
	// without auth): every call below is in that session, as with ADBC and
	// JDBC, whatever a cookie jar does with concurrent responses.
	ctx, err := c.Client.AuthenticateBasicToken(context.Background(), "ann", "any")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ctx, "CREATE SCHEMA other; CREATE TABLE other.only_here AS SELECT 7 AS v"); err != nil {
		t.Fatal(err)
	}
	opts, err := flight.NewSessionOptionValues(map[string]any{"schema": "other"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: opts})
	if err != nil || len(res.GetErrors()) != 0 {
		t.Fatalf("set: %v %v", res, err)
	}
	got, err := c.GetSessionOptions(ctx, &flight.GetSessionOptionsRequest{})
	if err != nil || got.SessionOptions["schema"].GetStringValue() != "other" || got.SessionOptions["catalog"].GetStringValue() != "data" {
		t.Fatalf("get: %v %v", got, err)
	}
	if _, recs := query(t, ctx, c, "SELECT v FROM only_here"); rowCount(recs) != 1 {
		t.Fatal("schema option not applied")
	}
	bad, _ := flight.NewSessionOptionValues(map[string]any{"colour": "blue"})
	res, err = c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: bad})
	if err != nil || res.GetErrors()["colour"] == nil {
		t.Fatalf("unknown option accepted: %v %v", res, err)
	}
	cl, err := c.CloseSession(ctx, &flight.CloseSessionRequest{})
	if err != nil || cl.GetStatus() != flight.CloseSessionResultClosed {
		t.Fatalf("close: %v %v", cl, err)
	}
}

func TestMetadataSchemasAndContent(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, `CREATE TABLE parent (id INTEGER, sub INTEGER, name VARCHAR, PRIMARY KEY (id, sub));
CREATE TABLE child (cid INTEGER PRIMARY KEY, pid INTEGER, psub INTEGER, FOREIGN KEY (pid, psub) REFERENCES parent (id, sub));
CREATE VIEW v AS SELECT * FROM parent`); err != nil {
		t.Fatal(err)
	}
	check := func(name string, info *flight.FlightInfo, err error, ref *arrow.Schema) []arrow.RecordBatch {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		schema, recs := fetch(t, ctx, c, info)
		if !schema.Equal(ref) {
			t.Fatalf("%s schema\n%s\nwant\n%s", name, schema, ref)
		}
		return recs
	}
	strs := func(recs []arrow.RecordBatch, col int) []string {
		var out []string
		for _, r := range recs {
			a := r.Column(col).(*array.String)
			for i := 0; i < a.Len(); i++ {
				out = append(out, a.Value(i))
			}
		}
		return out
	}
	info, err := c.GetCatalogs(ctx)
	if got := strs(check("catalogs", info, err, schema_ref.Catalogs), 0); !contains(got, "data") || !contains(got, "skein") {
		t.Errorf("catalogs %v", got)
	}
	info, err = c.GetDBSchemas(ctx, &flightsql.GetDBSchemasOpts{DbSchemaFilterPattern: ptr("ma%")})
	if got := strs(check("schemas", info, err, schema_ref.DBSchemas), 1); !contains(got, "main") || contains(got, "information_schema") {
		t.Errorf("schemas %v", got)
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("%"), TableTypes: []string{"TABLE"}})
	if got := strs(check("tables", info, err, schema_ref.Tables), 2); len(got) != 2 || got[0] != "child" || got[1] != "parent" {
		t.Errorf("tables %v", got)
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("v"), IncludeSchema: true})
	recs := check("tables with schema", info, err, schema_ref.TablesWithIncludedSchema)
	if rowCount(recs) != 1 {
		t.Fatalf("view rows %d", rowCount(recs))
	}
	vs, err := flight.DeserializeSchema(recs[0].Column(4).(*array.Binary).Value(0), memory.DefaultAllocator)
	if err != nil || vs.NumFields() != 3 || vs.Field(2).Name != "name" {
		t.Errorf("view schema %v %v", vs, err)
	}
	// A view over a table dropped since is listed with an empty schema, and
	// the others with theirs: the first such view failed the whole listing
	// (a tester's).
	for _, sql := range []string{"CREATE TABLE gone (a INT)", "CREATE VIEW broken AS SELECT * FROM gone", "DROP TABLE gone"} {
		if _, err := c.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("%"), IncludeSchema: true})
	widths := schemaWidths(t, check("tables with schema, one broken", info, err, schema_ref.TablesWithIncludedSchema))
	if w, ok := widths["broken"]; !ok || w != 0 || widths["v"] != 3 {
		t.Errorf("tables' schema widths with a broken view: %v", widths)
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("parent"), IncludeSchema: true})
	recs = check("table with schema", info, err, schema_ref.TablesWithIncludedSchema)
	ps, err := flight.DeserializeSchema(recs[0].Column(4).(*array.Binary).Value(0), memory.DefaultAllocator)
	if err != nil || ps.Field(0).Nullable || !ps.Field(2).Nullable {
		t.Errorf("primary key columns must be NOT NULL, name nullable: %v %v", ps, err)
	}
	if tn, _ := ps.Field(2).Metadata.GetValue("ARROW:FLIGHT:SQL:TYPE_NAME"); tn != "VARCHAR" {
		t.Errorf("type name metadata %q", tn)
	}
	info, err = c.GetTableTypes(ctx)
	if got := strs(check("table types", info, err, schema_ref.TableTypes), 0); !contains(got, "VIEW") {
		t.Errorf("table types %v", got)
	}
	info, err = c.GetPrimaryKeys(ctx, flightsql.TableRef{Table: "parent"})
	recs = check("primary keys", info, err, schema_ref.PrimaryKeys)
	if got := strs(recs, 3); len(got) != 2 || got[0] != "id" || got[1] != "sub" {
		t.Errorf("primary key columns %v", got)
	}
	info, err = c.GetImportedKeys(ctx, flightsql.TableRef{Table: "child"})
	recs = check("imported keys", info, err, schema_ref.ImportedKeys)
	if got := strs(recs, 7); len(got) != 2 || got[0] != "pid" {
		t.Errorf("imported fk columns %v", got)
	}
	info, err = c.GetExportedKeys(ctx, flightsql.TableRef{Table: "parent"})
	recs = check("exported keys", info, err, schema_ref.ExportedKeys)
	if got := strs(recs, 6); len(got) != 2 || got[0] != "child" {
		t.Errorf("exported keys %v", got)
	}
	info, err = c.GetCrossReference(ctx, flightsql.TableRef{Table: "parent"}, flightsql.TableRef{Table: "child"})
	if recs = check("cross reference", info, err, schema_ref.CrossReference); rowCount(recs) != 2 {
		t.Errorf("cross reference rows %d", rowCount(recs))
	}
	info, err = c.GetXdbcTypeInfo(ctx, nil)
	if got := strs(check("xdbc", info, err, schema_ref.XdbcTypeInfo), 0); !contains(got, "VARCHAR") {
		t.Errorf("xdbc %v", got)
	}
	info, err = c.GetSqlInfo(ctx, []flightsql.SqlInfo{flightsql.SqlInfoFlightSqlServerName, flightsql.SqlInfoFlightSqlServerTransaction, flightsql.SqlInfoKeywords})
	if recs = check("sql info", info, err, schema_ref.SqlInfo); rowCount(recs) != 3 {
		t.Errorf("sql info rows %d", rowCount(recs))
	}
	// Ids Skein does not know (a newer spec's, a vendor's) are left out,
	// the others answered: the first unknown one failed the request.
	info, err = c.GetSqlInfo(ctx, []flightsql.SqlInfo{9999, flightsql.SqlInfoFlightSqlServerName, 10_123})
	if recs = check("sql info with unknown ids", info, err, schema_ref.SqlInfo); rowCount(recs) != 1 || recs[0].Column(0).(*array.Uint32).Value(0) != uint32(flightsql.SqlInfoFlightSqlServerName) {
		t.Errorf("sql info with unknown ids: %v", recs)
	}
	info, err = c.GetSqlInfo(ctx, []flightsql.SqlInfo{9999})
	if recs = check("sql info of an unknown id", info, err, schema_ref.SqlInfo); rowCount(recs) != 0 {
		t.Errorf("sql info of an unknown id: %d rows, want none", rowCount(recs))
	}
}

// schemaWidths is how many columns each table GetTables listed with its
// schema has, by name.
func schemaWidths(t *testing.T, recs []arrow.RecordBatch) map[string]int {
	t.Helper()
	widths := map[string]int{}
	for _, r := range recs {
		for i := 0; i < int(r.NumRows()); i++ {
			sc, err := flight.DeserializeSchema(r.Column(4).(*array.Binary).Value(i), memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			widths[r.Column(2).(*array.String).Value(i)] = sc.NumFields()
		}
	}
	return widths
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func TestCancellation(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	const slow = "SELECT count(*) FROM range(1000000000) a, range(10) b WHERE a.range * b.range % 7 = 3"
	// CancelFlightInfo stops a query whose stream is being read.
	info, err := c.Execute(ctx, slow)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			done <- err
			return
		}
		defer rdr.Release()
		for rdr.Next() {
		}
		done <- rdr.Err()
	}()
	time.Sleep(200 * time.Millisecond)
	if res, err := c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil || res.Status != flight.CancelStatusCancelled {
		t.Fatalf("cancel: %v %v", res, err)
	}
	select {
	case err := <-done:
		wantCode(t, err, codes.Canceled)
	case <-time.After(20 * time.Second):
		t.Fatal("cancelled query still running")
	}
	// A client that drops its stream stops the query too.
	info, err = c.Execute(ctx, slow)
	if err != nil {
		t.Fatal(err)
	}
	// The reader waits for the first batch, so the drop comes from a timer.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	if rdr, err := c.DoGet(cctx, info.Endpoint[0].Ticket); err == nil {
		for rdr.Next() {
		}
		rdr.Release()
	}
	// The session's connection is free again once the query has stopped: a
	// transaction (which needs it) begins promptly.
	qctx, qcancel := context.WithTimeout(ctx, 20*time.Second)
	defer qcancel()
	tx, err := c.BeginTransaction(qctx)
	if err != nil {
		t.Fatalf("session still busy after a dropped stream: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLargeResultStreams(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	const n = 3_000_000
	info, err := c.Execute(ctx, fmt.Sprintf("SELECT range AS i, range * 2 AS j, 'row' || range AS s FROM range(%d)", n))
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var rows, sum int64
	batches := 0
	for rdr.Next() {
		rec := rdr.RecordBatch()
		batches++
		col := rec.Column(0).(*array.Int64)
		for i := 0; i < col.Len(); i++ {
			sum += col.Value(i)
		}
		rows += rec.NumRows()
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	if rows != n || sum != int64(n)*(n-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	if avg := rows / int64(batches); avg < 16*1024 {
		t.Errorf("batches average %d rows: too small for the wire", avg)
	}
}

func TestConcurrentClients(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		c := ts.client(t)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				info, err := c.Execute(ctx, fmt.Sprintf("SELECT sum(range) FROM range(%d)", 1000*(w+1)))
				if err != nil {
					errs <- err
					return
				}
				rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
				if err != nil {
					errs <- err
					return
				}
				for rdr.Next() {
					n := int64(1000 * (w + 1))
					if got := rdr.RecordBatch().Column(0).(*array.Decimal128).Value(0).LowBits(); got != uint64(n*(n-1)/2) {
						errs <- fmt.Errorf("client %d: sum %d", w, got)
					}
				}
				rdr.Release()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBadTicketsAndCommands(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	_, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte("garbage")})
	if err == nil {
		t.Fatal("garbage ticket accepted")
	}
	forged, _ := flightsql.CreateStatementQueryTicket([]byte("eyJrIjoidGlja2V0In0.AAAA"))
	rdr, err := c.DoGet(ctx, &flight.Ticket{Ticket: forged})
	if err == nil {
		_, err = rdr.Read()
	}
	wantCode(t, err, codes.Unauthenticated)
	malformed, _ := flightsql.CreateStatementQueryTicket([]byte("not a ticket"))
	rdr, err = c.DoGet(ctx, &flight.Ticket{Ticket: malformed})
	if err == nil {
		_, err = rdr.Read()
	}
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.Client.GetFlightInfo(ctx, &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte{1, 2, 3}})
	wantCode(t, err, codes.InvalidArgument)
	// A ticket is redeemed once.
	info, err := c.Execute(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	fetch(t, ctx, c, info)
	rdr, err = c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		_, err = rdr.Read()
	}
	if err == nil {
		t.Fatal("a ticket was redeemed twice")
	}
}

// A write that returns rows (INSERT ... RETURNING) is done when it is
// planned, as DuckDB does it when executed, whether or not its client
// reads the rows: ADBC runs it with GetFlightInfo and cancels the read
// when the cursor closes unread, and commits at once after it. Run at
// its DoGet, it was not done at all, and the COMMIT committed nothing.
// Its DoGet still gives its rows; so does a prepared statement's.
func TestReturningWritesWhenPlanned(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE r (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		_, recs := query(t, ctx, c, "SELECT count(*) FROM r")
		return recs[0].Column(0).(*array.Int64).Value(0)
	}
	if _, err := c.Execute(ctx, "INSERT INTO r VALUES (1), (2) RETURNING a"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("%d rows after an unread INSERT ... RETURNING, want 2", n)
	}
	tx, err := c.BeginTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Execute(ctx, "INSERT INTO r VALUES (3) RETURNING a"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows after a committed INSERT ... RETURNING, want 3", n)
	}
	ps, err := c.Prepare(ctx, "UPDATE r SET a = a * 10 WHERE a > 1 RETURNING a")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close(ctx)
	info, err := ps.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := query(t, ctx, c, "SELECT sum(a)::BIGINT FROM r"); recs[0].Column(0).(*array.Int64).Value(0) != 51 {
		t.Fatal("a prepared UPDATE ... RETURNING was not done when planned")
	}
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	var got []int32
	for rdr.Next() {
		col := rdr.RecordBatch().Column(0).(*array.Int32)
		got = append(got, col.Int32Values()...)
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []int32{20, 30}) {
		t.Fatalf("RETURNING rows %v, want [20 30]", got)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows after reading the RETURNING rows, want 3 (the update ran once)", n)
	}
}

// A COPY that says RETURN_FILES answers DuckDB's row, the count and the
// files it wrote, as a write returning rows: it answered no rows and an
// empty schema, an update count of 0 (a tester's).
func TestCopyReturningFilesAnswersItsRow(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) { c.AllowDirs = append(c.AllowDirs, dir) })
	ctx := context.Background()
	c := ts.client(t)
	path := filepath.Join(dir, "f.parquet")
	schema, recs := query(t, ctx, c, "COPY (SELECT range AS a FROM range(100)) TO '"+path+"' (FORMAT parquet, RETURN_FILES)")
	if schema.NumFields() != 2 || rowCount(recs) != 1 {
		t.Fatalf("schema %s, %d rows; want DuckDB's row of the count and the files", schema, rowCount(recs))
	}
	if n := recs[0].Column(0).(*array.Int64).Value(0); n != 100 {
		t.Fatalf("count %d, want 100", n)
	}
	files := recs[0].Column(1).(*array.List)
	if got := files.ListValues().(*array.String).Value(0); got != path {
		t.Fatalf("files %q, want %q", got, path)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// Metadata requests whose lists repeat are answered as the lists without
// repeats, and bounded: GetSqlInfo answered a row per id asked for (one
// id 20 million times: 2.4 GB kept), GetTables prepared a placeholder
// per table type (a million: 43 s and 3.2 GB), and SetSessionOptions ran
// USE of a 60 MB name (15 s, 1.4 GB): a tester's F9, F5 and F4.
func TestMetadataRequestsAreBounded(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE listed (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	ids := make([]flightsql.SqlInfo, 100_000)
	for i := range ids {
		ids[i] = flightsql.SqlInfoFlightSqlServerName
	}
	info, err := c.GetSqlInfo(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); rowCount(recs) != 1 {
		t.Errorf("GetSqlInfo of one id 100,000 times: %d rows, want 1", rowCount(recs))
	}
	types := make([]string, 100_000)
	for i := range types {
		types[i] = "TABLE"
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableTypes: types})
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); rowCount(recs) != 1 {
		t.Errorf("GetTables of TABLE 100,000 times: %d rows, want 1", rowCount(recs))
	}
	for i := range 100 {
		types[i] = fmt.Sprintf("T%d", i)
	}
	info, err = c.GetTables(ctx, &flightsql.GetTablesOpts{TableTypes: types[:100]})
	if err == nil {
		var rdr *flight.Reader
		if rdr, err = c.DoGet(ctx, info.Endpoint[0].Ticket); err == nil {
			for rdr.Next() {
			}
			err = rdr.Err()
			rdr.Release()
		}
	}
	wantCode(t, err, codes.InvalidArgument)
	long, err := flight.NewSessionOptionValues(map[string]any{"catalog": strings.Repeat("x", 2000)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: long})
	if err != nil || res.GetErrors()["catalog"].GetValue() != flight.SetSessionOptionsResultErrorInvalidValue {
		t.Fatalf("a catalog name of 2,000 bytes: %v %v", res, err)
	}
	// Refused by its length, not by a USE that failed: the schema exists.
	schema := strings.Repeat("s", 2000)
	if _, err := c.ExecuteUpdate(ctx, `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatal(err)
	}
	long, err = flight.NewSessionOptionValues(map[string]any{"schema": schema})
	if err != nil {
		t.Fatal(err)
	}
	res, err = c.SetSessionOptions(ctx, &flight.SetSessionOptionsRequest{SessionOptions: long})
	if err != nil || res.GetErrors()["schema"].GetValue() != flight.SetSessionOptionsResultErrorInvalidValue {
		t.Fatalf("a schema name of 2,000 bytes: %v %v", res, err)
	}
}

// GetTables' schema of a table gives its columns' extension types as a
// query does: they travel in the fields' metadata, which the columns'
// Flight SQL metadata replaced, and DuckDB's VARINT came as plain binary
// where a SELECT gives arrow.opaque (a tester's).
func TestTableSchemasKeepExtensionTypes(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE ext (v VARINT, n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	sc := tableSchemaOf(t, ctx, c, "ext")
	q, err := c.Execute(ctx, "SELECT * FROM ext")
	if err != nil {
		t.Fatal(err)
	}
	want, err := flight.DeserializeSchema(q.Schema, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sc.Field(0).Type, want.Field(0).Type; !arrow.TypeEqual(got, want) || got.ID() != arrow.EXTENSION {
		t.Fatalf("GetTables types v as %s, a query as %s", got, want)
	}
	if tn, _ := sc.Field(0).Metadata.GetValue("ARROW:FLIGHT:SQL:TYPE_NAME"); tn != "BIGNUM" { // VARINT's name in DuckDB 1.5
		t.Errorf("the column's Flight SQL metadata is gone: %v", sc.Field(0).Metadata)
	}
}

// A listing with schemas binds every table and view again: it stops at
// --query-timeout as a query does (one of views over large CSV files ran
// 40 s past a 2 s timeout, a tester's). 2,000 views (made by a server
// without a timeout, on the same data directory) took about 3 s to list
// here without the bound, past the timeout of 200 ms.
func TestListingsStopAtTheQueryTimeout(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	maker := startServer(t, func(c *coordinator.Config) { c.DataDir = dir })
	var views strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&views, "CREATE VIEW lv%d AS SELECT %d AS a, 'x' AS b;\n", i, i)
	}
	if _, err := maker.client(t).ExecuteUpdate(ctx, views.String()); err != nil {
		t.Fatal(err)
	}
	if err := maker.c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *coordinator.Config) { c.DataDir, c.QueryTimeout = dir, 200*time.Millisecond })
	c := ts.client(t)
	info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{TableNameFilterPattern: ptr("lv%"), IncludeSchema: true})
	if err == nil {
		err = readToEnd(ctx, c, info)
	}
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") {
		t.Errorf("listing 2,000 views with their schemas: %v, want the server's DeadlineExceeded", err)
	}
}
