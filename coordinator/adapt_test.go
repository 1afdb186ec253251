package coordinator

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// simExec is an executor of the scheduling simulation: one slot that
// reads rate rows a second, plus a fixed cost a task, and its first task
// cold (twice as long).
type simExec struct {
	id      string
	rate    float64
	cost    time.Duration
	ran     int
	pending []*taskRun // its batch not ended, in order
	ends    []time.Time
	rows    int64 // rows of the tasks it ended
}

// dispatch is one batch a slot was given: when, to whom, how many rows
// and tasks.
type dispatch struct {
	at    time.Duration
	exec  string
	rows  int64
	tasks int
}

// simulate runs a query of tasks of the given rows (homes alternating)
// through the scheduler's picks on executors, on a simulated clock: each
// free slot is given its next batch, runs it task after task, and says
// as each ends. It returns the batches given, when the last task ended
// and the scheduler.
func simulate(t *testing.T, rows []int64, execs ...*simExec) ([]dispatch, time.Duration, *scheduler) {
	t.Helper()
	s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	given, took := simulateOn(t, s, "q", rows, execs...)
	return given, took, s
}

// simulateOn is simulate on scheduler s, the query named qid; each
// executor's first task of it runs cold.
func simulateOn(t *testing.T, s *scheduler, qid string, rows []int64, execs ...*simExec) ([]dispatch, time.Duration) {
	t.Helper()
	tasks := make([]jobTask, len(rows))
	for i, n := range rows {
		tasks[i] = jobTask{handle: fmt.Sprint(i), home: execs[i%len(execs)].id, rows: n}
	}
	return simulateJob(t, s, qid, tasks, []jobStage{{n: len(tasks), spec: true}}, execs...)
}

// simulateJob is simulateOn for a query of any tasks and stages (a task
// of no known rows takes its executor's cost).
func simulateJob(t *testing.T, s *scheduler, qid string, tasks []jobTask, stages []jobStage, execs ...*simExec) ([]dispatch, time.Duration) {
	t.Helper()
	start := time.Unix(1e9, 0)
	clock := start
	s.now = func() time.Time { return clock }
	s.spawn = func(f func()) { f() }
	for _, e := range execs {
		e.ran = 0
	}
	s.add(qid, "u", tasks, stages)
	rows := len(tasks)
	slots := map[string]int{}
	for _, e := range execs {
		slots[e.id] = 1
	}
	var given []dispatch
	for range 10 * rows {
		for _, e := range execs {
			if len(e.pending) > 0 {
				continue
			}
			s.mu.Lock()
			runs := s.pick(e.id, slots, len(execs), clock, nil)
			s.mu.Unlock()
			d := dispatch{at: clock.Sub(start), exec: e.id}
			at := clock
			for _, r := range runs {
				n := s.jobs[qid].tasks[r.task].rows
				took := e.cost + time.Duration(float64(n)/e.rate*float64(time.Second))
				if e.ran++; e.ran == 1 {
					took *= 2
				}
				at = at.Add(took)
				e.pending, e.ends = append(e.pending, r), append(e.ends, at)
				d.rows += n
				d.tasks++
			}
			if len(runs) > 0 {
				given = append(given, d)
			}
		}
		var next *simExec
		for _, e := range execs {
			if len(e.pending) > 0 && (next == nil || e.ends[0].Before(next.ends[0])) {
				next = e
			}
		}
		if next == nil {
			break
		}
		clock = next.ends[0]
		r := next.pending[0]
		next.pending, next.ends = next.pending[1:], next.ends[1:]
		next.rows += s.jobs[qid].tasks[r.task].rows
		s.ended(r, nil, false)
	}
	if j := s.jobs[qid]; j.left != 0 {
		t.Fatalf("%d tasks never ended", j.left)
	}
	return given, clock.Sub(start)
}

// benchLayout is BenchmarkUnequalExecutors' scan at --task-rows 250000: 8
// files of 750,000 rows in row groups of 122,880, three row groups a
// slice (the last of each file 12,720 rows).
func benchLayout() []int64 {
	var rows []int64
	for range 8 {
		rows = append(rows, 368640, 368640, 12720)
	}
	return rows
}

