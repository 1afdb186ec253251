package coordinator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/ducktest"
)

// holder holds some tasks of an executor (its test hook): a held task
// waits until a value on release lets it go (closing release lets all
// go), or until it is stopped (its ctx: dropped, cancelled).
type holder struct {
	hold    func(t cluster.Task) bool
	release chan struct{}
	held    chan cluster.Task // each held task as it starts waiting
}

func newHolder(hold func(cluster.Task) bool) *holder {
	return &holder{hold: hold, release: make(chan struct{}), held: make(chan cluster.Task, 1000)}
}

func (h *holder) hooks() *executor.TestHooks {
	return &executor.TestHooks{Before: func(ctx context.Context, t cluster.Task) error {
		if h == nil || !h.hold(t) {
			return nil
		}
		h.held <- t
		select {
		case <-h.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}
}

// firstOnly holds the first task it is asked about, and no other.
func firstOnly() func(cluster.Task) bool {
	var held atomic.Bool
	return func(cluster.Task) bool { return held.CompareAndSwap(false, true) }
}

// slowed makes an executor about three times slower: each task, once its
// SQL has run, keeps its slot twice as long again (at least 50 ms).
func slowed() *executor.TestHooks {
	return &executor.TestHooks{After: func(ctx context.Context, _ cluster.Task, took time.Duration) error {
		if !cluster.Sleep(ctx, max(2*took, 50*time.Millisecond)) {
			return ctx.Err()
		}
		return nil
	}}
}

// withHooks gives the i-th in-process executor hooks[i] (nil: none).
func withHooks(hooks ...*executor.TestHooks) func(*Config) {
	return func(c *Config) {
		i := 0
		c.Executor = func(ec *executor.Config) {
			if i < len(hooks) {
				ec.Test = hooks[i]
			}
			i++
		}
	}
}

// waitHeld waits until a held task has started waiting.
func waitHeld(t *testing.T, h *holder) cluster.Task {
	t.Helper()
	select {
	case task := <-h.held:
		return task
	case <-time.After(30 * time.Second):
		t.Fatal("no task was held")
	}
	return cluster.Task{}
}

// runs is each task's attempts in skein.tasks, "executor status" in
// attempt order, once every task has an ok attempt.
func runs(t *testing.T, cl *flightsql.Client, qid string, tasks int) map[int][]string {
	t.Helper()
	var out map[int][]string
	eventually(t, 30*time.Second, func() (bool, string) {
		all := queryString(t, context.Background(), cl, fmt.Sprintf(`SELECT string_agg(task_id || ' ' || executor || ' ' || status, ',' ORDER BY task_id, attempt)
FROM skein.tasks WHERE query_id = '%s'`, qid))
		out = map[int][]string{}
		ok := map[int]bool{}
		for _, a := range strings.Split(all, ",") {
			var task int
			var exec, st string
			if _, err := fmt.Sscan(a, &task, &exec, &st); err == nil {
				out[task] = append(out[task], exec+" "+st)
				ok[task] = ok[task] || st == "ok"
			}
		}
		return len(ok) == tasks && !slices.Contains(mapValues(ok), false), fmt.Sprintf("attempts %q, want an ok one for each of %d tasks", all, tasks)
	})
	return out
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// okAt is the executor of a task's ok attempt.
func okAt(attempts []string) string {
	for _, a := range attempts {
		if exec, ok := strings.CutSuffix(a, " ok"); ok {
			return exec
		}
	}
	return ""
}

// readDirect reads every endpoint at the first location it names (the
// task's home executor, whichever executor ran it), summing ids.
func readDirect(t *testing.T, cl *flightsql.Client, eps []*flight.FlightEndpoint) (rows, sum int64) {
	t.Helper()
	for _, ep := range eps {
		n, s := readAll(t, fetchDirect(t, cl, ep))
		rows, sum = rows+n, sum+s
	}
	return rows, sum
}

// heldScan is a scan planned on two executors, the first of which holds
// its first task (held) until the test releases it (slow.release) or it
// is stopped.
type heldScan struct {
	cl             *flightsql.Client
	info           *flight.FlightInfo
	plan           explanation
	slow           *holder
	held           cluster.Task
	slowID, fastID string
}

func startHeldScan(t *testing.T, opts ...func(*Config)) heldScan {
	t.Helper()
	h := heldScan{slow: newHolder(firstOnly())}
	c, cl, glob := startCluster(t, 2, "direct", append([]func(*Config){withHooks(h.slow.hooks())}, opts...)...)
	h.cl, h.slowID, h.fastID = cl, c.Executors()[0].ID(), c.Executors()[1].ID()
	var err error
	if h.info, err = cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)); err != nil {
		t.Fatal(err)
	}
	h.plan = planOf(t, h.info)
	h.held = waitHeld(t, h.slow)
	return h
}

// With one executor held on a task, the other takes every task queued for
// it (it steals them), and a client reading the locations it was given
// gets every row: the held executor relays the stolen tasks' rows from the
// executor that ran them.
func TestStealingMovesTasksToTheFreeExecutor(t *testing.T) {
	// One task a message: none waits at the held executor behind the held one.
	h := startHeldScan(t, func(c *Config) { c.DispatchBatch = 1 })
	cl, info, plan, slowID, fastID := h.cl, h.info, h.plan, h.slowID, h.fastID
	// Every task but the held one ran at the other executor, its own
	// and those assigned to the held one.
	eventually(t, 30*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(DISTINCT task_id) FROM skein.tasks WHERE query_id = '%s' AND executor = '%s' AND status = 'ok'`, plan.QueryID, fastID))
		return n >= int64(len(plan.Plan)-1), fmt.Sprintf("%d of %d tasks ran at the free executor", n, len(plan.Plan)-1)
	})
	close(h.slow.release)
	stolen := 0
	for task, attempts := range runs(t, cl, plan.QueryID, len(plan.Plan)) {
		if plan.Plan[task].Executor == slowID && task != h.held.Task && okAt(attempts) == fastID {
			stolen++
		}
	}
	homed := 0
	for _, p := range plan.Plan {
		if p.Executor == slowID {
			homed++
		}
	}
	if homed < 2 || stolen != homed-1 {
		t.Fatalf("%d tasks stolen of the %d assigned to the held executor, want all but the held one", stolen, homed)
	}
	if rows, sum := readDirect(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
}

// A task that runs much longer than its stage's others, while an executor
// is idle, runs again there; the first run to end wins and the other is
// stopped (it was held until stopped). The answer is whole, read at the
// locations the client was given.
func TestStragglerRunsAgain(t *testing.T) {
	h := startHeldScan(t)
	cl, info, plan, held, slowID, fastID := h.cl, h.info, h.plan, h.held, h.slowID, h.fastID
	var attempts map[int][]string
	eventually(t, 30*time.Second, func() (bool, string) {
		attempts = runs(t, cl, plan.QueryID, len(plan.Plan))
		a := attempts[held.Task]
		return slices.Contains(a, slowID+" cancelled") && slices.Contains(a, fastID+" ok"),
			fmt.Sprintf("the held task's attempts %q, want it stopped at %s and ok at %s", a, slowID, fastID)
	})
	if got := recorded(t, context.Background(), cl, plan.QueryID); got != fmt.Sprintf("ok %d", total) {
		t.Fatalf("recorded %q", got)
	}
	if rows, sum := readDirect(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
}

// Staged queries (shuffles, broadcasts, joins) give DuckDB's answer on
// unequal executors (one three times slower): producers run wherever a
// slot frees, stolen or run again as stragglers, and consumers fetch
// their partitions through the producers' assigned executors.
func TestStagedQueriesOnUnequalExecutors(t *testing.T) {
	for name, q := range stagedFaultQueries {
		for _, mode := range []string{"direct", "proxy"} {
			t.Run(name+" "+mode, func(t *testing.T) {
				_, cl, ref := stagedCluster(t, mode, withHooks(slowed()))
				sameAsDuck(t, cl, staged(t, cl, q), duckRows(t, ref, q))
			})
		}
	}
}

// sameAsDuck reads every endpoint of info at the first location it
// names and checks the rows, sorted, are want (DuckDB's, see duckRows).
func sameAsDuck(t *testing.T, cl *flightsql.Client, info *flight.FlightInfo, want []string) {
	t.Helper()
	var got []string
	for _, ep := range info.Endpoint {
		r := fetchDirect(t, cl, ep)
		got = append(got, rowStrings(t, r)...)
		r.Release()
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(got), len(want), first(got), first(want))
	}
}

// Queries share the executors' slots: a short query planned while a long
// one holds every slot gets the next free one, ahead of the long query's
// queued tasks, and completes while the long one still runs.
func TestShortQueryCompletesWhileALongOneRuns(t *testing.T) {
	dir := t.TempDir()
	long := func(task cluster.Task) bool { return !strings.HasPrefix(task.Slice.File, dir) }
	// One holder for both executors: a value on release lets one long
	// task go.
	h := newHolder(long)
	_, cl, glob := startCluster(t, 2, "direct", withHooks(h.hooks(), h.hooks()),
		func(c *Config) { c.AllowDirs = append(c.AllowDirs, dir) })
	short := parquet(t, dir, 1, 10000)
	ctx := context.Background()
	linfo, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	lplan := planOf(t, linfo)
	waitHeld(t, h)
	waitHeld(t, h) // both slots hold a long task
	sinfo, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", short))
	if err != nil {
		t.Fatal(err)
	}
	splan := planOf(t, sinfo)
	if len(splan.Plan) < 2 {
		t.Fatalf("the short query has %d tasks, want several", len(splan.Plan))
	}
	h.release <- struct{}{} // one long task ends: its slot is free
	eventually(t, 30*time.Second, func() (bool, string) {
		got := recorded(t, ctx, cl, splan.QueryID)
		return got == "ok 10000", fmt.Sprintf("short query recorded %q", got)
	})
	// The long query still runs: at most one of its tasks has ended (the
	// one let go), one is held, and the rest wait for slots.
	done := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, lplan.QueryID))
	if got := recorded(t, ctx, cl, lplan.QueryID); !strings.HasPrefix(got, "running") || done > 1 {
		t.Fatalf("long query recorded %q with %d tasks done while the short one ran", got, done)
	}
	if rows, sum := readDirect(t, cl, sinfo.Endpoint); rows != 10000 || sum != 10000*9999/2 {
		t.Fatalf("short query: rows %d sum %d", rows, sum)
	}
	close(h.release)
	if rows, sum := readDirect(t, cl, linfo.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("long query: rows %d sum %d", rows, sum)
	}
}

// With --max-running-queries 1, a query planned while another runs waits
// in the admission queue (skein.queries: no admitted_at yet) and runs once
// the first has ended.
func TestAdmissionQueuesQueries(t *testing.T) {
	// Every task is held until release: none of the first query's ends
	// (so none runs again as a straggler) while the second is planned.
	first := newHolder(func(cluster.Task) bool { return true })
	_, cl, glob := startCluster(t, 2, "direct", withHooks(first.hooks(), first.hooks()), func(c *Config) { c.MaxRunningQueries = 1 })
	ctx := context.Background()
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	ainfo, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	a := planOf(t, ainfo).QueryID
	waitHeld(t, first)
	binfo, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	b := planOf(t, binfo).QueryID
	admission := func(id string) string {
		return queryString(t, ctx, cl, fmt.Sprintf(`SELECT CASE WHEN admitted_at IS NULL THEN 'queued' ELSE 'admitted' END FROM skein.queries WHERE query_id = '%s'`, id))
	}
	if got := admission(a) + " " + admission(b); got != "admitted queued" {
		t.Fatalf("admission %q, want the first admitted and the second queued", got)
	}
	if n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s'`, b)); n != 0 {
		t.Fatalf("%d tasks of the queued query ran", n)
	}
	close(first.release)
	if rows, sum := readDirect(t, cl, binfo.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("queued query: rows %d sum %d", rows, sum)
	}
	if rows, sum := readDirect(t, cl, ainfo.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("first query: rows %d sum %d", rows, sum)
	}
	// The second was admitted after the first's tasks had all ended (each
	// at its first ok run: a straggler's other run may end after), and
	// none of its tasks started before.
	eventually(t, 30*time.Second, func() (bool, string) {
		order := queryString(t, ctx, cl, fmt.Sprintf(`SELECT concat_ws(' ',
  (SELECT max(f) FROM (SELECT min(finished_at) AS f FROM skein.tasks WHERE query_id = '%[1]s' AND status = 'ok' GROUP BY task_id)) <= b.admitted_at,
  (SELECT min(started_at) FROM skein.tasks WHERE query_id = '%[2]s') >= b.admitted_at,
  b.queued_ms > 0, b.status)
FROM skein.queries b WHERE b.query_id = '%[2]s'`, a, b))
		return order == "true true true ok", fmt.Sprintf("first ended before admission, second started after, queued time, status: %q", order)
	})
}

