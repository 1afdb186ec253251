package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/ducktest"
)

// scaleData writes 6M rows as 8 Parquet files of 750k rows.
func scaleData(b testing.TB, dir string) string {
	b.Helper()
	conn := ducktest.Open(b, dir)
	for f := range 8 {
		ducktest.Exec(b, conn, fmt.Sprintf(`COPY (SELECT range AS id, (range * 7919) %% 1000 AS g, (range %% 977) * 0.5 AS x,
  'cust' || (range %% 5000) AS c FROM range(%d, %d)) TO '%s' (FORMAT parquet)`,
			f*750000, (f+1)*750000, filepath.Join(dir, fmt.Sprintf("f%d.parquet", f))))
	}
	return filepath.Join(dir, "*.parquet")
}

const scaleQuery = "SELECT g, count(*), sum(x), avg(x), min(c), max(id) FROM read_parquet('%s') WHERE x > 10 GROUP BY g"

// BenchmarkScaleOut runs a scan-aggregate over 6M Parquet rows on 1 and on
// 2 executors of one DuckDB thread each (the coordinator too has one).
func BenchmarkScaleOut(b *testing.B) {
	dir := b.TempDir()
	glob := scaleData(b, dir)
	for _, executors := range []int{1, 2} {
		b.Run(fmt.Sprintf("executors=%d", executors), func(b *testing.B) {
			c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
				AllowDirs: []string{dir}, Executors: executors, Threads: 1, TaskRows: 250000, ShutdownGrace: time.Second},
				zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Shutdown() })
			cl := dial(b, c.URI())
			q := fmt.Sprintf(scaleQuery, glob)
			b.ResetTimer()
			for range b.N {
				if rows, _ := fetchServer(b, cl, q); rows != 1000 {
					b.Fatalf("%d groups", rows)
				}
			}
		})
	}
}

// BenchmarkPlanning measures GetFlightInfo for a simple aggregate over the
// 8 files: the coordinator's planning (AST, Parquet metadata, rewrites,
// tickets) plus one round trip.
func BenchmarkPlanning(b *testing.B) {
	dir := b.TempDir()
	glob := scaleData(b, dir)
	for _, executors := range []int{0, 2} {
		b.Run(fmt.Sprintf("executors=%d", executors), func(b *testing.B) {
			c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
				AllowDirs: []string{dir}, Executors: executors, Threads: 1, ShutdownGrace: time.Second}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Shutdown() })
			cl := dial(b, c.URI())
			q := fmt.Sprintf("SELECT g, sum(x) FROM read_parquet('%s') GROUP BY g", glob)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				info, err := cl.Execute(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				// Tasks start as the FlightInfo is issued: read the answer
				// (untimed) so that the next planning does not compete
				// with this query's tasks for the cores.
				b.StopTimer()
				readInfo(b, cl, info)
				b.StartTimer()
			}
		})
	}
}
