package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
)

// BenchmarkSplitCost runs a query on one executor of one DuckDB thread
// planned for one slot (slots=1) and for two (slots=2, Config.PlanSlots):
// the same executor and cores, so the CPU per query (cpu-ms/op, this
// process: coordinator and executor) over the two is what the
// two-executor plan costs beyond the one-task plan. SKEIN_SPLITCOST_SF1
// names a TPC-H SF1 Parquet directory (lineitem/*.parquet) for the
// aggregates by order key (1.5M groups, in key ranges) and by part
// key (200,000 groups, shuffled), and Q1; without it only the scale
// aggregate runs.
func BenchmarkSplitCost(b *testing.B) {
	dir := b.TempDir()
	queries := []struct{ name, sql string }{{"scale", fmt.Sprintf(scaleQuery, scaleData(b, dir))}}
	allow := []string{dir}
	if sf1 := os.Getenv("SKEIN_SPLITCOST_SF1"); sf1 != "" {
		li := filepath.Join(sf1, "lineitem", "*.parquet")
		allow = append(allow, sf1)
		queries = append(queries,
			struct{ name, sql string }{"orderkey", fmt.Sprintf("SELECT l_orderkey, sum(l_quantity), count(*) FROM read_parquet('%s') GROUP BY l_orderkey", li)},
			struct{ name, sql string }{"partkey", fmt.Sprintf("SELECT l_partkey, sum(l_quantity), count(*) FROM read_parquet('%s') GROUP BY l_partkey", li)},
			struct{ name, sql string }{"q1", fmt.Sprintf(`SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice),
  sum(l_extendedprice * (1 - l_discount)), sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)), avg(l_quantity),
  avg(l_extendedprice), avg(l_discount), count(*) FROM read_parquet('%s') WHERE l_shipdate <= CAST('1998-09-02' AS date)
  GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus`, li)})
	}
	for _, q := range queries {
		for _, slots := range []int{1, 2} {
			b.Run(fmt.Sprintf("q=%s/slots=%d", q.name, slots), func(b *testing.B) {
				c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
					AllowDirs: allow, Executors: 1, Threads: 1, TaskRows: 250000, ShutdownGrace: time.Second,
					PlanSlots: slots}, zerolog.Nop())
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { _ = c.Shutdown() })
				cl := dial(b, c.URI())
				fetchServer(b, cl, q.sql) // warm: plan caches, footers
				if os.Getenv("SKEIN_SPLITCOST_EXPLAIN") != "" {
					info, err := cl.Execute(context.Background(), q.sql)
					if err != nil {
						b.Fatal(err)
					}
					b.Logf("%s", info.AppMetadata)
					readInfo(b, cl, info)
				}
				b.ResetTimer()
				c0 := processCPU()
				for range b.N {
					fetchServer(b, cl, q.sql)
				}
				b.ReportMetric(float64((processCPU()-c0).Milliseconds())/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
