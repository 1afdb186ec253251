package integration

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	fsdriver "github.com/apache/arrow-go/v18/arrow/flight/flightsql/driver"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Go's database/sql through arrow-go's Flight SQL driver
// (flightsql/driver), against a coordinator with two executors on
// loopback. The driver has limits of its own; each has a test that fails
// when the driver changes, so that the README can be corrected. One cannot
// be a test: the driver's Rows sets its schema from the goroutine reading
// each endpoint while database/sql reads it, a data race that -race
// reports on results of several endpoints (make test-go runs this package
// without -race).

const (
	sqlUser     = "skein"
	sqlPassword = "secret"
	sqlFiles    = 3
	sqlPerFile  = 10000
)

// sqlCluster starts a coordinator with auth and two executors in
// resultMode over Parquet files of sqlFiles x sqlPerFile rows (id, g),
// split into several tasks; it returns the address and the files' glob.
func sqlCluster(t *testing.T, resultMode string) (addr, glob string) {
	t.Helper()
	dir := t.TempDir()
	conn := ducktest.Open(t, dir)
	for f := range sqlFiles {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS id, (range %% 5)::INTEGER AS g FROM range(%d))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, f*sqlPerFile, sqlPerFile, filepath.Join(dir, fmt.Sprintf("f%d.parquet", f))))
	}
	c, err := coordinator.Start(context.Background(), coordinator.Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), AllowDirs: []string{dir}, User: sqlUser, Password: sqlPassword,
		Executors: 2, Threads: 1, TaskRows: 4096, ResultMode: resultMode, ShutdownGrace: 5 * time.Second,
	}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	return strings.TrimPrefix(c.URI(), "grpc://"), filepath.Join(dir, "*.parquet")
}

// --- README: Go database/sql ---

// login does Flight's Handshake with Basic credentials and returns the
// bearer token Skein answers with (it names a new session).
func login(ctx context.Context, addr, user, password string) (string, error) {
	cl, err := flight.NewClientWithMiddlewareCtx(ctx, addr, nil, nil,
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer cl.Close()
	ctx, err = cl.AuthenticateBasicToken(ctx, user, password)
	if err != nil {
		return "", err
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	return strings.TrimPrefix(md.Get("authorization")[0], "Bearer "), nil
}

// skeinConnector logs in for every connection database/sql opens, so that
// each has its own Skein session (its own transaction).
type skeinConnector struct{ addr, user, password string }

func (c skeinConnector) Connect(ctx context.Context) (driver.Conn, error) {
	token, err := login(ctx, c.addr, c.user, c.password)
	if err != nil {
		return nil, err
	}
	var fc fsdriver.Connector
	if err := fc.Configure(&fsdriver.DriverConfig{Address: c.addr, Token: token}); err != nil {
		return nil, err
	}
	return fc.Connect(ctx)
}

func (skeinConnector) Driver() driver.Driver { return &fsdriver.Driver{} }

// --- end README ---

// openDB opens database/sql on addr through skeinConnector, as the README
// shows.
func openDB(t *testing.T, addr string) *sql.DB {
	t.Helper()
	db := sql.OpenDB(skeinConnector{addr: addr, user: sqlUser, password: sqlPassword})
	db.SetConnMaxIdleTime(10 * time.Minute)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestDatabaseSQLReadme(t *testing.T) {
	addr, _ := sqlCluster(t, "direct") // e.g. "127.0.0.1:31337"
	var names []string
	err := func() error {
		// --- README: Go database/sql (use) ---
		db := sql.OpenDB(skeinConnector{addr: addr, user: "skein", password: "secret"})
		defer db.Close()
		db.SetConnMaxIdleTime(10 * time.Minute) // under the server's --session-idle-timeout (15m)

		if _, err := db.Exec("CREATE TABLE IF NOT EXISTS ducks (name VARCHAR, weight_kg DOUBLE)"); err != nil {
			return err
		}
		tx, err := db.Begin()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.Exec("INSERT INTO ducks VALUES (?, ?), (?, ?)", "mallard", 1.1, "eider", 2.2); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		rows, err := db.Query("SELECT name FROM ducks WHERE weight_kg > ? ORDER BY name", 1.0)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			names = append(names, name)
		}
		return rows.Err()
		// --- end README ---
	}()
	if err != nil || !slices.Equal(names, []string{"eider", "mallard"}) {
		t.Fatalf("%v, %v", names, err)
	}
}

// wantStatus fails unless err is a gRPC status with code and a message
// containing msg.
func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("got error %v, want %s containing %q", err, code, msg)
	}
}

