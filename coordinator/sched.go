package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// scheduler gives tasks to executors as they have free thread slots,
// rather than all at once to the executors they were assigned. Each query
// is a job: its tasks wait in queues by their assigned executor (the one
// their ticket and endpoint name, their home). An executor with a free
// slot takes, from the admitted job of the user running the fewest tasks,
// that user's job running the fewest (fair sharing), a task whose home it is, else the last queued task of the
// executor with the longest queue (work stealing; not while that home has
// a free slot to take it, sparing its readers a relay): a slow or busy
// executor no longer decides a query's time, and a new executor takes
// tasks from queries already running. A stage's tasks wait until every
// stage they read has finished (a blocking exchange), so no consumer
// holds a slot its producers need. A task whose run is much longer than
// its stage's others while a slot is idle runs again there (a straggler);
// the first run to end wins and the other is dropped, unless a reader
// already has it. How many tasks a slot is given at once follows each
// executor's measured speed (adaptive granularity, see adapt.go).
//
// Readers go to a task's home whatever executor ran it: the home asks
// where (cluster.ActionWhere) and relays the rows from there. Jobs beyond
// the admission limits wait, queued, until running ones end.
type scheduler struct {
	reg  *registry
	log  zerolog.Logger
	life context.Context
	now  func() time.Time
	// send runs tasks at an executor, calling ended for each as it ends;
	// its error is the call's (the tasks it did not answer are lost).
	// rows is how many the task gave (-1: not said).
	send func(ctx context.Context, loc string, handles []string, ended func(i int, rows int64, err error)) error
	// drop stops another run of a task that has ended (a straggler's).
	drop func(loc, handle string)
	// spawn runs a goroutine counted as the layer's work.
	spawn func(func())
	// admitted tells the history when a queued query was admitted.
	admitted func(qid string, at time.Time)
	// lostOne is told when a pass finds an executor it knew dead (its
	// runs were abandoned): the coordinator's connections to it go too.
	lostOne func()
	// poisoned is told that executors died running a task of the query
	// of the given text (its SQL's SHA-256, job.text), once (died).
	poisoned func(text [32]byte, qid string, dead []string)
	// sqlFailed is told that a task of the query failed in its own SQL,
	// once a query.
	sqlFailed func(qid string, err error)
	// reran is told that a task of the query runs a second time (a
	// straggler's).
	reran func(qid string)
	// Admission: distributed queries running at once, in all and per user
	// (0: no limit); the others wait in arrival order.
	limit, perUser int
	// noSteal keeps each task at its assigned executor while that one
	// takes tasks, and runs no straggler twice: the scheduling before
	// work stealing, for benchmarks.
	noSteal bool
	// hereRows is the most rows the producers of a query's last stage may
	// give for the coordinator to run that stage itself (finalhere.go).
	hereRows int64
	// batch is the most tasks one free slot is given in one message
	// (several queued at the executor, run back to back).
	batch int
	// calls and sent count start calls and the tasks they carried.
	calls, sent prometheus.Counter

	kick chan struct{}

	mu     sync.Mutex
	jobs   map[string]*job // by query id, until their tickets expire
	active []*job          // not ended (queued or admitted), in arrival order
	busy   map[string]int  // slots given tasks, by executor
	next   int             // where the round over executors starts
	// pace is each live executor's speed relative to the fastest, as the
	// queries that measured it beside another found it (the log of it,
	// averaged; see remember): whether the next scans cut their tails
	// small (see unequal).
	pace map[string]float64
	// expired is when expire last looked at the jobs.
	expired time.Time
	// known are the executors the last pass saw live or gave tasks to:
	// runs are abandoned only when one of them is no longer live.
	known map[string]bool
	// places are where the executors taking tasks at the last pass serve.
	places map[string]string
}

// A job is one query's tasks.
type job struct {
	id, user string
	arrived  time.Time
	admitted time.Time // zero while queued
	ended    time.Time // zero while a task has not ended
	tasks    []*stask
	stages   []*jobStage
	queues   map[string][]int  // queued tasks by home, in signed order
	takers   map[string]int    // the executors taking tasks at the last pick (stask.lostAt)
	places   map[string]string // where each of them serves (stask.lostPlaces)
	text     [32]byte          // its SQL's SHA-256 (setText), for the poisoned hook
	poisoned bool              // the hook was told
	relost   bool              // a task lost at an executor was queued again (pick)
	queued   int
	running  int // runs in progress
	// sqlFailed: a task failed in its own SQL (scheduler.sqlFailed told).
	sqlFailed bool
	// The run times of its ended tasks, sorted: all, and by executor.
	all  []time.Duration
	took map[string][]time.Duration
	// speed is what each executor's ended runs of sized tasks read and
	// took (see rate).
	speed map[string]*rowRate
	// maxRows is its largest task's rows: speeds are measured on tasks of
	// at least a quarter of that, whose time is mostly reading, not the
	// cost of a task.
	maxRows int64
	// fastest is the highest of the executors' speeds (rows a second, see
	// rate).
	fastest float64
	// capacity's result for the pass at capAt, over capSlots executors.
	capAt              time.Time
	capSlots           int
	capAll, capFastest float64
	left               int // tasks not ended
	// held counts the queued tasks that wait for their reader to release
	// them (release): the later rounds of a LIMIT's tasks.
	held int
	// cancelled: its queued tasks are dropped and a cancelled run is not
	// retried.
	cancelled bool
	// decided, for a job whose last stage the coordinator may run itself
	// (jobStage.here), is closed once the scheduler has chosen where it
	// runs: here says on the coordinator (finalhere.go).
	decided chan struct{}
	here    bool
}

