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
// of one DuckDB thread each, one slowed to a third of the other's speed
// (executor.TestHooks.After: each of its tasks keeps its slot twice as
// long again as its SQL took), scheduled with work stealing and without
// (every task at its assigned executor, as before the scheduler). Each
// iteration runs, in turn, the fast executor alone, the slowed one alone,
// each of them alone again on the two-executor plan (Config.PlanSlots 2)
// and the two pairs; the medians are reported. One executor of one thread
// runs the query as one task (its key-range plan: one aggregate over all
// the files); two run 24 scan slices with partial aggregates (29 once
// they were measured unequal and the scan's tail is cut small), a
// shuffle and two final aggregates: more work (split-work, the fast
// executor's time on the two-executor plan over its time alone), which
// no scheduling can take back. So four ideals: the total work over the total speed if
// the slowed executor were exactly a third of the fast one (the fast
// executor's time alone times 3/4, steal/ideal), from the two executors'
// measured times alone (1/(1/alone + 1/slowalone), steal/solo-ideal: the
// slowed one's SQL may run slower than the fast one's), and the same two
// from their times on the two-executor plan (steal/split-ideal and
// steal/split-solo-ideal): what the schedule, the cores and the stage
// barrier lose, on the same work. split-work-cpu is split-work in this
// process's CPU time, which other load on the machine moves much less
// than the wall clock (steal-cpu-ms and alone-cpu-ms: each query's).
// contention is the fast executor's SQL speed (rows a second) on its
// tasks of the stealing pair that ran at least half their time beside
// the slowed one's SQL, over that on tasks that ran beside none (its
// first, cold, in neither): under 1, the two compete for the cores.
func BenchmarkUnequalExecutors(b *testing.B) {
	dir := b.TempDir()
	glob := scaleData(b, dir)
	var mu sync.Mutex
	var ran []sqlRun // the stealing pair's, in the iteration at hand
	start := func(executors, planSlots int, noStealing, slowFirst, record bool) *flightsql.Client {
		n := 0
		c, err := coordinator.Start(context.Background(), coordinator.Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(),
			AllowDirs: []string{dir}, Executors: executors, Threads: 1, TaskRows: 250000, ShutdownGrace: time.Second,
			NoStealing: noStealing, PlanSlots: planSlots, Executor: func(ec *executor.Config) {
				slow := n == 0 && slowFirst
				n++
				ec.Test = &executor.TestHooks{After: func(ctx context.Context, t cluster.Task, took time.Duration) error {
					if record {
						mu.Lock()
						ran = append(ran, sqlRun{slow: slow, end: time.Now(), took: took, rows: t.Last - t.First + 1})
						mu.Unlock()
					}
					if slow {
						cluster.Sleep(ctx, 2*took)
					}
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
		name       string
		cl         *flightsql.Client
		times, cpu []time.Duration
	}{{name: "alone", cl: start(1, 0, false, false, false)}, {name: "slowalone", cl: start(1, 0, false, true, false)},
		{name: "alonesplit", cl: start(1, 2, false, false, false)}, {name: "slowalonesplit", cl: start(1, 2, false, true, false)},
		{name: "steal", cl: start(2, 0, false, true, true)}, {name: "nosteal", cl: start(2, 0, true, true, false)}}
	var beside, apart [2]float64 // the fast executor's SQL: rows and seconds
	b.ResetTimer()
	for range b.N {
		for i := range runs {
			t0, c0 := time.Now(), processCPU()
			if rows, _ := fetchServer(b, runs[i].cl, q); rows != 1000 {
				b.Fatalf("%s: %d groups", runs[i].name, rows)
			}
			runs[i].times = append(runs[i].times, time.Since(t0))
			runs[i].cpu = append(runs[i].cpu, processCPU()-c0)
		}
		mu.Lock()
		first := -1 // the fast executor's first run, cold: not counted
		for i, r := range ran {
			if !r.slow && (first < 0 || r.end.Add(-r.took).Before(ran[first].end.Add(-ran[first].took))) {
				first = i
			}
		}
		for i, r := range ran {
			if r.slow || i == first {
				continue
			}
			switch f := overlap(r, ran); {
			case f >= 0.5:
				beside[0], beside[1] = beside[0]+float64(r.rows), beside[1]+r.took.Seconds()
			case f == 0:
				apart[0], apart[1] = apart[0]+float64(r.rows), apart[1]+r.took.Seconds()
			}
		}
		ran = nil
		mu.Unlock()
	}
	b.StopTimer()
	median := func(ts []time.Duration) time.Duration {
		s := slices.Clone(ts)
		slices.Sort(s)
		return s[len(s)/2]
	}
	both := func(fast, slow time.Duration) time.Duration {
		return time.Duration(1 / (1/fast.Seconds() + 1/slow.Seconds()) * float64(time.Second))
	}
	alone, slow := median(runs[0].times), median(runs[1].times)
	split, slowSplit := median(runs[2].times), median(runs[3].times)
	ideals := []struct {
		name string
		d    time.Duration
	}{{"ideal", alone * 3 / 4}, {"solo-ideal", both(alone, slow)},
		{"split-ideal", split * 3 / 4}, {"split-solo-ideal", both(split, slowSplit)}}
	for _, r := range runs {
		m := median(r.times)
		b.ReportMetric(float64(m.Milliseconds()), r.name+"-ms")
		if r.name == "steal" || r.name == "nosteal" {
			for _, i := range ideals {
				b.ReportMetric(float64(m)/float64(i.d), r.name+"/"+i.name)
			}
		}
	}
	b.ReportMetric(float64(split)/float64(alone), "split-work")
	// The same in CPU time (this process: coordinator and executors),
	// which other load on the machine changes much less than the wall
	// clock.
	b.ReportMetric(float64(median(runs[2].cpu))/float64(median(runs[0].cpu)), "split-work-cpu")
	b.ReportMetric(float64(median(runs[4].cpu).Milliseconds()), "steal-cpu-ms")
	b.ReportMetric(float64(median(runs[0].cpu).Milliseconds()), "alone-cpu-ms")
	if beside[1] > 0 && apart[1] > 0 {
		b.ReportMetric(beside[0]/beside[1]/(apart[0]/apart[1]), "contention")
	}
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sqlRun is one task's SQL at an executor of BenchmarkUnequalExecutors.
type sqlRun struct {
	slow bool
	end  time.Time
	took time.Duration
	rows int64
}

// overlap is the share of r's SQL time during which a slowed executor's
// SQL of all ran too.
func overlap(r sqlRun, all []sqlRun) float64 {
	if r.took <= 0 {
		return 0
	}
	var d time.Duration
	for _, o := range all {
		if o.slow { // times from r's end: r's SQL ran in [-r.took, 0], o's in [e-o.took, e]
			e := o.end.Sub(r.end)
			d += max(0, min(0, e)-max(-r.took, e-o.took))
		}
	}
	return float64(d) / float64(r.took)
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