func TestDatabaseSQLAuth(t *testing.T) {
	addr, _ := sqlCluster(t, "direct")
	ctx := context.Background()

	// Driver limit: a DSN's user and password are sent as Basic
	// credentials on every call, and Skein takes Basic credentials on
	// Handshake only (it answers with a bearer token naming a session).
	basic, err := sql.Open("flightsql", fmt.Sprintf("flightsql://%s:%s@%s", sqlUser, sqlPassword, addr))
	if err != nil {
		t.Fatal(err)
	}
	defer basic.Close()
	var n int
	err = basic.QueryRowContext(ctx, "SELECT 42").Scan(&n)
	wantStatus(t, err, codes.Unauthenticated, "Basic credentials are accepted on Handshake only")

	// A token in the DSN works; every connection of that sql.DB shares the
	// token's one session, and so its transaction: a query on another
	// connection of the pool sees what the open transaction wrote.
	token, err := login(ctx, addr, sqlUser, sqlPassword)
	if err != nil {
		t.Fatal(err)
	}
	shared, err := sql.Open("flightsql", fmt.Sprintf("flightsql://%s?token=%s", addr, token))
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	if err := shared.QueryRowContext(ctx, "SELECT 42").Scan(&n); err != nil || n != 42 {
		t.Fatalf("token DSN: %d, %v", n, err)
	}
	mustExec(t, shared, "CREATE TABLE shared_session (x BIGINT)")
	tx, err := shared.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO shared_session VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if got := count(t, shared, "shared_session"); got != 1 {
		t.Fatalf("another connection of a token DSN's pool saw %d rows of the open transaction, want 1 (the session is shared)", got)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if got := count(t, shared, "shared_session"); got != 0 {
		t.Fatalf("after rollback: %d rows", got)
	}

	// A bad token is refused.
	bad, err := sql.Open("flightsql", fmt.Sprintf("flightsql://%s?token=%s", addr, "x"+token))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.QueryRowContext(ctx, "SELECT 1").Scan(&n)
	wantStatus(t, err, codes.Unauthenticated, "bearer token")
	if _, err := login(ctx, addr, sqlUser, "wrong"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("login with a wrong password: %v", err)
	}
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) sql.Result {
	t.Helper()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res
}

func count(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}, table string) int64 {
	t.Helper()
	var n int64
	if err := q.QueryRow("SELECT count(*)::BIGINT FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDatabaseSQLTypes(t *testing.T) {
	addr, _ := sqlCluster(t, "direct")
	db := openDB(t, addr)
	utc := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Each DuckDB type the driver reads, and the Go value it gives.
	cases := []struct {
		sql  string
		want any
	}{
		{"CAST(-128 AS TINYINT)", int8(-128)},
		{"CAST(32767 AS SMALLINT)", int16(32767)},
		{"CAST(-2147483648 AS INTEGER)", int32(-2147483648)},
		{"CAST(9223372036854775807 AS BIGINT)", int64(9223372036854775807)},
		{"CAST(1.5 AS FLOAT)", float32(1.5)},
		{"CAST(3.141592653589793 AS DOUBLE)", 3.141592653589793},
		{"'héllo 🦆'", "héllo 🦆"},
		{"CAST('{\"a\": [1, null]}' AS JSON)", `{"a": [1, null]}`},
		{"CAST('550e8400-e29b-41d4-a716-446655440000' AS UUID)", "550e8400-e29b-41d4-a716-446655440000"},
		{"CAST('\\x00\\xFFabc' AS BLOB)", []byte{0, 0xff, 'a', 'b', 'c'}},
		{"true", true},
		{"DATE '2024-02-29'", utc("2024-02-29 00:00:00")},
		{"TIME '12:34:56.789012'", utc("1970-01-01 12:34:56.789012")},
		{"TIMESTAMP '2024-02-29 12:34:56.789012'", utc("2024-02-29 12:34:56.789012")},
		{"CAST('2024-02-29 12:34:56' AS TIMESTAMP_S)", utc("2024-02-29 12:34:56")},
		{"CAST('2024-02-29 12:34:56.123456789' AS TIMESTAMP_NS)", utc("2024-02-29 12:34:56.123456789")},
		{"TIMESTAMPTZ '2024-02-29 12:34:56.789+05:30'", utc("2024-02-29 07:04:56.789")},
		// Driver limit: decimals (HUGEINT is decimal128(38, 0) on the wire)
		// become float64, so digits past float64's 15-16 are lost.
		{"CAST(123456.789 AS DECIMAL(9,3))", 123456.789},
		{"CAST(12345678901234567890123456789 AS HUGEINT)", 1.2345678901234568e28},
		{"NULL", nil},
	}
	for _, c := range cases {
		var got any
		if err := db.QueryRow("SELECT " + c.sql).Scan(&got); err != nil {
			t.Errorf("%s: %v", c.sql, err)
			continue
		}
		if tm, ok := got.(time.Time); ok {
			if want, _ := c.want.(time.Time); !tm.Equal(want) {
				t.Errorf("%s: got %v, want %v", c.sql, tm, want)
			}
			continue
		}
		if fmt.Sprintf("%T %#v", got, got) != fmt.Sprintf("%T %#v", c.want, c.want) {
			t.Errorf("%s: got %T %#v, want %T %#v", c.sql, got, got, c.want, c.want)
		}
	}

	// Several types in one row, scanned into typed Go variables.
	var (
		id   int64
		name string
		w    float64
		day  time.Time
		ok   sql.NullBool
	)
	err := db.QueryRow("SELECT 7::BIGINT, 'mallard', 1.25::DOUBLE, DATE '2024-01-02', NULL::BOOLEAN").Scan(&id, &name, &w, &day, &ok)
	if err != nil || id != 7 || name != "mallard" || w != 1.25 || !day.Equal(utc("2024-01-02 00:00:00")) || ok.Valid {
		t.Fatalf("typed scan: %v %v %v %v %v: %v", id, name, w, day, ok, err)
	}
	// Driver limit: a decimal result cannot be scanned into an integer
	// (sum of a BIGINT is a HUGEINT, read as float64).
	var sum int64
	err = db.QueryRow("SELECT sum(range) FROM range(30000)").Scan(&sum)
	if err == nil || !strings.Contains(err.Error(), "converting driver.Value type float64") {
		t.Fatalf("sum(BIGINT) into an int64: %v, want the float64 conversion error", err)
	}
	if err := db.QueryRow("SELECT sum(range)::BIGINT FROM range(30000)").Scan(&sum); err != nil || sum != 449985000 {
		t.Fatalf("sum cast to BIGINT: %d, %v", sum, err)
	}

	// Driver limit: these Arrow types are not read at all; the query
	// fails with the driver's error naming the array type.
	unsupported := map[string]string{
		"CAST(255 AS UTINYINT)":                    "*array.Uint8",
		"CAST(65535 AS USMALLINT)":                 "*array.Uint16",
		"CAST(4294967295 AS UINTEGER)":             "*array.Uint32",
		"CAST(18446744073709551615 AS UBIGINT)":    "*array.Uint64",
		"INTERVAL '1 day'":                         "*array.MonthDayNanoInterval",
		"CAST('red' AS ENUM('red', 'green'))":      "*array.Dictionary",
		"[1, 2, 3]":                                "*array.List",
		"CAST([1, 2, 3] AS INTEGER[3])":            "*array.FixedSizeList",
		"{'a': 1, 'b': 'x'}":                       "*array.Struct",
		"MAP {'k': 1}":                             "*array.Map",
		"CAST(1 AS UNION(num INTEGER, s VARCHAR))": "*array.SparseUnion",
	}
	for q, arrayType := range unsupported {
		var got any
		err := db.QueryRow("SELECT " + q).Scan(&got)
		if err == nil || err.Error() != "type "+arrayType+": not supported" {
			t.Errorf("SELECT %s: got %v, %v; want the driver's %q", q, got, err, "type "+arrayType+": not supported")
		}
	}
}

func TestDatabaseSQLDistributed(t *testing.T) {
	for _, mode := range []string{"direct", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			addr, glob := sqlCluster(t, mode)
			ctx := context.Background()
			db := openDB(t, addr)
			scan := fmt.Sprintf("read_parquet('%s')", glob)
			queries := []struct {
				sql     string
				ordered bool
			}{
				{"SELECT id, g FROM " + scan, false},                              // scatter: one endpoint per task
				{"SELECT id, g FROM " + scan + " ORDER BY id", true},              // range-partitioned: ordered endpoints
				{"SELECT g, count(*) FROM " + scan + " GROUP BY g", false},        // stages: final aggregates on executors
				{"SELECT count(*), sum(id) FROM " + scan + " WHERE g = 1", false}, // scatter-merge: one endpoint
			}
			ref := ducktest.Open(t, filepath.Dir(glob))
			// The endpoints of each query as the coordinator plans them,
			// read with a Flight SQL client and the same login.
			token, err := login(ctx, addr, sqlUser, sqlPassword)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := flightsql.NewClient(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()),
				grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
			multi := 0
			for _, q := range queries {
				info, err := cl.Execute(actx, q.sql)
				if err != nil {
					t.Fatal(err)
				}
				if len(info.Endpoint) > 1 {
					multi++
				}
				// In direct mode a scatter query's endpoints name the
				// executors; the driver ignores locations and redeems
				// every ticket on its one connection, the coordinator,
				// which proxies them.
				for _, ep := range info.Endpoint {
					if direct := len(ep.Location) > 0; direct != (mode == "direct" && len(info.Endpoint) > 1) {
						t.Errorf("%s (%s): endpoint locations %v", q.sql, mode, ep.Location)
					}
				}
				got := sqlRows(t, db, q.sql)
				want := duckRows(t, ref, q.sql)
				if !q.ordered {
					slices.Sort(got)
					slices.Sort(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s (%s, %d endpoints): got %d rows, want %d", q.sql, mode, len(info.Endpoint), len(got), len(want))
				}
				if q.sql == queries[0].sql && len(got) != sqlFiles*sqlPerFile {
					t.Errorf("scatter read %d rows, want %d", len(got), sqlFiles*sqlPerFile)
				}
			}
			if multi < 3 {
				t.Fatalf("%d of %d queries had several endpoints: the test would prove nothing", multi, len(queries))
			}
		})
	}
}

