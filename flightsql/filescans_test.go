package flightsql_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
)

// scansOf is a query that reads path by n scans of its own, each a
// read_parquet of it, and sums its ids.
func scansOf(path string, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("SELECT id FROM read_parquet('%s')", path)
	}
	return "SELECT CAST(sum(id) AS BIGINT) AS s FROM (" + strings.Join(parts, " UNION ALL ") + ")"
}

// DuckDB opens the first file of every file scan when it binds the scan
// and holds it until the statement ends: a UNION ALL of 18,000 scans of
// one small file held 18,017 descriptors of a coordinator's 20,000, and
// two such clients took the server out of them for everyone. A statement
// of more scans than --max-file-scans (counted in its text, and through
// the views, CTEs and macros it names) is refused before DuckDB binds it,
// on every way in, and takes no descriptors; a query of several scans
// runs, and a glob of many files is one scan.
func TestFileScansOfOneStatementAreBounded(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) {
		c.AllowDirs = []string{dir}
		c.MaxOpenFiles = -1 // the statement prepared below is held, not released
	})
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := ts.client(t)
	const files = 40
	for i := range files {
		path := filepath.Join(dir, fmt.Sprintf("f%02d.parquet", i))
		if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf("COPY (SELECT %d AS id FROM range(10)) TO '%s' (FORMAT parquet)", i, path)); err != nil {
			t.Fatal(err)
		}
	}
	one := filepath.Join(dir, "f01.parquet")

	const many = 1500 // over the default, 256
	before := processFiles(t)
	p, err := c.Prepare(ctx, scansOf(one, many))
	if err == nil {
		held := processFiles(t) - before
		_ = p.Close(ctx)
		t.Fatalf("%d scans prepared, holding %d descriptors", many, held)
	}
	wantCode(t, err, codes.InvalidArgument)
	if !strings.Contains(err.Error(), "--max-file-scans") {
		t.Errorf("the refusal does not name its flag: %v", err)
	}
	if held := processFiles(t) - before; held > 50 {
		t.Errorf("refused, and %d descriptors more", held)
	}
	_, err = c.Execute(ctx, scansOf(one, many))
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.GetExecuteSchema(ctx, scansOf(one, many))
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ExecuteUpdate(ctx, "CREATE TABLE t AS "+scansOf(one, many))
	wantCode(t, err, codes.InvalidArgument)

	// Through views, CTEs and macros: a view of 100 scans named three
	// times is 300.
	if _, err := c.ExecuteUpdate(ctx, "CREATE VIEW hundred AS "+scansOf(one, 100)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(ctx, "SELECT * FROM hundred UNION ALL SELECT * FROM hundred UNION ALL SELECT * FROM hundred")
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.Execute(ctx, "WITH h AS (SELECT * FROM hundred) SELECT * FROM h UNION ALL SELECT * FROM h UNION ALL SELECT * FROM h")
	wantCode(t, err, codes.InvalidArgument)
	if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf("CREATE MACRO scans100() AS TABLE %s", scansOf(one, 100))); err != nil {
		t.Fatal(err)
	}
	_, err = c.Execute(ctx, "SELECT * FROM scans100() UNION ALL SELECT * FROM scans100() UNION ALL SELECT * FROM scans100()")
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.Execute(ctx, "SELECT * FROM '"+one+"'"+strings.Repeat(", '"+one+"'", many))
	wantCode(t, err, codes.InvalidArgument)

	// Within the bound a query runs, and the server answers.
	_, recs := query(t, ctx, c, scansOf(one, 50))
	if got := int64At(t, recs); got != 50*10 {
		t.Errorf("50 scans: %d, want 500", got)
	}
	_, recs = query(t, ctx, c, "SELECT CAST(sum(s) AS BIGINT) FROM (SELECT * FROM hundred UNION ALL SELECT * FROM hundred)")
	if got := int64At(t, recs); got != 2*100*10 {
		t.Errorf("the view twice: %d, want 2000", got)
	}
	// One scan of a glob of many files (DuckDB opens them in turn).
	glob := filepath.Join(dir, "f*.parquet")
	_, recs = query(t, ctx, c, fmt.Sprintf("SELECT CAST(sum(id) AS BIGINT) FROM read_parquet('%s')", glob))
	if got := int64At(t, recs); got != 10*files*(files-1)/2 {
		t.Errorf("the glob: %d, want %d", got, 10*files*(files-1)/2)
	}
}

// A client's SQL text longer than --max-sql-bytes is refused before it is
// scanned or parsed (each costs a hundred times and more the text's size
// in memory), on every way in; one at the bound runs.
func TestSQLTextIsBounded(t *testing.T) {
	const max = 4096
	ts := startServer(t, func(c *coordinator.Config) { c.MaxSQLBytes = max })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ts.client(t)
	// SELECT 1 AS a, 1 AS a, ... padded with blanks to n bytes.
	sized := func(n int) string {
		q := "SELECT 1 AS a" + strings.Repeat(", 1 AS a", (n-13)/8)
		return q + strings.Repeat(" ", n-len(q))
	}
	long := sized(max + 1)
	_, err := c.Execute(ctx, long)
	wantCode(t, err, codes.InvalidArgument)
	if err != nil && !strings.Contains(err.Error(), "--max-sql-bytes") {
		t.Errorf("the refusal does not name its flag: %v", err)
	}
	_, err = c.Prepare(ctx, long)
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.GetExecuteSchema(ctx, long)
	wantCode(t, err, codes.InvalidArgument)
	_, err = c.ExecuteUpdate(ctx, "CREATE TABLE t AS "+sized(max-17))
	wantCode(t, err, codes.InvalidArgument)
	if q := sized(max); len(q) != max {
		t.Fatalf("a text of %d bytes, want %d", len(q), max)
	} else if _, recs := query(t, ctx, c, q); len(recs) == 0 || recs[0].NumCols() != int64((max-13)/8+1) {
		t.Errorf("a text at the bound: %d batches", len(recs))
	}
}

// An ingest's names become SQL too: longer than 1 KB is refused before
// anything is parsed or loaded; at 1 KB the table is made.
func TestIngestNamesAreBounded(t *testing.T) {
	ts := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := ts.client(t)
	ingest := func(table string) error {
		params := int64Param(t, "a", 1)
		rdr, err := array.NewRecordReader(params.Schema(), []arrow.RecordBatch{params})
		if err != nil {
			t.Fatal(err)
		}
		defer rdr.Release()
		_, err = c.ExecuteIngest(ctx, rdr, ingestOpts(table))
		return err
	}
	long := strings.Repeat("t", 1025)
	err := ingest(long)
	wantCode(t, err, codes.InvalidArgument)
	if err != nil && !strings.Contains(err.Error(), "at most 1024 bytes") {
		t.Errorf("the refusal does not say the bound: %v", err)
	}
	if err := ingest(long[:1024]); err != nil {
		t.Fatalf("a name of 1024 bytes: %v", err)
	}
}
