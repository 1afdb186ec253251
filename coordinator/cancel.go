package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc/metadata"
)

// reading is what the coordinator knows of the staged queries it reads
// itself (proxied or merged): which final tasks have yet to be read to
// their end. When the last one is, or one fails, the query's tasks are
// cancelled on every executor, which drops whatever they still hold: the
// partitions of a producer recomputed for a retried consumer (nobody
// else reads them), the results of final tasks nobody will read after a
// failure. Without this they would wait for their tickets to expire.
type reading struct {
	mu sync.Mutex
	q  map[string]*readQuery
}

type readQuery struct {
	handle  string       // one of its task handles: the capability to cancel it
	left    map[int]bool // final tasks not yet read to the end
	expires time.Time    // when its tickets do: forgotten then
}

// track starts following a staged query read through the coordinator.
func (d *dist) track(qid, handle string, tasks []int) {
	r := &d.reading
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.q == nil {
		r.q = map[string]*readQuery{}
	}
	for id, q := range r.q {
		if now.After(q.expires) {
			delete(r.q, id)
		}
	}
	left := map[int]bool{}
	for _, t := range tasks {
		left[t] = true
	}
	r.q[qid] = &readQuery{handle: handle, left: left, expires: now.Add(cluster.TaskTTL)}
}

// read records that a final task of a query was read to its end (err nil)
// or failed; the query ends with its last task or its first failure, and
// is then cancelled on every executor. A task < 0 ends the query (a merge
// reads all its tasks at once).
func (d *dist) read(qid string, task int, err error) {
	d.leases.closed(qid, task, err)
	r := &d.reading
	r.mu.Lock()
	q := r.q[qid]
	if q != nil {
		delete(q.left, task)
		if err == nil && task >= 0 && len(q.left) > 0 {
			q = nil // more to read
		} else {
			delete(r.q, qid)
		}
	}
	r.mu.Unlock()
	if q != nil {
		d.cancelQuery(qid, q.handle, false)
	}
}

// cancelQuery asks every live executor to stop the query's tasks and drop
// what they hold, in the background. With revoke (its client cancelled
// it: Cancel voids its tickets here) they are void at the executors too;
// otherwise (it was read to its end, failed, or was abandoned) a ticket
// redeemed again runs its task again.
func (d *dist) cancelQuery(qid, handle string, revoke bool) {
	d.sched.cancel(qid)
	for _, m := range d.reg.live() {
		d.work.spawn(func() {
			ctx, cancel := context.WithTimeout(d.life, 10*time.Second)
			defer cancel()
			if revoke {
				ctx = metadata.AppendToOutgoingContext(ctx, cluster.RevokeHeader, "1")
			}
			c, lease, err := d.clients.get(m.Location)
			if err == nil {
				defer lease()
				err = d.callAt(ctx, c, cluster.ActionCancel, handle)
			}
			if err != nil && ctx.Err() == nil {
				d.log.Debug().Err(err).Str("query_id", qid).Str("executor", m.ID).Msg("cancelling a query's tasks failed; they go when their tickets expire")
			}
		})
	}
}

