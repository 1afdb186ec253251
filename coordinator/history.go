package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// history is the record of what ran: every query and task attempt, the
// newest retainQueries queries with their tasks, in the coordinator's
// memory. SQL reads it as skein.queries and skein.tasks, read-only views
// over table functions (duck.System): no statement can change it, so a
// client can neither rewrite it nor stop the recording.
//
// Every query ends in one final status: ok, failed or cancelled; once
// final it is not changed. A scatter query ends when each of its tasks has
// succeeded once (whatever attempts failed before), when the coordinator,
// the last place a task can run, fails one, or, if neither happens, when
// its tickets have expired (abandoned). A scatter-merge query ends with
// its merge, or when its ticket expired unredeemed.
type history struct {
	now func() time.Time
	// abandon is how long after planning a distributed query that has not
	// ended is recorded failed: its tickets have expired by then, so no
	// attempt can start, and executors have reported what ran.
	abandon time.Duration

	mu      sync.Mutex
	order   []*queryRecord // oldest first
	byID    map[string]*queryRecord
	waiting map[string]*queryRecord // distributed queries not yet ended
	size    int                     // bytes held, roughly
	running int                     // queries kept that have not ended
	// metrics, when set, counts queries as they end and task attempts as
	// they are reported.
	metrics *queryMetrics
}

type queryRecord struct {
	id, user, sql, mode string
	trace               string // the client's W3C trace id, if it sent one
	tasks               int
	started, finished   time.Time
	// admitted is when the scheduler let a distributed query's tasks run
	// (zero while it waits in the admission queue, and for local ones).
	admitted    time.Time
	distributed bool
	rows, bytes int64
	status, err string
	scatter     bool        // ends when its tasks do
	deadline    time.Time   // zero: ends only by finished
	succeeded   []*attempt  // scatter: each task's first successful attempt
	resultFrom  int         // scatter: the first task whose rows are the result's (the gather stage's)
	left        int         // scatter: tasks without one
	attempts    []*attempt  // in arrival order
	tries       map[int]int // attempts so far by task
	size        int         // bytes held by it and its attempts, roughly
	// For the status page: how a distributed query's results are read
	// (direct, proxy or single), its plan, and each task's assigned executor and
	// alternate (its index is the task id).
	resultMode string
	plan       *explanation
	assigned   [][2]string
}

// attempt is one run of a task, as its executor (or the coordinator, which
// runs tasks no executor could) reported it, or a failure the coordinator
// saw in reading one from an executor.
type attempt struct {
	task              int
	executor          string
	number            int
	started, finished time.Time
	rows, bytes       int64
	status, err       string
	// cpu and cpuWait are the executor's measure of the run's work and
	// of its wait for a core (cluster.TaskReport), when measured.
	cpu, cpuWait time.Duration
	measured     bool
	// seen: recorded from the coordinator's side; the executor's own
	// report of the same failure, if it comes, replaces it.
	seen, paired bool
}

const (
	retainQueries = 10000
	// The history also keeps within retainBytes (a client can send long
	// SQL), each text clipped to maxText.
	retainBytes = 64 << 20
	maxText     = 64 << 10
	// A query keeps at most this many attempts per task (a client
	// redeeming a ticket over and over runs it over and over).
	attemptsPerTask = 8
	statusRunning   = "running"
	statusOK        = "ok"
	statusFailed    = "failed"
	statusCancelled = "cancelled"
	// statusMerged: a task of a query's last stage whose work the
	// coordinator's merge did, over the partitions the task would have
	// read (finalhere.go); it ran on no executor.
	statusMerged = "merged"
)

func newHistory() *history {
	return &history{now: time.Now, abandon: cluster.TaskTTL + time.Minute,
		byID: map[string]*queryRecord{}, waiting: map[string]*queryRecord{}}
}

