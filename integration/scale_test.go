package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
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

// BenchmarkUnequalExecutors runs the scale-out aggregate on two executors
// of one DuckDB thread each, one exactly a third of the other's speed,
// scheduled with work stealing and without (every task at its assigned
// executor, as before the scheduler). Both are paced by rows
// (executor.TestHooks.After): a scan task keeps its slot until
// rows/paceRows has passed at the fast executor and 3*rows/paceRows at
// the slowed one, sleeping out what its SQL left, so the speeds are
// exactly 3 to 1 whatever the two executors' DuckDB runs beside (paceRows
// is well below one thread's speed on this query; unpaced counts the
// stealing pair's scan tasks whose SQL outlasted their pace, which are
// not exact, and unpaced-ms by how much, an iteration). Tasks
// that read no file (the final aggregates) are not paced: the slowed
// executor keeps its slot twice as long again as their SQL took.
//
// Each iteration runs the fast executor alone on the two-executor plan
// (Config.PlanSlots 2: the same 24 scan slices, partial aggregates,
// shuffle and two final aggregates as the pair), then the two pairs; the
// medians are reported. ideal is the scan's rows over the pair's speed
// (rows/(paceRows*4/3)) plus the rest of the fast executor's time alone
// (its time less rows/paceRows: planning, the final aggregates, the
// answer), which a second executor does not shorten; split-ideal is its
// time alone times 3/4 (the rest shortened too). slow-share is the share
// of the scan's rows the slowed executor ran in the stealing pair (ideally
// 1/4), slow-speed its rows a second of slot time over the fast one's
// (1/3 when every task is paced), and tail-ms how long after the last
// scan task the stealing pair's query ended.
func BenchmarkUnequalExecutors(b *testing.B) {
	dir := b.TempDir()
	glob := scaleData(b, dir)
	var mu sync.Mutex
	var ran []sqlRun // the stealing pair's, in the iteration at hand
	// The stealing pair's scan tasks whose SQL outlasted their pace, and by
	// how much.
	var unpaced int
	var over time.Duration
	start := func(executors, planSlots int, noStealing, slowFirst, record bool) *flightsql.Client {
		n := 0
		c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
			AllowDirs: []string{dir}, Executors: executors, Threads: 1, TaskRows: 250000, ShutdownGrace: time.Second,
			NoStealing: noStealing, PlanSlots: planSlots, Executor: func(ec *executor.Config) {
				slow := n == 0 && slowFirst
				n++
				ec.Test = &executor.TestHooks{After: func(ctx context.Context, t cluster.Task, took time.Duration) error {
					rows := scaleTaskRows(t)
					pace := time.Duration(float64(rows) / paceRows * float64(time.Second))
					if slow {
						pace *= 3
					}
					slot := max(took, pace)
					if rows == 0 && slow {
						slot = 3 * took
					}
					mu.Lock()
					if record && rows > 0 && took > pace {
						unpaced, over = unpaced+1, over+took-pace
					}
					if record {
						ran = append(ran, sqlRun{slow: slow, end: time.Now().Add(slot - took), took: took, slot: slot, rows: rows})
					}
					mu.Unlock()
					cluster.Sleep(ctx, slot-took)
					return nil
				}}
			}}, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Shutdown() })
		return dial(b, c.URI())
	}
	q := fmt.Sprintf(scaleQuery, glob)
	runs := []struct {
		name  string
		cl    *flightsql.Client
		times []time.Duration
	}{{name: "alone", cl: start(1, 2, false, false, false)},
		{name: "steal", cl: start(2, 0, false, true, true)}, {name: "nosteal", cl: start(2, 0, true, true, false)}}
	var slowRows, fastRows, scanRows [2]float64 // rows and slot seconds; rows and iterations
	var fastSQL float64                         // the fast executor's SQL seconds
	var tails []time.Duration
	b.ResetTimer()
	for range b.N {
		for i := range runs {
			t0 := time.Now()
			if rows, _ := fetchServer(b, runs[i].cl, q); rows != 1000 {
				b.Fatalf("%s: %d groups", runs[i].name, rows)
			}
			runs[i].times = append(runs[i].times, time.Since(t0))
			if runs[i].name == "steal" {
				mu.Lock()
				var last time.Time
				for _, r := range ran {
					if r.rows == 0 {
						continue
					}
					if r.end.After(last) {
						last = r.end
					}
					scanRows[0] += float64(r.rows)
					if r.slow {
						slowRows[0], slowRows[1] = slowRows[0]+float64(r.rows), slowRows[1]+r.slot.Seconds()
					} else {
						fastRows[0], fastRows[1] = fastRows[0]+float64(r.rows), fastRows[1]+r.slot.Seconds()
						fastSQL += r.took.Seconds()
					}
				}
				scanRows[1]++
				tails = append(tails, t0.Add(runs[i].times[len(runs[i].times)-1]).Sub(last))
				ran = nil
				mu.Unlock()
			}
		}
	}
	b.StopTimer()
	median := func(ts []time.Duration) time.Duration {
		s := slices.Clone(ts)
		slices.Sort(s)
		return s[len(s)/2]
	}
	alone := median(runs[0].times)
	paced := time.Duration(scaleRows / paceRows * float64(time.Second))
	ideals := []struct {
		name string
		d    time.Duration
	}{{"ideal", paced*3/4 + alone - paced}, {"split-ideal", alone * 3 / 4}}
	for _, r := range runs {
		m := median(r.times)
		b.ReportMetric(float64(m.Milliseconds()), r.name+"-ms")
		if r.name == "steal" || r.name == "nosteal" {
			for _, i := range ideals {
				b.ReportMetric(float64(m)/float64(i.d), r.name+"/"+i.name)
			}
		}
	}
	b.ReportMetric(float64((alone - paced).Milliseconds()), "fixed-ms")
	b.ReportMetric(float64(median(tails).Milliseconds()), "tail-ms")
	b.ReportMetric(slowRows[0]/scanRows[0], "slow-share")
	b.ReportMetric(slowRows[0]/slowRows[1]/(fastRows[0]/fastRows[1]), "slow-speed")
	b.ReportMetric(scanRows[0]/scanRows[1]/scaleRows, "rows-read")
	b.ReportMetric(fastRows[0]/fastSQL/1e6, "sql-Mrows/s")
	mu.Lock()
	b.ReportMetric(float64(unpaced)/float64(b.N), "unpaced")
	b.ReportMetric(float64(over.Milliseconds())/float64(b.N), "unpaced-ms")
	mu.Unlock()
}

