package coordinator

import (
	"fmt"
	"slices"
	"sort"
	"strings"
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
	// needs are the coordinator's --allow-dirs (each in its
	// cluster.Forms) and --allow-prefixes: an executor that does not
	// reach one fails every task reading its files, so it is refused.
	needs [][]string
	log   zerolog.Logger
	now   func() time.Time

	reports func([]cluster.TaskReport) // receives the tasks heartbeats report
	reads   func(executor string, reads []cluster.Read)

	mu      sync.Mutex
	members map[string]*member
	next    int // round-robin cursor for ties
	// ver counts the changes of membership (an executor registered,
	// draining, gone, or its location or threads changed): the views
	// below are rebuilt after one, or once a member in them may have died,
	// not for each query.
	ver  uint64
	view view
	// lastTick is when the scheduler's loop last ticked (ticked).
	lastTick time.Time
}

// view is what queries need of the membership, shared by every query
// until the membership changes: no query pays for each executor.
type view struct {
	ver   uint64
	until time.Time // when a member in it may be dead: rebuilt then
	// ready: the executors taking tasks, by id; members the same, as
	// of their last change (their load is not kept up to date here).
	ready   []*member
	members []cluster.Member
	locs    map[string]bool // where the live executors serve, draining ones included
	// gone: where members counted dead served, if no live one serves
	// there now (see cluster.Ack.Gone).
	gone []string
}

// heartbeatBudget is how many heartbeats a second the coordinator asks of
// all its executors together when nothing happens on them: beyond this
// many executors each is asked for fewer (cluster.Ack), and is dead after
// three of them missed. An executor with news (finished tasks, a read
// ended) reports it at once, whatever the interval.
const heartbeatBudget = 200

type member struct {
	cluster.Member
	lastSeen time.Time
	assigned int // tasks given out since the last heartbeat
}

func newRegistry(secret cluster.Secret, timeout time.Duration, zone string, log zerolog.Logger) *registry {
	return &registry{secret: secret, timeout: timeout, zone: zone, log: log, now: time.Now, members: map[string]*member{}}
}

// ack is the answer to an executor's registration or heartbeat: how often
// to send heartbeats.
func (r *registry) ack() cluster.Ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	return cluster.Ack{Every: r.every(), Gone: r.current().gone}
}

// action handles an executor's registration or heartbeat.
func (r *registry) action(typ string, body []byte) error {
	m, err := r.verify(body)
	if err != nil {
		return err
	}
	return r.act(typ, m)
}

// verify reads an executor's signed membership.
func (r *registry) verify(body []byte) (cluster.Member, error) {
	m, err := r.secret.VerifyMember(body)
	if err != nil {
		return m, fmt.Errorf("%w: executor membership: %w", flightsql.ErrUnauthenticated, err)
	}
	return m, nil
}