type jobStage struct {
	inputs []int // the stages it reads
	n      int
	left   int             // tasks not ended
	queued int             // tasks waiting in the queues
	took   []time.Duration // the ended tasks' run times, sorted
	spec   bool            // its tasks may run twice (they read only files)
	// here: the coordinator may run this stage itself (the last, a final
	// aggregate) if its input is small (finalhere.go).
	here bool
}

type taskState int

const (
	taskQueued taskState = iota
	taskRunning
	taskDone
)

// stask is a task as the scheduler knows it.
type stask struct {
	handle string // cleared once it has ended
	home   string
	stage  int
	rows   int64 // the rows its slice reads, from Parquet metadata (0: not known)
	state  taskState
	held   bool // waits for release
	runs   []*taskRun
	// out is how many rows its run gave, -1 until an executor says.
	out int64
	// at is the executor readers get the task from: its first run's,
	// then the winner's; empty when none holds it (readers run it).
	at      string
	moved   chan struct{} // closed when at is first set (where waits on it)
	started time.Time     // its first run's start
	// lostAt are the executors its lost runs were at (a run is lost when
	// its executor stops or cannot be reached), one a run: at most
	// maxTries, after which the task is left to its readers. The task
	// avoids them while an executor it was not lost at takes tasks:
	// taken again at one the registry still counted (until
	// --heartbeat-timeout), it was lost again at once, its tries spent
	// within a second and the task left to its readers, so that a client
	// that only polls waited for it until its ticket expired.
	lostAt []string
	// lostPlaces are the addresses of lostAt: an executor restarted at
	// one (a new id, an old one the registry still counts) is avoided as
	// the one it replaced is. A crash loop under a supervisor, or an OOM
	// kill of each process started there, lost a task's every try at one
	// address.
	lostPlaces []string
	// failedRuns are its runs that failed while another went on (a
	// straggler's second run), counted among its tries as lostAt are: a
	// second run failing at once (its store not answering) was started
	// again at every pass, thousands in a second.
	failedRuns int
	// suspects are its lost runs whose connection broke as they ran
	// (errRunBroken): their executors may have died of the task (DuckDB
	// crashing on the query's input). Readers wait for their verdicts
	// (died) before running the task themselves.
	suspects []suspect
	// failed is its run's error when the task's own SQL failed (an
	// overflow, error()): it fails alike anywhere, so its readers get
	// this error instead of running it again themselves.
	failed error
}

// taskRun is one run of a task at an executor.
type taskRun struct {
	job     *job
	task    int
	handle  string
	exec    string
	started time.Time
	cancel  context.CancelFunc // ends the start call carrying it
	gone    bool               // ended (answered, lost or abandoned)
	slot    *slotUse           // the executor slot it was given with
}

// slotUse is one executor slot given a batch of runs: it is free again
// when the last has ended. A run's time is from the later of its start
// and the end of the slot's run before (last): the runs of a batch run
// one after another.
type slotUse struct {
	left int
	last time.Time
	runs []*taskRun
}

// Scheduling constants: how often the scheduler looks at running tasks
// (stragglers, executors that died) without an event; how many times a
// task whose executor was lost is given again; when a task is a
// straggler: none of its stage waits to be given out, and it has run (or
// waited at its executor, behind others given with it) stragglerFactor
// times its stage's median and at least stragglerMin.
const (
	schedTick       = 100 * time.Millisecond
	maxTries        = 3
	stragglerFactor = 1.5
	stragglerMin    = 50 * time.Millisecond
	// defaultBatch is the most tasks a slot is given at once, and
	// batchSpan about the most work by a query's median task time (see
	// batchSize).
	defaultBatch = 16
	batchSpan    = 250 * time.Millisecond
	// slowerBy: an executor whose tasks take this many times longer than
	// a query's is slow for it, and leaves it its last tasks.
	slowerBy = 1.5
)

var errLost = errors.New("coordinator: the executor's start call ended before the task did")

// errRunBroken marks a start call whose connection was lost (not an
// answer of the executor's, nor a connection that could not be made):
// the executor may have died of its tasks (lostCall).
var errRunBroken = errors.New("the executor's connection broke while it ran the task")

// expireEvery is how often expire looks at the jobs.
const expireEvery = time.Second

func newScheduler(reg *registry, life context.Context, log zerolog.Logger) *scheduler {
	return &scheduler{reg: reg, life: life, log: log, now: time.Now, kick: make(chan struct{}, 1),
		jobs: map[string]*job{}, busy: map[string]int{}, pace: map[string]float64{}, batch: defaultBatch, hereRows: finalHereRows,
		calls: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_scheduler_start_calls_total",
			Help: "Start calls (skein.start) the scheduler sent executors: each carries one or more tasks."}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_scheduler_tasks_started_total",
			Help: "Task runs the scheduler gave executors (straggler runs included)."})}
}