// The scale-out data's rows (scaleData: 8 files of 750k), and the fast
// executor's pace in BenchmarkUnequalExecutors: rows a second of a scan
// task's slot, well below one DuckDB thread's speed on scaleQuery here
// (about 8 to 15M rows a second on this machine's shared cores), so that
// the pace, not the SQL, sets each task's time.
const (
	scaleFileRows = 750000
	scaleRows     = 8 * scaleFileRows
	paceRows      = 1e6
)

// scaleTaskRows is the rows of scaleData a task reads: its slice's, or
// none for a task that reads no file (it reads exchanges).
func scaleTaskRows(t cluster.Task) int64 {
	switch {
	case len(t.Files) > 0:
		return int64(len(t.Files)) * scaleFileRows
	case t.File == "":
		return 0
	case t.Whole():
		return scaleFileRows
	}
	return t.Last - t.First + 1
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sqlRun is one task at an executor of BenchmarkUnequalExecutors: its
// SQL took took, its slot slot (paced), which ended at end.
type sqlRun struct {
	slow       bool
	end        time.Time
	took, slot time.Duration
	rows       int64
}

// BenchmarkTinyTasks runs a scan of 2M Parquet rows in row groups of 5,000
// as a task per row group (--task-rows 5000: 400 tasks) on two executors
// of one thread, with the scheduler's batched dispatch (a free slot given
// up to 16 tasks in one message while many are ready) and without (one
// task a message), in turn. It reports the coordinator-executor start
// calls per task and the per-task overhead: the time over the same scan
// in slices of 250,000 rows (8 tasks; 14 once the executors were measured
// unequal, when the scan's last quarter is cut in slices of 62,500 for the
// tail), divided by the tasks.
func BenchmarkTinyTasks(b *testing.B) {
	dir := b.TempDir()
	conn := ducktest.Open(b, dir)
	ducktest.Exec(b, conn, fmt.Sprintf(`COPY (SELECT range AS id, range %% 977 AS x FROM range(2000000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 5000)`, filepath.Join(dir, "tiny.parquet")))
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE x = 5", filepath.Join(dir, "tiny.parquet"))
	type config struct {
		name  string
		c     *coordinator.Coordinator
		cl    *flightsql.Client
		times []time.Duration
	}
	start := func(name string, taskRows int64, batch int) *config {
		c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
			AllowDirs: []string{dir}, Executors: 2, Threads: 1, TaskRows: taskRows, ShutdownGrace: time.Second,
			DispatchBatch: batch}, zerolog.Nop())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = c.Shutdown() })
		return &config{name: name, c: c, cl: dial(b, c.URI())}
	}
	configs := []*config{start("batched", 5000, 0), start("single", 5000, 1), start("big", 250000, 0)}
	b.ResetTimer()
	for range b.N {
		for _, cf := range configs {
			t0 := time.Now()
			if rows, _ := fetchServer(b, cf.cl, q); rows != 2000000/977+1 {
				b.Fatalf("%s: %d rows", cf.name, rows)
			}
			cf.times = append(cf.times, time.Since(t0))
		}
	}
	b.StopTimer()
	median := func(ts []time.Duration) time.Duration {
		s := slices.Clone(ts)
		slices.Sort(s)
		return s[len(s)/2]
	}
	big := median(configs[2].times)
	for _, cf := range configs[:2] {
		calls, tasks := counter(b, cf.c, "skein_scheduler_start_calls_total"), counter(b, cf.c, "skein_scheduler_tasks_started_total")
		b.ReportMetric(tasks/calls, cf.name+"-tasks/call")
		b.ReportMetric(float64((median(cf.times)-big).Microseconds())/(tasks/float64(b.N))/1000, cf.name+"-ms/task")
		b.ReportMetric(float64(median(cf.times).Milliseconds()), cf.name+"-ms")
	}
	b.ReportMetric(float64(big.Milliseconds()), "bigtasks-ms")
}

// counter is the value of one of a coordinator's counters.
func counter(b *testing.B, c *coordinator.Coordinator, name string) float64 {
	b.Helper()
	mfs, err := c.Metrics().Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	b.Fatalf("no counter %s", name)
	return 0
}