// cancelServedHere cancels on every live executor, and waits up to wait
// for, the queries whose endpoints come back to this coordinator, which is
// stopping and will serve none of them: a drain whose grace ran out left
// what they held in the executors' spools until their tickets expired,
// ten minutes (a tester's: 1.2 GB). Not revoked: a ticket redeemed again
// (at a coordinator started again) runs its task again. Direct queries
// stay: their clients read them at the executors, across a restart.
func (d *dist) cancelServedHere(wait time.Duration) {
	qs := d.leases.servedHere()
	if len(qs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var wg sync.WaitGroup
	for _, m := range d.reg.live() {
		wg.Go(func() {
			c, lease, err := d.clients.get(m.Location)
			if err != nil {
				return
			}
			defer lease()
			for _, q := range qs {
				if err := d.callAt(ctx, c, cluster.ActionCancel, q.handle); err != nil && ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	d.log.Info().Int("queries", len(qs)).Msg("stopping: the queries served here are cancelled on the executors")
}

// revocations are the queries cancelled by their clients (CancelFlightInfo),
// until their tickets expire: their tickets are void (check), and the
// streams of them open here stop (follow). Redeemed after the cancel, a
// ticket ran its task again, with its producers, on executors the cancel
// had passed, and an open stream read on to its end: a storm of clients
// cancelling and reading held streams for minutes and the executors'
// spools for ten.
type revocations struct {
	mu      sync.Mutex
	q       map[string]time.Time // until
	streams map[string]map[*context.CancelCauseFunc]bool
}

// errRevoked is why a revoked query's tickets and streams fail.
var errRevoked = errors.New("was cancelled by its client (CancelFlightInfo): its tickets no longer run")

func revokedError(qid string) error {
	return fmt.Errorf("%w: query %s %w", context.Canceled, qid, errRevoked)
}

func (r *revocations) add(qid string) {
	now := time.Now()
	r.mu.Lock()
	if r.q == nil {
		r.q = map[string]time.Time{}
	}
	for id, until := range r.q {
		if now.After(until) {
			delete(r.q, id)
		}
	}
	r.q[qid] = now.Add(cluster.TaskTTL)
	var stop []context.CancelCauseFunc
	for c := range r.streams[qid] {
		stop = append(stop, *c)
	}
	r.mu.Unlock()
	for _, c := range stop {
		c(revokedError(qid))
	}
}

// check is the error of a revoked query, else nil.
func (r *revocations) check(qid string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if until, ok := r.q[qid]; ok && time.Now().Before(until) {
		return revokedError(qid)
	}
	return nil
}

// follow has cancel called, with the revocation's error, when qid is
// revoked while a stream of it is open; forget, when the stream ends.
func (r *revocations) follow(qid string, cancel context.CancelCauseFunc) (forget func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams == nil {
		r.streams = map[string]map[*context.CancelCauseFunc]bool{}
	}
	if r.streams[qid] == nil {
		r.streams[qid] = map[*context.CancelCauseFunc]bool{}
	}
	key := &cancel
	r.streams[qid][key] = true
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if delete(r.streams[qid], key); len(r.streams[qid]) == 0 {
			delete(r.streams, qid)
		}
	}
}

// Cancel implements flightsql.Cluster: CancelFlightInfo with a ticket
// this layer issued stops the query's tasks on every executor and ends
// it cancelled. Its tasks start when the FlightInfo is issued, so without
// this a client that plans a query and reads none of it (skein sql
// --explain) leaves them running until they end or their tickets expire.
func (d *dist) Cancel(user string, handle []byte) (bool, error) {
	qid, trace, task, ok, err := d.ticketQuery(user, handle)
	if !ok || err != nil {
		return ok, err
	}
	working := d.sched.working(qid)
	d.revoked.add(qid)
	if task != "" {
		d.cancelQuery(qid, task, true)
	}
	if working {
		// Cancelled while its tasks ran, it was interrupted: its
		// session's transaction, if it ran in it, is aborted, as DuckDB
		// aborts one whose statement is interrupted while it runs (it
		// stayed open, and COMMIT kept the writes before the query). One
		// whose tasks had all ended is a result let go, as DuckDB's
		// streaming result interrupted.
		d.sqlFailed(qid, fmt.Errorf("query %s was cancelled: %w", qid, context.Canceled), true)
	}
	d.owed.drop(qid)
	d.leases.drop(qid)
	// Said, as an abandoned query's reason is: "context canceled" alone
	// left skein.queries' readers to guess who cancelled it.
	d.hist.finished(qid, 0, 0, fmt.Errorf("cancelled by its client (CancelFlightInfo): %w", context.Canceled))
	flightsql.QueryLog(d.log, qid, trace).Info().Msg("query cancelled")
	return true, nil
}

// ticketQuery is the query behind a ticket handle this layer issued to
// user, and one of its task handles (the capability to cancel it); ok is
// false for any other handle.
func (d *dist) ticketQuery(user string, handle []byte) (qid, trace, task string, ok bool, err error) {
	is, ok, err := d.issuedTicket(handle)
	if !ok || err != nil {
		return "", "", "", ok, err
	}
	var owner string
	if t := is.task; t != nil {
		qid, trace, owner, task = t.Query, t.Trace, t.User, string(handle)
	} else {
		m := is.m
		qid, trace, owner = m.Query, m.Trace, m.User
		if err := d.unbundled(m); err != nil {
			return qid, trace, "", true, err
		}
		if len(m.Tasks) > 0 {
			task = m.Tasks[0]
		}
	}
	if owner != user {
		return qid, trace, task, true, fmt.Errorf("%w: the ticket was issued to another user", flightsql.ErrDenied)
	}
	return qid, trace, task, true, nil
}

// Renew implements flightsql.Cluster: RenewFlightEndpoint moves the lease
// of the query behind the endpoint (see leases).
func (d *dist) Renew(user string, handle []byte) (time.Time, bool, error) {
	qid, _, _, ok, err := d.ticketQuery(user, handle)
	if !ok || err != nil {
		return time.Time{}, ok, err
	}
	deadline, kept := d.leases.touch(qid)
	if !kept {
		return time.Time{}, true, fmt.Errorf("%w: query %s no longer waits for its endpoints to be read: it was read, cancelled or abandoned",
			flightsql.ErrNotFound, qid)
	}
	return deadline, true, nil
}

// Progress implements flightsql.Cluster: how far a query planned here has
// come, as the history has it; asking renews its lease.
func (d *dist) Progress(qid string) (flightsql.Progress, bool) {
	p, ok := d.hist.progress(qid)
	if !ok {
		return p, false
	}
	if deadline, kept := d.leases.touch(qid); kept {
		p.Expires = deadline
	} else {
		p.Expires = time.Now().Add(d.leases.expiry)
	}
	return p, true
}

// SessionBusy implements flightsql.Cluster: a session's queries are
// followed until they end and their endpoints were read.
func (d *dist) SessionBusy(session string) int { return d.leases.ofSession(session) }

// SessionOverdue implements flightsql.Cluster (leases' overdue).
func (d *dist) SessionOverdue(session string) (time.Time, time.Duration) {
	return d.leases.overdue(session)
}

// SessionClosed implements flightsql.Cluster: the queries a closed
// session planned are abandoned.
func (d *dist) SessionClosed(session string) {
	if d.work.enter() != nil {
		return
	}
	defer d.work.leave()
	d.abandon(d.leases.sessionClosed(session))
}