// Admission in arrival order, within the limits: a user at their own
// limit does not hold up the others.
func TestAdmissionLimits(t *testing.T) {
	s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	s.limit, s.perUser = 3, 1
	one := []jobTask{{handle: "h", home: "e"}}
	stage := []jobStage{{n: 1}}
	var queued []bool
	for i, user := range []string{"a", "a", "b", "c", "d"} {
		queued = append(queued, s.add(fmt.Sprintf("q%d", i), user, one, stage))
	}
	if want := []bool{false, true, false, false, true}; !slices.Equal(queued, want) {
		t.Fatalf("queued %v, want %v", queued, want)
	}
	// q0 ends: in arrival order, q1 goes next (a runs nothing now), and
	// the limit of 3 keeps q4 waiting.
	s.mu.Lock()
	s.done(s.jobs["q0"], 0, "e", time.Millisecond)
	s.admit(time.Now())
	admitted := []bool{!s.jobs["q1"].admitted.IsZero(), !s.jobs["q4"].admitted.IsZero()}
	s.mu.Unlock()
	if !slices.Equal(admitted, []bool{true, false}) {
		t.Fatalf("after the first ended: q1, q4 admitted %v, want q1 only", admitted)
	}
}

// A free slot goes to the user running the fewest tasks: a user's many
// queries, each admitted running none as the one before it ended, came
// before another user's query that arrived after them (a tester's: 300
// unread lookups of one user kept another's query waiting 30 s).
func TestFreeSlotGoesToTheUserRunningFewest(t *testing.T) {
	s := newScheduler(newRegistry(cluster.NewSecret(), time.Second, "UTC", zerolog.Nop()), context.Background(), zerolog.Nop())
	s.perUser = 2
	one := []jobTask{{handle: "h", home: "e"}}
	stage := []jobStage{{n: 1}}
	for i, user := range []string{"bob", "bob", "bob", "eve"} {
		s.add(fmt.Sprintf("q%d", i), user, one, stage)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	slots := map[string]int{"e": 2}
	var order []string
	for range 2 {
		runs := s.pick("e", slots, 2, time.Now(), nil)
		if len(runs) != 1 {
			t.Fatalf("a free slot was given %d tasks", len(runs))
		}
		order = append(order, runs[0].job.id)
	}
	// q0 first (no user runs anything; it came first), then eve's q3:
	// bob runs a task, eve none.
	if want := []string{"q0", "q3"}; !slices.Equal(order, want) {
		t.Fatalf("slots went to %v, want %v", order, want)
	}
}

// An executor that joins while a query runs takes its queued tasks, and
// runs again those held up at the other.
func TestExecutorJoinsMidQuery(t *testing.T) {
	slow := newHolder(firstOnly())
	c, cl, glob := startCluster(t, 1, "direct", withHooks(slow.hooks()))
	info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	waitHeld(t, slow)
	joined, err := executor.Start(context.Background(), executor.Config{Addr: "127.0.0.1:0", Coordinator: c.URI(),
		Secret: c.dist.secret, AllowDirs: []string{filepath.Dir(glob)}, Threads: 1, Heartbeat: 100 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(joined.Shutdown)
	eventually(t, 30*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(DISTINCT task_id) FROM skein.tasks WHERE query_id = '%s' AND executor = '%s' AND status = 'ok'`, plan.QueryID, joined.ID()))
		// Those queued at the coordinator, at least half (the held one
		// was given a few with its own); the rest run again there as
		// stragglers, or at the held one once it is free.
		return 2*n >= int64(len(plan.Plan)), fmt.Sprintf("%d of %d tasks ran at the executor that joined", n, len(plan.Plan))
	})
	runs(t, cl, plan.QueryID, len(plan.Plan)) // each ended, the held one never let go
	close(slow.release)
	if rows, sum := readDirect(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
}

// An executor that drains while a query runs takes no task after (it
// runs those it was given): the other runs the rest, and the answer is
// whole.
func TestExecutorDrainsMidQuery(t *testing.T) {
	slow := newHolder(firstOnly())
	c, cl, glob := startCluster(t, 2, "direct", withHooks(slow.hooks()))
	draining := c.Executors()[0]
	info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	waitHeld(t, slow)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		draining.Drain(context.Background())
	}()
	var drainSeen time.Time
	eventually(t, 10*time.Second, func() (bool, string) {
		drainSeen = time.Now()
		for _, m := range c.reg.ready() {
			if m.ID == draining.ID() {
				return false, "the executor is not draining yet"
			}
		}
		return true, ""
	})
	close(slow.release)
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
		t.Fatalf("rows %d sum %d", rows, sum)
	}
	<-drained
	runs(t, cl, plan.QueryID, len(plan.Plan))
	late := queryString(t, context.Background(), cl, fmt.Sprintf(`SELECT string_agg(task_id::VARCHAR, ',') FROM skein.tasks
WHERE query_id = '%s' AND executor = '%s' AND started_at >= '%s'::TIMESTAMPTZ`, plan.QueryID, draining.ID(), drainSeen.Format(time.RFC3339Nano)))
	if late != "" {
		t.Fatalf("tasks %s started at the executor after it was draining", late)
	}
	if n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND executor <> '%s' AND status = 'ok'`,
		plan.QueryID, draining.ID())); n < int64(len(plan.Plan))-2 {
		t.Fatalf("%d tasks ran at the other executor, want the rest", n)
	}
}

// schedulerOf is a scheduler over registered executors of one slot each
// whose start calls hold their tasks until the test ends: its state is
// what a pass decided.
func schedulerOf(t *testing.T, execs ...string) *scheduler {
	t.Helper()
	reg := newRegistry(cluster.NewSecret(), time.Minute, "UTC", zerolog.Nop())
	for _, id := range execs {
		if err := reg.act(cluster.ActionRegister, cluster.Member{ID: id, Location: "grpc://" + id, Threads: 1, Zone: "UTC"}); err != nil {
			t.Fatal(err)
		}
	}
	life, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	s := newScheduler(reg, life, zerolog.Nop())
	s.spawn = func(f func()) { go f() }
	s.send = func(ctx context.Context, _ string, _ []string, _ func(int, int64, error)) error {
		<-ctx.Done()
		return ctx.Err()
	}
	s.drop = func(string, string) {}
	return s
}

// ranAt is where each of query qid's tasks was given to run ("" if
// queued).
func ranAt(s *scheduler, qid string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.jobs[qid].tasks {
		at := ""
		if len(t.runs) > 0 {
			at = t.runs[0].exec
		}
		out = append(out, at)
	}
	return out
}

// A task whose home has a free slot runs there, not at an executor that
// looked first and found none of its own ready: stolen, its readers would
// fetch it through a relay from the home. Here stage 0's only task is b's
// and stage 1's (not ready) a's; a comes first in the pass's round.
func TestFreeHomeKeepsItsTask(t *testing.T) {
	s := schedulerOf(t, "a", "b")
	s.add("q", "u", []jobTask{{handle: "p", home: "b", stage: 0}, {handle: "c", home: "a", stage: 1}},
		[]jobStage{{n: 1, spec: true}, {inputs: []int{0}, n: 1}})
	s.pass()
	if got := ranAt(s, "q"); !slices.Equal(got, []string{"b", ""}) {
		t.Fatalf("tasks given to %q, want the producer at its home b and the consumer queued", got)
	}
	// A busy home's ready task is still stolen by a free executor.
	s.add("r", "u", []jobTask{{handle: "x", home: "b"}, {handle: "y", home: "b"}}, []jobStage{{n: 2, spec: true}})
	s.pass()
	if got := ranAt(s, "r"); !slices.Equal(got, []string{"a", ""}) && !slices.Equal(got, []string{"", "a"}) {
		t.Fatalf("tasks of a busy home given to %q, want one stolen by the free a", got)
	}
}

// On real executors, one slowed three times or more: a shuffled
// aggregate's two final tasks (consumers of the scan's exchange) both run
// at the fast executor, given in one start call, so that the second
// loads its inputs beside the first rather than after it; the answer
// equals DuckDB's.
func TestFastExecutorTakesTheFinalTasksAtOnce(t *testing.T) {
	dir := t.TempDir()
	glob := parquet(t, dir, 4, 40000) // 4 files of 20 row groups: about 40 slices
	c, cl, _ := startCluster(t, 2, "direct", withHooks(slowed()), func(c *Config) { c.AllowDirs = append(c.AllowDirs, dir) })
	fastLoc, _ := c.dist.reg.location(c.Executors()[1].ID())
	s := c.dist.sched
	var mu sync.Mutex
	var calls [][]bool // each start call to the fast executor: which of its tasks read an exchange
	s.mu.Lock()
	send := s.send
	s.send = func(ctx context.Context, loc string, handles []string, ended func(int, int64, error)) error {
		if loc == fastLoc {
			var consumers []bool
			for _, h := range handles {
				task, err := c.dist.secret.VerifyTask([]byte(h))
				if err != nil {
					t.Error(err)
				}
				consumers = append(consumers, len(task.Inputs) > 0)
			}
			mu.Lock()
			calls = append(calls, consumers)
			mu.Unlock()
		}
		return send(ctx, loc, handles, ended)
	}
	s.mu.Unlock()
	q := fmt.Sprintf("SELECT id %% 1000 AS b, count(*) AS n, sum(id) AS s FROM read_parquet('%s') GROUP BY b", glob)
	sameAsDuck(t, cl, staged(t, cl, q), duckRows(t, ducktest.Open(t, dir), q))
	mu.Lock()
	defer mu.Unlock()
	var final [][]bool
	for _, call := range calls {
		if slices.Contains(call, true) {
			final = append(final, call)
		}
	}
	if len(final) != 1 || len(final[0]) != 2 || slices.Contains(final[0], false) {
		t.Fatalf("start calls to the fast executor carrying final tasks (true: a consumer): %v; want both final tasks in one call", final)
	}
}

// A task whose start call was lost at an executor (it died, and the
// registry counts it until --heartbeat-timeout) goes to another executor
// next, not back to the one that lost it: given there again, it was lost
// again at once, its tries were spent within a second and it was left to
// its readers, so that a client that only polled never saw it end. An
// executor taking tasks alone is given it again.
func TestLostTaskGoesElsewhere(t *testing.T) {
	for _, execs := range [][]string{{"a", "b"}, {"a"}} {
		s := schedulerOf(t, execs...)
		loseAtA(t, s)
		want := execs[len(execs)-1]
		if got := ranAt(s, "q"); !slices.Equal(got, []string{want}) {
			t.Fatalf("executors %q: the lost task given to %q, want %s", execs, got, want)
		}
	}
}

// A task lost at an executor goes next to one at another address, not to
// the executor restarted at the lost one's (a new id where the registry
// still counts the old until --heartbeat-timeout): a crash loop under a
// supervisor, or an OOM kill of each process started there, lost every
// try at one address. Where only that address takes tasks, it is given
// there again.
func TestLostTaskAvoidsTheLostExecutorsAddress(t *testing.T) {
	for _, execs := range [][]string{{"a", "b"}, {"a"}} {
		s := schedulerOf(t, execs...)
		// a2 is a restarted: a new id where a served.
		if err := s.reg.act(cluster.ActionRegister, cluster.Member{ID: "a2", Location: "grpc://a", Threads: 1, Zone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		loseAtA(t, s)
		want := []string{"b"}
		if len(execs) == 1 {
			want = []string{"a", "a2"}
		}
		if got := ranAt(s, "q"); !slices.Contains(want, got[0]) {
			t.Fatalf("executors %q and a2 at a's address: the lost task given to %q, want one of %q", execs, got, want)
		}
	}
}

// A task lost at an executor goes to one that may take it even when the
// scheduler counts that one slow: the faster executors it would leave the
// task to were the lost one and one restarted at its address, neither of
// which takes it, and the query waited for ever (a tester's TPC-H Q9, an
// executor killed and restarted as the query began: its shuffle's lost
// consumer never ran again; the executors that ran the stage's other
// consumers looked slow beside the job's quick first stage).
func TestLostTaskGoesToASlowExecutorRatherThanNowhere(t *testing.T) {
	s := schedulerOf(t, "a", "b")
	if err := s.reg.act(cluster.ActionRegister, cluster.Member{ID: "a2", Location: "grpc://a", Threads: 1, Zone: "UTC"}); err != nil {
		t.Fatal(err)
	}
	// b measured slow: its tasks took 100 times the job's median.
	s.add("q", "u", []jobTask{{handle: "t", home: "a"}}, []jobStage{{n: 1, spec: true}})
	s.mu.Lock()
	j := s.jobs["q"]
	j.took["b"] = []time.Duration{time.Second, time.Second}
	j.all = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, time.Second, time.Second}
	if sl := j.slowness("b"); sl < slowerBy {
		s.mu.Unlock()
		t.Fatalf("b's slowness %v, want at least %v", sl, slowerBy)
	}
	s.mu.Unlock()
	failFirstAtA(s)
	s.mu.Lock()
	r := s.launch(j, 0, "a", s.now())
	j.queued--
	j.stages[0].queued--
	r.slot = &slotUse{left: 1, last: s.now(), runs: []*taskRun{r}}
	s.busy["a"]++
	s.mu.Unlock()
	s.dispatch("a", []*taskRun{r})
	eventually(t, 10*time.Second, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		tk := j.tasks[0]
		return len(tk.lostAt) == 1 && len(tk.runs) == 0, fmt.Sprintf("lost at %q, %d runs", tk.lostAt, len(tk.runs))
	})
	s.pass()
	if got := ranAt(s, "q"); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("the lost task given to %q, want b: a lost it, a2 is at a's address", got)
	}
}

// failFirstAtA has s's first start call to a fail (its task lost there)
// and every other hold its tasks.
func failFirstAtA(s *scheduler) {
	var failed atomic.Bool
	s.send = func(ctx context.Context, loc string, _ []string, _ func(int, int64, error)) error {
		if loc == "grpc://a" && !failed.Swap(true) {
			return errors.New("connection refused")
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// loseAtA gives query q's one task, whose home is a, to a, whose start
// call fails (the task is lost there), then gives it again: every start
// call after the first holds its task.
func loseAtA(t *testing.T, s *scheduler) {
	t.Helper()
	failFirstAtA(s)
	s.add("q", "u", []jobTask{{handle: "t", home: "a"}}, []jobStage{{n: 1, spec: true}})
	s.pass() // to a, its home
	eventually(t, 10*time.Second, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		tk := s.jobs["q"].tasks[0]
		return len(tk.lostAt) == 1 && len(tk.runs) == 0, fmt.Sprintf("lost at %q, %d runs", tk.lostAt, len(tk.runs))
	})
	s.pass()
}

// A task whose every run ends its executor's connection (DuckDB crashing
// on its input) is given at most maxTries times in all, its straggler runs
// counted: run again as a straggler beside each try, it ended the fourth
// of four executors.
func TestCrashingTaskRunsAtMostMaxTries(t *testing.T) {
	s := schedulerOf(t, "a", "b", "c", "d")
	var mu sync.Mutex
	clock := time.Now()
	s.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	advance := func() {
		mu.Lock()
		clock = clock.Add(time.Second)
		mu.Unlock()
	}
	crash := make(chan struct{})
	var blocked atomic.Int32
	var at sync.Map // executors the poison task was sent to
	s.send = func(ctx context.Context, loc string, handles []string, answer func(int, int64, error)) error {
		if handles[0] == "fast" {
			answer(0, 1, nil)
			return nil
		}
		at.Store(loc, true)
		blocked.Add(1)
		defer blocked.Add(-1)
		select {
		case <-crash:
			return fmt.Errorf("%w: EOF", errRunBroken)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.add("q", "u", []jobTask{{handle: "fast", home: "a"}, {handle: "poison", home: "b"}}, []jobStage{{n: 2, spec: true}})
	state := func() (taskState, int) {
		s.mu.Lock()
		defer s.mu.Unlock()
		tk := s.jobs["q"].tasks[1]
		return tk.state, len(tk.runs)
	}
	s.pass()
	fastDone(t, s)
	for range 10 {
		s.pass()
		advance() // the poison task now runs long past its stage's median
		s.pass()
		eventually(t, 10*time.Second, func() (bool, string) {
			st, n := state()
			return st == taskDone || int(blocked.Load()) == n, fmt.Sprintf("%d runs, %d started", n, blocked.Load())
		})
		if st, _ := state(); st == taskDone {
			break
		}
		for n := blocked.Load(); n > 0; n-- {
			crash <- struct{}{}
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			_, n := state()
			return n == 0 && blocked.Load() == 0, fmt.Sprintf("%d runs, %d blocked", n, blocked.Load())
		})
	}
	if st, _ := state(); st != taskDone {
		t.Fatalf("the task is in state %v, want left to its readers", st)
	}
	n := 0
	at.Range(func(any, any) bool { n++; return true })
	if n > maxTries {
		t.Fatalf("the crashing task was sent to %d executors, want at most %d", n, maxTries)
	}
}

// A straggler's second run that fails at once (its object storage not
// answering, its executor's gate then failing every request for a
// moment) counts among the task's tries: not counted, the task was run
// again as a straggler at every pass, 2,167 runs in a second (a
// tester's).
func TestFailingStragglerRunsAtMostMaxTries(t *testing.T) {
	s := schedulerOf(t, "a", "b", "c")
	var mu sync.Mutex
	clock := time.Now()
	s.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	var sent atomic.Int32 // runs of the slow task
	s.send = func(ctx context.Context, loc string, handles []string, answer func(int, int64, error)) error {
		if handles[0] == "fast" {
			answer(0, 1, nil)
			return nil
		}
		if sent.Add(1) > 1 {
			answer(0, 0, errors.New("the store did not answer"))
			return nil
		}
		<-ctx.Done() // the first run goes on
		return ctx.Err()
	}
	s.add("q", "u", []jobTask{{handle: "fast", home: "a"}, {handle: "slow", home: "b"}}, []jobStage{{n: 2, spec: true}})
	s.pass()
	fastDone(t, s)
	for range 20 {
		mu.Lock()
		clock = clock.Add(time.Second) // the slow task runs long past its stage's median
		mu.Unlock()
		s.pass()
		eventually(t, 10*time.Second, func() (bool, string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			n := len(s.jobs["q"].tasks[1].runs)
			return n == 1, fmt.Sprintf("%d runs of the slow task", n)
		})
	}
	if n := sent.Load(); n > maxTries {
		t.Fatalf("the slow task was run %d times, want at most %d", n, maxTries)
	}
}

// Runs of a task lost on executors that served at one address (an
// executor restarted by its supervisor and dead again, twice within the
// heartbeat timeout) are not taken for a task that ends executors, where
// the cluster has others: its reader, an executor, runs it, and its text
// is not refused. Lost at two addresses, it is. The coordinator runs
// neither.
func TestCrashLoopOfOneExecutorIsNoPoison(t *testing.T) {
	for _, c := range []struct {
		lost   []string
		poison bool
	}{{[]string{"a", "a2"}, false}, {[]string{"a", "b"}, true}} {
		s := schedulerOf(t, "a", "b", "c")
		// a2 is a restarted: a new id where a served.
		if err := s.reg.act(cluster.ActionRegister, cluster.Member{ID: "a2", Location: "grpc://a", Threads: 1, Zone: "UTC"}); err != nil {
			t.Fatal(err)
		}
		clock := time.Now().Add(time.Second)
		var mu sync.Mutex
		s.now = func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			return clock
		}
		var told []string
		s.poisoned = func(_ [32]byte, _ string, dead []string) { told = dead }
		s.add("q", "u", []jobTask{{handle: "t", home: "a"}}, []jobStage{{n: 1}})
		for _, id := range c.lost {
			s.suspectAt("q", 0, id)
		}
		mu.Lock()
		clock = clock.Add(time.Minute) // past the verdict window, none heard from
		mu.Unlock()
		err := s.noneDied(context.Background(), "q", 0, false)
		if c.poison != (err != nil) || c.poison != (told != nil) {
			t.Errorf("lost at %v: %v, poisoned %v; want a verdict: %v", c.lost, err, told, c.poison)
		}
		// The coordinator never runs such a task itself.
		if err := s.noneDied(context.Background(), "q", 0, true); err == nil || c.poison != (told != nil) {
			t.Errorf("lost at %v: the coordinator may run the task (%v), or poisoned %v", c.lost, err, told)
		}
	}
}

// A result nobody reads fills the executor's spools and waits for its
// reader without its thread: the scheduler, told so by the executor's
// heartbeats (cluster.Member.Waiting), gives the executor other queries'
// tasks meanwhile. Counted busy, such results of clients that opened
// their streams and read nothing kept every other query waiting until
// they closed (a tester's, 2026-12-06).
func TestUnreadResultsLeaveTheirThreads(t *testing.T) {
	_, cl, glob := startCluster(t, 1, "direct", func(cfg *Config) {
		cfg.Executor = func(e *executor.Config) { e.SpoolMemory, e.SpoolDisk = 1<<20, 1<<20 }
	})
	ctx := context.Background()
	// Planned, its tasks started, and never read.
	if _, err := cl.Execute(ctx, fmt.Sprintf("SELECT id, repeat('x', 400) AS pad FROM read_parquet('%s')", glob)); err != nil {
		t.Fatal(err)
	}
	deadline, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	info, err := cl.Execute(deadline, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE id %% 2 = 0", glob))
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range info.Endpoint {
		if err := readToEnd(deadline, cl, ep.Ticket); err != nil {
			t.Fatalf("a query beside an unread result: %v", err)
		}
	}
}

// fastDone waits until task 0 of query q, the fast one, is done.
func fastDone(t *testing.T, s *scheduler) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		st := s.jobs["q"].tasks[0].state
		return st == taskDone, fmt.Sprintf("the fast task in state %v", st)
	})
}