// wake makes the loop look again at once.
func (s *scheduler) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// loop schedules on every event and every schedTick until life ends.
func (s *scheduler) loop() {
	tick := time.NewTicker(schedTick)
	defer tick.Stop()
	for {
		select {
		case <-s.life.Done():
			return
		case <-s.kick:
		case <-tick.C:
			s.reg.ticked()
		}
		s.pass()
	}
}

// jobTask is a task as a query's plan gives it to the scheduler.
type jobTask struct {
	handle, home string
	stage        int
	rows         int64 // the rows its slice reads (0: not known)
	// held: it waits, queued, until its reader releases it (release).
	held bool
}

// add queues a query's tasks; stages say which stages each stage reads
// and whether its tasks may run twice. It is admitted at once if the
// limits allow, else it waits (queued reports which).
func (s *scheduler) add(qid, user string, tasks []jobTask, stages []jobStage) (queued bool) {
	now := s.now()
	j := &job{id: qid, user: user, arrived: now, queues: map[string][]int{}, left: len(tasks), queued: len(tasks),
		took: map[string][]time.Duration{}, speed: map[string]*rowRate{}}
	for i := range stages {
		st := stages[i]
		st.left = st.n
		j.stages = append(j.stages, &st)
		if st.here {
			j.decided = make(chan struct{})
		}
	}
	for i, t := range tasks {
		j.stages[t.stage].queued++
		j.tasks = append(j.tasks, &stask{handle: t.handle, home: t.home, stage: t.stage, rows: t.rows, out: -1, held: t.held})
		if t.held {
			j.held++
		}
		j.maxRows = max(j.maxRows, t.rows)
		j.queues[t.home] = append(j.queues[t.home], i)
	}
	s.mu.Lock()
	s.jobs[qid] = j
	s.active = append(s.active, j)
	s.admit(now)
	queued = j.admitted.IsZero()
	s.mu.Unlock()
	s.wake()
	return queued
}

// admit admits waiting jobs in arrival order while the limits allow; a
// user at their own limit does not hold up the others. s.mu is held.
func (s *scheduler) admit(now time.Time) {
	running, byUser := 0, map[string]int{}
	for _, j := range s.active {
		if !j.admitted.IsZero() {
			running++
			byUser[j.user]++
		}
	}
	for _, j := range s.active {
		if !j.admitted.IsZero() {
			continue
		}
		if s.limit > 0 && running >= s.limit {
			return
		}
		if s.perUser > 0 && byUser[j.user] >= s.perUser {
			continue
		}
		j.admitted = now
		running++
		byUser[j.user]++
		if s.admitted != nil {
			s.admitted(j.id, now)
		}
	}
}

// pass gives free slots tasks, one task per executor in turn, then gives
// slots still idle a straggler's second run, and sends each executor its
// tasks in one call.
func (s *scheduler) pass() {
	members := s.reg.ready()
	slots := map[string]int{} // of the executors taking tasks
	places := map[string]string{}
	for _, m := range members {
		// A task whose result waits for its reader holds no thread
		// there (cluster.Member.Waiting): counted busy here, it had
		// kept every other query off the executor until its reader
		// came (a tester's, 2026-12-06).
		slots[m.ID] = max(m.Threads, 1) + max(m.Waiting, 0)
		places[m.ID] = m.Location
	}
	live := map[string]bool{}
	for _, m := range s.reg.live() {
		live[m.ID] = true
	}
	s.mu.Lock()
	now := s.now()
	s.expire(now)
	lost := s.lost(live)
	if lost {
		s.abandon(live)
	}
	s.known = maps.Clone(live)
	s.places = places
	for id := range slots {
		s.known[id] = true
	}
	for id := range s.pace {
		if !live[id] {
			delete(s.pace, id)
		}
	}
	s.admit(now)
	for _, j := range slices.Clone(s.active) { // a job whose last tasks it ends leaves s.active
		s.decide(j)
	}
	batches := map[string][]*taskRun{}
	free := func(m cluster.Member) bool { return slots[m.ID] > s.busy[m.ID] }
	total := 0
	for _, n := range slots {
		total += n
	}
	// First no executor takes a task whose home has a free slot now: the
	// home takes it in this pass, and its readers (who go to the home)
	// are spared the relay a stolen task costs. Then the slots still free
	// take what is left, stolen from any home.
	homeFree := func(home string) bool { return s.busy[home] < slots[home] }
	for _, spare := range []func(string) bool{homeFree, nil} {
		for progress := len(members) > 0; progress; {
			progress = false
			for k := range members {
				m := members[(s.next+k)%len(members)]
				if !free(m) {
					continue
				}
				if runs := s.pick(m.ID, slots, total, now, spare); runs != nil {
					batches[m.ID] = append(batches[m.ID], runs...)
					progress = true
				}
			}
		}
	}
	s.next++
	for _, m := range members {
		for free(m) && !s.noSteal {
			r := s.straggler(m.ID, now)
			if r == nil {
				break
			}
			r.slot = &slotUse{left: 1, last: now, runs: []*taskRun{r}}
			s.busy[m.ID]++
			batches[m.ID] = append(batches[m.ID], r)
		}
	}
	s.mu.Unlock()
	if lost && s.lostOne != nil {
		s.lostOne()
	}
	for id, runs := range batches {
		s.dispatch(id, runs)
	}
}

