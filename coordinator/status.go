package coordinator

import (
	"sort"
	"time"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/web"
)

// statusPage answers the status page (web.Status) from the registry and the
// history.
type statusPage struct{ c *Coordinator }

func (s statusPage) Cluster() web.Cluster {
	c := s.c
	st := c.fs.Stats()
	out := web.Cluster{Coordinator: web.Coordinator{URI: c.URI(), Version: c.cfg.Version, Started: c.started,
		Sessions: st.Sessions, Queued: st.Queued, Running: max(c.hist.runningNow()-st.Queued, 0)},
		Executors: []web.Executor{}}
	if c.reg == nil {
		return out
	}
	spools := map[string]*web.Spool{}
	for _, e := range c.executors {
		u := e.Spooled()
		memLimit, diskLimit := e.SpoolLimits()
		spools[e.ID()] = &web.Spool{MemoryBytes: u.Memory, InputBytes: u.Inputs, DiskBytes: u.Disk, MemoryLimitBytes: memLimit, DiskLimitBytes: diskLimit}
	}
	now := time.Now()
	for _, m := range c.reg.snapshot() {
		state := "dead"
		switch {
		case m.alive && m.Draining:
			state = "draining" // serving what it has, given nothing new
		case m.alive:
			state = "live"
		}
		out.Executors = append(out.Executors, web.Executor{ID: m.ID, Location: m.Location, State: state,
			Threads: m.Threads, Running: m.Running, LastSeen: m.lastSeen, HeartbeatAge: now.Sub(m.lastSeen).Seconds(),
			Spool: spools[m.ID]})
	}
	return out
}

// listedSQL is how much of a query's SQL the list of queries carries (its
// page has it whole).
const listedSQL = 2000

func (s statusPage) Queries(v web.Viewer, limit int) []web.Query {
	h := s.c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	h.expire(h.now())
	now := h.now()
	out := make([]web.Query, 0, min(limit, len(h.order)))
	for i := len(h.order) - 1; i >= 0 && len(out) < limit; i-- {
		if !sees(duck.Reader{User: v.User, All: v.All}, h.order[i]) {
			continue
		}
		q := summary(h.order[i], now)
		if len(q.SQL) > listedSQL {
			q.SQL = clipTo(q.SQL, listedSQL)
		}
		out = append(out, q)
	}
	return out
}

func (s statusPage) Query(v web.Viewer, id string) (web.QueryDetail, bool) {
	h := s.c.hist
	h.mu.Lock()
	q := h.byID[id]
	if q == nil || !sees(duck.Reader{User: v.User, All: v.All}, q) {
		h.mu.Unlock()
		return web.QueryDetail{}, false
	}
	h.expire(h.now())
	d := web.QueryDetail{Query: summary(q, h.now()), Attempts: []web.Task{}}
	if q.plan != nil {
		d.Plan = q.plan
	}
	stage := stageOf(q.plan)
	reported := map[int]bool{}
	for _, a := range q.attempts {
		reported[a.task] = true
		t := web.Task{Task: a.task, Stage: stage(a.task), Attempt: a.number, Executor: a.executor,
			Rows: a.rows, Bytes: a.bytes, Status: a.status, Error: a.err}
		t.Started, t.Finished = timePtr(a.started), timePtr(a.finished)
		if a.task >= 0 && a.task < len(q.assigned) {
			t.Alternate = q.assigned[a.task][1]
		}
		d.Attempts = append(d.Attempts, t)
	}
	// Tasks no attempt of which is reported yet: where they were sent.
	pending := q.status == statusRunning
	for i, ex := range q.assigned {
		if !reported[i] {
			st := "pending"
			if !pending {
				st = "unreported"
			}
			d.Attempts = append(d.Attempts, web.Task{Task: i, Stage: stage(i), Executor: ex[0], Alternate: ex[1], Status: st})
		}
	}
	h.mu.Unlock()
	if s.c.reg != nil {
		locs := map[string]string{}
		for _, m := range s.c.reg.snapshot() {
			locs[m.ID] = m.Location
		}
		for i := range d.Attempts {
			d.Attempts[i].Location = locs[d.Attempts[i].Executor]
		}
	}
	sort.SliceStable(d.Attempts, func(i, j int) bool {
		a, b := d.Attempts[i], d.Attempts[j]
		return a.Stage < b.Stage || a.Stage == b.Stage && (a.Task < b.Task || a.Task == b.Task && a.Attempt < b.Attempt)
	})
	return d, true
}

// summary is a query's row of the list. h.mu is held.
func summary(q *queryRecord, now time.Time) web.Query {
	out := web.Query{ID: q.id, User: q.user, SQL: q.sql, Mode: q.mode, ResultMode: resultMode(q), Tasks: q.tasks,
		Started: q.started, Status: q.status, Error: q.err}
	end := now
	if q.status != statusRunning {
		end = q.finished
		out.Finished, out.Rows, out.Bytes = timePtr(q.finished), q.rows, q.bytes
	}
	out.Seconds = end.Sub(q.started).Seconds()
	return out
}

// stageOf maps a task id to its stage: a staged plan numbers its tasks
// stage after stage, in the order the explanation lists the stages.
func stageOf(plan *explanation) func(task int) int {
	return func(task int) int {
		if plan == nil {
			return 0
		}
		first := 0
		for _, s := range plan.Stages {
			if task < first+s.Tasks {
				return s.Stage
			}
			first += s.Tasks
		}
		return 0
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// clipTo shortens s to at most n bytes, at a character boundary.
func clipTo(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