// tailLayout is BenchmarkUnequalExecutors' scan as dist.slices cuts it:
// three row groups a slice, one in the last rows (tailShare).
func tailLayout() []int64 {
	var files []partition.File
	for f := range 8 {
		files = append(files, partition.File{Path: fmt.Sprint(f), RowGroups: []int64{122880, 122880, 122880, 122880, 122880, 122880, 12720}})
	}
	var rows []int64
	for _, s := range partition.SplitTail(files, 250000, tailRows(files, 250000, 2)) {
		rows = append(rows, s.Last-s.First+1)
	}
	return rows
}

// On executors of unequal speed, batch sizes follow each one's measured
// speed: the fast executor reads about its share of the rows (three
// quarters: speeds 3 and 1), batches are large while the query is young
// (but no more than batchSpan of the executor's work) and one task at
// the tail, and the slow executor takes no task it would
// end after the fast one ended the rest. The simulated query ends within
// 1.15 times the ideal (the fast executor's time alone over the total
// speed).
func TestBatchesFollowExecutorSpeed(t *testing.T) {
	for name, rows := range map[string][]int64{"bench slices": benchLayout(), "row groups": splitEach(benchLayout(), 122880), "tail split": tailLayout()} {
		t.Run(name, func(t *testing.T) {
			fast := &simExec{id: "fast", rate: 9e6, cost: 2 * time.Millisecond}
			slow := &simExec{id: "slow", rate: 3e6, cost: 6 * time.Millisecond}
			given, took, _ := simulate(t, rows, fast, slow)
			var total int64
			for _, n := range rows {
				total += n
			}
			if share := float64(fast.rows) / float64(total); share < 0.7 || share > 0.85 {
				t.Errorf("the fast executor read %.2f of the rows, want about 0.75", share)
			}
			// The ideal, as the benchmark's: the fast executor's time alone
			// over the total speed (4/3 of its own).
			_, alone, _ := simulate(t, rows, &simExec{id: "fast", rate: fast.rate, cost: fast.cost})
			ideal := alone * 3 / 4
			t.Logf("took %v, ideal %v (%.2fx); fast read %d rows; batches %v", took, ideal, float64(took)/float64(ideal), fast.rows, given)
			if float64(took) > 1.15*float64(ideal) {
				t.Errorf("simulated query took %v, over 1.15 times the ideal %v; batches %v", took, ideal, given)
			}
			// No batch is more than batchSpan of its executor's work, and
			// one task.
			for _, d := range given {
				rate := map[string]float64{"fast": fast.rate, "slow": slow.rate}[d.exec]
				if limit := rate*batchSpan.Seconds() + 368640; float64(d.rows) > limit {
					t.Errorf("%s given %d rows at once, over %.0f (%v of its work and a task)", d.exec, d.rows, limit, batchSpan)
				}
			}
			var young int64
			for _, d := range given[:len(given)/2] {
				young = max(young, d.rows)
			}
			last := given[len(given)-1]
			if young < 2*last.rows || young <= 368640 {
				t.Errorf("largest batch of the first half %d rows, last %d: want several tasks early, fewer rows at the tail; batches %v", young, last.rows, given)
			}
		})
	}
}

// splitEach cuts each task's rows into pieces of at most n.
func splitEach(rows []int64, n int64) []int64 {
	var out []int64
	for _, r := range rows {
		for ; r > n; r -= n {
			out = append(out, n)
		}
		out = append(out, r)
	}
	return out
}