// pick gives a free slot of executor exec its next tasks, from the
// admitted job of the user running the fewest tasks, that user's job
// running the fewest (the earliest of those): ones
// whose home exec is, else stolen from the longest queue; several when
// the job has many ready (by rows and speeds, see sizedBatch, else by
// count, see batchSize). An executor measured slow leaves a job's last
// tasks to faster ones, which would end them sooner (see sizedBatch and
// leaveTail). total is the cluster's slots; it steals from no home spare
// says to leave alone (nil: none). s.mu is held.
func (s *scheduler) pick(exec string, slots map[string]int, total int, now time.Time, spare func(home string) bool) []*taskRun {
	var jobs []*job
	users := map[string]int{} // the tasks each user's jobs run
	for _, j := range s.active {
		users[j.user] += j.running
		if !j.admitted.IsZero() && j.queued > 0 {
			jobs = append(jobs, j)
		}
	}
	// The user running the fewest tasks first: by job alone, a user's
	// many small queries, each admitted running none as the one before
	// it ended, came before another user's query that arrived after them
	// all, which waited 30 s for 300 unread lookups to run (a tester's).
	sort.SliceStable(jobs, func(a, b int) bool {
		if ua, ub := users[jobs[a].user], users[jobs[b].user]; ua != ub {
			return ua < ub
		}
		return jobs[a].running < jobs[b].running
	})
	for _, j := range jobs {
		j.takers, j.places = slots, s.places
		steal := func(home string) bool {
			return (!s.noSteal || slots[home] == 0) && (spare == nil || !spare(home))
		}
		var picked []int
		next := -1 // asked only of a job with a task lost and queued again
		if j.relost {
			next = j.next(exec, steal)
		}
		if i := next; i >= 0 && len(j.tasks[i].lostAt) > 0 {
			// A task lost elsewhere goes to the first executor that may
			// take it: the faster ones the measures below would leave it
			// to may be where it was lost (or at that address), where it
			// goes no more, and it waited for ever (a tester's TPC-H Q9,
			// an executor killed and restarted as the query began).
			j.remove(i)
			picked = []int{i}
		} else if s.noSteal {
			picked = j.takeN(exec, steal, s.batchSize(j, total))
		} else if sized, ok := s.sizedBatch(j, exec, slots, steal, now); ok {
			picked = sized // nil: exec leaves j's last tasks to faster executors
		} else if !j.leaveTail(exec, slots) {
			n := s.batchSize(j, total)
			if share := j.leftShare(exec, slots, s.batch); share > n {
				// The slow executors leave these tasks: a free one is
				// spared none of its own (it would not take them).
				spared := steal
				n, steal = share, func(home string) bool { return spared(home) || j.slowness(home) >= slowerBy }
			}
			picked = j.takeN(exec, steal, n)
		}
		if len(picked) == 0 {
			continue
		}
		slot := &slotUse{left: len(picked), last: now}
		for _, i := range picked {
			j.queued--
			j.stages[j.tasks[i].stage].queued--
			r := s.launch(j, i, exec, now)
			r.slot = slot
			slot.runs = append(slot.runs, r)
		}
		s.busy[exec]++
		return slot.runs
	}
	return nil
}

// takeN removes up to n of j's next tasks for exec from the queues (see
// take).
func (j *job) takeN(exec string, steal func(home string) bool, n int) []int {
	var out []int
	for len(out) < n {
		i := j.take(exec, steal)
		if i < 0 {
			break
		}
		out = append(out, i)
	}
	return out
}

// batchSize is how many of j's tasks one slot is given at once: as many
// as take about batchSpan by the job's median task time so far (one until
// tasks have ended: a slot given long tasks back to back would keep
// other queries from it), at most its ready tasks over twice the
// cluster's slots, and within 1 and s.batch. Many small tasks then take
// few messages, while the last ones are still given one at a time (and
// can still be stolen or run again).
func (s *scheduler) batchSize(j *job, slots int) int {
	if len(j.all) == 0 {
		return 1
	}
	span := int(batchSpan / max(j.all[len(j.all)/2], time.Millisecond))
	return max(min(j.readyQueued()/(2*max(slots, 1)), s.batch, span), 1)
}

// readyQueued counts j's queued tasks whose inputs have ended.
func (j *job) readyQueued() int {
	n := 0
	for _, st := range j.stages {
		if st.queued > 0 && j.stageReady(st) {
			n += st.queued
		}
	}
	return max(n-j.held, 0)
}

func (j *job) stageReady(st *jobStage) bool {
	for _, in := range st.inputs {
		if j.stages[in].left > 0 {
			return false
		}
	}
	return true
}

// take removes from j's queues the next task for exec, or gives -1; it
// steals only from the homes steal allows.
func (j *job) take(exec string, steal func(home string) bool) int {
	i := j.next(exec, steal)
	if i >= 0 {
		j.remove(i)
	}
	return i
}

// remove takes task i out of its home's queue.
func (j *job) remove(i int) {
	home := j.tasks[i].home
	j.queues[home] = slices.DeleteFunc(j.queues[home], func(k int) bool { return k == i })
}

