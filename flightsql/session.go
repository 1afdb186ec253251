package flightsql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/users"
)

// session is one client's server-side state: its own DuckDB connection (and
// so its transaction, temp tables and current schema), its prepared
// statements and its pending queries. One request uses the connection at a
// time; lock waits for it while the caller's context lives.
type session struct {
	id   string
	user string
	role users.Role
	conn *duck.Conn

	sem chan struct{} // holds one token while the connection is in use
	// yield, while a query's result streams on the connection (a DoGet
	// holds it until the client has read the last row), is closed when
	// another request waits for the connection: the stream ends at its
	// next batch, as DuckDB closes a connection's pending result when
	// the connection runs its next statement. waiting counts the requests
	// waiting. Both guarded by mu.
	yield   chan struct{}
	waiting int

	// pending counts the planned queries waiting for (or streaming to)
	// their DoGet: they run on this session's connection.
	pending atomic.Int32

	mu       sync.Mutex // guards the fields below
	lastUsed time.Time
	claimed  bool   // a client came back to it: Handshake, token, cookie, transaction or handle
	fresh    bool   // its creator has not taken it yet: not to be reclaimed under it
	txn      string // open transaction id, "" if none
	// rollback is set when the open transaction is rolled back, for the
	// queries planned in it (query.inItsTxn); duckTxn is DuckDB's id of
	// it (0: not known).
	rollback *atomic.Bool
	duckTxn  int64
	// committedInSQL is the transaction id a COMMIT in SQL ended last
	// (endedInSQL), "" if none.
	committedInSQL string
	resultMode     string // session option result_mode; "" for the server's
	prepared       map[string]*prepared
	closed         bool
	// links are the client connections its requests came on, open ones
	// and those closed since the last request. noTxn says an abandonTxns
	// pass found no transaction open since the last request.
	links map[*clientConn]struct{}
	noTxn bool
	// holds: reclaimDisconnected found it holding what its client could
	// come back for, since its last request.
	holds bool
	// failed is the error of a query it planned that failed on executors
	// in its own SQL, planned at failedSince: its transaction, if open
	// then and still, is aborted before its next request once a reader
	// met it (abortFailed).
	failed      error
	failedSince time.Time
	failedRead  bool // a reader met failed
	// overdue, when set, says whether a query it planned on executors
	// ran past its timeout unread (sessions.overdue).
	overdue func() (issued time.Time, wait time.Duration)
}

// maxWaiting is how many requests may wait for a session's connection at
// once. Each holds its message meanwhile: 400 calls of 2 MiB of SQL each,
// waiting behind one long statement of their session, took a coordinator
// to 4.2 GB (a tester's). A client runs one call at a time on a session
// (ADBC, the JDBC driver); one shared by threads waits in line.
const maxWaiting = 16

func (s *session) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	default:
		s.mu.Lock()
		if s.waiting >= maxWaiting {
			s.mu.Unlock()
			return fmt.Errorf("%w: %d calls already wait for this session's connection, which runs one at a time: "+
				"wait for their answers, or open another session", ErrBusy, maxWaiting)
		}
		s.waiting++
		s.wake()
		s.mu.Unlock()
		var err error
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		s.waiting--
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return s.taken(ctx)
}

// lockQuietly takes the connection as lock does, for work no client waits
// for: a result being read is not hurried to its end (errClosedByNext).
func (s *session) lockQuietly(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.taken(ctx)
}

// whenFree runs f holding s's connection: at once if no request holds it,
// else in a goroutine once one gives it back, without hurrying a result
// being read (lockQuietly). gone, if set, runs instead when s closes or
// life ends first.
func (s *session) whenFree(ctx, life context.Context, f, gone func()) {
	if s.tryLock(ctx) {
		defer s.unlock()
		f()
		return
	}
	go func() {
		if err := s.lockQuietly(life); err != nil {
			if gone != nil {
				gone()
			}
			return
		}
		defer s.unlock()
		f()
	}()
}

// tryLock takes s's connection, as lock does, if no request holds it,
// and says whether it did.
func (s *session) tryLock(ctx context.Context) bool {
	select {
	case s.sem <- struct{}{}:
	default:
		return false
	}
	return s.taken(ctx) == nil
}

// taken records a request that took the connection (s.sem), and gives it
// back if s is closed.
func (s *session) taken(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.lastUsed = time.Now()
	s.fresh = false
	s.noTxn = false
	s.holds = false
	if c := connOf(ctx); c != nil {
		s.link(c)
	}
	s.mu.Unlock()
	if closed {
		<-s.sem
		return errSessionEnded
	}
	return nil
}