// started records a query as it is planned (distributed) or registered
// (local). A distributed query ends by its tasks (scatter) or its merge.
func (h *history) started(tag flightsql.QueryTag, user, sql, mode string, tasks int, distributed, scatter bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.expire(now)
	id := tag.ID
	q := &queryRecord{id: id, trace: tag.Trace, user: user, sql: clip(sql), mode: mode, tasks: tasks, started: now,
		status: statusRunning, scatter: scatter, tries: map[int]int{}, distributed: distributed}
	h.grow(q, 200+len(id)+len(tag.Trace)+len(user)+len(q.sql)+len(mode)+16*tasks)
	if distributed {
		q.deadline = now.Add(h.abandon)
		h.waiting[id] = q
	}
	if scatter {
		q.succeeded, q.left = make([]*attempt, tasks), tasks
	}
	h.byID[id] = q
	h.order = append(h.order, q)
	h.running++
	h.trim()
}

// resultTasks says which tasks of a scatter query give its result: from
// the first of its gather stage (an earlier stage's rows are not the
// result's: they were counted in skein.queries and the rows metric).
func (h *history) resultTasks(id string, from int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[id]; q != nil && q.scatter && from >= 0 && from <= len(q.succeeded) {
		q.resultFrom = from
	}
}

// describe keeps what the status page shows of a distributed query: how
// its results are read, its plan and where each task was assigned.
func (h *history) describe(id, resultMode string, plan *explanation, assigned [][2]string, size int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[id]; q != nil {
		q.resultMode, q.plan, q.assigned = resultMode, plan, assigned
		h.grow(q, size+40*len(assigned))
		h.trim()
	}
}

// trim forgets the oldest queries beyond what is kept. h.mu is held.
//
// A running query is kept until it ends, whatever the bounds: one pushed
// out by another user's flood of long texts (1,100 of 64 KB) left
// skein.queries and the status page, and its end went uncounted in the
// metrics, the running gauge too low from then on (a tester's). The
// running are as many as the sessions' limits allow.
func (h *history) trim() {
	for len(h.order) > retainQueries || h.size > retainBytes && len(h.order) > 1 {
		i := slices.IndexFunc(h.order, func(q *queryRecord) bool { return q.status != statusRunning })
		if i < 0 {
			return
		}
		old := h.order[i]
		h.order = slices.Delete(h.order, i, i+1)
		h.size -= old.size
		delete(h.byID, old.id)
		delete(h.waiting, old.id)
	}
}

// admitted records when a distributed query left the admission queue.
func (h *history) admitted(id string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[id]; q != nil {
		q.admitted = at
	}
}

// merging says a scatter-merge query's merge has begun: it ends when the
// merge does, however long that takes.
func (h *history) merging(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[id]; q != nil && q.status == statusRunning {
		q.deadline = time.Time{}
	}
}