// next is the task take would give exec, or -1: the first ready one whose
// home it is, else the last ready one of the longest queue steal allows.
func (j *job) next(exec string, steal func(home string) bool) int {
	for _, i := range j.queues[exec] {
		if j.readyFor(i, exec) {
			return i
		}
	}
	homes := make([]string, 0, len(j.queues))
	for h, q := range j.queues {
		if h != exec && len(q) > 0 && steal(h) {
			homes = append(homes, h)
		}
	}
	sort.Slice(homes, func(a, b int) bool {
		qa, qb := len(j.queues[homes[a]]), len(j.queues[homes[b]])
		return qa > qb || qa == qb && homes[a] < homes[b]
	})
	for _, h := range homes {
		q := j.queues[h]
		for k := len(q) - 1; k >= 0; k-- {
			if j.readyFor(q[k], exec) {
				return q[k]
			}
		}
	}
	return -1
}

// slowness is how much longer exec's tasks of j take than the job's: by
// speed (see rate) against the fastest executor's once exec's is
// measured, else by their times' medians (1 until both are measured).
func (j *job) slowness(exec string) float64 {
	if j.measured(exec) { // by rows a second, when its tasks are sized
		return max(j.fastest/j.rate(exec), 1)
	}
	mine := j.took[exec]
	if len(mine) < 2 || len(j.all) < 4 {
		return 1
	}
	return max(float64(mine[len(mine)/2])/float64(max(j.all[len(j.all)/2], time.Microsecond)), 1)
}

// leaveTail says whether exec, slower than others, should leave j's ready
// tasks to them: when there are so few that the faster executors' slots
// would end them all before exec ended one. With speeds 1 on f faster
// slots and 1/s on exec, R tasks end sooner without exec while R <=
// (s-1) f.
func (j *job) leaveTail(exec string, slots map[string]int) bool {
	s := j.slowness(exec)
	if s < slowerBy {
		return false
	}
	faster := 0
	for id, n := range slots {
		if id != exec && j.slowness(id)*slowerBy <= s {
			faster += n
		}
	}
	if faster == 0 {
		return false
	}
	return float64(j.readyQueued()) <= (s-1)*float64(faster)
}

// leftShare is how many of j's ready tasks exec takes at once when every
// executor slower than the others leaves them to the faster ones (see
// leaveTail): an even share among the faster slots, within batch. Given
// at once, they load their inputs (a consumer's exchanges) side by side
// and run back to back, rather than each given only when the one before
// has ended. 0 when no executor leaves them, or exec is a slow one. The
// least slow of the slow executors decides (the slower ones leave
// whatever it leaves), so this costs a look at each executor, as
// leaveTail does.
func (j *job) leftShare(exec string, slots map[string]int, batch int) int {
	if j.fastest == 0 && len(j.all) < 4 || j.slowness(exec) >= slowerBy {
		return 0 // nothing measured yet: all equal (see slowness)
	}
	fast, least := 0, ""
	for id, n := range slots {
		switch sl := j.slowness(id); {
		case sl < slowerBy:
			fast += n
		case least == "" || sl < j.slowness(least) || sl == j.slowness(least) && id < least:
			least = id
		}
	}
	if least == "" || fast == 0 || !j.leaveTail(least, slots) {
		return 0
	}
	ready := j.readyQueued()
	return min((ready+fast-1)/fast, batch)
}

// ready says whether task i may run: every stage it reads has ended, and
// it is not held.
func (j *job) ready(i int) bool { return !j.tasks[i].held && j.stageReady(j.stages[j.tasks[i].stage]) }

// readyFor says whether exec may take task i now: it is ready, and no run
// of it was lost at exec, unless every executor taking tasks lost one.
func (j *job) readyFor(i int, exec string) bool {
	if !j.ready(i) {
		return false
	}
	t := j.tasks[i]
	if !j.lostThere(t, exec) {
		return true
	}
	for id := range j.takers {
		if !j.lostThere(t, id) {
			return false
		}
	}
	return true
}

// lostThere says whether a run of t was lost at exec, or at its address.
func (j *job) lostThere(t *stask, exec string) bool {
	if slices.Contains(t.lostAt, exec) {
		return true
	}
	place := j.places[exec]
	return place != "" && slices.Contains(t.lostPlaces, place)
}

// launch records a run of task i at exec. s.mu is held.
func (s *scheduler) launch(j *job, i int, exec string, now time.Time) *taskRun {
	t := j.tasks[i]
	r := &taskRun{job: j, task: i, handle: t.handle, exec: exec, started: now}
	t.runs = append(t.runs, r)
	t.state = taskRunning
	if t.started.IsZero() {
		t.started = now
	}
	if t.at == "" {
		t.setAt(exec)
	}
	j.running++
	return r
}

func (t *stask) setAt(exec string) {
	t.at = exec
	if exec != "" && t.moved != nil {
		close(t.moved)
		t.moved = nil
	}
}