// yielding is called by a request holding the connection to stream a
// result: the channel it returns is closed when another request waits
// for the connection (at once if one does). streamed ends it.
func (s *session) yielding() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	s.yield = ch
	if s.waiting > 0 {
		s.wake()
	}
	return ch
}

// streamed says the result streaming on the connection has ended.
func (s *session) streamed() {
	s.mu.Lock()
	s.yield = nil
	s.mu.Unlock()
}

// wake closes the yield channel of a result streaming on the connection.
// The caller holds s.mu.
func (s *session) wake() {
	if s.yield != nil {
		close(s.yield)
		s.yield = nil
	}
}

// link records that a request came on c, forgetting the connections
// closed before it (a JDBC client opens one per endpoint it reads): c,
// open now, closes after them. The caller holds s.mu.
func (s *session) link(c *clientConn) {
	for o := range s.links {
		if o.closed() {
			delete(s.links, o)
		}
	}
	if s.links == nil {
		s.links = map[*clientConn]struct{}{}
	}
	s.links[c] = struct{}{}
}

// abandoned says whether every client connection s was used on has been
// closed for at least grace, and s unused as long: its client is gone
// (killed, or cut off and not back). The caller holds s.mu.
func (s *session) abandoned(now time.Time, grace time.Duration) bool {
	if s.noTxn || s.closed || now.Sub(s.lastUsed) < grace {
		return false
	}
	last, gone := s.disconnected()
	return gone && now.Sub(last) >= grace
}

// disconnected says whether every client connection s was used on has
// closed (none if it was used on none), and when the last closed. The
// caller holds s.mu.
func (s *session) disconnected() (last time.Time, gone bool) {
	if len(s.links) == 0 {
		return time.Time{}, false
	}
	var at int64
	for c := range s.links {
		closed := c.closedAt.Load()
		if closed == 0 {
			return time.Time{}, false
		}
		at = max(at, closed)
	}
	return time.Unix(0, at), true
}

// held is how many prepared statements and planned queries not yet read
// the session holds.
func (s *session) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.prepared) + int(s.pending.Load())
}

// roomFor says whether session s may hold one more prepared statement or
// planned query, of at most max (Config.MaxStatementsPerSession). Its
// distributed queries not yet read count too: uncounted, one session
// planned 17,000 in a minute and never read them, 2,850 running at once,
// and another's query waited 30 s (a tester's).
func (ss *sessions) roomFor(s *session, max int) error {
	held := s.held()
	if ss.busy != nil {
		held += ss.busy(s.id)
	}
	if held >= max {
		return fmt.Errorf("%w: the session holds %d prepared statements and planned queries not yet read, the limit (--max-statements-per-session): close statements, read or cancel queries",
			ErrBusy, held)
	}
	return nil
}

// holdsMost says whether the user of s holds statements (held) and no
// fewer than any other user: over the descriptor budget (openfiles.go)
// the statements that must stay open are refused to the user that holds
// the most, not to every user because one flooded the server. Users, not
// sessions: a session costs nothing to open, so a client spreading its
// statements over several would escape a count by session (a client that
// keeps cookies can even land on two without trying). Without users
// (--users-file) every client is "anonymous", and all are refused alike.
func (ss *sessions) holdsMost(s *session) bool {
	ss.mu.Lock()
	all := make([]*session, 0, len(ss.byID))
	for _, o := range ss.byID {
		all = append(all, o)
	}
	ss.mu.Unlock()
	byUser := map[string]int{}
	for _, o := range all {
		byUser[o.user] += o.held()
	}
	mine := byUser[s.user]
	if mine == 0 {
		return false
	}
	for _, n := range byUser {
		if n > mine {
			return false
		}
	}
	return true
}

func (s *session) unlock() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
	<-s.sem
}

// sessions holds every live session and closes idle ones. A session a
// client came back to is never closed for room before its idle timeout: a
// full server refuses new sessions instead, and a user at its own limit is
// refused before it can fill the server for the others. Only a session
// that a call without credentials opened and that nobody named since
// (clients that keep neither token nor cookie leave one per call) may be
// closed for room, and then only when it holds no request and no query.
type sessions struct {
	db *duck.DB
	// params and stmts are given back what a closed session's prepared
	// statements held.
	params, stmts *byteBudget
	idle          time.Duration
	abandon       time.Duration // see abandonTxns; 0: never
	max           int           // sessions in all
	perUser       int           // sessions of one user; 0 is no bound
	log           zerolog.Logger
	mu            sync.Mutex
	byID          map[string]*session
	count         map[string]int // sessions of each user, opening ones included
	opening       int            // sessions counted but not yet in byID
	stopped       bool
	// closed, when set, is told of each session closed (by its client,
	// idle, or disconnected and reclaimed for room), not of one that a
	// call without token or cookie opened, reclaimed for room.
	closed func(id string)
	// busy, when set, is how many of a session's distributed queries
	// are still running or read (at executors, or on another connection).
	busy func(id string) int
	// overdue, when set, is Cluster.SessionOverdue.
	overdue func(id string) (time.Time, time.Duration)
	// unread, when set, drops the queries planned on a session that no
	// DoGet took (queries.endSession), as the session closes.
	unread func(*session)
}

