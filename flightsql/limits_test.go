package flightsql_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// A write run here (an update, DDL or DML run when planned as ADBC sends
// it, one returning rows, a prepared update's parameter rows) stops at
// --query-timeout as a query does, and is undone: it ran on unbounded,
// holding its session and a core, while queries stopped. The client
// learns it was the server's deadline.
func TestWritesStopAtTheQueryTimeout(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.QueryTimeout = 500 * time.Millisecond })
	c := ts.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE w (n HUGEINT)"); err != nil {
		t.Fatal(err)
	}
	// A trillion rows: hours, unless interrupted.
	const long = "INSERT INTO w SELECT sum(i) FROM range(1000000000000) r(i)"
	expired := func(how string, err error) {
		t.Helper()
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") {
			t.Errorf("%s: got %v, want the server's DeadlineExceeded naming --query-timeout", how, err)
		}
	}
	_, err := c.ExecuteUpdate(ctx, long)
	expired("an update", err)
	_, err = c.Execute(ctx, long)
	expired("DML run when planned", err)
	_, err = c.Execute(ctx, long+" RETURNING n")
	expired("DML returning rows", err)
	// Two parameter rows, the first quick: the batch is undone whole.
	prep, err := c.Prepare(ctx, "INSERT INTO w SELECT sum(i) FROM range(CASE WHEN ? = 0 THEN 10 ELSE 1000000000000 END) r(i)")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	rdr := repeated(t, 2)
	rdr.Next()
	prep.SetParameters(rdr.RecordBatch())
	_, err = prep.ExecuteUpdate(ctx)
	expired("a prepared update's parameter rows", err)
	_, recs := query(t, ctx, c, "SELECT count(*) FROM w")
	if n := recs[0].Column(0).(*array.Int64).Value(0); n != 0 {
		t.Fatalf("the stopped writes left %d rows", n)
	}
}
