package flightsql_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/flightsql"
)

// A query stopped by a deadline says whose: the server's --query-timeout,
// or, where none is set, its client's own (a client's deadline was
// reported as "the query timeout of 0s").
func TestExpiredSaysWhoseDeadline(t *testing.T) {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	stopped := errors.New("INTERRUPT Error: Interrupted!")
	for _, c := range []struct {
		timeout time.Duration
		want    string
	}{{0, "its client's deadline"}, {time.Minute, "--query-timeout"}} {
		err := flightsql.Limits{QueryTimeout: c.timeout}.Expired(ctx, "q1", stopped)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("timeout %v: %v, want DeadlineExceeded naming %s", c.timeout, err, c.want)
		}
	}
}