func newSessions(db *duck.DB, idle time.Duration, max, perUser int, log zerolog.Logger) *sessions {
	return &sessions{db: db, idle: idle, max: max, perUser: perUser, log: log,
		byID: map[string]*session{}, count: map[string]int{}}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// create opens a session; claimed says the client has asked for it
// (Handshake) and will come back to it.
func (ss *sessions) create(ctx context.Context, user string, role users.Role, claimed bool) (*session, error) {
	err := ss.reserve(user)
	// Concurrent creators may take the room one reclaim made: reclaim
	// again while there is something to reclaim.
	for tries := 0; errors.Is(err, ErrBusy) && tries < 64 && ss.reclaim(user); tries++ {
		err = ss.reserve(user)
	}
	if err != nil {
		return nil, err
	}
	conn, err := ss.db.Connect(ctx)
	if err != nil {
		ss.unreserve(user, nil)
		return nil, err
	}
	if role.ReadOnly() {
		conn.SetPolicy(duck.Policy{ReadOnly: true})
	}
	conn.SetReader(duck.Reader{User: user, All: role == users.Admin})
	s := &session{id: newID(), user: user, role: role, conn: conn, sem: make(chan struct{}, 1),
		lastUsed: time.Now(), prepared: map[string]*prepared{}, claimed: claimed, fresh: true}
	if ss.overdue != nil {
		s.overdue = func() (time.Time, time.Duration) { return ss.overdue(s.id) }
	}
	ss.mu.Lock()
	ss.opening--
	ss.byID[s.id] = s
	ss.mu.Unlock()
	ss.log.Debug().Str("session", s.id).Str("user", user).Msg("session opened")
	return s, nil
}

// reserve counts a session about to open against the limits.
func (ss *sessions) reserve(user string) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	switch {
	case ss.stopped:
		return fmt.Errorf("%w: server is shutting down", ErrBusy)
	case ss.perUser > 0 && ss.count[user] >= ss.perUser:
		return fmt.Errorf("%w: user %s has %d sessions open, the limit (--max-sessions-per-user): close sessions (CloseSession) or wait until idle ones end (--session-idle-timeout)",
			ErrBusy, user, ss.count[user])
	case len(ss.byID)+ss.opening >= ss.max:
		return fmt.Errorf("%w: %d sessions are open, the server's limit (--max-sessions): try again when idle ones end (--session-idle-timeout)",
			ErrBusy, ss.max)
	}
	ss.opening++
	ss.count[user]++
	return nil
}

// reclaim closes the oldest unclaimed session that holds nothing: the
// user's own when the user is at its limit, anyone's when the server is
// full. It reports whether it closed one.
func (ss *sessions) reclaim(user string) bool {
	ss.mu.Lock()
	mine := ss.perUser > 0 && ss.count[user] >= ss.perUser
	var victim *session
	var oldest time.Time
	for _, s := range ss.byID {
		if mine && s.user != user {
			continue
		}
		s.mu.Lock()
		free := !s.claimed && !s.fresh && s.txn == "" && len(s.prepared) == 0
		used := s.lastUsed
		s.mu.Unlock()
		if free && len(s.sem) == 0 && s.pending.Load() == 0 && (victim == nil || used.Before(oldest)) {
			victim, oldest = s, used
		}
	}
	taken := victim != nil && ss.takeIdle(victim)
	ss.mu.Unlock()
	if !taken {
		return ss.reclaimDisconnected(user)
	}
	ss.log.Debug().Str("session", victim.id).Msg("closing an unclaimed session for room")
	ss.finish(victim)
	return true
}

