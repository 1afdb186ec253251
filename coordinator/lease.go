package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// leases keep a distributed query's tasks while its client shows that it
// wants them, and cancel them on every executor once it does not. A
// query's tasks start with its FlightInfo, so a client that plans a query
// and never reads it (or reads part of it and goes) would otherwise keep
// executors busy and their spools full until the tickets expire.
//
// The rule: every endpoint carries expiration_time, the query's lease.
// Any sign of the client (a stream of one of its endpoints open, here or
// at an executor, or ending; PollFlightInfo; RenewFlightEndpoint) moves
// the lease to expiry from now, up to the tickets' own expiry. A query
// whose lease runs out while no stream of it is open is abandoned; so is
// one whose client drops a stream before its end and opens none of its
// streams again within dropGrace (a client may read a broken endpoint
// again at another of its locations), and one whose session is closed. Abandoning cancels its tasks on every executor (running
// and queued ones, and what their spools hold) and ends it cancelled. A
// query whose endpoints have all been read to their end is let go.
type leases struct {
	expiry time.Duration
	// grace is how late a read at an executor may be reported (a
	// heartbeat interval): a lease is not run out before it passes.
	grace func() time.Duration
	now   func() time.Time

	// failedRead is told of a read of a query that failed at an
	// executor (the client met its failure there). Set before use.
	failedRead func(qid string)

	mu sync.Mutex
	q  map[string]*lease
	// bySession counts the queries of q each session planned.
	bySession map[string]int
	// interrupted: by session, when the FlightInfos were issued of
	// queries no longer followed that a reader met the timeout of
	// (overdue), until overdue says them.
	interrupted map[string][]time.Time
	// openAt: the queries each executor last reported streams open of.
	openAt map[string]map[string]int
}

type lease struct {
	handle   string    // one of its task handles: the capability to cancel it
	session  string    // the client session that planned it
	issued   time.Time // when its FlightInfo was issued
	trace    string
	deadline time.Time // the lease
	limit    time.Time // the tickets' expiry: no lease goes past it
	open     int       // streams of its endpoints open (here, or as reported)
	left     map[int]bool
	// direct: its endpoints are read at executors, which report the reads
	// in their heartbeats; otherwise they come here and only reads seen
	// here count (an executor's report is of the coordinator's own read).
	direct bool
	// staged: a direct query of stages, whose executors may hold what no
	// reader comes for (a producer run again at its alternate keeps every
	// partition): cancelled on them once every endpoint was read. So is a
	// direct query a task of which ran twice (a straggler's): the run its
	// reader did not read held its result in an executor's spool until
	// the tickets expired, ten minutes (a tester's: 70 MB).
	staged bool
	// reported: streams open at executors as of the last reports, by
	// executor (each heartbeat lists every stream still open).
	reported map[string]int
	drop     bool // the lease was cut short by a dropped stream
	// closed: its session was closed while it was read at executors;
	// it goes when their next reports come, unless they say every
	// endpoint was read.
	closed bool
	// failed is the error of a read of task failedTask at an executor
	// that failed (the task's run did), at failedAt: the query ends
	// failed with it unless its client reads that endpoint again
	// (elsewhere) within dropGrace, whatever else of it is read.
	failed     string
	failedTask int
	failedAt   time.Time
	// timeout is the query's deadline (--query-timeout), zero if none:
	// one whose reader met it was interrupted (overdue); told says
	// overdue looked at it once sure. cut says a stream of it here ended
	// at the timeout.
	timeout   time.Time
	told, cut bool
}

// extend moves the lease to t, if later, but never past the tickets'
// expiry; nor that of a query whose session was closed.
func (ls *lease) extend(t time.Time) {
	if ls.closed {
		return
	}
	if t.After(ls.limit) {
		t = ls.limit
	}
	if t.After(ls.deadline) {
		ls.deadline, ls.drop = t, false
	}
}

// defaultEndpointExpiry is --endpoint-expiry's default.
const defaultEndpointExpiry = 30 * time.Second

// dropGrace is how soon a client that dropped a stream of a query must
// open one of its streams again (at the same location or another), or
// poll or renew it, for the query to stay.
const dropGrace = 3 * time.Second

