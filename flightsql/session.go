package flightsql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/duck"
)

// session is one client's server-side state: its own DuckDB connection (and
// so its transaction, temp tables and current schema), its prepared
// statements and its pending queries. One request uses the connection at a
// time; lock waits for it while the caller's context lives.
type session struct {
	id   string
	user string
	conn *duck.Conn

	sem chan struct{} // holds one token while the connection is in use

	mu         sync.Mutex // guards the fields below
	lastUsed   time.Time
	txn        string // open transaction id, "" if none
	resultMode string // session option result_mode; "" for the server's
	prepared   map[string]*prepared
	closed     bool
}

func (s *session) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	closed := s.closed
	s.lastUsed = time.Now()
	s.mu.Unlock()
	if closed {
		<-s.sem
		return fmt.Errorf("%w: session %s is closed", ErrNotFound, s.id)
	}
	return nil
}

func (s *session) unlock() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
	<-s.sem
}

// sessions holds every live session and closes idle ones.
type sessions struct {
	db      *duck.DB
	idle    time.Duration
	max     int
	log     zerolog.Logger
	mu      sync.Mutex
	byID    map[string]*session
	stopped bool
}

func newSessions(db *duck.DB, idle time.Duration, max int, log zerolog.Logger) *sessions {
	return &sessions{db: db, idle: idle, max: max, log: log, byID: map[string]*session{}}
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (ss *sessions) create(ctx context.Context, user string) (*session, error) {
	ss.mu.Lock()
	full := len(ss.byID) >= ss.max
	ss.mu.Unlock()
	if full {
		ss.evictStateless()
	}
	ss.mu.Lock()
	if ss.stopped {
		ss.mu.Unlock()
		return nil, fmt.Errorf("%w: server is shutting down", ErrBusy)
	}
	if len(ss.byID) >= ss.max {
		ss.mu.Unlock()
		return nil, fmt.Errorf("%w: %d sessions are open, the limit", ErrBusy, ss.max)
	}
	ss.mu.Unlock()
	conn, err := ss.db.Connect(ctx)
	if err != nil {
		return nil, err
	}
	s := &session{id: newID(), user: user, conn: conn, sem: make(chan struct{}, 1),
		lastUsed: time.Now(), prepared: map[string]*prepared{}}
	ss.mu.Lock()
	ss.byID[s.id] = s
	ss.mu.Unlock()
	ss.log.Debug().Str("session", s.id).Str("user", user).Msg("session opened")
	return s, nil
}

func (ss *sessions) get(id string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.byID[id]
}

// close ends a session: it waits for the request using it, then rolls back
// its transaction and closes its connection.
func (ss *sessions) close(s *session) {
	ss.mu.Lock()
	delete(ss.byID, s.id)
	ss.mu.Unlock()
	s.conn.Interrupt()
	s.sem <- struct{}{}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.sem
		return
	}
	s.closed = true
	for _, p := range s.prepared {
		_ = p.stmt.Close()
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
		if old && len(s.sem) == 0 {
			victims = append(victims, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range victims {
		ss.close(s)
	}
}

// evictStateless makes room by closing idle sessions that hold nothing a
// client could come back for: no transaction and no prepared statement.
// (Clients that keep neither token nor cookie leave such sessions behind.)
func (ss *sessions) evictStateless() {
	ss.mu.Lock()
	var victims []*session
	for _, s := range ss.byID {
		s.mu.Lock()
		stateless := s.txn == "" && len(s.prepared) == 0
		s.mu.Unlock()
		if stateless && len(s.sem) == 0 {
			victims = append(victims, s)
		}
	}
	ss.mu.Unlock()
	for _, s := range victims {
		ss.close(s)
	}
}

// run reaps idle sessions until ctx ends.
func (ss *sessions) run(ctx context.Context) {
	t := time.NewTicker(min(ss.idle/4+time.Millisecond, 30*time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ss.reap(now, ss.idle)
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
