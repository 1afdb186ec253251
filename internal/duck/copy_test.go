package duck

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

func TestParseCopy(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want *CopyTo
	}{
		{`COPY (SELECT 'a)' AS x /* ) */) TO '/d/out/' (FORMAT parquet, COMPRESSION 'zstd', OVERWRITE)`, &CopyTo{
			Query: `SELECT 'a)' AS x /* ) */`, Target: "/d/out/", Options: []CopyOption{
				{Name: "format", Value: "parquet", Kind: 'w'}, {Name: "compression", Value: "zstd", Kind: 's'}, {Name: "overwrite"}}}},
		{"copy ( select (1) ) to 'x' with (partition_by (a, b), row_group_size 10)", &CopyTo{
			Query: "select (1)", Target: "x", Options: []CopyOption{{Name: "partition_by", Kind: '?'}, {Name: "row_group_size", Value: "10", Kind: 'w'}}}},
		{"COPY (SELECT 1) TO 'x'", &CopyTo{Query: "SELECT 1", Target: "x"}},
		{"COPY t TO 'x' (FORMAT parquet)", nil},
		{"COPY (SELECT 1) TO E'x'", nil},
		{"COPY (SELECT 1) TO 'x' || 'y'", nil},
		{"COPY (SELECT 1) TO 'x'; SELECT 2", nil},
		{"COPY (SELECT 1) TO 'x' (FORMAT parquet,)", nil},
		{"COPY () TO 'x'", nil},
		{"COPY t FROM 'x'", nil},
	} {
		got, ok := ParseCopy(tc.sql)
		if ok != (tc.want != nil) || ok && !reflect.DeepEqual(got, *tc.want) {
			t.Errorf("ParseCopy(%q) = %+v, %v", tc.sql, got, ok)
		}
	}
}

// Two runs of one file's write keep apart: the first, interrupted after
// the second has moved its file into place, removes only its own. Runs
// wrote the file itself, and the first's interrupt, its executor resumed
// after a stop long enough for the task to run again elsewhere, had
// DuckDB remove the second's whole file (a tester's).
func TestRunsOfAFileWriteKeepApart(t *testing.T) {
	db, slow, dir := openTest(t)
	fast, err := db.Connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	path := filepath.Join(dir, "part.parquet")
	opts := []string{"FORMAT parquet"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sql, first := StartFileRun("SELECT range AS i, md5(range::VARCHAR) AS h FROM range(1000000000)", path, opts)
	done := make(chan error, 1)
	go func() {
		_, err := slow.Exec(ctx, sql)
		done <- err
	}()
	for { // the first run writes its file
		if _, err := os.Stat(first.Temp); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the first run ended before it wrote: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	sql2, second := StartFileRun("SELECT 42::BIGINT AS i, 'x' AS h", path, opts)
	if first.Temp == second.Temp || first.Temp == path {
		t.Fatalf("the runs write %s and %s, for %s", first.Temp, second.Temp, path)
	}
	st, err := fast.Prepare(context.Background(), sql2)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := st.Query(context.Background(), memory.DefaultAllocator, nil, DefaultBatchSize)
	if err != nil {
		t.Fatal(err)
	}
	rdr = second.Committing(rdr)
	var wrote int64
	for rdr.Next() {
		wrote += rdr.RecordBatch().Column(0).(*array.Int64).Value(0)
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	rdr.Release()
	_ = st.Close()
	if wrote != 1 {
		t.Fatalf("the second run wrote %d rows", wrote)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the first run was not interrupted")
	}
	first.Abandon()
	if n := count(t, fast, "SELECT count(*) FROM read_parquet('"+path+"') WHERE i = 42"); n != 1 {
		t.Fatalf("the part holds %d of the second run's rows", n)
	}
	if _, err := os.Stat(first.Temp); !os.IsNotExist(err) {
		t.Fatalf("the first run's file: %v", err)
	}
}