// reclaimDisconnected closes, for room as reclaim, the claimed session
// whose client connections all closed longest ago, if it holds nothing
// its client could come back for: no transaction, prepared statement or
// temporary object, and no distributed query of it is running or read
// (its endpoints may be read on other connections, at executors). The
// JDBC driver (18.3.0) closes a connection without
// CloseSession: at --max-sessions-per-user its user was refused every
// new connection for --session-idle-timeout. A client that does come
// back with the token of a session closed so is told that it ended
// (errSessionEnded), never given a fresh one in its place.
//
// When none such is left, it closes one whose client connections all
// closed that holds prepared statements or planned queries, but no
// transaction nor temporary object: a client that prepared a statement
// and dropped its connection, over and over, left 512 sessions none of
// which was closed for room, and every other client was refused for
// --session-idle-timeout (a tester's). A client that does come back for
// them finds its session ended.
func (ss *sessions) reclaimDisconnected(user string) bool {
	return ss.reclaimDisconnectedHolding(user, false, false) || ss.reclaimDisconnectedHolding(user, true, false)
}

// reclaimStatementsOf closes, as reclaimDisconnected, one of user's
// sessions whose client connections all closed that holds prepared
// statements or planned queries, giving back the memory they were
// counted at (stmts): two clients that prepared an IN list of 150,000
// keys and died left their user refused any such statement until
// --session-idle-timeout, told to close statements it could no longer
// reach (a tester's).
func (ss *sessions) reclaimStatementsOf(user string) bool {
	return ss.reclaimDisconnectedHolding(user, true, true)
}

// reclaimDisconnectedHolding is reclaimDisconnected's pass over sessions
// holding nothing, or, statements, those holding prepared statements or
// planned queries too; over user's only if mine, else when the user is
// at its limit of sessions.
func (ss *sessions) reclaimDisconnectedHolding(user string, statements, mine bool) bool {
	ss.mu.Lock()
	mine = mine || ss.perUser > 0 && ss.count[user] >= ss.perUser
	type candidate struct {
		s    *session
		left time.Time
	}
	var cands []candidate
	for _, s := range ss.byID {
		if mine && s.user != user {
			continue
		}
		s.mu.Lock()
		left, gone := s.disconnected()
		free := gone && s.claimed && s.txn == "" && (statements || len(s.prepared) == 0) && !s.closed && !s.holds
		s.mu.Unlock()
		if free && (statements || s.pending.Load() == 0) {
			cands = append(cands, candidate{s, left})
		}
	}
	ss.mu.Unlock()
	slices.SortFunc(cands, func(a, b candidate) int { return a.left.Compare(b.left) })
	for _, c := range cands {
		s := c.s
		if ss.busy != nil && ss.busy(s.id) > 0 {
			continue
		}
		select {
		case s.sem <- struct{}{}: // no request holds it, and none can start
		default:
			continue
		}
		s.mu.Lock()
		_, gone := s.disconnected()
		free := gone && s.txn == "" && (statements || len(s.prepared) == 0 && s.pending.Load() == 0) && !s.closed
		s.mu.Unlock()
		if free {
			holds, err := s.conn.HoldsState(context.Background())
			free = err == nil && !holds
			s.mu.Lock()
			s.holds = holds
			s.mu.Unlock()
		}
		if free && ss.unreserve(s.user, s) {
			ss.log.Debug().Str("session", s.id).Str("user", s.user).
				Msg("closing a session whose client connections all closed, holding nothing, for room")
			ss.finish(s)
			if ss.closed != nil {
				ss.closed(s.id)
			}
			return true
		}
		<-s.sem
	}
	return false
}

// unreserve gives back what reserve or a session counted; s is the session
// leaving byID, nil for one that never opened.
func (ss *sessions) unreserve(user string, s *session) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if s == nil {
		ss.opening--
	} else if ss.byID[s.id] != s {
		return false // already gone
	} else {
		delete(ss.byID, s.id)
	}
	if ss.count[user]--; ss.count[user] <= 0 {
		delete(ss.count, user)
	}
	return true
}

// get finds a session a client names (by its token, cookie, transaction
// or a handle), which makes it claimed.
func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	s := ss.byID[id]
	ss.mu.Unlock()
	if s != nil {
		s.mu.Lock()
		s.claimed = true
		s.mu.Unlock()
	}
	return s
}

// peek is the session of id, or nil, without marking it claimed (get).
func (ss *sessions) peek(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byID[id]
}

// close ends a session: it waits for the request using it, then rolls back
// its transaction and closes its connection.
func (ss *sessions) close(s *session) {
	if !ss.unreserve(s.user, s) {
		return // another caller took it out of byID and closes it
	}
	s.conn.Interrupt()
	s.sem <- struct{}{}
	ss.finish(s)
	if ss.closed != nil {
		ss.closed(s.id)
	}
}

