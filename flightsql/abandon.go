package flightsql

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/rs/zerolog"
)

// answerStopped is how long a query run here may go on after its deadline
// passed or it was cancelled before its client is told so without it.
// DuckDB checks for an interrupt between its own steps, not inside one
// call or a blocked read: the client of a query timed out at 3 s waited
// 35 s for a contains() of a megabyte needle to return, and the client
// of a scan of a FIFO no one writes to waited as long as no one did, for
// an answer that was already decided.
const answerStopped = time.Second

// errAnswered ends a query's stream whose client was already told it
// stopped (answer.watch).
var errAnswered = errors.New("the query's client was answered that it stopped")

// answer is a local query's stream to its DoGet: the query's goroutine
// sends its batches and its end, unless a watchdog answered the client
// first (watch). Its lock is held by a send, which returns at once once
// the query is stopped (send), so the watchdog waits only for a query
// stuck in DuckDB, never behind one.
type answer struct {
	mu       sync.Mutex
	ch       chan flight.StreamChunk
	answered bool          // the watchdog sent the client its end
	done     chan struct{} // closed by finish
}

func newAnswer() *answer {
	return &answer{ch: make(chan flight.StreamChunk, 1), done: make(chan struct{})}
}

// send hands rec to the stream (see send), or errAnswered.
func (a *answer) send(ctx context.Context, next <-chan struct{}, rec arrow.RecordBatch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.answered {
		return errAnswered
	}
	return send(ctx, next, a.ch, rec)
}

// finish ends the stream with err (nil: its end), unless the watchdog did.
func (a *answer) finish(ctx context.Context, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	close(a.done)
	if a.answered {
		return
	}
	a.end(ctx, err)
}

// end sends err, if any, and closes the stream; a.mu is held.
func (a *answer) end(ctx context.Context, err error) {
	if err != nil {
		select {
		case a.ch <- flight.StreamChunk{Err: err}:
		case <-ctx.Done():
		}
	}
	close(a.ch)
}

// watch arms the watchdog: answerStopped after stopped ends, a query
// that has not finished is answered with why() at once, while DuckDB
// still runs it. The query's goroutine gives its session back when DuckDB
// returns, as before; its next request waits until then. The returned
// func disarms it (the query ended).
func (a *answer) watch(ctx, stopped context.Context, why func() error, log zerolog.Logger) func() bool {
	return context.AfterFunc(stopped, func() {
		t := time.NewTimer(answerStopped)
		defer t.Stop()
		select {
		case <-a.done:
			return
		case <-t.C:
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		select {
		case <-a.done:
			return
		default:
		}
		err := fmt.Errorf("%w (DuckDB has not stopped it yet: this session's next request waits until it does; another connection need not)", why())
		log.Warn().Err(err).Msg("query answered as stopped while DuckDB still runs it")
		a.answered = true
		a.end(ctx, err)
	})
}