// On real executors, one three times slower (the slowed hook), the
// scheduler measures each one's speed for the query from the rows of the
// slices it ran, and the fast one reads most of the rows; the answer,
// read at the locations the client was given, is whole.
func TestFastExecutorTakesMoreRows(t *testing.T) {
	dir := t.TempDir()
	glob := parquet(t, dir, 4, 40000) // 4 files of 20 row groups
	c, cl, _ := startCluster(t, 2, "direct", withHooks(slowed()), func(c *Config) { c.AllowDirs = append(c.AllowDirs, dir) })
	slowID, fastID := c.Executors()[0].ID(), c.Executors()[1].ID()
	info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	const n = 4 * 40000
	if rows, sum := readDirect(t, cl, info.Endpoint); rows != n || sum != n*(n-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	read := map[string]int64{}
	for task, attempts := range runs(t, cl, plan.QueryID, len(plan.Plan)) {
		read[okAt(attempts)] += explainedRows(t, plan.Plan[task].Slice)
	}
	if read[fastID]+read[slowID] != n || read[fastID] < 2*read[slowID] {
		t.Fatalf("the fast executor read %d rows, the slow one %d: want most at the fast one", read[fastID], read[slowID])
	}
	// The slow one may have run one task of the size measured, whose
	// speed the scheduler keeps as cold rather than measured (the first
	// on each executor): that one stands for it here. It may have run
	// none of that size (on a quiet machine the fast one takes all but
	// its first, smaller slices: 2 runs in 10): then the rows read above
	// are the measure, and the fast one's speed must still be known.
	s := c.dist.sched
	s.mu.Lock()
	j := s.jobs[plan.QueryID]
	fast, measured := j.rate(fastID), j.measured(fastID)
	var slow float64
	if sp := j.speed[slowID]; sp != nil {
		slow = sp.cold
		if j.measured(slowID) {
			slow = j.rate(slowID)
		}
	}
	s.mu.Unlock()
	if !measured || (slow > 0 && fast < 1.5*slow) {
		t.Fatalf("measured speeds (rows/s): fast %.0f (measured: %v), slow %.0f; want the fast one faster", fast, measured, slow)
	}
}

// explainedRows is how many rows an explained task's slice reads.
func explainedRows(t *testing.T, slice string) int64 {
	t.Helper()
	var first, last int64
	if _, err := fmt.Sscanf(slice[strings.LastIndex(slice, "["):], "[%d..%d]", &first, &last); err != nil {
		t.Fatalf("slice %q: %v", slice, err)
	}
	return last - first + 1
}

// A scan's tail is cut into small slices only on executors measured
// unequal: the scheduler remembers each executor's speed relative to the
// others' from the queries that measured them (in simulation: speeds 3
// and 1 are unequal from the second query on, not after one, whose
// measure alone may be noise; 1 and 1 never; an executor that measured
// nothing tells nothing).
func TestPaceRemembersUnequalExecutors(t *testing.T) {
	for _, c := range []struct {
		name string
		slow float64 // the second executor's rate
		want []bool  // unequal after each query
	}{{"3 to 1", 3e6, []bool{false, true, true}}, {"equal", 9e6, []bool{false, false, false}}} {
		t.Run(c.name, func(t *testing.T) {
			s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
			for i, want := range c.want {
				simulateOn(t, s, fmt.Sprint(i), benchLayout(), &simExec{id: "a", rate: 9e6, cost: 2 * time.Millisecond},
					&simExec{id: "b", rate: c.slow, cost: 2 * time.Millisecond})
				if got := s.unequal([]string{"a", "b"}); got != want {
					t.Errorf("unequal = %v after %d queries on speeds 9e6 and %.0g, want %v (pace %v)", got, i+1, c.slow, want, s.pace)
				}
				if s.unequal([]string{"a", "new"}) {
					t.Errorf("an executor and one never measured are unequal (pace %v)", s.pace)
				}
			}
		})
	}
	// One executor alone measures no pace.
	if _, _, s := simulate(t, benchLayout(), &simExec{id: "a", rate: 9e6, cost: 2 * time.Millisecond}); len(s.pace) != 0 {
		t.Errorf("one executor gave a pace: %v", s.pace)
	}
}

// On real executors: the first scan on a cluster is cut in slices of
// --task-rows to its end (nothing is measured yet: small tail slices
// would only add tasks); once queries have measured one executor three
// times slower, the next scan's last rows are cut a row group a slice.
func TestTailCutOnceExecutorsMeasuredUnequal(t *testing.T) {
	dir := t.TempDir()
	glob := parquet(t, dir, 4, 40000) // row groups of 2048 rows, slices of 4096
	c, cl, _ := startCluster(t, 2, "direct", withHooks(slowed()), func(c *Config) { c.AllowDirs = append(c.AllowDirs, dir) })
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	small := func() (tasks, n int) {
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if rows, _ := readDirect(t, cl, info.Endpoint); rows != 4*40000 {
			t.Fatalf("%d rows", rows)
		}
		plan := planOf(t, info)
		for _, task := range plan.Plan {
			if explainedRows(t, task.Slice) == 2048 { // a slice of the tail (the files end in 3136)
				n++
			}
		}
		return len(plan.Plan), n
	}
	if tasks, n := small(); n != 0 {
		t.Fatalf("the first scan has %d tail slices of its %d tasks, want none: no executor was measured", n, tasks)
	}
	measureUnequal(t, c, 5, func() { small() })
	if tasks, n := small(); n == 0 {
		t.Fatalf("the scan after one that measured a slowed executor has no tail slices in its %d tasks", tasks)
	}
}

// measureUnequal runs query up to n times more, each once the one before
// has ended, until c's two executors are measured unequal; it fails the
// test if they are not. A query's tasks all end before its last endpoint
// is read (reading waits for them), but the scheduler may note the last a
// moment after: it waits for that, then runs the next.
func measureUnequal(t *testing.T, c *Coordinator, n int, query func()) {
	t.Helper()
	ids := []string{c.Executors()[0].ID(), c.Executors()[1].ID()}
	for range n {
		ended := func() (bool, string) {
			s := c.dist.sched
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.active) == 0, "the query's tasks end"
		}
		if eventually(t, 30*time.Second, ended); c.dist.sched.unequal(ids) {
			return
		}
		query()
	}
	if !c.dist.sched.unequal(ids) {
		t.Fatalf("%d queries did not measure the slowed executor slower (pace %v)", n+1, c.dist.sched.pace)
	}
}

