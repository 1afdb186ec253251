package flightsql

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/users"
)

// Reaping, making room and closing may pick the same session at once (the
// load test crashed the server in duckdb_interrupt on a connection another
// caller had closed): each session must be closed exactly once.
func TestConcurrentSessionClosesCloseOnce(t *testing.T) {
	ctx := context.Background()
	db, err := duck.Open(ctx, duck.Config{Path: filepath.Join(t.TempDir(), "s.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for round := range 20 {
		ss := newSessions(db, time.Hour, 64, 0, zerolog.Nop())
		var all []*session
		for range 16 {
			s, err := ss.create(ctx, "u", users.Admin, false)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, s)
		}
		var wg sync.WaitGroup
		for g := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switch g % 3 {
				case 0:
					ss.reap(time.Now().Add(2*time.Hour), time.Hour)
				case 1:
					for range all {
						ss.reclaim("u")
					}
				default:
					for _, s := range all {
						ss.close(s)
					}
				}
			}()
		}
		wg.Wait()
		ss.closeAll()
		if n := len(ss.byID); n != 0 {
			t.Fatalf("round %d: %d sessions left", round, n)
		}
		for _, s := range all {
			if !s.closed {
				t.Fatalf("round %d: session %s not closed", round, s.id)
			}
		}
	}
}

// A query whose ticket expires unredeemed ends in the history, instead of
// staying "running" there forever.
func TestExpiredTicketEndsTheQuery(t *testing.T) {
	qs := newQueries()
	sess := &session{id: "s", sem: make(chan struct{}, 1), prepared: map[string]*prepared{}}
	var ended error
	calls := 0
	q := &query{id: "q", user: "u", sess: sess, expires: time.Now().Add(-time.Second),
		done: func(_ int64, err error) { ended, calls = err, calls+1 }}
	qs.add(q)
	qs.expire(time.Now())
	if calls != 1 || !errors.Is(ended, errTicketExpired) {
		t.Fatalf("done called %d times with %v", calls, ended)
	}
	if qs.get("q") != nil {
		t.Fatal("the expired query is still held")
	}
}

// A session that closes drops the queries planned on it that no DoGet
// took, their statements closed and their ends recorded: they stayed
// until their tickets expired, ten minutes, and a client that planned a
// thousand, closed its session and began again held 180,000 (a
// tester's). One a DoGet took is its DoGet's.
func TestClosedSessionDropsItsUnreadQueries(t *testing.T) {
	ctx := context.Background()
	db, err := duck.Open(ctx, duck.Config{Path: filepath.Join(t.TempDir(), "s.duckdb")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	qs := newQueries()
	ss := newSessions(db, time.Hour, 64, 0, zerolog.Nop())
	ss.unread = qs.endSession
	s, err := ss.create(ctx, "u", users.Admin, false)
	if err != nil {
		t.Fatal(err)
	}
	var ended []error
	for _, id := range []string{"q1", "q2", "read"} {
		st, err := s.conn.PrepareAgain(ctx, "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		q := &query{id: id, user: "u", sess: s, stmt: st, ownStmt: true, keep: true, expires: time.Now().Add(time.Hour),
			done: func(_ int64, err error) { ended = append(ended, err) }}
		qs.add(q.reserve())
	}
	if _, err := qs.take("read", "u"); err != nil {
		t.Fatal(err)
	}
	ss.close(s)
	if qs.get("q1") != nil || qs.get("q2") != nil || qs.get("read") == nil {
		t.Fatalf("held after the session closed: q1 %v, q2 %v; read %v", qs.get("q1") != nil, qs.get("q2") != nil, qs.get("read") != nil)
	}
	if len(ended) != 2 || !errors.Is(ended[0], context.Canceled) || !errors.Is(ended[1], context.Canceled) {
		t.Fatalf("ends recorded: %v", ended)
	}
	if n := s.pending.Load(); n != 1 {
		t.Fatalf("the session counts %d pending queries, want the one read", n)
	}
}

// At most maxWaiting requests wait for a session's connection; the next
// is refused at once, ResourceExhausted, rather than held with its
// message: 400 calls of 2 MiB behind one long statement took a
// coordinator to 4.2 GB (a tester's). One given its answer makes room.
func TestWaitersForASessionAreBounded(t *testing.T) {
	s := &session{sem: make(chan struct{}, 1)}
	s.sem <- struct{}{} // a long statement holds the connection
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, maxWaiting)
	for range maxWaiting {
		go func() { errs <- s.lock(ctx) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := s.waiting
		s.mu.Unlock()
		if n == maxWaiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", n, maxWaiting)
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.lock(context.Background()); !errors.Is(err, ErrBusy) {
		t.Fatalf("request %d: %v, want refused busy", maxWaiting+1, err)
	}
	cancel()
	for range maxWaiting {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("a waiting request: %v", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting != 0 {
		t.Fatalf("%d requests still counted waiting", s.waiting)
	}
}
