package coordinator

import (
	"context"
	"sync"
	"time"

	"github.com/skeindb/skein/internal/cluster"
)

// owed follows the endpoints of issued FlightInfos that come back to the
// coordinator (proxied tasks, merges) until each is redeemed or its ticket
// expires: a draining coordinator waits for them. Endpoints at executors
// (direct mode) are the executors' to serve and are not followed.
type owed struct {
	mu sync.Mutex
	q  map[string]*owedQuery
}

type owedQuery struct {
	left    map[int]bool // tasks whose tickets are unredeemed (-1: a merge)
	expires time.Time
	open    func() bool // whether the client connection it was planned on is open
}

// add follows a query's endpoints, by task (-1 for a merge), while open
// says the client that planned it is still connected.
func (o *owed) add(qid string, tasks []int, open func() bool) {
	left := map[int]bool{}
	for _, t := range tasks {
		left[t] = true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.q == nil {
		o.q = map[string]*owedQuery{}
	}
	o.q[qid] = &owedQuery{left: left, expires: time.Now().Add(cluster.TaskTTL), open: open}
}

// redeemed says a query's endpoint has been redeemed (a retry of one
// already redeemed changes nothing).
func (o *owed) redeemed(qid string, task int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if q := o.q[qid]; q != nil {
		delete(q.left, task)
		if len(q.left) == 0 {
			delete(o.q, qid)
		}
	}
}

// drop stops following a query (cancelled: nobody will read it).
func (o *owed) drop(qid string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.q, qid)
}

// count is how many endpoints are unredeemed, forgetting expired ones and
// those of clients that have hung up (abandoned: they would hold a drain
// until their tickets expire).
func (o *owed) count() int {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for id, q := range o.q {
		if now.After(q.expires) || !q.open() {
			delete(o.q, id)
			continue
		}
		n += len(q.left)
	}
	return n
}

// Drain begins a graceful stop, as on SIGTERM: health turns NOT_SERVING,
// calls that would start a query or a session are refused (Unavailable),
// and it waits until the queries planned here have been read (local ones
// to the end of their streams; of distributed ones, the endpoints that
// come back to the coordinator read to their end, and every task run),
// or until ctx ends. A query
// cancelled, or planned by a client that has since closed its connection,
// is not waited for. Cluster actions go on meanwhile, so executors stay
// registered. Shutdown then stops the server within what is left of ctx's
// deadline.
func (c *Coordinator) Drain(ctx context.Context) {
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		c.stopBy.Store(dl.UnixNano())
	}
	c.health.Drain()
	c.fs.Drain()
	c.log.Info().Int("pending", c.pending()).Msg("draining: refusing new queries, finishing those planned")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for c.pending() > 0 {
		select {
		case <-ctx.Done():
			// The grace is over, or a second signal cut it short: what is
			// left is interrupted.
			c.stopBy.Store(time.Now().UnixNano())
			c.log.Warn().Int("pending", c.pending()).Msg("drain ended with queries unread")
			return
		case <-tick.C:
		}
	}
	c.log.Info().Dur("took", time.Since(start)).Msg("drained")
}

// pending counts the queries a draining coordinator waits for: those
// planned here and not yet read, those streaming through it, and those
// whose tasks the executors still run. It waited for the first only, and
// stopped serving (its executors' heartbeats refused, so that they died
// to it) while queries it streamed or scheduled ran: each failed at the
// end of the grace, "received prior goaway" (a tester's).
func (c *Coordinator) pending() int {
	n := c.fs.Pending()
	if c.dist != nil {
		n += c.dist.owed.count() + int(c.dist.streams.Load()) + c.dist.sched.unfinished()
	}
	return n
}