// act handles a registration or heartbeat whose signature was verified.
func (r *registry) act(typ string, m cluster.Member) error {
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
	if typ == cluster.ActionRegister || typ == cluster.ActionDrain {
		if err := r.reaches(m); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur, known := r.members[m.ID]
	alive := known && r.alive(cur)
	switch typ {
	case cluster.ActionRegister:
		r.members[m.ID] = &member{Member: m, lastSeen: r.now()}
		r.ver++
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Bool("draining", m.Draining).Msg("executor registered")
	case cluster.ActionHeartbeat:
		if !alive {
			// Dead or unknown (the coordinator restarted): register again.
			return fmt.Errorf("%w: executor %s is not registered", flightsql.ErrNotFound, m.ID)
		}
		if cur.Location != m.Location || cur.Threads != m.Threads || cur.Draining != m.Draining {
			r.ver++
		}
		cur.Member, cur.lastSeen, cur.assigned = m, r.now(), 0
	case cluster.ActionDrain:
		// Known or not (the coordinator restarted), it serves what it has
		// and is given nothing new.
		m.Draining = true
		r.ver++
		if alive {
			cur.Member, cur.lastSeen = m, r.now()
		} else {
			r.members[m.ID] = &member{Member: m, lastSeen: r.now()}
		}
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Int("running", m.Running).Msg("executor draining")
	case cluster.ActionDeregister:
		delete(r.members, m.ID)
		r.ver++
		r.log.Info().Str("executor", m.ID).Str("location", m.Location).Msg("executor deregistered")
	default:
		return fmt.Errorf("%w: cluster action %q", flightsql.ErrUnimplemented, typ)
	}
	return nil
}

// reaches is nil if executor m may use every directory and prefix SQL may
// name at the coordinator, else an error naming those it may not.
func (r *registry) reaches(m cluster.Member) error {
	var missing []string
	for _, forms := range r.needs {
		if !cluster.Reached(m.Reach, forms) {
			missing = append(missing, forms[0])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%w: executor %s may not read %s, which SQL may read at the coordinator: its tasks would fail on their files; start it with --allow-dir (or --allow-prefix) for each, at the same path",
		flightsql.ErrInvalid, m.ID, strings.Join(missing, ", "))
}

// live lists the executors heard from within the timeout, draining ones
// included: they still serve the tasks they have.
func (r *registry) live() []cluster.Member { return r.list(false) }

// ready lists the live executors that take new tasks (not draining).
// They are shared: callers do not change them.
func (r *registry) ready() []cluster.Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current().members
}

// current is the view of the membership, rebuilt if stale. r.mu is held.
func (r *registry) current() *view {
	now := r.now()
	if r.view.ver == r.ver && r.view.locs != nil && now.Before(r.view.until) {
		return &r.view
	}
	v := view{ver: r.ver, until: now.Add(r.deadAfter()), locs: map[string]bool{}}
	var dead []string
	for _, m := range r.members {
		if !r.alive(m) {
			dead = append(dead, m.Location)
			continue
		}
		v.locs[m.Location] = true
		if dies := m.lastSeen.Add(r.deadAfter()); dies.Before(v.until) {
			v.until = dies
		}
		if !m.Draining {
			v.ready = append(v.ready, m)
		}
	}
	for _, loc := range dead {
		if !v.locs[loc] && !slices.Contains(v.gone, loc) {
			v.gone = append(v.gone, loc)
		}
	}
	sort.Strings(v.gone)
	sort.Slice(v.ready, func(i, j int) bool { return v.ready[i].ID < v.ready[j].ID })
	for _, m := range v.ready {
		v.members = append(v.members, m.Member)
	}
	r.view = v
	return &r.view
}

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

// locations are where the live executors serve (shared: not to be
// changed).
func (r *registry) locations() map[string]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current().locs
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

// heardAfter says whether executor id was heard from (registered, or a
// heartbeat) after t; known is false once it deregistered.
func (r *registry) heardAfter(id string, t time.Time) (heard, known bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, ok := r.members[id]
	if !ok {
		return false, false
	}
	return m.lastSeen.After(t), true
}

// verdictWindow is how long an executor whose connection broke may stay
// unheard before it counts as dead of what it ran (scheduler.died):
// executors beat every second by default, and the heartbeat timeout is
// longer than their beat.
func (r *registry) verdictWindow() time.Duration {
	return min(r.deadAfter()/2, 2500*time.Millisecond)
}

// places is how many addresses the executors ids served at, alive or not
// (an id it no longer knows counts as one of its own): an executor
// restarted where it served registers under a new id.
func (r *registry) places(ids []string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range ids {
		if m, ok := r.members[id]; ok {
			seen[m.Location] = true
		} else {
			seen["id:"+id] = true
		}
	}
	return len(seen)
}

// placeOf is where executor id serves or served ("" if never known).
func (r *registry) placeOf(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.members[id]; ok {
		return m.Location
	}
	return ""
}

// idAt is the executor serving at loc, alive or not: the one last heard
// from when an executor restarted there under a new id.
func (r *registry) idAt(loc string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	found, last := "", time.Time{}
	for id, m := range r.members {
		if m.Location == loc && (found == "" || m.lastSeen.After(last)) {
			found, last = id, m.lastSeen
		}
	}
	return found, found != ""
}

// assign picks an executor and an alternate for each of n tasks: the least
// loaded ready executor first (its reported running tasks plus what was
// assigned since), ties broken round-robin. A draining executor gets none.
func (r *registry) assign(n int) [][2]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	live := r.current().ready
	if len(live) == 0 {
		return nil
	}
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
		out[t] = [2]string{live[best].ID, alternate(live, best)}
	}
	return out
}

