package flightsql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/duck"
)

// query is a statement planned by GetFlightInfo and waiting for (or being
// served to) its DoGet. Its ticket is signed and names it; the query itself
// stays on the server, with the session whose connection runs it.
type query struct {
	id      string
	trace   string // the client's trace id (QueryTag)
	user    string
	sql     string
	check   *duck.Checked               // what its check found, checked again as it runs (duck.Recheck)
	done    func(rows int64, err error) // records the end in the history, if any
	sess    *session
	stmt    *duck.Stmt
	schema  *arrow.Schema      // promised to the client, with the parameters bound
	ownStmt bool               // close stmt when done (false for prepared statements)
	keep    bool               // or hand it back to the session's connection (duck.Keep), which the finisher holds
	args    [][]any            // one execution per row; nil runs once without arguments
	empty   bool               // already executed (DDL/DML): the stream has no rows
	written bool               // a write the cluster ran, and recorded
	info    *flight.FlightInfo // planned across executors instead
	// result: the rows of a write that returns rows (INSERT ... RETURNING),
	// run when planned (runNow) and sent by its DoGet.
	result []arrow.RecordBatch
	// heldBytes of result are taken from budget until sent or dropped.
	heldBytes int64
	budget    *byteBudget
	ran       bool // result is its rows
	// rolledBack is set when the session's transaction it was planned in
	// is rolled back (nil: planned in none).
	rolledBack *atomic.Bool
	meta       []byte // the local FlightInfo's app_metadata: why it is not split
	// wireSchema is schema serialized, when a prepared statement keeps it
	// (nil: serialize schema).
	wireSchema []byte

	// cost is what it takes from stmts, the statements budget, until it
	// is forgotten (holdUnread).
	cost  int
	stmts *byteBudget

	ctx     context.Context // ends on CancelFlightInfo or expiry
	cancel  context.CancelFunc
	open    func() bool // whether the connection it was planned on is open
	expires time.Time
	taken   bool
}

// inItsTxn refuses q, planned in a transaction, once that transaction
// was rolled back: run then, a count planned in the transaction did not
// see the rows the transaction had inserted (a tester's). Read after
// its transaction committed, it runs as the session's next statement,
// and sees what the transaction wrote: ADBC's driver may read a result
// after the commit() that follows its execute(). The rows of a write
// that returns rows were its when it ran, at planning.
func (q *query) inItsTxn() error {
	if q.rolledBack != nil && q.rolledBack.Load() && !q.ran {
		return fmt.Errorf("%w: query %s was planned in a transaction that was rolled back since (or ended in a text that began another): plan it again", ErrInvalid, q.id)
	}
	return nil
}

// ticketClaims are what a query ticket carries.
type ticketClaims struct {
	Query string `json:"q"`
	User  string `json:"u"`
}

const ticketKind = "ticket"

type queries struct {
	mu   sync.Mutex
	byID map[string]*query
}

func newQueries() *queries { return &queries{byID: map[string]*query{}} }

// reserve counts q as its session's pending query before the planning
// call lets go of the session (add keeps the count): counted only at
// add, after, the session looked idle in between, and a call of another
// client could reclaim it for room, the query's ticket then refused
// (seen in TestCookieLessClientsOnAFullServer under load).
func (q *query) reserve() *query {
	q.sess.pending.Add(1)
	return q
}

// add registers q, reserved (reserve).
func (qs *queries) add(q *query) {
	q.ctx, q.cancel = context.WithCancel(context.Background())
	qs.mu.Lock()
	qs.byID[q.id] = q
	qs.mu.Unlock()
}

// remove forgets q, once.
func (qs *queries) remove(q *query) {
	qs.mu.Lock()
	_, ok := qs.byID[q.id]
	delete(qs.byID, q.id)
	qs.mu.Unlock()
	if ok {
		q.sess.pending.Add(-1)
		q.unhold()
	}
}

// holdUnread takes what a query planned to run here holds until its DoGet
// (its statement, statementCost) from the budget of prepared statements:
// sessions close, and each holds a bounded number, but one client's
// sessions held 180,000 planned, unread queries, 3 GB, until their
// tickets expired (a tester's). Not a write: it ran.
// cost is what it holds: unreadCost for a query of a prepared statement,
// 0 for statementCost(q.sql).
func (s *Server) holdUnread(q *query, cost int) error {
	if cost == 0 {
		cost = statementCost(q.sql)
	}
	if err := s.takeStatement(q.user, cost); err != nil {
		return fmt.Errorf("%w (queries planned and not yet read count as prepared statements: read, cancel or close them)", err)
	}
	q.cost, q.stmts = cost, s.stmts
	return nil
}

// takeStatement takes cost bytes of user's statements from their budget,
// closing for it the user's sessions whose clients are gone and that
// hold statements (sessions.reclaimStatementsOf) while it is short.
func (s *Server) takeStatement(user string, cost int) error {
	err := s.stmts.take(user, cost)
	for tries := 0; errors.Is(err, ErrBusy) && tries < 64 && s.sessions.reclaimStatementsOf(user); tries++ {
		err = s.stmts.take(user, cost)
	}
	return err
}

// unreadCost is what an unread query of a prepared statement of sql holds
// beyond the statement: its record and its text, as statementCost counts
// them.
func unreadCost(sql string) int { return 8<<10 + 2*len(sql) }

// unhold gives back what holdUnread took.
func (q *query) unhold() {
	if q.stmts != nil {
		q.stmts.give(q.user, q.cost)
		q.stmts, q.cost = nil, 0
	}
}