// finished records the end of a query that is not a scatter (local, or
// the merge of a scatter-merge).
func (h *history) finished(id string, rows, bytes int64, err error) {
	st, text := outcome(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[id]; q != nil {
		h.end(q, rows, bytes, st, text)
	}
}

// end gives q its final status, unless it has one. h.mu is held.
func (h *history) end(q *queryRecord, rows, bytes int64, st, text string) {
	if q.status != statusRunning {
		return
	}
	q.finished, q.rows, q.bytes, q.status, q.err = h.now(), rows, bytes, st, clip(text)
	h.grow(q, len(q.err))
	delete(h.waiting, q.id)
	h.running--
	h.metrics.ended(q)
}

// tasks records attempts reported by executors.
func (h *history) tasks(reports []cluster.TaskReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range reports {
		h.record(r, statusOf(r.Error))
	}
}

// ranHere records an attempt the coordinator ran itself. Nothing is left
// to try after it, so its failure ends a scatter query.
func (h *history) ranHere(r cluster.TaskReport, err error) {
	st, text := outcome(err)
	r.Error = text
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.record(r, st)
	if q != nil && q.scatter && st != statusOK {
		h.end(q, 0, 0, st, text)
	}
}

// taskFailed ends a scatter query failed with err: a task of it failed in
// a way it fails anywhere (its SQL), so nothing is left to try.
func (h *history) taskFailed(query string, err error) {
	st, text := outcome(err)
	h.mu.Lock()
	defer h.mu.Unlock()
	if q := h.byID[query]; q != nil && q.scatter && st != statusOK {
		h.end(q, 0, 0, st, text)
	}
}

// merged records the tasks of query's last stage that the coordinator's
// merge runs instead, when the merge began.
func (h *history) merged(query string, tasks []int, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.byID[query]
	if q == nil {
		return
	}
	for _, t := range tasks {
		a := &attempt{task: t, executor: "coordinator", started: at, finished: at, status: statusMerged}
		h.metrics.attempt(a)
		h.add(q, a)
	}
}

// saw records a failure the coordinator saw in reading a task from an
// executor (which may have died and so never report it). The task's own
// SQL failing is not recorded: the executor that ran it reports that,
// and it may not be the one read (a stolen task is relayed by its home).
func (h *history) saw(query string, task int, executor string, started time.Time, err error) {
	if cluster.SQLFailed(err) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.byID[query]
	if q == nil {
		return
	}
	st, text := outcome(err)
	// The executor reported this failure already: it says more, unless
	// it says cancelled where the coordinator saw the stream break (the
	// executor saw only its reader leave).
	for _, a := range q.attempts {
		if !a.seen && !a.paired && a.task == task && a.executor == executor && a.status != statusOK {
			a.paired = true
			if broke(a.status, st) {
				a.status, a.err = st, clip(text)
			}
			return
		}
	}
	h.add(q, &attempt{task: task, executor: executor, started: started, finished: h.now(),
		status: st, err: clip(text), seen: true})
}

// record adds one attempt to its query and, for a scatter, ends the
// query when every task has succeeded. h.mu is held.
func (h *history) record(r cluster.TaskReport, st string) *queryRecord {
	q := h.byID[r.Query]
	if q == nil {
		return nil // not planned here, or no longer kept
	}
	a := &attempt{task: r.Task, executor: r.Executor, started: r.Started, finished: r.Finished,
		rows: r.Rows, bytes: r.Bytes, status: st, err: clip(r.Error), cpu: r.CPU, cpuWait: r.CPUWait, measured: r.Measured}
	// The failure the coordinator saw in reading this attempt, if any:
	// the executor's report takes its place, and says more, unless it
	// says cancelled where the coordinator saw the stream break.
	seen := -1
	if st != statusOK {
		for i, s := range q.attempts {
			if s.seen && !s.paired && s.task == r.Task && s.executor == r.Executor {
				seen = i
				if broke(st, s.status) {
					a.status, a.err = s.status, s.err
				}
				break
			}
		}
	}
	h.metrics.attempt(a)
	if seen >= 0 {
		a.number, a.paired = q.attempts[seen].number, true
		h.grow(q, len(a.err)-len(q.attempts[seen].err))
		q.attempts[seen] = a
	} else {
		h.add(q, a)
	}
	if q.scatter && st == statusOK && r.Task >= 0 && r.Task < len(q.succeeded) && q.succeeded[r.Task] == nil {
		q.succeeded[r.Task] = a
		q.left--
		if q.left == 0 {
			var rows, bytes int64
			for _, s := range q.succeeded[q.resultFrom:] {
				rows, bytes = rows+s.rows, bytes+s.bytes
			}
			h.end(q, rows, bytes, statusOK, "")
		}
	}
	return q
}

// add appends an attempt, numbering it within its task, unless the task
// has too many. h.mu is held.
func (h *history) add(q *queryRecord, a *attempt) {
	q.tries[a.task]++
	a.number = q.tries[a.task]
	if a.number <= attemptsPerTask {
		q.attempts = append(q.attempts, a)
		h.grow(q, 150+len(a.executor)+len(a.err))
		h.trim()
	}
}

// grow counts n more bytes held for q. h.mu is held.
func (h *history) grow(q *queryRecord, n int) {
	q.size += n
	h.size += n
}

// clip shortens a text to maxText bytes.
func clip(s string) string {
	if len(s) <= maxText {
		return s
	}
	return strings.ToValidUTF8(s[:maxText], "") + "…"
}

// expire ends the distributed queries past their deadline. h.mu is held.
func (h *history) expire(now time.Time) {
	for _, q := range h.waiting {
		if q.deadline.IsZero() || now.Before(q.deadline) {
			continue
		}
		text := "abandoned: its ticket expired before the merge was read"
		if q.scatter {
			text = fmt.Sprintf("abandoned: %d of %d tasks had not succeeded when their tickets expired", q.left, q.tasks)
		}
		// A task cancelled before any run of it succeeded: its reader
		// went away. A run cancelled beside one that succeeded (a
		// straggler's other run, dropped) says nothing of the reader.
		ok := map[int]bool{}
		for _, a := range q.attempts {
			if a.status == statusOK {
				ok[a.task] = true
			}
		}
		st := statusFailed
		for _, a := range q.attempts {
			if a.status == statusCancelled && !ok[a.task] {
				st = statusCancelled
			}
		}
		h.end(q, 0, 0, st, text)
	}
}

// outcome is the status and error text of a query or attempt that ended
// with err.
func outcome(err error) (string, string) {
	var de *duck.Error
	switch {
	case err == nil:
		return statusOK, ""
	case errors.Is(err, context.Canceled), status.Code(err) == codes.Canceled,
		errors.As(err, &de) && de.Kind == duck.KindInterrupted:
		return statusCancelled, err.Error()
	}
	return statusFailed, err.Error()
}

// broke says whether an attempt its executor reports as reported (a
// status) failed as the coordinator saw it: cancelled there, because its
// reader went away, where the coordinator saw the stream break.
func broke(reported, saw string) bool {
	return reported == statusCancelled && saw == statusFailed
}

// statusOf is the status of an executor's attempt from its error text.
func statusOf(text string) string {
	switch {
	case text == "":
		return statusOK
	case strings.Contains(text, context.DeadlineExceeded.Error()):
		// Stopped by its deadline (--query-timeout, its client's): it
		// failed, though DuckDB says it was interrupted and its streams
		// that they were cancelled.
		return statusFailed
	case strings.Contains(text, context.Canceled.Error()), strings.Contains(text, "INTERRUPT Error"):
		return statusCancelled
	}
	return statusFailed
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The system tables: their columns, and rows from a snapshot.

var queryColumns = []duck.Column{
	{Name: "query_id", Type: duck.Varchar}, {Name: "user", Type: duck.Varchar}, {Name: "sql", Type: duck.Varchar},
	{Name: "mode", Type: duck.Varchar}, {Name: "tasks", Type: duck.Integer},
	{Name: "started_at", Type: duck.TimestampTZ}, {Name: "finished_at", Type: duck.TimestampTZ},
	{Name: "rows", Type: duck.BigInt}, {Name: "bytes", Type: duck.BigInt},
	{Name: "status", Type: duck.Varchar}, {Name: "error", Type: duck.Varchar},
	{Name: "trace_id", Type: duck.Varchar},
	{Name: "admitted_at", Type: duck.TimestampTZ}, {Name: "queued_ms", Type: duck.BigInt},
}

var taskColumns = []duck.Column{
	{Name: "query_id", Type: duck.Varchar}, {Name: "task_id", Type: duck.Integer}, {Name: "executor", Type: duck.Varchar},
	{Name: "attempt", Type: duck.Integer},
	{Name: "started_at", Type: duck.TimestampTZ}, {Name: "finished_at", Type: duck.TimestampTZ},
	{Name: "rows", Type: duck.BigInt}, {Name: "bytes", Type: duck.BigInt},
	{Name: "status", Type: duck.Varchar}, {Name: "error", Type: duck.Varchar},
	{Name: "cpu_us", Type: duck.BigInt}, {Name: "cpu_wait_us", Type: duck.BigInt},
}

// system is the catalog skein: skein.queries and skein.tasks, its views
// kept in the file at path.
func (h *history) system(path string) *duck.System {
	return &duck.System{Catalog: "skein", Path: path, Tables: []duck.SystemTable{
		{Name: "queries", Columns: queryColumns, Rows: h.queryRows},
		{Name: "tasks", Columns: taskColumns, Rows: h.taskRows},
	}}
}

// sees says r may read q's rows: its own user's queries, or every
// user's for an admin. Another user's SQL text and errors may hold what
// it would not show (a literal, a path).
func sees(r duck.Reader, q *queryRecord) bool { return r.All || q.user == r.User }

func (h *history) queryRows(r duck.Reader) [][]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire(h.now())
	out := make([][]any, 0, len(h.order))
	for _, q := range h.order {
		if !sees(r, q) {
			continue
		}
		row := []any{q.id, q.user, q.sql, q.mode, int32(q.tasks), q.started, nil, nil, nil, q.status, orNull(q.err), orNull(q.trace), nil, nil}
		if q.status != statusRunning {
			row[6], row[7], row[8] = q.finished, q.rows, q.bytes
		}
		if q.distributed {
			// Queued until admitted; one that ended queued (cancelled)
			// waited until its end.
			until := q.admitted
			switch {
			case !until.IsZero():
				row[12] = until
			case q.status != statusRunning:
				until = q.finished
			default:
				until = h.now()
			}
			row[13] = until.Sub(q.started).Milliseconds()
		}
		out = append(out, row)
	}
	return out
}

func (h *history) taskRows(r duck.Reader) [][]any {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][]any
	for _, q := range h.order {
		if !sees(r, q) {
			continue
		}
		for _, a := range q.attempts {
			row := []any{q.id, int32(a.task), a.executor, int32(a.number), a.started, a.finished,
				a.rows, a.bytes, a.status, orNull(a.err), nil, nil}
			if a.measured {
				row[10], row[11] = a.cpu.Microseconds(), a.cpuWait.Microseconds()
			}
			out = append(out, row)
		}
	}
	return out
}