// alternate is the first executor after live[best] that serves at
// another address, or if none does the next one (live[best] itself when
// alone: a task is retried where it failed). An executor restarted at its
// address is a new member while the old one is counted alive (until
// --heartbeat-timeout), and an alternate at the same address was no
// alternate when another address was live.
func alternate(live []*member, best int) string {
	for k := 1; k < len(live); k++ {
		if m := live[(best+k)%len(live)]; m.Location != live[best].Location {
			return m.ID
		}
	}
	return live[(best+1)%len(live)].ID
}

// interval is how long an executor may take to report what happened
// there (a read of one of its task results): a heartbeat's period.
func (r *registry) interval() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.every()
}

// every is how often each executor is asked for a heartbeat: as often
// as --heartbeat-timeout allows (at most every second) up to
// heartbeatBudget executors, less often beyond. r.mu is held.
func (r *registry) every() time.Duration {
	return max(r.base(), time.Duration(len(r.members))*time.Second/heartbeatBudget)
}

// base is the heartbeat interval of a small cluster.
func (r *registry) base() time.Duration { return min(time.Second, r.timeout/3) }

// deadAfter is how long an executor may be silent: the timeout, or, where
// the cluster is so large that heartbeats are asked for less often than
// the base interval, three of them and a base interval if that is longer.
// (Until 2026-12-04 the longer bound held at every size: with a timeout
// under 3 s an executor was dead a third later than --heartbeat-timeout
// said.) r.mu is held.
func (r *registry) deadAfter() time.Duration {
	if every := r.every(); every > r.base() {
		return max(r.timeout, 3*every+r.base())
	}
	return r.timeout
}

// alive reports whether m was heard from within deadAfter, as of asOf;
// r.mu is held.
func (r *registry) alive(m *member) bool { return r.asOf().Sub(m.lastSeen) <= r.deadAfter() }

// asOf is when liveness is judged: now, or, while the scheduler's ticks
// are overdue by more than half the timeout, the last tick. This process
// itself did not run (stopped, a suspended machine, starved): its
// executors' heartbeats could not be heard meanwhile, and their silence
// is not theirs until the scheduler has looked again (ticked). A 25 s
// SIGSTOP of the coordinator failed its proxied queries, Canceled
// "executor ... is not alive", every executor being alive. r.mu is held.
func (r *registry) asOf() time.Time {
	now := r.now()
	if !r.lastTick.IsZero() && now.Sub(r.lastTick) > r.timeout/2 {
		return r.lastTick
	}
	return now
}

// ticked is told at each tick of the scheduler's loop (schedTick). After a
// gap of more than half the timeout since the last (this process was
// paused), every member's last heartbeat moves on by the gap: they have a
// timeout's time to be heard again, counted from now.
func (r *registry) ticked() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if gap := now.Sub(r.lastTick); !r.lastTick.IsZero() && gap > r.timeout/2 {
		for _, m := range r.members {
			if m.lastSeen = m.lastSeen.Add(gap); m.lastSeen.After(now) {
				m.lastSeen = now
			}
		}
		r.ver++
		r.log.Warn().Dur("paused", gap).Msg("this process did not run for a while: its executors' silence meanwhile is not counted")
	}
	r.lastTick = now
}

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
		if r.now().Sub(m.lastSeen) > r.deadAfter()+forgetDead {
			delete(r.members, id)
			continue
		}
		st := memberState{Member: m.Member, lastSeen: m.lastSeen, alive: r.alive(m)}
		if !st.alive {
			// Its last heartbeat's counts are not what it runs now: its
			// tasks were given to others, or the process is gone.
			st.Running, st.Waiting = 0, 0
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