// take hands the query to one DoGet: a ticket is redeemed once.
func (qs *queries) take(id, user string) (*query, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	q := qs.byID[id]
	switch {
	case q == nil:
		return nil, fmt.Errorf("%w: query %s is unknown, finished or expired", ErrNotFound, id)
	case q.user != user:
		return nil, fmt.Errorf("%w: query %s belongs to another user", ErrDenied, id)
	case q.taken:
		return nil, fmt.Errorf("%w: the ticket of query %s was already redeemed", ErrInvalid, id)
	}
	q.taken = true
	return q, nil
}

// cancelUnread ends in the history, as cancelled, a query its client
// cancelled (CancelFlightInfo) before any DoGet took it: it showed running
// until its ticket expired, ten minutes (a shell's Ctrl-C between
// GetFlightInfo and DoGet). It says whether it took the query from its
// ticket (no DoGet may take it now): the caller then releases what it
// holds (releaseCancelled).
func (qs *queries) cancelUnread(q *query) bool {
	qs.mu.Lock()
	done := q.done
	took := !q.taken
	if q.taken {
		done = nil // its DoGet records its end
	} else {
		q.done = nil
		q.taken = true
	}
	qs.mu.Unlock()
	if done != nil {
		done(0, fmt.Errorf("query %s was cancelled before it was read: %w", q.id, context.Canceled))
	}
	return took
}

// releaseCancelled forgets q, taken by cancelUnread, and releases its
// statement, at once if its session is free, else once it is (life
// ending first: as the server closes, its sessions release theirs): a
// cancelled query held its statement, its files and its session's room
// until its ticket expired, and a thousand cancels left a session unable
// to plan another query (a tester's).
func (qs *queries) releaseCancelled(life context.Context, q *query) {
	q.sess.whenFree(life, life, func() { qs.finish(q) }, func() {
		qs.remove(q)
		q.dropResult()
	})
}

// pending is how many queries are being streamed, or planned and still
// wanted: not cancelled, and their client connection open.
func (qs *queries) pending() int {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	n := 0
	for _, q := range qs.byID {
		if q.taken || q.ctx.Err() == nil && (q.open == nil || q.open()) {
			n++
		}
	}
	return n
}

func (qs *queries) get(id string) *query {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	return qs.byID[id]
}

// finish forgets q and releases what it holds. The caller holds q's session.
func (qs *queries) finish(q *query) {
	qs.remove(q)
	q.cancel()
	q.dropResult()
	if q.ownStmt && q.stmt != nil {
		if q.keep {
			q.sess.conn.Keep(q.stmt)
		} else {
			_ = q.stmt.Close()
		}
		q.stmt = nil
	}
}

// detach makes the queries planned from st, a prepared statement being
// closed, prepare their text again when they run (query.prepared): a
// ticket read after its statement closed failed with duckdb-go's "misuse
// of duckdb driver: NumInput after Close" (a tester's). The caller holds
// the session's connection, as every run of a query does.
func (qs *queries) detach(st *duck.Stmt) {
	if st == nil {
		return
	}
	qs.mu.Lock()
	defer qs.mu.Unlock()
	for _, q := range qs.byID {
		if q.stmt == st && !q.ownStmt {
			q.stmt = nil
		}
	}
}

// endSession drops the queries planned on sess that no DoGet took, as
// sess closes (the caller holds its connection): their DoGet would find
// the session closed. They stayed until their tickets expired, ten
// minutes, each with its DuckDB statement and files open: a client that
// planned a thousand queries, closed its session and began again held
// 180,000 of them, 3 GB (a tester's).
func (qs *queries) endSession(sess *session) {
	qs.mu.Lock()
	var gone []*query
	for _, q := range qs.byID {
		if q.sess == sess && !q.taken {
			q.taken = true
			gone = append(gone, q)
		}
	}
	qs.mu.Unlock()
	for _, q := range gone {
		if q.done != nil {
			q.done(0, fmt.Errorf("query %s: its session closed before a DoGet read it: %w", q.id, context.Canceled))
		}
		q.keep = false // the connection closes
		qs.finish(q)
	}
}

// expire drops queries whose tickets were never redeemed in time.
// errTicketExpired ends, in the history, a query whose ticket no client
// redeemed in time.
var errTicketExpired = errors.New("its ticket expired unredeemed")

func (qs *queries) expire(now time.Time) {
	qs.mu.Lock()
	var old []*query
	for _, q := range qs.byID {
		if !q.taken && now.After(q.expires) {
			q.taken = true
			old = append(old, q)
		}
	}
	qs.mu.Unlock()
	for _, q := range old {
		if q.done != nil {
			q.done(0, errTicketExpired)
		}
		if err := q.sess.lock(context.Background()); err != nil {
			qs.remove(q)
			q.dropResult()
			continue
		}
		qs.finish(q)
		q.sess.unlock()
	}
}

func (qs *queries) run(ctx context.Context) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			qs.expire(now)
		}
	}
}

func (qs *queries) closeAll() {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	for _, q := range qs.byID {
		q.cancel()
	}
}

// dropResult releases the rows of a write that DoGet did not send.
func (q *query) dropResult() {
	for _, r := range q.result {
		r.Release()
	}
	q.result = nil
	q.giveHeld()
}

// giveHeld gives back the budget q's unread rows took.
func (q *query) giveHeld() {
	if q.budget != nil {
		q.budget.give(q.user, int(q.heldBytes))
	}
	q.heldBytes = 0
}