// dropped cuts a query's lease to dropGrace from now: its client dropped
// a stream, and the query goes unless the client comes back.
func (ls *lease) dropped(now time.Time) {
	if t := now.Add(dropGrace); t.Before(ls.deadline) {
		ls.deadline, ls.drop = t, true
	}
}

// lease starts following a query whose FlightInfo is being issued; left
// are its endpoints' tasks (-1: one endpoint read here). It returns the
// endpoints' expiration time.
func (l *leases) add(qid string, tag flightsql.QueryTag, handle string, left []int, direct, staged bool, timeout time.Time) time.Time {
	now := l.now()
	ls := &lease{handle: handle, session: tag.Session, trace: tag.Trace, issued: now, deadline: now.Add(l.expiry),
		limit: now.Add(cluster.TaskTTL), left: map[int]bool{}, direct: direct, staged: staged, timeout: timeout}
	for _, t := range left {
		ls.left[t] = true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.q == nil {
		l.q, l.bySession = map[string]*lease{}, map[string]int{}
	}
	if old := l.q[qid]; old != nil {
		l.remove(qid)
	}
	l.q[qid] = ls
	l.bySession[ls.session]++
	return ls.deadline
}

// remove stops following query qid. l.mu is held.
func (l *leases) remove(qid string) {
	ls := l.q[qid]
	if ls == nil {
		return
	}
	delete(l.q, qid)
	if l.bySession[ls.session]--; l.bySession[ls.session] <= 0 {
		delete(l.bySession, ls.session)
	}
}

// reran says a task of a query followed ran twice: its executors may
// hold a result no reader comes for.
func (l *leases) reran(qid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls := l.q[qid]; ls != nil && ls.direct {
		ls.staged = true
	}
}

// origin is the session that planned a query followed, and when its
// FlightInfo was issued.
func (l *leases) origin(qid string) (session string, issued time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls := l.q[qid]; ls != nil {
		return ls.session, ls.issued, true
	}
	return "", time.Time{}, false
}

// overdue says whether a query the session planned ran past its
// timeout while a reader read it: the reader met the timeout (its read
// failed, or was open then), which interrupted the query, as DuckDB
// interrupts a statement. One whose endpoints were read before, or not
// at all (a client that read part of a result and let the rest go), was
// not. issued is when the first such query's FlightInfo was issued, zero
// if none; wait, when positive, is how long until that is sure (an
// executor keeps a result cluster.DeadlineGrace past the timeout, and
// reports its reads with its heartbeats), and issued is then a maybe.
// Each query is said once, once sure.
func (l *leases) overdue(session string) (issued time.Time, wait time.Duration) {
	now := l.now()
	settled := cluster.DeadlineGrace + l.grace()
	l.mu.Lock()
	defer l.mu.Unlock()
	if gone := l.interrupted[session]; len(gone) > 0 {
		if l.interrupted[session] = gone[1:]; len(gone) == 1 {
			delete(l.interrupted, session)
		}
		return gone[0], 0
	}
	if l.bySession[session] == 0 {
		return time.Time{}, 0
	}
	for _, ls := range l.q {
		if ls.session != session || ls.told || ls.timeout.IsZero() || now.Before(ls.timeout) {
			continue
		}
		if w := ls.timeout.Add(settled).Sub(now); w > 0 {
			return ls.issued, w
		}
		ls.told = true
		if ls.metTimeout() {
			return ls.issued, 0
		}
	}
	return time.Time{}, 0
}

// metTimeout says whether a reader met the query's timeout, which has
// passed: a read of it failed, or was open then.
func (ls *lease) metTimeout() bool {
	return ls.failed != "" || ls.cut || ls.open > 0 || len(ls.reported) > 0
}

// keepInterrupted keeps, for overdue, a query about to be let go
// unread (abandoned, or failed at an executor) whose reader met its
// timeout: let go before its session's next request, a timeout that
// request came a few seconds after was forgotten, and the transaction
// it interrupted committed (a tester's). l.mu is held.
func (l *leases) keepInterrupted(ls *lease, now time.Time) {
	if ls.told || ls.timeout.IsZero() || now.Before(ls.timeout) || !ls.metTimeout() {
		return
	}
	if l.interrupted == nil {
		l.interrupted = map[string][]time.Time{}
	}
	if len(l.interrupted) >= maxInterrupted {
		clear(l.interrupted) // sessions gone long ago, or a flood: forgotten
	}
	l.interrupted[ls.session] = append(l.interrupted[ls.session], ls.issued)
}

// maxInterrupted bounds the sessions keepInterrupted remembers.
const maxInterrupted = 10_000

// touch moves a query's lease to expiry from now (never past its
// tickets'), and says where it is; ok is false for a query not followed
// (ended, let go, or never distributed).
func (l *leases) touch(qid string) (deadline time.Time, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.q[qid]
	if ls == nil {
		return time.Time{}, false
	}
	ls.extend(l.now().Add(l.expiry))
	return ls.deadline, true
}

// opened counts a stream of one of the query's endpoints open here.
func (l *leases) opened(qid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ls := l.q[qid]; ls != nil {
		ls.open++
	}
}

// closed says a stream opened here ended: read to its end (err nil), its
// client gone (context.Canceled: the query goes unless the client comes
// back within dropGrace), or failed. A query whose endpoints are all read
// is let go.
func (l *leases) closed(qid string, task int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.q[qid]
	if ls == nil {
		return
	}
	ls.open = max(ls.open-1, 0)
	ls.cut = ls.cut || errors.Is(err, context.DeadlineExceeded)
	if errors.Is(err, context.Canceled) {
		ls.dropped(l.now())
		return
	}
	ls.extend(l.now().Add(l.expiry))
	if err == nil {
		delete(ls.left, task)
		if len(ls.left) == 0 {
			l.remove(qid)
		}
	}
}

// gone is a query no longer followed, abandoned, and why; or failed,
// when its lease's failed is set.
type gone struct {
	id  string
	why string
	*lease
}

// reported takes the reads an executor's heartbeat lists; a direct
// query whose reader dropped a stream there goes unless the reader comes
// back within dropGrace, and one whose read failed there (its task's run
// did) ends failed unless that endpoint is read again within it. It
// returns the staged queries these reports let go, read to their end:
// what their executors still hold is for no one.
func (l *leases) reported(executor string, reads []cluster.Read) (read []gone) {
	now := l.now()
	var failed []cluster.Read
	defer func() { // once unlocked
		for _, r := range failed {
			if l.failedRead != nil {
				l.failedRead(r.Query)
			}
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(reads) == 0 && len(l.openAt[executor]) == 0 {
		return // the common heartbeat: nothing read there
	}
	open := map[string]int{}
	for _, r := range reads {
		ls := l.q[r.Query]
		if ls == nil {
			continue
		}
		if !ls.direct {
			continue // the coordinator's own read, of a stream its client reads here
		}
		ls.extend(now.Add(l.expiry))
		if r.Task == ls.failedTask && r.State != cluster.ReadFailed {
			ls.failed = "" // read again
		}
		switch r.State {
		case cluster.ReadOpen:
			open[r.Query]++
		case cluster.ReadDone:
			delete(ls.left, r.Task)
			if len(ls.left) == 0 {
				l.remove(r.Query)
				if ls.staged {
					read = append(read, gone{r.Query, "read to its end", ls})
				}
			}
		case cluster.ReadDropped:
			ls.dropped(now)
		case cluster.ReadFailed:
			ls.failed, ls.failedTask, ls.failedAt = r.Error, r.Task, now
			failed = append(failed, r)
		}
	}
	// Each heartbeat lists every stream still open: those it no longer
	// lists have ended.
	for id := range l.openAt[executor] {
		if ls := l.q[id]; ls != nil && open[id] == 0 {
			delete(ls.reported, executor)
		}
	}
	for id, n := range open {
		if ls := l.q[id]; ls != nil {
			if ls.reported == nil {
				ls.reported = map[string]int{}
			}
			ls.reported[executor] = n
		}
	}
	if l.openAt == nil {
		l.openAt = map[string]map[string]int{}
	}
	if len(open) == 0 {
		delete(l.openAt, executor)
	} else {
		l.openAt[executor] = open
	}
	return read
}

// sessionClosed takes the queries a closed session planned: abandoned.
// One read at executors may have been read to its end already, which
// they report with their next heartbeat (a client that reads a query and
// closes its connection at once: ADBC's and JDBC's close after a
// result): it goes only if those reports, due within a heartbeat
// interval, do not let it go within dropGrace. Abandoning it at once
// would record a query its client read whole as cancelled.
func (l *leases) sessionClosed(session string) (out []gone) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.interrupted, session)
	for id, ls := range l.q {
		switch {
		case ls.session != session:
		case ls.direct:
			ls.dropped(now)
			ls.closed = true
		default:
			l.remove(id)
			out = append(out, gone{id, sessionClosedWhy, ls})
		}
	}
	return out
}

const sessionClosedWhy = "its session was closed"

// ofSession is how many queries the session planned are followed
// (running, or their endpoints not all read).
func (l *leases) ofSession(session string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bySession[session]
}

// drop stops following a query (cancelled).
func (l *leases) drop(qid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.remove(qid)
}

// expired takes the queries whose lease ran out (and its grace) with no
// stream of theirs open: abandoned.
func (l *leases) expired() (out []gone) {
	now := l.now()
	grace := l.grace()
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, ls := range l.q {
		failed := ls.failed != "" && !now.Before(ls.failedAt.Add(dropGrace+grace))
		if !failed && (now.Before(ls.deadline.Add(grace)) || !ls.closed && (ls.open > 0 || len(ls.reported) > 0)) {
			continue
		}
		l.keepInterrupted(ls, now)
		l.remove(id)
		why := "neither read, polled nor renewed before its endpoints expired"
		switch {
		case ls.closed:
			why = sessionClosedWhy
		case failed:
			why = failedWhy
		case ls.drop:
			why = "its client dropped a stream before its end and did not come back"
		}
		out = append(out, gone{id, why, ls})
	}
	return out
}

const failedWhy = "a read of it failed"

// servedHere takes the queries whose endpoints come back to the
// coordinator (proxied, merged, single endpoints), which a coordinator
// that stops will serve none of.
func (l *leases) servedHere() (out []gone) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, ls := range l.q {
		if !ls.direct {
			l.remove(id)
			out = append(out, gone{id, "the coordinator stopped", ls})
		}
	}
	return out
}