// straggler starts a second run at exec of a task that is running much
// longer than its stage's others, if one is, and exec is not slower for
// the query than the executor running it. s.mu is held.
func (s *scheduler) straggler(exec string, now time.Time) *taskRun {
	for _, j := range s.active {
		if j.admitted.IsZero() || j.cancelled {
			continue
		}
		for i, t := range j.tasks {
			// A task is given at most maxTries times in all, its straggler
			// runs counted: a task whose input ends the executors running
			// it (DuckDB crashing) ended a fourth of four as a straggler
			// run of its third try.
			if t.state != taskRunning || len(t.runs) != 1 || t.runs[0].exec == exec || j.lostThere(t, exec) ||
				len(t.lostAt)+t.failedRuns+len(t.runs) >= maxTries {
				continue
			}
			st := j.stages[t.stage]
			if !st.spec || len(st.took) == 0 || st.queued > j.held || j.slowness(exec) > j.slowness(t.runs[0].exec) {
				continue
			}
			median := st.took[len(st.took)/2]
			if now.Sub(t.runs[0].started) < max(time.Duration(stragglerFactor*float64(median)), stragglerMin) {
				continue
			}
			s.log.Info().Str("query_id", j.id).Int("task_id", i).Str("executor", exec).
				Str("straggler", t.runs[0].exec).Dur("running", now.Sub(t.runs[0].started)).Dur("median", median).
				Msg("straggler: running the task again on an idle executor")
			if s.reran != nil {
				qid := j.id
				s.spawn(func() { s.reran(qid) })
			}
			return s.launch(j, i, exec, now)
		}
	}
	return nil
}

// dispatch sends an executor its runs in one start call and records each
// as the executor says it ended; runs it did not answer for are lost.
func (s *scheduler) dispatch(exec string, runs []*taskRun) {
	ctx, cancel := context.WithCancel(s.life)
	handles := make([]string, len(runs))
	s.mu.Lock()
	for i, r := range runs {
		r.cancel = cancel
		handles[i] = r.handle
	}
	s.mu.Unlock()
	loc, ok := s.reg.location(exec)
	s.calls.Inc()
	s.sent.Add(float64(len(runs)))
	s.spawn(func() {
		defer cancel()
		answered := make([]bool, len(runs))
		err := errLost
		if ok {
			err = s.send(ctx, loc, handles, func(i int, rows int64, terr error) {
				answered[i] = true
				s.produced(runs[i], rows)
				s.ended(runs[i], terr, false)
			})
		}
		if err == nil {
			err = errLost
		}
		for i, r := range runs {
			if !answered[i] {
				s.ended(r, err, true)
			}
		}
		if err != errLost && s.life.Err() == nil {
			s.log.Warn().Err(err).Str("executor", exec).Int("tasks", len(runs)).Msg("starting tasks failed; they go to another executor")
		}
	})
}

// ended records the end of a run: err is the task's, or the call's when
// lost. A task whose run ended is done (its error, if any, is its
// readers'), unless the run was lost (the executor stopped or could not
// be reached): it then waits in the queue again, up to maxTries, after
// which it is left to its readers (who wait for the verdict on a run whose
// connection broke: died). The task's other run, if any, is dropped.
func (s *scheduler) ended(r *taskRun, err error, lost bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.wake()
	if r.gone {
		return
	}
	r.gone = true
	if r.slot.left--; r.slot.left == 0 {
		s.busy[r.exec]--
	}
	j, t := r.job, r.job.tasks[r.task]
	j.running--
	t.runs = slices.DeleteFunc(t.runs, func(o *taskRun) bool { return o == r })
	if t.state == taskDone {
		return // the other run won
	}
	if lost {
		t.lostAt = append(t.lostAt, r.exec)
		if place := s.reg.placeOf(r.exec); place != "" {
			t.lostPlaces = append(t.lostPlaces, place)
		}
		if errors.Is(err, errRunBroken) {
			t.suspects = append(t.suspects, suspect{exec: r.exec, at: s.now()})
		}
	}
	if (lost || err != nil) && len(t.runs) > 0 {
		if !lost {
			t.failedRuns++
		}
		if t.at == r.exec {
			t.setAt(t.runs[0].exec) // the other run goes on
		}
		return
	}
	at := r.exec
	if err != nil {
		// Its run failed: no result to read there. Its readers run it
		// themselves (its home, alternate, the coordinator), as before
		// the scheduler, and get its error if it fails everywhere; unless
		// its own SQL failed, which fails alike anywhere.
		at = ""
		if !lost && cluster.FailsAnywhere(err) {
			t.failed = err
			if !j.sqlFailed && s.sqlFailed != nil {
				j.sqlFailed = true
				qid := j.id
				s.spawn(func() { s.sqlFailed(qid, err) })
			}
		}
	}
	if lost {
		t.at = ""
		if len(t.lostAt)+t.failedRuns < maxTries && !j.cancelled {
			t.state = taskQueued
			j.relost = true
			j.queues[t.home] = append([]int{r.task}, j.queues[t.home]...)
			j.queued++
			j.stages[t.stage].queued++
			return
		}
	}
	handle := t.handle
	now := s.now()
	took := now.Sub(r.started)
	if r.slot.last.After(r.started) {
		took = now.Sub(r.slot.last)
	}
	r.slot.last = now
	s.done(j, r.task, at, took)
	if at != "" && t.rows > 0 && 4*t.rows >= j.maxRows {
		sp := j.speed[at]
		if sp == nil {
			sp = &rowRate{}
			j.speed[at] = sp
		}
		if sp.runs++; sp.runs > 1 { // the first ran cold (DuckDB's caches, connections)
			sp.rows += t.rows
			sp.took += took
			j.fastest = 0
			for id := range j.speed {
				if j.measured(id) {
					j.fastest = max(j.fastest, j.rate(id))
				}
			}
		} else if took > 0 {
			sp.cold = float64(t.rows) / took.Seconds()
		}
	}
	if j.left == 0 {
		s.remember(j)
	}
	for _, o := range t.runs {
		if loc, ok := s.reg.location(o.exec); ok {
			s.spawn(func() { s.drop(loc, handle) })
		}
	}
}

