package flightsql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits bound what one query may take. Zero values mean no limit.
type Limits struct {
	// QueryTimeout ends a query this long after it starts running: at its
	// DoGet when it runs here, at its FlightInfo when its tasks start on
	// executors (they are cancelled too).
	QueryTimeout time.Duration
	// MaxResultBytes bounds what a server streams or merges for one query:
	// beyond it the query fails with ResourceExhausted; nothing is cut
	// short silently.
	MaxResultBytes int64
}

// Result checks that bytes, what a query has produced so far, is within
// the result-size limit.
func (l Limits) Result(query string, bytes int64) error {
	if l.MaxResultBytes > 0 && bytes > l.MaxResultBytes {
		return fmt.Errorf("%w: query %s: the result exceeds the limit of %d bytes (--max-result-bytes)",
			ErrBusy, query, l.MaxResultBytes)
	}
	return nil
}

// Expired turns the error of a query stopped by its deadline (DuckDB says
// "interrupted", a stream "canceled") into DeadlineExceeded that says why.
func (l Limits) Expired(ctx context.Context, query string, err error) error {
	// A call made under ctx can end at its deadline (the server's timer
	// fired first) just before ctx says so: the deadline decides.
	dl, ok := ctx.Deadline()
	passed := errors.Is(ctx.Err(), context.DeadlineExceeded) || ok && !time.Now().Before(dl)
	if err == nil || !passed || errors.Is(err, ErrBusy) {
		return err
	}
	if l.QueryTimeout <= 0 { // the client's own deadline (grpc-timeout)
		return fmt.Errorf("query %s ran past its client's deadline: %w", query, context.DeadlineExceeded)
	}
	return fmt.Errorf("query %s ran longer than the query timeout of %s (--query-timeout): %w",
		query, l.QueryTimeout, context.DeadlineExceeded)
}

// paramsPerMessage is how many times --max-message-mb the parameter rows
// bound to every prepared statement of the server may hold together,
// stmtsPerMessage the prepared statements the sessions hold (their
// memory as statementCost estimates it),
// and heldPerMessage the rows of writes returning rows (INSERT ...
// RETURNING, run when planned) held until their DoGet: 8 unread ones of
// lineitem's size took a server from 85 to 1,616 MB, held until their
// tickets expired.
const (
	paramsPerMessage = 8
	stmtsPerMessage  = 16
	heldPerMessage   = 16
)

// byteBudget bounds memory the whole server holds for its clients, what
// it holds: the parameter rows bound to prepared statements (each
// statement's are bounded by the message size, readParams, but one client
// binding 60 MiB to each of 40 statements took a server limited to 1 GB,
// DuckDB's --memory-limit, to 2.57 GB), the prepared statements
// themselves (a session may hold 1,000, and DuckDB's statement of an IN
// list holds some 45 times its text: bounded by bytes of text, 169 of
// 100,000 keys took a server to 2.8 GB). With users, one user holds at most perUser of it: a reader's
// session that bound 9 x 55 MB and stayed had every other user's
// executemany refused until it ended (found 2026-12-05).
type byteBudget struct {
	what, advice string
	perMessage   int   // max in --max-message-mb, for the refusal's text
	max, perUser int64 // perUser 0: no bound but max
	mu           sync.Mutex
	held         int64
	byUser       map[string]int64
}

// newByteBudget is a budget of perMessage times the message bound, a
// quarter of it a user's when there are users.
func newByteBudget(what, advice string, perMessage, messageBytes int, users bool) *byteBudget {
	b := &byteBudget{what: what, advice: advice, perMessage: perMessage, max: int64(perMessage) * int64(messageBytes)}
	if users {
		b.perUser = b.max / 4
	}
	return b
}

// take reserves n bytes for user, or refuses them past the budget or the
// user's share of it.
func (b *byteBudget) take(user string, n int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perUser > 0 && b.byUser[user]+int64(n) > b.perUser {
		return fmt.Errorf("%w: the %s of user %s would pass %d MiB, a user's share of the server's %d MiB: %s",
			ErrBusy, b.what, user, b.perUser>>20, b.max>>20, b.advice)
	}
	if b.held+int64(n) > b.max {
		return fmt.Errorf("%w: the %s of the server would pass %d MiB (%d times --max-message-mb): %s",
			ErrBusy, b.what, b.max>>20, b.perMessage, b.advice)
	}
	b.held += int64(n)
	if b.byUser == nil {
		b.byUser = map[string]int64{}
	}
	b.byUser[user] += int64(n)
	return nil
}

// give returns n bytes user took.
func (b *byteBudget) give(user string, n int) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.held -= int64(n)
	if b.byUser[user] -= int64(n); b.byUser[user] <= 0 {
		delete(b.byUser, user)
	}
}