// abandon cancels queries whose client has gone on every executor and
// ends them cancelled, saying why.
func (d *dist) abandon(qs []gone) {
	for _, q := range qs {
		// Not revoked: a client that comes back late (its stream's
		// end was buffered, the query let go) has its task run again.
		d.cancelQuery(q.id, q.handle, false)
		d.owed.drop(q.id)
		if q.why == failedWhy {
			// What its reader got from the executor: the query's error.
			d.hist.finished(q.id, 0, 0, errors.New(q.failed))
			flightsql.QueryLog(d.log, q.id, q.trace).Info().Str("err", q.failed).Msg("query failed at an executor: its tasks are cancelled")
			continue
		}
		d.hist.finished(q.id, 0, 0, fmt.Errorf("abandoned: %s: %w", q.why, context.Canceled))
		flightsql.QueryLog(d.log, q.id, q.trace).Info().Str("reason", q.why).Msg("query abandoned: its tasks are cancelled")
	}
}

// executorReads takes the reads an executor's heartbeat lists (leases'
// reported), and cancels the staged queries read to their end on every
// executor (not revoked: one read again runs again), as one read here is
// once read (dist.read).
func (d *dist) executorReads(executor string, reads []cluster.Read) {
	for _, q := range d.leases.reported(executor, reads) {
		d.cancelQuery(q.id, q.handle, false)
	}
}

// sweepLeases abandons, every second, the queries whose lease ran out.
func (d *dist) sweepLeases() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-d.life.Done():
			return
		case <-t.C:
		}
		d.abandon(d.leases.expired())
	}
}