// On executors of unequal speed, the slow one leaves a stage's last
// unsized tasks (the final aggregates after a shuffle) to the fast one,
// which takes them in one message: each loads its inputs from the
// producers as soon as it is given, so the second's load runs beside
// the first's, rather than after it ends (BenchmarkUnequalExecutors'
// plan: 24 scan slices, then two consumers; there the slowed executor
// is measured 3 to 6 times slower, and leaves both from 3 on).
func TestFastExecutorTakesTheLeftTailAtOnce(t *testing.T) {
	fast := &simExec{id: "fast", rate: 9e6, cost: 2 * time.Millisecond}
	slow := &simExec{id: "slow", rate: 2e6, cost: 6 * time.Millisecond}
	var tasks []jobTask
	for i, n := range benchLayout() {
		tasks = append(tasks, jobTask{handle: fmt.Sprint(i), home: []string{"fast", "slow"}[i%2], rows: n})
	}
	tasks = append(tasks, jobTask{handle: "c0", home: "fast", stage: 1}, jobTask{handle: "c1", home: "slow", stage: 1})
	s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	given, _ := simulateJob(t, s, "q", tasks, []jobStage{{n: len(tasks) - 2, spec: true}, {inputs: []int{0}, n: 2}}, fast, slow)
	var consumers []dispatch
	for _, d := range given {
		if d.rows == 0 {
			consumers = append(consumers, d)
		}
	}
	if len(consumers) != 1 || consumers[0].exec != "fast" || consumers[0].tasks != 2 {
		t.Fatalf("the consumers were given as %+v, want both to the fast executor in one message", consumers)
	}
	// Equal executors share them, one each.
	a := &simExec{id: "a", rate: 9e6, cost: 2 * time.Millisecond}
	b := &simExec{id: "b", rate: 9e6, cost: 2 * time.Millisecond}
	for i := range tasks {
		tasks[i].home = []string{"a", "b"}[i%2]
	}
	s = newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	given, _ = simulateJob(t, s, "q", tasks, []jobStage{{n: len(tasks) - 2, spec: true}, {inputs: []int{0}, n: 2}}, a, b)
	consumers = nil
	for _, d := range given {
		if d.rows == 0 {
			consumers = append(consumers, d)
		}
	}
	if len(consumers) != 2 || consumers[0].exec == consumers[1].exec {
		t.Fatalf("the consumers were given as %+v on equal executors, want one to each", consumers)
	}
}