func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// progress is how far a distributed query has come: its tasks that have
// succeeded, and the endpoints ready, those of its last stage's tasks in
// the order they succeeded (its one endpoint, read here, once every task
// has); ok is false for a query not kept or not distributed.
func (h *history) progress(id string) (p flightsql.Progress, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := h.byID[id]
	if q == nil || q.plan == nil {
		return p, false
	}
	p.Tasks = q.tasks
	first := q.tasks - len(q.plan.Plan) // the last stage's first task
	one := q.plan.Endpoints != len(q.plan.Plan)
	seen := map[int]bool{}
	for _, a := range q.attempts {
		if a.status != statusOK || seen[a.task] {
			continue
		}
		seen[a.task] = true
		p.Done++
		if a.task >= first {
			p.Rows, p.Bytes = p.Rows+a.rows, p.Bytes+a.bytes
			if !one {
				p.Ready = append(p.Ready, a.task-first)
			}
		}
	}
	switch q.status {
	case statusOK:
		p.Done = p.Tasks
	case statusFailed:
		p.Err = errors.New(q.err)
	case statusCancelled:
		p.Err = fmt.Errorf("%s: %w", q.err, context.Canceled)
	}
	if one && p.Complete() {
		p.Ready = []int{0}
	}
	return p, true
}

// runningNow counts the queries kept that have not ended, ending first
// those past their deadline.
func (h *history) runningNow() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire(h.now())
	return h.running
}
