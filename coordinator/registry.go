package coordinator

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
)

// registry tracks the executors: who registered, when each was last heard
// from, and how loaded it said it was. One that misses heartbeats for the
// timeout is dead until it registers again; one that deregisters is gone
// at once. A draining executor is alive (it serves the tasks it has, and
// their results) but is assigned nothing new.
type registry struct {
	secret  cluster.Secret
	timeout time.Duration
	// zone is the coordinator's time zone: an executor computing in
	// another would give answers no single DuckDB gives, so it is refused.
	zone string
	log  zerolog.Logger
	now  func() time.Time

	reports func([]cluster.TaskReport) // receives the tasks heartbeats report
	reads   func(executor string, reads []cluster.Read)

	mu      sync.Mutex
	members map[string]*member
	next    int // round-robin cursor for ties
}

type member struct {
	cluster.Member
	lastSeen time.Time
	assigned int // tasks given out since the last heartbeat
}

func newRegistry(secret cluster.Secret, timeout time.Duration, zone string, log zerolog.Logger) *registry {
	return &registry{secret: secret, timeout: timeout, zone: zone, log: log, now: time.Now, members: map[string]*member{}}
}

// action handles an executor's registration or heartbeat.
func (r *registry) action(typ string, body []byte) error {
	m, err := r.secret.VerifyMember(body)
	if err != nil {
		return fmt.Errorf("%w: executor membership: %w", flightsql.ErrUnauthenticated, err)
	}
	if len(m.Done) > 0 && r.reports != nil {
		defer r.reports(m.Done)
	}
	if r.reads != nil {
		defer r.reads(m.ID, m.Reads)
	}
	if m.Zone != r.zone {
		return fmt.Errorf("%w: executor %s computes in time zone %q, the coordinator in %q: start it with --timezone %q",
			flightsql.ErrInvalid, m.ID, m.Zone, r.zone, r.zone)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, known := r.members[m.ID]
	alive := known && r.alive(cur)
	switch typ {
	case cluster.ActionRegister:
		r.members[m.ID] = &member{Member: m, lastSeen: r.now()}
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Bool("draining", m.Draining).Msg("executor registered")
	case cluster.ActionHeartbeat:
		if !alive {
			// Dead or unknown (the coordinator restarted): register again.
			return fmt.Errorf("%w: executor %s is not registered", flightsql.ErrNotFound, m.ID)
		}
		cur.Member, cur.lastSeen, cur.assigned = m, r.now(), 0
	case cluster.ActionDrain:
		// Known or not (the coordinator restarted), it serves what it has
		// and is given nothing new.
		m.Draining = true
		if alive {
			cur.Member, cur.lastSeen = m, r.now()
		} else {
			r.members[m.ID] = &member{Member: m, lastSeen: r.now()}
		}
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Int("running", m.Running).Msg("executor draining")
	case cluster.ActionDeregister:
		delete(r.members, m.ID)
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Msg("executor deregistered")
	default:
		return fmt.Errorf("%w: cluster action %q", flightsql.ErrUnimplemented, typ)
	}
	return nil
}

// live lists the executors heard from within the timeout, draining ones
// included: they still serve the tasks they have.
func (r *registry) live() []cluster.Member { return r.list(false) }

// ready lists the live executors that take new tasks (not draining).
func (r *registry) ready() []cluster.Member { return r.list(true) }

func (r *registry) list(ready bool) []cluster.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cluster.Member
	for _, m := range r.members {
		if r.alive(m) && (!ready || !m.Draining) {
			out = append(out, m.Member)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// locations are where the live executors serve.
func (r *registry) locations() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]bool{}
	for _, m := range r.members {
		if r.alive(m) {
			out[m.Location] = true
		}
	}
	return out
}

// location is where an executor serves, if it is alive.
func (r *registry) location(id string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok || !r.alive(m) {
		return "", false
	}
	return m.Location, true
}

// assign picks an executor and an alternate for each of n tasks: the least
// loaded ready executor first (its reported running tasks plus what was
// assigned since), ties broken round-robin. A draining executor gets none.
func (r *registry) assign(n int) [][2]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var live []*member
	for _, m := range r.members {
		if r.alive(m) && !m.Draining {
			live = append(live, m)
		}
	}
	if len(live) == 0 {
		return nil
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
	out := make([][2]string, n)
	for t := range n {
		best := -1
		for k := range live {
			i := (r.next + k) % len(live)
			if best < 0 || load(live[i]) < load(live[best]) {
				best = i
			}
		}
		r.next = (best + 1) % len(live)
		live[best].assigned++
		alt := live[(best+1)%len(live)].ID
		out[t] = [2]string{live[best].ID, alt}
	}
	return out
}

// interval is how long an executor may take to report what happened
// there (a read of one of its task results): a heartbeat's period.
func (r *registry) interval() time.Duration { return r.timeout }

// alive reports whether m was heard from within the timeout; r.mu is held.
func (r *registry) alive(m *member) bool { return r.now().Sub(m.lastSeen) <= r.timeout }

func load(m *member) int { return m.Running + m.assigned }

// memberState is a member as the status page and metrics show it.
type memberState struct {
	cluster.Member
	lastSeen time.Time
	alive    bool
}

// forgetDead is how long a dead member is still listed (status page,
// metrics): executors that come and go (scaled down, restarted under a
// new id) do not pile up.
const forgetDead = 10 * time.Minute

// snapshot lists the members, live or dead, by id, forgetting those dead
// for longer than forgetDead (one that comes back registers again).
func (r *registry) snapshot() []memberState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]memberState, 0, len(r.members))
	for id, m := range r.members {
		if r.now().Sub(m.lastSeen) > r.timeout+forgetDead {
			delete(r.members, id)
			continue
		}
		out = append(out, memberState{Member: m.Member, lastSeen: m.lastSeen, alive: r.alive(m)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