// takeIdle takes s out of byID for closing if no request holds it, and
// then holds its connection: between the check and the close no request
// can start on it. The caller holds ss.mu and calls finish after
// releasing it.
func (ss *sessions) takeIdle(s *session) bool {
	select {
	case s.sem <- struct{}{}:
	default:
		return false
	}
	delete(ss.byID, s.id)
	if ss.count[s.user]--; ss.count[s.user] <= 0 {
		delete(ss.count, s.user)
	}
	return true
}

// finish closes s, out of byID, whose connection the caller holds: only
// the caller that took s out of byID gets here, so a connection is closed
// (and interrupted) once.
func (ss *sessions) finish(s *session) {
	if ss.unread != nil {
		ss.unread(s)
	}
	s.mu.Lock()
	s.closed = true
	for _, p := range s.prepared {
		if !p.released {
			_ = p.stmt.Close()
		}
		if ss.params != nil {
			ss.params.give(s.user, p.held)
			ss.stmts.give(s.user, p.cost)
		}
	}
	s.prepared = nil
	s.mu.Unlock()
	if err := s.conn.Close(); err != nil {
		ss.log.Warn().Err(err).Str("session", s.id).Msg("closing session connection")
	}
	<-s.sem
	ss.log.Debug().Str("session", s.id).Msg("session closed")
}

// reap closes sessions idle for longer than idle (all idle ones if idle is 0)
// that no request is using.
func (ss *sessions) reap(now time.Time, idle time.Duration) {
	ss.mu.Lock()
	var victims []*session
	for _, s := range ss.byID {
		s.mu.Lock()
		old := now.Sub(s.lastUsed) >= idle
		s.mu.Unlock()
		if old && ss.takeIdle(s) {
			victims = append(victims, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range victims {
		ss.finish(s)
		if ss.closed != nil {
			ss.closed(s.id)
		}
	}
}

// abandonTxns closes the sessions with a transaction open whose client
// is gone (session.abandoned for ss.abandon): until then the transaction
// holds its row locks, and every other writer of those rows fails
// "Conflict on update!", for as long as the idle timeout. Only a session
// with a transaction is closed, as a database closes the session of a
// connection that drops: without one, the client may come back on a
// connection of its own for each call, as arrow-go's and pyarrow's
// clients may with a token or cookie, and find its session, prepared
// statements and temporary tables where it left them.
func (ss *sessions) abandonTxns(ctx context.Context, now time.Time) {
	ss.mu.Lock()
	var gone []*session
	for _, s := range ss.byID {
		s.mu.Lock()
		if s.abandoned(now, ss.abandon) {
			gone = append(gone, s)
		}
		s.mu.Unlock()
	}
	ss.mu.Unlock()
	for _, s := range gone {
		select {
		case s.sem <- struct{}{}: // no request holds it, and none can start
		default:
			continue
		}
		s.mu.Lock()
		still := s.abandoned(now, ss.abandon)
		open := s.txn != ""
		s.mu.Unlock()
		if still && !open {
			var err error
			if open, err = s.conn.InTransaction(ctx); err != nil {
				ss.log.Warn().Err(err).Str("session", s.id).Msg("asking an abandoned session for its transaction")
			}
		}
		if !still || !open || !ss.unreserve(s.user, s) {
			s.mu.Lock()
			s.noTxn = still && !open
			s.mu.Unlock()
			<-s.sem
			continue
		}
		ss.log.Info().Str("session", s.id).Str("user", s.user).Dur("after", ss.abandon).
			Msg("closing a session whose client connections closed with its transaction open: rolled back")
		ss.finish(s)
		if ss.closed != nil {
			ss.closed(s.id)
		}
	}
}

// run reaps idle sessions, and those that abandonTxns finds, until ctx
// ends.
func (ss *sessions) run(ctx context.Context) {
	t := time.NewTicker(min(ss.idle/4+time.Millisecond, 30*time.Second))
	defer t.Stop()
	var abandoned <-chan time.Time
	if ss.abandon > 0 {
		a := time.NewTicker(min(ss.abandon/4+time.Millisecond, time.Second))
		defer a.Stop()
		abandoned = a.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ss.reap(now, ss.idle)
		case now := <-abandoned:
			ss.abandonTxns(ctx, now)
		}
	}
}

// closeAll closes every session, refusing new ones.
func (ss *sessions) closeAll() {
	ss.mu.Lock()
	ss.stopped = true
	all := make([]*session, 0, len(ss.byID))
	for _, s := range ss.byID {
		all = append(all, s)
	}
	ss.mu.Unlock()
	for _, s := range all {
		ss.close(s)
	}
}
