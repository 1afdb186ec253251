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
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
)

func TestGuardRefusesInstanceStatements(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE kept AS SELECT 1 AS a"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"ATTACH ':memory:' AS s",
		"DETACH t",
		"LOAD httpfs",
		"INSTALL httpfs",
		"CALL enable_logging(storage = 'file', storage_path = '" + dir + "')",
		"SELECT * FROM enable_logging(storage = 'memory')",
		"select * from ENABLE_LOGGING ()",
		`SELECT * FROM "enable_logging"()`,
		"SELECT * FROM disable_logging()",
		"CALL truncate_duckdb_logs()",
		"PRAGMA enable_profiling",
		"SELECT * FROM enable_profiling(save_location := '" + dir + "/kept.json', format := 'json')",
		"SELECT * FROM disable_profiling()",
		"SELECT count(*) FROM read_duckdb('" + dir + "/other.duckdb')",
		"CALL checkpoint()",
		"SELECT * FROM query('CALL enable_' || 'logging()')",
		`SELECT * FROM query /* hidden */ ("SELECT 1")`,
		"SELECT * FROM query_table('kept')",
		"SELECT * FROM query\u00a0('SELECT 1')",
		"SELECT * FROM duckdb_secrets\u3000()",
		"PREPARE p AS SELECT 1",
		"CREATE VIEW v AS SELECT * FROM enable_logging()",
		"SELECT json_execute_serialized_sql('{}')",
		"SELECT json_serialize_plan('SELECT 1', optimize := true)",
		"SELECT json_deserialize_sql(json_serialize_sql('SELECT 1'))",
		// Object storage credentials are the operator's (the S3 secret
		// itself is tested with httpfs loaded: integration/s3_test.go).
		"SELECT * FROM duckdb_secrets()",
		"SELECT * FROM which_secret('s3://bucket/key', 's3')",
		"DROP SECRET IF EXISTS s",
		"DROP PERSISTENT SECRET IF EXISTS s",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	// Refused before DuckDB binds them, which without object storage
	// configured failed on the home directory's secret storage, then
	// "already registered" for every later one (a tester's).
	wantRefused(t, c, KindPermission, "SECRET is not allowed",
		"CREATE SECRET s1 (TYPE s3, KEY_ID 'a', SECRET 'b')",
		"CREATE TEMPORARY SECRET s2 (TYPE s3, KEY_ID 'a', SECRET 'b')",
		"create or replace persistent secret s3 (TYPE http)",
		"CREATE SECRET s4 (TYPE http)",
		"SELECT 1; CREATE SECRET s5 (TYPE http)")
	// The database is still there and usable.
	if n := count(t, c, "SELECT count(*) FROM kept"); n != 1 {
		t.Fatalf("kept has %d rows", n)
	}
}

