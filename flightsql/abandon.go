package flightsql

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/rs/zerolog"
)

// answerStopped is how long a query run here may go on after its deadline
// passed or it was cancelled before its client is told so without it.
// DuckDB checks for an interrupt between its own steps, not inside one
// call or a blocked read: a scan of a FIFO no one writes to, or a
// contains() of a megabyte needle, kept the client of a query timed out
// at 2 s waiting until the call returned (12 s, 35 s, or never), for an
// answer that was already decided.
const answerStopped = time.Second

// relay forwards a local query's stream from in to out, the channel its
// DoGet reads, until in closes. When stopped ends (the query's deadline,
// its cancel) and no chunk comes within answerStopped, the client gets
// stopErr's error at once and out is closed; the rest of in, whatever the
// query sends when DuckDB returns, is released unread. The session stays
// with the query until then (its next request waits, as it would have),
// and the client is told so. relay returns when in closes: the
// goroutine lives as long as the query's own.
func relay(ctx, stopped context.Context, in <-chan flight.StreamChunk, out chan<- flight.StreamChunk, stopErr func() error, log zerolog.Logger) {
	defer drain(in)
	defer close(out)
	done := stopped.Done()
	var late <-chan time.Time
	for {
		select {
		case c, ok := <-in:
			if !ok {
				return
			}
			select {
			case out <- c:
			case <-ctx.Done():
				release(c)
				return
			}
		case <-done:
			done = nil
			t := time.NewTimer(answerStopped)
			defer t.Stop()
			late = t.C
		case <-late:
			err := fmt.Errorf("%w (DuckDB has not stopped it yet: this session's next request waits until it does; another connection need not)", stopErr())
			log.Warn().Err(err).Msg("query answered as stopped while DuckDB still runs it")
			select {
			case out <- flight.StreamChunk{Err: err}:
			case <-ctx.Done():
			}
			return
		}
	}
}

// drain releases what a stream sends until it closes.
func drain(in <-chan flight.StreamChunk) {
	for c := range in {
		release(c)
	}
}

func release(c flight.StreamChunk) {
	if c.Data != nil {
		c.Data.Release()
	}
}
