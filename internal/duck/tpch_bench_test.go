package duck

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// BenchmarkQuery times one query through this package over TPC-H Parquet
// files behind views, as skein serve runs a query on its own DuckDB (2
// threads), without any RPC: SKEIN_BENCH_DATA is a directory of the
// files (bench/run.sh's, one directory per table), SKEIN_BENCH_SQL a file
// holding the query.
//
//   - prepare: Prepare alone (DuckDB binds and plans the query);
//   - run: Query of one statement prepared before (DuckDB plans a
//     statement over files again at every run: spare.go);
//   - statement: the two ways of a statement query's GetFlightInfo and
//     DoGet, alternated, with the median of each: Prepare then Query (two
//     plans), and PrepareAgain then Query and Keep (one plan, once the
//     statement was kept).
func BenchmarkQuery(b *testing.B) {
	data, file := os.Getenv("SKEIN_BENCH_DATA"), os.Getenv("SKEIN_BENCH_SQL")
	if data == "" || file == "" {
		b.Skip("SKEIN_BENCH_DATA and SKEIN_BENCH_SQL are not set")
	}
	text, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	query := string(text)
	ctx := context.Background()
	db, err := Open(ctx, Config{Path: filepath.Join(b.TempDir(), "b.duckdb"), AllowedDirs: []string{data}, Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	c, err := db.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for _, t := range []string{"customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"} {
		glob := QuoteString(filepath.Join(data, t, "*.parquet"))
		if _, err := c.Exec(ctx, "CREATE OR REPLACE VIEW "+t+" AS SELECT * FROM read_parquet("+glob+")"); err != nil {
			b.Fatal(err)
		}
	}
	run := func(st *Stmt) {
		r, err := st.Query(ctx, memory.DefaultAllocator, nil, DefaultBatchSize)
		if err != nil {
			b.Fatal(err)
		}
		for r.Next() {
		}
		if err := r.Err(); err != nil {
			b.Fatal(err)
		}
		r.Release()
	}
	prepare := func(prep func(context.Context, string) (*Stmt, error)) *Stmt {
		st, err := prep(ctx, query)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run("prepare", func(b *testing.B) {
		for b.Loop() {
			_ = prepare(c.Prepare).Close()
		}
	})
	b.Run("run", func(b *testing.B) {
		st := prepare(c.Prepare)
		defer st.Close()
		for b.Loop() {
			run(st)
		}
	})
	b.Run("statement", func(b *testing.B) {
		var twice, once []time.Duration
		for b.Loop() {
			start := time.Now()
			st := prepare(c.Prepare)
			run(st)
			_ = st.Close()
			twice = append(twice, time.Since(start))
			start = time.Now()
			st = prepare(c.PrepareAgain)
			run(st)
			c.Keep(st)
			once = append(once, time.Since(start))
		}
		median := func(d []time.Duration) float64 {
			slices.Sort(d)
			return float64(d[len(d)/2].Microseconds()) / 1000
		}
		b.ReportMetric(median(twice), "prepare+run-ms")
		b.ReportMetric(median(once), "again+run-ms")
	})
}