// done ends task i, read from exec from now on. s.mu is held.
func (s *scheduler) done(j *job, i int, exec string, took time.Duration) {
	t := j.tasks[i]
	t.state, t.handle = taskDone, ""
	t.setAt(exec)
	if t.moved != nil { // nobody holds it: waiters run it themselves
		close(t.moved)
		t.moved = nil
	}
	st := j.stages[t.stage]
	st.left--
	if exec != "" {
		st.took = insertSorted(st.took, took)
		j.all = insertSorted(j.all, took)
		j.took[exec] = insertSorted(j.took[exec], took)
	}
	j.left--
	if j.left == 0 {
		j.ended = s.now()
		s.active = slices.DeleteFunc(s.active, func(o *job) bool { return o == j })
	}
}

// lost says an executor the last pass knew is no longer live: only then
// can a run be at one that is not (runs go to the executors a pass
// knows). abandon walks every run of every active job; at every pass (a
// pass an event: a run ending, a task given out), a query of 12,000
// tasks (a file each) cost the coordinator 1.5 s of CPU in it. s.mu is
// held.
func (s *scheduler) lost(live map[string]bool) bool {
	for id := range s.known {
		if !live[id] {
			return true
		}
	}
	return false
}

// abandon gives up on runs at executors no longer alive: their start
// calls are cancelled, so their tasks go elsewhere. s.mu is held.
func (s *scheduler) abandon(live map[string]bool) {
	for _, j := range s.active {
		for _, t := range j.tasks {
			for _, r := range t.runs {
				if !live[r.exec] && r.cancel != nil {
					r.cancel()
				}
			}
		}
	}
}

// expire forgets jobs whose tickets have expired: no reader can come.
// It looks at most once every expireEvery: the jobs are every query's of
// the last TaskTTL (tens of thousands under a stream of lookups) and
// passes come several a query, so that looking at each pass cost more
// the more queries ran (3% of a coordinator's CPU after a minute of
// lookups). A job is forgotten that much later at most. s.mu is held.
func (s *scheduler) expire(now time.Time) {
	if d := now.Sub(s.expired); d >= 0 && d < expireEvery {
		return
	}
	s.expired = now
	for id, j := range s.jobs {
		if !j.ended.IsZero() && now.Sub(j.arrived) > cluster.TaskTTL+time.Minute {
			delete(s.jobs, id)
		}
	}
}

// unfinished counts the queries with tasks running or queued, but for the
// cancelled, and for tasks held until their reader asks for them (a
// LIMIT's later rounds: a reader there is a stream the drain counts): a
// draining coordinator waits for them, as their later stages need its
// scheduling and their executors its registry.
func (s *scheduler) unfinished() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range s.active {
		if !j.cancelled && (j.running > 0 || j.queued > j.held) {
			n++
		}
	}
	return n
}

// working says whether a query has tasks running, or queued to run.
func (s *scheduler) working(qid string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[qid]
	return j != nil && !j.cancelled && (j.running > 0 || j.queued > j.held)
}

// cancel drops a query's queued tasks; its running ones end as their
// executors stop them (skein.cancel).
func (s *scheduler) cancel(qid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[qid]
	if j == nil || j.cancelled {
		return
	}
	j.cancelled = true
	j.decideHere(false)
	if j.admitted.IsZero() {
		j.admitted = s.now() // it no longer waits: nothing of it runs
	}
	for home, q := range j.queues {
		for _, i := range q {
			s.done(j, i, "", 0)
		}
		delete(j.queues, home)
	}
	j.queued, j.held = 0, 0
	for _, st := range j.stages {
		st.queued = 0
	}
}

// release lets the first n tasks of query qid run, of which some were
// held (jobTask.held): a LIMIT's next round, which its merge asks for
// when the rounds before gave too few rows.
func (s *scheduler) release(qid string, n int) {
	s.mu.Lock()
	if j := s.jobs[qid]; j != nil && !j.cancelled {
		for _, t := range j.tasks[:min(n, len(j.tasks))] {
			if t.held {
				t.held = false
				j.held--
			}
		}
	}
	s.mu.Unlock()
	s.wake()
}

// where is the location of the executor task i of query qid is read from,
// waiting until it has been given to one; empty when the scheduler does
// not know the task or no executor holds it (the asker runs it). failedAt,
// if not empty, is a location the asker just failed to read it from: the
// answer waits until the task no longer runs there (its run's end, a
// crash's included, reaches the scheduler a moment after its readers
// see it). A task left to its readers that an executor died running
// (died) is not the asker's to run: the answer is an error.
func (s *scheduler) where(ctx context.Context, qid string, i int, failedAt string) (string, error) {
	if failedAt != "" {
		if id, ok := s.reg.idAt(failedAt); ok {
			if err := s.settle(ctx, qid, i, []string{id}); err != nil {
				return "", err
			}
		}
	}
	s.mu.Lock()
	for {
		t := s.task(qid, i)
		if t == nil {
			s.mu.Unlock()
			return "", nil
		}
		if t.failed != nil {
			s.mu.Unlock()
			return "", t.failed
		}
		if t.at != "" || t.state == taskDone {
			at := t.at
			s.mu.Unlock()
			if at == "" {
				return "", s.noneDied(ctx, qid, i, false)
			}
			loc, _ := s.reg.location(at)
			return loc, nil
		}
		if t.moved == nil {
			t.moved = make(chan struct{})
		}
		moved := t.moved
		s.mu.Unlock()
		select {
		case <-moved:
		case <-ctx.Done():
			return "", ctx.Err()
		case <-s.life.Done():
			return "", errShuttingDown
		}
		s.mu.Lock()
	}
}