// sqlRows reads a query through database/sql as one string per row.
func sqlRows(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return rowStrings(t, q, rows)
}

// duckRows is plain DuckDB's answer, as sqlRows gives Skein's.
func duckRows(t *testing.T, conn interface {
	QueryRows(context.Context, string, ...any) (*sql.Rows, error)
}, q string) []string {
	t.Helper()
	rows, err := conn.QueryRows(context.Background(), q)
	if err != nil {
		t.Fatalf("reference %s: %v", q, err)
	}
	return rowStrings(t, q, rows)
}

// rowStrings formats each row; a HUGEINT (DuckDB's driver gives *big.Int)
// is a float64, as the Flight SQL driver reads it.
func rowStrings(t *testing.T, q string, rows *sql.Rows) []string {
	t.Helper()
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if x, ok := v.(*big.Int); ok {
				vals[i], _ = new(big.Float).SetInt(x).Float64()
			}
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func TestDatabaseSQLStatements(t *testing.T) {
	addr, _ := sqlCluster(t, "direct")
	ctx := context.Background()
	db := openDB(t, addr)

	// Exec runs DDL and DML (as prepared statements, the driver's only
	// way), with the update count.
	mustExec(t, db, "CREATE TABLE ducks (id BIGINT, name VARCHAR, weight DOUBLE, tame BOOLEAN, n INTEGER)")
	res := mustExec(t, db, "INSERT INTO ducks VALUES (1, 'mallard', 1.1, true, 10), (2, 'eider', 2.2, false, 20)")
	if n, err := res.RowsAffected(); err != nil || n != 2 {
		t.Fatalf("RowsAffected: %d, %v", n, err)
	}
	if _, err := res.LastInsertId(); !errors.Is(err, fsdriver.ErrNotSupported) {
		t.Fatalf("LastInsertId: %v", err)
	}
	// Parameters of the types database/sql passes on: int64, float64,
	// string, bool.
	res = mustExec(t, db, "INSERT INTO ducks (id, name, weight, tame) VALUES (?, ?, ?, ?)", int64(3), "teal", 0.35, true)
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("insert with parameters: %d rows", n)
	}
	if n, _ := mustExec(t, db, "UPDATE ducks SET weight = weight * CAST(? AS DOUBLE) WHERE id >= ?", 2.0, int64(2)).RowsAffected(); n != 2 {
		t.Fatalf("update: %d rows", n)
	}

	// A prepared statement, executed with different parameters.
	stmt, err := db.PrepareContext(ctx, "SELECT name FROM ducks WHERE weight > ? AND tame = ? ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	for _, c := range []struct {
		min  float64
		tame bool
		want []string
	}{{1.0, true, []string{"mallard"}}, {0.5, false, []string{"eider"}}, {0.1, true, []string{"mallard", "teal"}}} {
		rows, err := stmt.QueryContext(ctx, c.min, c.tame)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			got = append(got, s)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("weight > %v, tame = %v: %v, want %v", c.min, c.tame, got, c.want)
		}
	}
	var name string
	if err := db.QueryRow("SELECT name FROM ducks WHERE name LIKE ?", "ei%").Scan(&name); err != nil || name != "eider" {
		t.Fatalf("LIKE ?: %q, %v", name, err)
	}

	// An empty result: no rows, the columns still named.
	rows, err := db.Query("SELECT id, name FROM ducks WHERE id < 0")
	if err != nil {
		t.Fatal(err)
	}
	if cols, err := rows.Columns(); !slices.Equal(cols, []string{"id", "name"}) {
		t.Fatalf("empty result columns %v, %v", cols, err)
	}
	if rows.Next() {
		t.Fatal("a row from an empty result")
	}
	_ = rows.Close()

	// Driver limits on parameters. database/sql hands the driver int64,
	// float64, bool, string, []byte or time.Time; the driver builds the
	// parameter batch with the types Skein declares and converts nothing.
	limits := []struct {
		sql  string
		arg  any
		want string
	}{
		// An INTEGER parameter is declared int32: an int64 does not fit the builder.
		{"SELECT name FROM ducks WHERE n = ?", int64(10), "invalid value type int64 for builder *array.Int32Builder"},
		// A parameter DuckDB cannot type is declared as Arrow's null type (ADBC's wildcard).
		{"SELECT ? AS x", int64(1), "unknown builder type *array.NullBuilder"},
		// A TIMESTAMP parameter: the driver has no timestamp builder case.
		{"SELECT ?::TIMESTAMP = TIMESTAMP '2024-01-01'", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), "unknown builder type *array.TimestampBuilder"},
		{"SELECT CAST(? AS BLOB)", []byte("teal"), "unknown builder type *array.BinaryBuilder"},
	}
	for _, l := range limits {
		var got any
		err := db.QueryRow(l.sql, l.arg).Scan(&got)
		if err == nil || err.Error() != l.want {
			t.Errorf("%s with %T: %v, %v; want the driver's %q", l.sql, l.arg, got, err, l.want)
		}
	}
	// The way around: cast the parameter to the type the value has.
	if err := db.QueryRow("SELECT name FROM ducks WHERE n = CAST(? AS BIGINT)", int64(10)).Scan(&name); err != nil || name != "mallard" {
		t.Fatalf("CAST(? AS BIGINT): %q, %v", name, err)
	}
	var x int64
	if err := db.QueryRow("SELECT CAST(? AS BIGINT) + 1", int64(41)).Scan(&x); err != nil || x != 42 {
		t.Fatalf("SELECT CAST(? AS BIGINT) + 1: %d, %v", x, err)
	}

	// Errors are gRPC statuses with DuckDB's message.
	_, err = db.Query("SELECT * FROM no_such_table")
	wantStatus(t, err, codes.NotFound, "no_such_table")
	_, err = db.Exec("CREATE TABLE ducks (x INTEGER)")
	wantStatus(t, err, codes.AlreadyExists, "ducks")
	_, err = db.Query("SELEC 1")
	wantStatus(t, err, codes.InvalidArgument, "syntax error")
	_, err = db.Query("SELECT * FROM read_csv('/etc/passwd')")
	wantStatus(t, err, codes.PermissionDenied, "")
	// A deadline interrupts a running query.
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err = db.QueryRowContext(dctx, "SELECT count(*) FROM range(1000000000000) AS a(x) WHERE x % 7 = 3").Scan(&x)
	if c := status.Code(err); c != codes.DeadlineExceeded && c != codes.Canceled {
		t.Fatalf("a query past its deadline: %v", err)
	}
}

