// Package ducktest gives tests a scratch in-memory DuckDB: to write the
// files a test reads (Parquet data sets) or to compute the reference
// answer a distributed one must equal.
package ducktest

import (
	"context"
	"database/sql"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/duck"
)

// Open returns a connection to a new in-memory DuckDB that may read and
// write files under dirs; it is closed when the test ends.
func Open(t testing.TB, dirs ...string) *duck.Conn {
	t.Helper()
	ctx := context.Background()
	db, err := duck.Open(ctx, duck.Config{AllowedDirs: dirs})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		_ = db.Close()
	})
	return conn
}

// Exec runs statements, failing the test on the first error.
func Exec(t testing.TB, conn *duck.Conn, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("%.200s: %v", s, err)
		}
	}
}

// Query runs q and gives its rows as a reader, and done, which releases
// it and closes its statement.
func Query(t testing.TB, conn *duck.Conn, q string) (rdr array.RecordReader, done func()) {
	t.Helper()
	ctx := context.Background()
	st, err := conn.Prepare(ctx, q)
	if err != nil {
		t.Fatalf("%.200s: %v", q, err)
	}
	if rdr, err = st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize); err != nil {
		_ = st.Close()
		t.Fatalf("%.200s: %v", q, err)
	}
	return rdr, func() {
		rdr.Release()
		_ = st.Close()
	}
}

// Strings runs q with args and gives its rows, each column as text (NULL
// as ""), failing the test on any error.
func Strings(t testing.TB, conn *duck.Conn, q string, args ...any) [][]string {
	t.Helper()
	rows, err := conn.QueryRows(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%.200s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%.200s: %v", q, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%.200s: %v", q, err)
	}
	return out
}
