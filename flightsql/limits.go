package flightsql

import (
	"context"
	"errors"
	"fmt"
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
	return fmt.Errorf("query %s ran longer than the query timeout of %s (--query-timeout): %w",
		query, l.QueryTimeout, context.DeadlineExceeded)
}