func TestDatabaseSQLTransactions(t *testing.T) {
	addr, _ := sqlCluster(t, "direct")
	ctx := context.Background()
	db := openDB(t, addr)
	mustExec(t, db, "CREATE TABLE ledger (id BIGINT, amount DOUBLE)")

	// Rolled back: the transaction sees its own rows, no other connection
	// does, and none is left.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger VALUES (1, 10.0), (2, 20.0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger VALUES (?, ?)", int64(3), 30.0); err != nil {
		t.Fatal(err)
	}
	if n := count(t, tx, "ledger"); n != 3 {
		t.Fatalf("inside the transaction: %d rows, want 3", n)
	}
	if n := count(t, db, "ledger"); n != 0 {
		t.Fatalf("another connection sees %d uncommitted rows", n)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "ledger"); n != 0 {
		t.Fatalf("after rollback: %d rows", n)
	}

	// Committed: every connection sees it.
	tx, err = db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO ledger VALUES (4, 40.0)"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(t, db, "ledger"); n != 1 {
		t.Fatalf("after commit: %d rows", n)
	}

	// Two transactions on two connections: the second writer of the same
	// row conflicts (DuckDB's optimistic concurrency) and is Aborted.
	a, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExecContext(ctx, "UPDATE ledger SET amount = 41 WHERE id = 4"); err != nil {
		t.Fatal(err)
	}
	_, err = b.ExecContext(ctx, "UPDATE ledger SET amount = 42 WHERE id = 4")
	wantStatus(t, err, codes.Aborted, "onflict")
	_ = b.Rollback()
	if err := a.Commit(); err != nil {
		t.Fatal(err)
	}
	var amount float64
	if err := db.QueryRow("SELECT amount FROM ledger WHERE id = 4").Scan(&amount); err != nil || amount != 41 {
		t.Fatalf("after the conflict: %v, %v", amount, err)
	}

	// Driver limit: isolation levels and read-only transactions are refused by the driver.
	_, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if !errors.Is(err, fsdriver.ErrNotSupported) {
		t.Fatalf("BeginTx(Serializable): %v", err)
	}
}