func TestGuardAllowsOrdinarySQL(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{
		"SELECT 1 AS query, 'x' AS enable",
		"CREATE TABLE q (query VARCHAR, query_table INT)",
		"INSERT INTO q SELECT 'a query', 2",
		"SELECT query FROM q WHERE query_table > 0",
		"PRAGMA show_tables",
		"USE t",
		"SET VARIABLE v = 1",
		"BEGIN TRANSACTION; SELECT 1; COMMIT",
		"EXPLAIN SELECT 1",
		// What checkpoint() does, as the statement (it was refused as a
		// CALL, whose advice did not fit).
		"CHECKPOINT", "force checkpoint", "CHECKPOINT t; SELECT 1",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// The JSON functions DuckDB computes by recursion without a depth limit
// end the process on a deeply nested value (SIGSEGV, not tested here: it
// would end the test's): refused when called, however written, unless
// the instance allows them; their names as plain words stay usable.
func TestGuardRefusesRecursiveJSON(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	wantRefused(t, c, KindPermission, "--unsafe-json-functions",
		"SELECT json_structure('[1]')",
		`SELECT "JSON_STRUCTURE" /* x */ ('[1]')`,
		"SELECT json_contains('[1]', '1')",
		"SELECT json_merge_patch('{}', '{}')",
		`SELECT '{"a": 1}'.json_merge_patch('{}')`,
		"SELECT json_group_structure(j) FROM (SELECT '[1]'::JSON AS j)",
		"CREATE MACRO m(x) AS json_structure(x)",
		"SELECT list_transform(['[1]'], x -> json_contains(x, '1'))",
		// DuckDB reads these Unicode spaces as blanks (a tester's: the
		// guard read "json_structure\u00a0" as one unknown word).
		"SELECT json_structure\u00a0('[1]')",
		"SELECT\u2003json_contains\u3000('[1]', '1')",
		"SELECT json_merge_patch\ufeff\u200b('{}', '{}')")
	for _, q := range []string{
		"SELECT 1 AS json_structure, 'json_contains' AS s",
		"CREATE TABLE js (json_contains INT, json_merge_patch VARCHAR)",
		"SELECT json_contains FROM js",
		"SELECT json_extract('[1]', '$[0]'), json_keys('{\"a\": 1}')",
		// The values converted nest as deep as they like.
		"SELECT from_json('[[[1]]]', '[[[\"INT\"]]]'), json_transform(repeat('[', 300) || repeat(']', 300), '\"JSON\"')",
		"SELECT from_json_strict(json_object('a', [1, 2]), '{\"a\": [\"INT\"]}') AS from_json",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	ac := openRecursiveJSON(t, dir)
	if n := count(t, ac, `SELECT count(*) WHERE json_contains('[1, 2]', '2') AND json_structure('[1]')::VARCHAR = '["UBIGINT"]'`); n != 1 {
		t.Fatalf("allowed: %d rows, want 1", n)
	}
}

// DuckDB converts JSON to VARIANT by recursion without a limit, as the
// functions above: VARIANT named as a type (a cast, a column's type) is
// refused unless the instance allows it, while a column named variant
// (an A/B test's) is not a type.
func TestGuardRefusesVariantTypes(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	for _, q := range []string{
		"SELECT '[1]'::JSON::VARIANT",
		`SELECT '[1]'::JSON :: "Variant"`,
		"SELECT CAST('[1]'::JSON AS VARIANT)",
		"SELECT TRY_CAST('[1]'::JSON AS STRUCT(a INT, b VARIANT))",
		"SELECT ['[1]'::JSON]::VARIANT[]",
		"SELECT CAST(x AS MAP(VARCHAR, VARIANT[])) FROM (SELECT MAP {} AS x)",
		"CREATE TABLE v1 (id INT, doc VARIANT)",
		`CREATE TABLE v2 ("doc" VARIANT[])`,
		"CREATE TABLE v3 (s STRUCT(a VARIANT))",
		"ALTER TABLE js ALTER COLUMN j TYPE VARIANT",
		"ALTER TABLE js ADD COLUMN doc VARIANT",
		"SELECT '[1]'::JSON::\u00a0VARIANT",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
		if err != nil && !strings.Contains(err.Error(), "--unsafe-json-functions") {
			t.Errorf("%s: %v, want the flag that allows it named", q, err)
		}
	}
	if _, err := c.Exec(ctx, "CREATE TABLE js (j JSON)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE ab (user_id INT, variant VARCHAR)",
		"INSERT INTO ab VALUES (1, 'a'), (2, 'b')",
		"SELECT variant, count(*) AS variant_count FROM ab GROUP BY variant ORDER BY variant",
		"SELECT user_id::INT AS variant FROM ab",
		"SELECT CAST(user_id AS BIGINT) AS variant FROM ab WHERE variant = 'a'",
		"CREATE VIEW abv AS SELECT a.variant, variant AS v2 FROM ab a WHERE variant IN ('a') ORDER BY variant",
		"CREATE TABLE ab2 AS SELECT user_id, variant FROM ab",
		"ALTER TABLE ab2 RENAME COLUMN variant TO arm",
		"ALTER TABLE ab2 ADD COLUMN variant INT",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	ac := openRecursiveJSON(t, dir)
	if n := count(t, ac, `SELECT count(*) WHERE typeof('[1]'::JSON::VARIANT) = 'VARIANT'`); n != 1 {
		t.Fatalf("allowed: %d rows, want 1", n)
	}
}

// openRecursiveJSON is a connection to an in-memory instance that allows
// what recursiveJSONCalls and checkVariantTypes refuse.
func openRecursiveJSON(t *testing.T, dir string) *Conn {
	_, c := openWith(t, Config{AllowedDirs: []string{dir}, RecursiveJSON: true})
	return c
}

func TestGuardStopsMultiStatementAtRefusal(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	_, err := c.Exec(ctx, "CREATE TABLE before_ok (a INT); DETACH t; CREATE TABLE after_refused (a INT)")
	wantKind(t, "multi-statement", err, KindPermission)
	if !tableExists(t, c, "before_ok") || tableExists(t, c, "after_refused") {
		t.Fatal("statements before the refused one must run, none after it")
	}
}

func TestDescribeRunsNothing(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE m1 (a INT)"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Describe(ctx, "DROP TABLE m1; SELECT 1 AS one")
	wantKind(t, "Describe", err, KindInvalid)
	if !tableExists(t, c, "m1") {
		t.Fatal("Describe dropped m1")
	}
	st, err := c.Describe(ctx, "SELECT 1 AS one")
	if err != nil {
		t.Fatal(err)
	}
	if st.Schema.Field(0).Name != "one" {
		t.Fatalf("schema %v", st.Schema)
	}
	_ = st.Close()
}

func TestGuardRefusesMalformedText(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE n (a INT)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{";", " ; ; ", "-- only a comment", "/* c */", "SELECT 1\x00; DROP TABLE n"} {
		_, err := c.Prepare(ctx, q)
		wantKind(t, q, err, KindInvalid)
	}
	if !tableExists(t, c, "n") {
		t.Fatal("text after a NUL byte ran")
	}
}

func TestReadOnlyPolicy(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE r AS SELECT 1 AS a; CREATE SEQUENCE s"); err != nil {
		t.Fatal(err)
	}
	rows, err := c.QueryRows(ctx, "SELECT current_database()")
	if err != nil {
		t.Fatal(err)
	}
	var catalog string
	for rows.Next() {
		if err := rows.Scan(&catalog); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	c.SetPolicy(Policy{ReadOnly: true})
	for _, q := range []string{"SELECT * FROM r", "BEGIN; SELECT 1; COMMIT", "USE t", "SELECT 1 AS nextval, 2 AS checkpoint"} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	for _, q := range []string{
		"INSERT INTO r VALUES (2)", "UPDATE r SET a = 3", "DELETE FROM r", "DROP TABLE r",
		"CREATE TABLE r2 (a INT)", "ALTER TABLE r ADD COLUMN b INT",
		"COPY r TO '" + dir + "/r.csv'", "EXPORT DATABASE '" + dir + "/exp'",
		"EXPLAIN ANALYZE DELETE FROM r", "CREATE MACRO m() AS 1",
		"SELECT 1; DELETE FROM r",
		"SELECT nextval('s')", "SELECT NEXTVAL ('s')", "SELECT * FROM checkpoint()", "SELECT * FROM force_checkpoint()",
		"CHECKPOINT", "FORCE CHECKPOINT t",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	// DuckDB runs it as BEGIN, two COPYs and COMMIT: refused before its
	// BEGIN runs, it leaves no transaction (it left one aborted).
	for _, q := range []string{"COPY FROM DATABASE " + catalog + " TO temp", "copy from database " + catalog + " to temp (schema)"} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
		if in, err := c.InTransaction(ctx); err != nil || in {
			t.Fatalf("%s left a transaction: %v %v", q, in, err)
		}
	}
	// Named: it was "type 30 statements" (a tester's).
	wantRefused(t, c, KindPermission, "MERGE statements are not allowed",
		"MERGE INTO r USING (SELECT 1 AS a) s ON r.a = s.a WHEN MATCHED THEN DELETE")
	if n := count(t, c, "SELECT count(*) FROM r"); n != 1 {
		t.Fatalf("r has %d rows, want 1", n)
	}
	// DuckDB's binder of EXPORT DATABASE makes its directory (a tester's).
	if _, err := os.Stat(filepath.Join(dir, "exp")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the refused EXPORT left its directory: %v", err)
	}
	if n := count(t, c, "SELECT count(*) FROM duckdb_sequences() WHERE sequence_name = 's' AND last_value IS NOT NULL"); n != 0 {
		t.Fatal("the sequence moved")
	}
}

func wantKind(t *testing.T, what string, err error, k Kind) {
	t.Helper()
	var de *Error
	if !errors.As(err, &de) || de.Kind != k {
		t.Errorf("%q: got %v, want an error of kind %d", what, err, k)
	}
}

// wantRefused runs each statement on c and wants it refused with an error
// of kind k whose message holds reason.
func wantRefused(t *testing.T, c *Conn, k Kind, reason string, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		_, err := c.Exec(context.Background(), q)
		wantKind(t, q, err, k)
		if err != nil && !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: %v, want %q in it", q, err, reason)
		}
	}
}

func count(t *testing.T, c *Conn, q string, args ...any) int {
	t.Helper()
	rows, err := c.QueryRows(context.Background(), q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var n int
	for rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func tableExists(t *testing.T, c *Conn, name string) bool {
	return count(t, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = $1", name) > 0
}

// An Arrow scan view that a killed server left in the database file (as
// ingest once registered them) is dropped at the next start instead of
// crashing whoever selects from it.
func TestDropArrowLeftovers(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	path := filepath.Join(dir, "data.duckdb")
	db, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	a, err := duckdb.NewArrowFromConn(c.raw)
	if err != nil {
		t.Fatal(err)
	}
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	release, err := a.RegisterView(rdr, "skein_arrow_0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	// A user's views of such names are the user's: they were dropped at
	// every start (a tester's).
	if _, err := c.Exec(ctx, "CREATE VIEW skein_arrow_sales AS SELECT 1 AS v; CREATE SCHEMA rpt; CREATE VIEW rpt.skein_arrow_v AS SELECT 2 AS v"); err != nil {
		t.Fatal(err)
	}
	// The process dies here: the view is never dropped.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	release()
	db, err = Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.DropArrowLeftovers(ctx)
	if err != nil || n != 1 {
		t.Fatalf("dropped %d, %v; want 1", n, err)
	}
	c, err = db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if count(t, c, "SELECT count(*) FROM duckdb_views() WHERE view_name = 'skein_arrow_0123456789abcdef'") > 0 {
		t.Fatal("the leftover view is still there")
	}
	if n := count(t, c, "SELECT (SELECT v FROM skein_arrow_sales) + (SELECT v FROM rpt.skein_arrow_v)"); n != 3 {
		t.Fatalf("the user's views: %d", n)
	}
}

// DuckDB keeps SQL's access to the database file, its WAL and its temp
// directory whatever the sandbox says; COPY and EXPORT must still not
// write them, however the path is spelt.
func TestFileWritesStayInAllowedDirs(t *testing.T) {
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.MkdirAll(files, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	path := filepath.Join(dir, "data.duckdb")
	db, err := Open(ctx, Config{Path: path, AllowedDirs: []string{files}, TempDir: filepath.Join(dir, "tmp")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE precious AS SELECT 42 AS v"); err != nil {
		t.Fatal(err)
	}
	x := "(SELECT 'x' AS g)"
	// The directories a FILE_EXTENSION with '/../' walks through: per
	// thread, esc/x0./../../../data.duckdb is the database.
	for i := range 4 {
		if err := os.MkdirAll(filepath.Join(files, "esc", fmt.Sprintf("x%d.", i)), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	perThread := "COPY " + x + " TO '" + files + "/esc' (FORMAT csv, PER_THREAD_OUTPUT, OVERWRITE_OR_IGNORE, "
	for _, q := range []string{
		perThread + "FILENAME_PATTERN 'x{i}', FILE_EXTENSION '/../../../data.duckdb')",
		perThread + "FILENAME_PATTERN 'x{i}', \"file_extension\" '/../../../data.duckdb')",
		perThread + "FILENAME_PATTERN '../../data{i}', FILE_EXTENSION 'duckdb')",
		perThread + "FILENAME_PATTERN E'..\\x2f..\\x2fdata', FILE_EXTENSION 'duckdb')",
		perThread + "FILENAME_PATTERN ('x' || '{i}'), FILE_EXTENSION 'csv')",
		"COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO '" + path + ".wal' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO '" + path + ".wal.recovery' (FORMAT csv)",
		"COPY " + x + " TO '" + dir + "/./data.duckdb' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO '" + dir + "//data.duckdb' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO 'file://" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO '" + files + "/../data.duckdb' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO ('" + files + "/' || '../data.duckdb') (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO E'" + dir + "/data\\x2educkdb' (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO $$" + path + "$$ (FORMAT csv, USE_TMP_FILE false)",
		"COPY " + x + " TO '" + dir + "/tmp/spill' (FORMAT csv)",
		"COPY " + x + " TO 's3://bucket/data/out.parquet' (FORMAT parquet)", // object storage is read-only
		"EXPORT DATABASE 's3://bucket/data/export'",
		"COPY (SELECT 1 AS v, 2 AS w) TO '" + dir + "/out' (FORMAT parquet, PARTITION_BY (v))",
		"EXPORT DATABASE '" + dir + "/exp'",
		"SELECT 1; COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"SELECT ';' AS s; COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		// EXPLAIN ANALYZE runs its statement, of type EXPLAIN (a tester's:
		// the managed database overwritten).
		"EXPLAIN ANALYZE COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"EXPLAIN ANALYSE COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"EXPLAIN (ANALYZE, FORMAT json) COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"EXPLAIN ANALYZE COPY " + x + " TO ('" + files + "/' || 'e.csv') (FORMAT csv)",
		"EXPLAIN COPY " + x + " TO '" + path + "' (FORMAT csv, USE_TMP_FILE false)",
		"EXPLAIN ANALYZE CREATE TABLE t2 AS SELECT 1 AS v",
		"EXPLAIN ANALYZE CREATE TYPE t2 AS STRUCT(a INTEGER)",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	st, err := c.Prepare(ctx, "COPY "+x+" TO $1 (FORMAT csv, USE_TMP_FILE false)")
	wantKind(t, "COPY TO $1", err, KindPermission)
	if st != nil {
		_ = st.Close()
	}
	for _, q := range []string{
		"COPY precious TO '" + files + "/a.csv'",
		"COPY precious TO '" + files + "/b.parquet' (FORMAT parquet)",
		"CREATE TABLE copied (v INTEGER); COPY copied FROM '" + files + "/a.csv'",
		"/* ; */ SELECT 'a;b'; COPY (SELECT 1 AS one) TO 'file://" + files + "/c.csv'",
		"EXPORT DATABASE '" + files + "/exp'",
		"COPY precious TO '" + files + "/parts' (FORMAT csv, PER_THREAD_OUTPUT, FILENAME_PATTERN 'part_{i}', FILE_EXTENSION 'txt')",
		"EXPLAIN ANALYZE COPY precious TO '" + files + "/d.csv'",
		"EXPLAIN (FORMAT json) SELECT v FROM precious",
		"EXPLAIN ANALYZE (SELECT v FROM precious)",
		"EXPLAIN ANALYZE INSERT INTO precious SELECT v FROM precious WHERE false",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, Config{Path: path, AllowedDirs: []string{files}})
	if err != nil {
		t.Fatalf("the database no longer opens: %v", err)
	}
	defer db.Close()
	c, err = db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n := count(t, c, "SELECT v FROM precious"); n != 42 {
		t.Fatalf("precious is %d", n)
	}
}

// DuckDB's sandbox checks a target's text, then writes through the links
// it names: a link in an allowed directory to a file outside that did not
// exist yet had COPY create that file (a tester's). A target whose links
// lead out, or nowhere, is refused; links that stay inside are followed.
func TestFileWritesFollowNoLinkOut(t *testing.T) {
	dir := t.TempDir()
	files, outside := filepath.Join(dir, "files"), filepath.Join(dir, "outside")
	for _, d := range []string{files, outside, filepath.Join(files, "real")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(files, "real", "exists.csv"), []byte("v\n1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The allowed directory is named through a link of its own.
	allowed := filepath.Join(dir, "files-link")
	for link, to := range map[string]string{
		allowed:                         files,
		filepath.Join(files, "new.csv"): filepath.Join(outside, "new.csv"), // leads out, to nothing yet
		filepath.Join(files, "nodir"):   filepath.Join(outside, "nodir"),   // likewise, a directory
		filepath.Join(files, "out"):     outside,                           // an existing directory outside
		filepath.Join(files, "loop"):    filepath.Join(files, "loop"),
		filepath.Join(files, "in"):      filepath.Join(files, "real"), // stays inside
		// Within directories a COPY or EXPORT writes into, named as the
		// files DuckDB writes there.
		filepath.Join(files, "pt", "data_0.csv"):        filepath.Join(outside, "pt.csv"),
		filepath.Join(files, "pp", "v=x", "data_0.csv"): filepath.Join(outside, "pp.csv"),
		filepath.Join(files, "exp", "schema.sql"):       filepath.Join(outside, "schema.sql"),
		filepath.Join(files, "real", "ok", "inner.csv"): filepath.Join(files, "real", "a.csv"), // stays inside
		filepath.Join(files, "deep", "v=x"):             filepath.Join(files, "other"),
		filepath.Join(files, "other", "data_0.csv"):     filepath.Join(outside, "deep.csv"),
		filepath.Join(files, "tmpd", "tmp_out.csv"):     filepath.Join(outside, "tmp.csv"),          // DuckDB's tmp_ file
		filepath.Join(files, "cl", "l.csv"):             filepath.Join(files, "real", "exists.csv"), // a link inside...
		filepath.Join(files, "cl", "tmp_l.csv"):         filepath.Join(outside, "tmpl.csv"),         // ...its given name's tmp_ out
		filepath.Join(files, "up", "sub", "root"):       files,                                      // a link to a directory holding the target
	} {
		if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	_, c := openWith(t, Config{AllowedDirs: []string{allowed}})
	x := "COPY (SELECT 'x' AS v) TO '"
	wantRefused(t, c, KindPermission, "link",
		x+allowed+"/new.csv' (FORMAT csv)",
		x+allowed+"/nodir' (FORMAT csv, PER_THREAD_OUTPUT)",
		x+allowed+"/nodir/a.csv' (FORMAT csv)",
		x+allowed+"/out/a.csv' (FORMAT csv)",
		x+allowed+"/out/sub/a.csv' (FORMAT csv)",
		x+allowed+"/loop' (FORMAT csv)",
		"COPY (SELECT 'x' AS v, 1 AS w) TO '"+allowed+"/out' (FORMAT parquet, PARTITION_BY (v))",
		"EXPORT DATABASE '"+allowed+"/nodir'",
		"EXPORT DATABASE '"+allowed+"/out/exp'",
		x+allowed+"/pt' (FORMAT csv, PER_THREAD_OUTPUT, OVERWRITE_OR_IGNORE)",
		"COPY (SELECT 'x' AS v, 1 AS w) TO '"+allowed+"/pp' (FORMAT csv, PARTITION_BY (v), OVERWRITE_OR_IGNORE)",
		"EXPORT DATABASE '"+allowed+"/exp'",
		"COPY (SELECT 'x' AS v, 1 AS w) TO '"+allowed+"/deep' (FORMAT csv, PARTITION_BY (v), OVERWRITE_OR_IGNORE)",
		x+allowed+"/tmpd/out.csv' (FORMAT csv)",
		x+allowed+"/cl/l.csv' (FORMAT csv)")
	if got, _ := os.ReadDir(outside); len(got) > 0 {
		t.Fatalf("written outside: %v", got)
	}
	for _, q := range []string{
		x + allowed + "/in/a.csv' (FORMAT csv)",
		x + allowed + "/in/sub' (FORMAT csv, PER_THREAD_OUTPUT)",
		x + allowed + "/real/ok' (FORMAT csv, PER_THREAD_OUTPUT, OVERWRITE_OR_IGNORE)",
		// Its links lead to the directories holding it, where others
		// lead out: not walked (DuckDB writes only its own names there).
		"COPY (SELECT 'x' AS v, 1 AS w) TO '" + allowed + "/up' (FORMAT csv, PARTITION_BY (v), OVERWRITE_OR_IGNORE)",
		x + allowed + "/b.csv' (FORMAT csv)",
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
	if _, err := os.Stat(filepath.Join(files, "real", "a.csv")); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaMayNotShadowACatalog(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE SCHEMA skein", `CREATE SCHEMA IF NOT EXISTS "Skein"`, "CREATE OR REPLACE SCHEMA t.system",
		"CREATE SCHEMA data", "SELECT 1; CREATE SCHEMA temp",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	for _, q := range []string{"CREATE SCHEMA reports", "CREATE TABLE skein_notes (a INT)", "CREATE VIEW skein AS SELECT 1 AS a"} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Errorf("%s: %v", q, err)
		}
	}
}

// A PIVOT that does not name its values makes DuckDB add a statement of
// its own (CREATE TYPE of the values) before the one in the text: it runs,
// alone, inside a subquery, after another statement, and the guard still
// reads the text's statements in their places.
func TestGuardAllowsPivotsGeneratedStatements(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE p AS SELECT range % 3 AS a, range % 2 AS b, range AS x FROM range(10)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PIVOT p ON b USING sum(x) GROUP BY a ORDER BY a",
		"SELECT * FROM (PIVOT p ON b USING sum(x) GROUP BY a) ORDER BY a",
		"SET VARIABLE v = 1; PIVOT p ON b USING sum(x) GROUP BY a ORDER BY a",
	} {
		st, err := c.Prepare(ctx, q)
		if err != nil {
			t.Errorf("%s: %v", q, err)
			continue
		}
		r, err := st.Query(ctx, memory.DefaultAllocator, nil, DefaultBatchSize)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var got []string
		for r.Next() {
			rec := r.RecordBatch()
			for row := range int(rec.NumRows()) {
				got = append(got, fmt.Sprintf("%v:%v,%v", rec.Column(0).ValueStr(row), rec.Column(1).ValueStr(row), rec.Column(2).ValueStr(row)))
			}
		}
		r.Release()
		_ = st.Close()
		// a 0..2, b 0..1: x of a = 0 and b = 0 is 0+6, of b = 1 3+9, ...
		if want := []string{"0:6,12", "1:4,8", "2:10,5"}; !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", q, got, want)
		}
	}
	// The statements around a pivot are still checked where they are.
	for _, q := range []string{
		"PIVOT p ON b USING sum(x) GROUP BY a; CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'x')",
		"CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'x'); PIVOT p ON b USING sum(x) GROUP BY a",
		fmt.Sprintf("PIVOT p ON b USING sum(x) GROUP BY a; COPY p TO '%s/../out.csv'", dir),
	} {
		if _, err := c.Exec(ctx, q); err == nil {
			t.Errorf("%s: ran", q)
		}
	}
}

// A statement of more AND and OR than MaxConnectives is refused before
// DuckDB plans it (its planning grows with the square of their number,
// and no interrupt stops it); the same words in a string do not count,
// and a long list of values written as IN runs.
func TestLongConditionChainsAreRefused(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	terms := make([]string, MaxConnectives+2) // MaxConnectives+1 connectives
	for i := range terms {
		terms[i] = fmt.Sprintf("x = %d", i)
	}
	for _, sep := range []string{" OR ", " and "} {
		q := "SELECT * FROM range(10) AS r(x) WHERE " + strings.Join(terms, sep)
		_, err := c.Exec(ctx, q)
		wantKind(t, "a chain of "+sep, err, KindInvalid)
	}
	if n := count(t, c, "SELECT length('"+strings.Repeat("and or ", MaxConnectives)+"')"); n != 7*MaxConnectives {
		t.Fatalf("the string's length: %d", n)
	}
	values := make([]string, 3*MaxConnectives)
	for i := range values {
		values[i] = strconv.Itoa(i)
	}
	if n := count(t, c, "SELECT count(*) FROM range(100000) AS r(x) WHERE x IN ("+strings.Join(values, ", ")+")"); n != len(values) {
		t.Fatalf("the IN list matched %d", n)
	}
}

// A write that pivots without naming its values is BEGIN, a CREATE TYPE,
// the write and COMMIT to DuckDB: the guard reads the write where it is
// (a COPY (PIVOT ...) TO an allowed file was refused as a statement DuckDB
// generated), and one that fails leaves the transaction DuckDB began
// aborted, as DuckDB does, never open: the session's next writes, each
// acknowledged, ran in it and were lost with the session.
func TestPivotWritesRunAndFailWhole(t *testing.T) {
	db, c, dir := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, "CREATE TABLE p AS SELECT range % 3 AS a, range % 2 AS b, range AS x FROM range(10)"); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "pivot.parquet")
	if _, err := c.Exec(ctx, fmt.Sprintf("COPY (PIVOT p ON b USING sum(x) GROUP BY a) TO '%s' (FORMAT parquet)", out)); err != nil {
		t.Fatalf("COPY of a pivot: %v", err)
	}
	if got := queryInt(t, c, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", out)); got != 3 {
		t.Fatalf("%d rows written, want 3", got)
	}
	if in, err := c.InTransaction(ctx); err != nil || in {
		t.Fatalf("after the COPY: in a transaction %v (%v)", in, err)
	}

	// A pivoting write that fails to bind (3 columns into 1), and one
	// the guard refuses (a target not written as a plain string).
	if _, err := c.Exec(ctx, "CREATE TABLE one AS SELECT range AS x FROM range(3)"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO one SELECT * FROM (PIVOT one ON x USING count(*))",
		fmt.Sprintf("COPY (PIVOT p ON b USING sum(x) GROUP BY a) TO ('%s' || '.parquet') (FORMAT parquet)", filepath.Join(dir, "out")),
	} {
		if _, err := c.Exec(ctx, q); err == nil {
			t.Fatalf("%s: ran", q)
		}
		_, err := c.Exec(ctx, "INSERT INTO p VALUES (9, 9, 9)")
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindConflict {
			t.Fatalf("a write after %s: %v, want the transaction aborted", q, err)
		}
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Exec(ctx, "INSERT INTO p VALUES (9, 9, 9)"); err != nil {
		t.Fatal(err)
	}
	other, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if got := queryInt(t, other, "SELECT count(*) FROM p"); got != 11 {
		t.Fatalf("another connection sees %d rows, want 11: the write is not committed", got)
	}
}

// queryInt is the one integer a query of c gives.
func queryInt(t *testing.T, c *Conn, q string) int64 {
	t.Helper()
	rows, err := c.QueryRows(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var n int64
	if !rows.Next() || rows.Scan(&n) != nil {
		t.Fatalf("%s: no value (%v)", q, rows.Err())
	}
	return n
}

// DuckDB computes an edit distance in one call it cannot cancel, in steps
// of the product of the strings' lengths: two of 200,000 bytes held a core
// for minutes past the query's timeout and its client's cancel. A call
// past the instance's bound is an error naming the flag; shorter ones
// answer as DuckDB's own, under its column name; SQL naming DuckDB's own
// by its catalog, or dropping the macro that bounds it, is refused; a
// bound of -1 is none.
func TestEditDistancesAreBounded(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	if holds, err := c.HoldsState(ctx); err != nil || holds {
		t.Fatalf("a new connection holds state (its macros are the server's): %v %v", holds, err)
	}
	long := "SELECT %s(repeat('a', 4000), repeat('b', 3000))" // 12 million cells
	for _, f := range []string{"levenshtein", "editdist3", "damerau_levenshtein"} {
		q := fmt.Sprintf(long, f)
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindInvalid)
		if err != nil && !strings.Contains(err.Error(), "of strings of 4000 and 3000 bytes is refused") ||
			err != nil && !strings.Contains(err.Error(), "--max-edit-distance-cells") {
			t.Errorf("%s: %v, want the lengths and the flag named", q, err)
		}
	}
	st, err := c.Prepare(ctx, "SELECT levenshtein('kitten', 'sitting'), damerau_levenshtein(s, 'ca'), editdist3(NULL, s) FROM (SELECT 'ac' AS s)")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range st.Schema.Fields() {
		names = append(names, f.Name+" "+f.Type.String())
	}
	_ = st.Close()
	want := []string{"levenshtein('kitten', 'sitting') int64", "damerau_levenshtein(s, 'ca') int64", "editdist3(NULL, s) int64"}
	if !slices.Equal(names, want) {
		t.Errorf("columns %q, want %q", names, want)
	}
	if n := count(t, c, "SELECT count(*) WHERE levenshtein('kitten', 'sitting') = 3 AND damerau_levenshtein('ac', 'ca') = 1 AND editdist3(NULL, 'a') IS NULL AND levenshtein(repeat('a', 3000), repeat('b', 3000)) = 3000"); n != 1 {
		t.Errorf("the distances: %d rows, want 1", n)
	}
	for _, q := range []string{
		"SELECT system.main.levenshtein('a', 'b')",
		`SELECT "SYSTEM" . "Main".LEVENSHTEIN('a', 'b')`,
		"SELECT system.editdist3('a', 'b')",
		"CREATE MACRO d(a, b) AS system.damerau_levenshtein(a, b)",
		"DROP MACRO levenshtein",
		"DROP MACRO temp.main.editdist3",
		"drop function IF EXISTS damerau_levenshtein",
		// A tester's: '$' in a name (x$t$) opened a dollar quote to the
		// scanner, which then left the statement to DuckDB unchecked.
		"SELECT system.main.levenshtein('a', 'b') AS d, 1 AS x$t$",
		`SELECT system.main."~~"('a', 'b')`,
		`SELECT "system"."main"."~~~"('a', 'b')`,
		"SELECT system.ilike_escape('a', 'b', '!')",
		`DROP MACRO "!~~*"`,
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindPermission)
	}
	// Text the scanner cannot read is refused, not passed on unchecked.
	q := "SELECT system.main.levenshtein('a', 'b') /* open"
	_, err = c.Exec(ctx, q)
	wantKind(t, q, err, KindInvalid)
	if n := count(t, c, "SELECT levenshtein('ab', 'b') + temp.main.levenshtein('a', 'b') + main.levenshtein('a', 'b')"); n != 3 {
		t.Errorf("qualified by temp or main: %d, want 3 (the macro)", n)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE levenshtein AS SELECT 1 AS levenshtein; DROP TABLE levenshtein"); err != nil {
		t.Errorf("a table of the name: %v", err)
	}
	_, free := openWith(t, Config{MaxEditCells: -1})
	if n := count(t, free, fmt.Sprintf(long, "levenshtein")); n != 4000 {
		t.Errorf("without a bound: %d, want 4000", n)
	}
}

// DuckDB matches LIKE, ILIKE and GLOB patterns by recursion, a level a
// wildcard: 300,000 of them ended the process (SIGSEGV), the coordinator
// for a constant folded while preparing. A pattern of more than
// MaxPatternWildcards wildcards is an error; others match as DuckDB's
// own, under DuckDB's column names, NULLs included, and a constant
// prefix still filters the scan; a session's macro named strlen or "*"
// does not lift the bounds.
func TestPatternsAreBounded(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	if _, err := c.Exec(ctx, `CREATE TEMP MACRO strlen(x) AS 0; CREATE TEMP MACRO "*"(a, b) AS 0; CREATE TEMP MACRO replace(a, b, c) AS a`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT repeat('a', 2000) GLOB repeat('*a', 1001)",
		"SELECT repeat('a', 2000) ILIKE repeat('%a', 1001)",
		"SELECT repeat('a', 2000) NOT ILIKE repeat('%a', 1001)",
		"SELECT repeat('a', 2000) LIKE repeat('%_', 501)",
		"SELECT repeat('a', 2000) NOT LIKE repeat('_', 1001)",
		"SELECT repeat('a', 2000) LIKE repeat('%a', 1001) ESCAPE '!'",
		"SELECT repeat('a', 2000) ILIKE repeat('%a', 1001) ESCAPE '!'",
		"SELECT levenshtein(repeat('a', 4000), repeat('b', 3000))",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindInvalid)
	}
	st, err := c.Prepare(ctx, "SELECT s LIKE 'a%', s NOT LIKE 'a_', s ILIKE 'A%', s NOT ILIKE '%D', s GLOB 'a*', s LIKE 'a!%' ESCAPE '!', NULL LIKE s FROM (SELECT 'abc' AS s)")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range st.Schema.Fields() {
		names = append(names, f.Name)
	}
	_ = st.Close()
	want := []string{"(s ~~ 'a%')", "(s !~~ 'a_')", "(s ~~* 'A%')", "(s !~~* '%D')", "(s ~~~ 'a*')", "main.like_escape(s, 'a!%', '!')", "(NULL ~~ s)"} // DuckDB's own
	if !slices.Equal(names, want) {
		t.Errorf("columns %q, want %q", names, want)
	}
	if n := count(t, c, `SELECT count(*) FROM (SELECT 'abc' AS s) WHERE s LIKE 'a%' AND s NOT LIKE 'a_' AND s ILIKE 'A%' AND s NOT ILIKE '%D'
  AND s GLOB 'a*' AND NOT s LIKE 'a!%' ESCAPE '!' AND (NULL LIKE s) IS NULL AND repeat('a', 2000) LIKE repeat('%a', 1000)`); n != 1 {
		t.Errorf("the matches: %d rows, want 1", n)
	}
	if _, err := c.Exec(ctx, "CREATE TABLE words AS SELECT 'w' || i AS w FROM range(10) t(i)"); err != nil {
		t.Fatal(err)
	}
	rows, err := c.QueryRows(ctx, "EXPLAIN SELECT w FROM words WHERE w LIKE 'w1%'")
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(v)
	}
	rows.Close()
	if !strings.Contains(plan.String(), "w>='w1' AND w<'w2'") {
		t.Errorf("a LIKE prefix no longer filters the scan:\n%s", plan.String())
	}
}

// An instance that runs the planner's SQL creates a macro bounding a call
// on a connection only before a statement that names it (about 0.3 ms a
// macro, 3 ms for all, and an executor's connection lives for one task),
// and bounds that statement as every other instance does.
func TestBoundsOnDemand(t *testing.T) {
	db, c := openWith(t, Config{BoundsOnDemand: true})
	ctx := context.Background()
	macros := func(c *Conn) int {
		return count(t, c, "SELECT count(*) FROM duckdb_functions() WHERE database_name = 'temp'")
	}
	if n := macros(c); n != 0 {
		t.Fatalf("%d macros before any statement names a bounded call", n)
	}
	for _, q := range []string{
		"SELECT repeat('a', 2000) GLOB repeat('*a', 1001)",
		"SELECT levenshtein(repeat('a', 4000), repeat('b', 3000))",
	} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindInvalid)
	}
	if n := macros(c); n != 2 { // ~~~ and levenshtein: what the statements named
		t.Errorf("%d macros after, want 2", n)
	}
	other, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if n := count(t, other, "SELECT count(*) WHERE 'abc' ILIKE 'A%' AND levenshtein('ab', 'b') = 1"); n != 1 {
		t.Errorf("a connection's first statement naming them: %d, want 1", n)
	}
}

// BenchmarkConnect opens and closes connections with every bounding macro
// created on each (a session's) and with none until a statement names one
// (an executor's), for the cost the README gives.
func BenchmarkConnect(b *testing.B) {
	for _, onDemand := range []bool{false, true} {
		db, err := Open(context.Background(), Config{BoundsOnDemand: onDemand})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(map[bool]string{false: "every-macro", true: "on-demand"}[onDemand], func(b *testing.B) {
			for b.Loop() {
				c, err := db.Connect(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
		_ = db.Close()
	}
}

// containsFold finds a word in any case, wherever it is, and nothing
// else (it decides whether a text is lexed for an EXPORT before binding).
func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"EXPORT DATABASE 'x'", true}, {"select 1", false}, {"xexporT", true}, {"expor", false},
		{"e", false}, {"", false}, {"eeeexport", true}, {"EXPOR T", false},
	} {
		if got := containsFold(c.s, "export"); got != c.want {
			t.Errorf("containsFold(%q) = %v", c.s, got)
		}
	}
}

// IMPORT DATABASE is refused as unsupported, before anything of it runs:
// DuckDB puts the export's statements in its place, which the guard can
// check none of as the text has them (it was refused "cannot tell the
// statements apart", a tester's).
func TestImportDatabaseIsRefusedClearly(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	exp := filepath.Join(dir, "exp")
	if _, err := c.Exec(ctx, "CREATE TABLE e AS SELECT 1 AS v; EXPORT DATABASE '"+exp+"'; DROP TABLE e"); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c, KindUnsupported, "IMPORT DATABASE is not supported",
		"IMPORT DATABASE '"+exp+"'", "select 1; import  database '"+exp+"'")
	if n := count(t, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'e'"); n != 0 {
		t.Fatal("the import ran")
	}
}

// A COPY may name its target through a link that leads into an allowed
// directory: the coordinator resolves an --allow-dir given as a link
// when it starts, and a COPY to the name the operator gave was refused
// (a tester's). A link leading elsewhere is still refused.
func TestCopyThroughALinkIntoAnAllowedDir(t *testing.T) {
	dir := t.TempDir()
	files, outside := filepath.Join(dir, "files"), filepath.Join(dir, "outside")
	for _, d := range []string{files, outside} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	given, elsewhere := filepath.Join(dir, "given"), filepath.Join(dir, "elsewhere")
	if err := os.Symlink(files, given); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, elsewhere); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, c := openWith(t, Config{AllowedDirs: []string{files}})
	if _, err := c.Exec(ctx, "COPY (SELECT 1 AS v) TO '"+given+"/w.csv' (FORMAT csv)"); err != nil {
		t.Fatalf("a COPY through the link the operator gave: %v", err)
	}
	if _, err := os.Stat(filepath.Join(files, "w.csv")); err != nil {
		t.Fatal(err)
	}
	// A link inside to the allowed directory itself leads nowhere out.
	if err := os.MkdirAll(filepath.Join(files, "p", "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(files, filepath.Join(files, "p", "sub", "root")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "COPY (SELECT 1 AS v, 2 AS w) TO '"+files+"/p' (FORMAT csv, PARTITION_BY (v), OVERWRITE_OR_IGNORE)"); err != nil {
		t.Fatalf("a COPY into a directory holding a link to the allowed directory: %v", err)
	}
	_, err := c.Exec(ctx, "COPY (SELECT 1 AS v) TO '"+elsewhere+"/w.csv' (FORMAT csv)")
	wantKind(t, "a COPY through a link elsewhere", err, KindPermission)
	if got, _ := os.ReadDir(outside); len(got) > 0 {
		t.Fatalf("written outside: %v", got)
	}
}