// Config.PlanSlots (benchmarks) plans as if the executors had that many
// slots: one executor of one thread finishes a grouped aggregate in one
// task, but planned for two slots it runs the plan two executors would
// (a shuffle to two final aggregates), which BenchmarkUnequalExecutors'
// same-work baseline needs. The answers are equal.
func TestPlanSlotsPlansForMoreExecutors(t *testing.T) {
	dir := t.TempDir()
	glob := parquet(t, dir, 4, 40000)
	q := fmt.Sprintf("SELECT id %% 1000 AS b, count(*) AS n, sum(id) AS s FROM read_parquet('%s') GROUP BY b", glob)
	want := duckRows(t, ducktest.Open(t, dir), q)
	for _, planSlots := range []int{0, 2} {
		_, cl, _ := startCluster(t, 1, "direct", func(c *Config) { c.AllowDirs, c.PlanSlots = append(c.AllowDirs, dir), planSlots })
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		var tasks []int
		for _, s := range planOf(t, info).Stages {
			tasks = append(tasks, s.Tasks)
		}
		if len(tasks) == 0 || tasks[len(tasks)-1] != max(planSlots, 1) {
			t.Errorf("PlanSlots %d on one executor: stages of %v tasks", planSlots, tasks)
		}
		sameAsDuck(t, cl, info, want)
	}
}

// A query's job is kept until its tickets expire and then forgotten, at
// the first pass expireEvery after the last look at the jobs.
func TestSchedulerForgetsJobsWhenTicketsExpire(t *testing.T) {
	s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	e := &simExec{id: "e", rate: 1e6, cost: time.Millisecond}
	simulateOn(t, s, "a", []int64{1000}, e)
	arrived := s.jobs["a"].arrived
	ttl := cluster.TaskTTL + time.Minute
	pass := func(at time.Time) {
		s.now = func() time.Time { return at }
		s.pass()
	}
	pass(arrived.Add(ttl))
	if s.jobs["a"] == nil {
		t.Fatal("a job forgotten before its tickets expired")
	}
	// Looked at the jobs just now: not again within expireEvery.
	pass(arrived.Add(ttl + expireEvery/2))
	if s.jobs["a"] == nil {
		t.Fatalf("jobs looked at again within %v", expireEvery)
	}
	pass(arrived.Add(ttl + expireEvery))
	if s.jobs["a"] != nil {
		t.Fatal("a job of expired tickets kept")
	}
}

// A run whose start call hangs at an executor that stops being heard
// from is abandoned at the next pass (its call cancelled, its task given
// to another), though passes look for such runs only when an executor
// they knew is gone; the live executor's run goes on.
func TestRunsAtAnExecutorGoneAreAbandoned(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1e18)
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	reg := newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop())
	reg.now = now
	for _, id := range []string{"a", "b"} {
		if err := reg.act(cluster.ActionRegister, cluster.Member{ID: id, Location: "grpc://" + id, Threads: 1, Zone: "UTC"}); err != nil {
			t.Fatal(err)
		}
	}
	life, stop := context.WithCancel(context.Background())
	s := newScheduler(reg, life, zerolog.Nop())
	s.now = now
	type call struct {
		loc string
		ctx context.Context
	}
	calls := make(chan call, 8)
	s.send = func(ctx context.Context, loc string, _ []string, _ func(int, int64, error)) error {
		calls <- call{loc, ctx}
		<-ctx.Done()
		return ctx.Err()
	}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	t.Cleanup(stop) // before the wait: the calls still hanging end
	s.spawn = func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	s.add("q", "u", []jobTask{{handle: "0", home: "a"}, {handle: "1", home: "b"}}, []jobStage{{n: 2, spec: true}})
	s.pass()
	at := map[string]context.Context{}
	for range 2 {
		c := <-calls
		at[c.loc] = c.ctx
	}
	s.pass() // nothing changed: both calls go on
	if at["grpc://a"].Err() != nil || at["grpc://b"].Err() != nil {
		t.Fatal("a call was cancelled while both executors live")
	}
	// b is heard from halfway, a not: a is dead after deadAfter.
	clock.Add(int64(reg.deadAfter() / 2))
	if err := reg.act(cluster.ActionHeartbeat, cluster.Member{ID: "b", Location: "grpc://b", Threads: 1, Zone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	clock.Add(int64(reg.deadAfter()/2) + int64(time.Millisecond))
	s.pass()
	select {
	case <-at["grpc://a"].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call to the executor no longer heard from was not cancelled")
	}
	if at["grpc://b"].Err() != nil {
		t.Error("the live executor's call was cancelled")
	}
}
