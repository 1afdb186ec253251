package duck

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

func openTest(t *testing.T) (*DB, *Conn, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := Open(context.Background(), Config{Path: filepath.Join(dir, "t.duckdb"), AllowedDirs: []string{dir}, Threads: 2})
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

func TestSchemaMatchesStream(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	st, err := c.Prepare(ctx, allTypes)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer mem.AssertSize(t, 0)
	r, err := st.Query(ctx, mem, nil, DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
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
	t.Log(st.Schema)
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
	} {
		_, err := c.Exec(ctx, q)
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindPermission {
			t.Errorf("%s: want permission error, got %v (%#v)", q, err, de)
		}
	}
}