// at is the executor task i of query qid is read from, if one holds it,
// and its run's error if its own SQL failed there.
func (s *scheduler) at(qid string, i int) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.task(qid, i); t != nil {
		return t.at, t.failed
	}
	return "", nil
}

// task is task i of query qid, nil if the scheduler does not know it.
// s.mu is held.
func (s *scheduler) task(qid string, i int) *stask {
	if j := s.jobs[qid]; j != nil && i >= 0 && i < len(j.tasks) {
		return j.tasks[i]
	}
	return nil
}

// settle waits while the scheduler holds task i of query qid running at
// one of the executors in tried, whose reads of it just failed: a run's
// end reaches the scheduler by its start call, a crash's a moment after
// the readers see it.
func (s *scheduler) settle(ctx context.Context, qid string, i int, tried []string) error {
	for {
		s.mu.Lock()
		t := s.task(qid, i)
		held := t != nil && t.state == taskRunning && slices.Contains(tried, t.at)
		s.mu.Unlock()
		if !held {
			return nil
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-s.life.Done():
			return errShuttingDown
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// suspectAt records that a reader of task i of query qid lost its
// connection to exec as it read the task there: exec may have died of it
// (a run the scheduler did not start, a reader's, ends it as surely).
func (s *scheduler) suspectAt(qid string, i int, exec string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.task(qid, i); t != nil {
		t.suspects = append(t.suspects, suspect{exec: exec, at: s.now()})
	}
}

// setText records the SHA-256 of query qid's SQL (poisoned).
func (s *scheduler) setText(qid string, text [32]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[qid]; j != nil {
		j.text = text
	}
}

// A suspect is a run lost as its connection broke (errRunBroken).
type suspect struct {
	exec string
	at   time.Time
}

// died waits for the verdict on each suspect run of task i of query qid
// and returns the executors that died as it ran there: not heard from
// (a heartbeat) within verdictWindow after the run broke. One heard from
// was cut off from the coordinator, not dead; one that deregistered
// stopped, and said so.
func (s *scheduler) died(ctx context.Context, qid string, i int) ([]string, error) {
	s.mu.Lock()
	var sus []suspect
	if t := s.task(qid, i); t != nil {
		sus = slices.Clone(t.suspects)
	}
	s.mu.Unlock()
	var dead []string
	for _, sp := range sus {
		if slices.Contains(dead, sp.exec) {
			continue // the scheduler's run and a reader's saw it end alike
		}
		for {
			heard, known := s.reg.heardAfter(sp.exec, sp.at.Add(verdictSlack))
			if heard || !known {
				break
			}
			if s.now().Sub(sp.at) > s.reg.verdictWindow() {
				dead = append(dead, sp.exec)
				break
			}
			select {
			case <-ctx.Done():
				return nil, context.Cause(ctx)
			case <-s.life.Done():
				return nil, errShuttingDown
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return dead, nil
}

// noneDied is nil unless an executor died running task i of query qid
// (died): its error then says the task is run by no reader. here says the
// coordinator asks, to run the task itself.
func (s *scheduler) noneDied(ctx context.Context, qid string, i int, here bool) error {
	dead, err := s.died(ctx, qid, i)
	if err != nil || len(dead) == 0 {
		return err
	}
	// Executors that died at one address, where the cluster has others,
	// are one executor restarted and dead again as the task ran (a crash
	// loop under its supervisor, an OOM kill): no evidence against the
	// task, whose reader runs it. Two such deaths of an executor killed
	// from outside had the query's text refused to every user for ten
	// minutes (a tester's). A task that ends executors does so wherever
	// it runs: its reader's is the next. Not the coordinator, whose end
	// would be every query's: it runs no task an executor died running,
	// and the query fails, its text not refused.
	if s.reg.places(dead) < 2 && len(s.reg.locations()) > 1 {
		if here {
			return fmt.Errorf("%w: executors %s at one address died as task %s/%d ran there, and the coordinator does not run it: run the query again",
				flightsql.ErrUnavailable, strings.Join(dead, ", "), qid, i)
		}
		return nil
	}
	s.mu.Lock()
	j := s.jobs[qid]
	tell := j != nil && !j.poisoned && s.poisoned != nil
	if tell {
		j.poisoned = true
	}
	s.mu.Unlock()
	if tell {
		s.poisoned(j.text, qid, dead)
	}
	return fmt.Errorf("%w: executors %s died as task %s/%d ran there, and it is not run again: its input may end any node it runs on",
		flightsql.ErrInvalid, strings.Join(dead, ", "), qid, i)
}

// verdictSlack: a heartbeat the executor sent just before it died may be
// taken a moment after its connection broke.
const verdictSlack = 100 * time.Millisecond

func insertSorted(l []time.Duration, d time.Duration) []time.Duration {
	k, _ := slices.BinarySearch(l, d)
	return slices.Insert(l, k, d)
}
