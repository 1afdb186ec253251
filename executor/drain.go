package executor

import (
	"context"
	"time"

	"github.com/skeindb/skein/internal/cluster"
)

// Draining waits: for the coordinator's acknowledgement at most ackWait
// (the coordinator's default --heartbeat-timeout: an executor it cannot
// hear from that long it has dropped anyway); then until nothing has been
// running or held for drainQuiet (a start sent by a plan made just before
// the coordinator heard of the drain arrives within it). Results nobody
// has come for while nothing else runs wait drainLinger more: readers
// still working through a query's endpoints come for theirs, while a
// result a client abandoned (it read a few rows, or never read) would
// hold the drain until its ticket expired. Later readers go to the
// task's other locations, which run it again.
const (
	ackWait     = 5 * time.Second
	drainQuiet  = 500 * time.Millisecond
	drainLinger = 5 * time.Second
	drainPoll   = 50 * time.Millisecond
)

// Drain stops the executor gracefully, as on SIGTERM: health turns
// NOT_SERVING and the coordinator is told to assign it nothing more
// (skein.drain); the tasks it has run to their end and the streams being
// read finish, and their results wait a while for readers still to come
// (clients, the coordinator, other executors' consumer tasks); then it
// deregisters and shuts down. When ctx ends first (the grace is over) it
// stops anyway. Either way, readers of what is left go to the task's other
// locations (the alternate executor runs it again) or the coordinator
// retries it. Calls after the first, or after Shutdown, do nothing.
func (e *Executor) Drain(ctx context.Context) {
	e.shutdown.Do(func() {
		e.drain(ctx)
		e.stopAll()
	})
}

func (e *Executor) drain(ctx context.Context) {
	start := time.Now()
	e.draining.Store(true)
	e.health.Drain()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.log.Info().Int64("tasks", e.inflight.Load()).Int64("streams", e.streams.Load()).Int("results", e.held()).
		Msg("draining: taking no new tasks")
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	// Not registered (or the drain could not be sent: the registration
	// is then lost), the coordinator assigns it nothing anyway.
	ack := time.NewTimer(ackWait)
acked:
	for e.registered.Load() {
		select {
		case <-e.drainAcked:
			break acked
		case <-ack.C:
			e.log.Warn().Dur("waited", ackWait).Msg("the coordinator did not acknowledge the drain; draining anyway")
			break acked
		case <-ctx.Done():
			break acked
		case <-tick.C:
		}
	}
	ack.Stop()
	var idle time.Time // since when nothing has run
	for {
		running, held := e.inflight.Load()+e.streams.Load(), e.held()
		switch {
		case running > 0:
			idle = time.Time{}
		case idle.IsZero():
			idle = time.Now()
		case held == 0 && time.Since(idle) >= drainQuiet:
			e.leave()
			e.log.Info().Dur("took", time.Since(start)).Msg("drained")
			return
		case time.Since(idle) >= drainLinger:
			e.leave()
			e.log.Info().Dur("took", time.Since(start)).Int("unread", held).
				Msg("drained; results nobody came for are left to the tasks' other locations")
			return
		}
		select {
		case <-ctx.Done():
			e.log.Warn().Int64("running", running).Int("unread", held).
				Msg("drain cut short (grace over, or a second signal): stopping with tasks or results left")
			e.leave()
			return
		case <-tick.C:
		}
	}
}

// held counts the started results not yet taken by all their readers.
func (e *Executor) held() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, s := range e.started {
		if s.held() {
			n++
		}
	}
	return n
}

// held says a started task still holds a result for a reader to come.
func (s *started) held() bool {
	if s.sp != nil && !s.sp.isClosed() {
		return true
	}
	return s.parts != nil && !s.drained()
}

// leave stops the report loop (so nothing registers again) and tells the
// coordinator the executor is gone.
func (e *Executor) leave() {
	e.stopReport()
	<-e.reported
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.dialCoordinator()
	if err == nil {
		defer c.Close()
		// It carries the last task reports, as a heartbeat would.
		_, err = e.send(ctx, c, cluster.ActionDeregister)
	}
	if err != nil {
		e.log.Warn().Err(err).Msg("deregistering failed: the coordinator forgets this executor when its heartbeats stop")
		return
	}
	e.log.Info().Msg("deregistered")
}
