//go:build unix

package flightsql_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A query past its --query-timeout is answered so, at once, when DuckDB
// does not stop it: here a scan of a FIFO no one writes to, blocked in a
// read no interrupt reaches (the client of such a query waited until the
// read returned, or forever). When DuckDB returns, the session serves its
// next request and every buffer of the abandoned result is released.
func TestStoppedQueryIsAnsweredWhileDuckDBRunsIt(t *testing.T) {
	ts, scan, release := fifoServer(t)
	c := ts.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The client's own deadline is far later: a DeadlineExceeded from it
	// would not name the server's flag.
	stoppedAnswer(t, readErr(t, ctx, c, scan))
	release()
	_, recs := query(t, ctx, c, "SELECT 42")
	if rowCount(recs) != 1 {
		t.Fatalf("the session's next query: %d rows", rowCount(recs))
	}
}

// A prepared statement whose query was answered while DuckDB runs it is
// closed at once, its handle then unknown, the statement itself once the
// session is free: ADBC's cursor.close() closes its statement, and
// waited for DuckDB's call to end (forever, for a FIFO no one writes).
func TestStatementOfAStoppedQueryClosesAtOnce(t *testing.T) {
	ts, scan, release := fifoServer(t, func(c *coordinator.Config) { c.MaxStatementsPerSession = 2 })
	c := ts.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	prep, err := c.Prepare(ctx, scan)
	if err != nil {
		t.Fatal(err)
	}
	info, err := prep.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stoppedAnswer(t, readToEnd(ctx, c, info))
	closeCtx, closeCancel := context.WithTimeout(ctx, 5*time.Second)
	defer closeCancel()
	if err := prep.Close(closeCtx); err != nil {
		t.Fatalf("closing the statement while DuckDB runs its query: %v", err)
	}
	release()
	// The session holds two statements at most: two more are prepared
	// once the closed one is gone.
	for {
		a, errA := c.Prepare(ctx, "SELECT 1")
		b, errB := c.Prepare(ctx, "SELECT 2")
		for _, p := range []*flightsql.PreparedStatement{a, b} {
			if p != nil {
				_ = p.Close(ctx)
			}
		}
		if errA == nil && errB == nil {
			break
		}
		if status.Code(errB) != codes.ResourceExhausted || ctx.Err() != nil {
			t.Fatalf("preparing after the close: %v, %v", errA, errB)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fifoServer starts a server with a --query-timeout of 500 ms (and
// mutate's config) and gives
// the SQL of a scan DuckDB blocks in (a FIFO no one writes to, a read no
// interrupt reaches) and the function that releases it (run at the
// latest before the server shuts down).
func fifoServer(t *testing.T, mutate ...func(*coordinator.Config)) (ts *testServer, scan string, release func()) {
	t.Helper()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rows.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ts = startServer(t, append([]func(*coordinator.Config){func(c *coordinator.Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.QueryTimeout = 500 * time.Millisecond
	}}, mutate...)...)
	var once sync.Once
	release = func() {
		once.Do(func() {
			w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err != nil {
				t.Errorf("DuckDB is not reading the FIFO: %v", err)
				return
			}
			_, _ = w.WriteString("1\n2\n")
			_ = w.Close()
		})
	}
	t.Cleanup(release)
	return ts, "SELECT a FROM read_csv('" + fifo + "', columns = {'a': 'INTEGER'}, auto_detect = false, header = false)", release
}

// stoppedAnswer checks err is the server's answer to a query past its
// --query-timeout that DuckDB has not stopped.
func stoppedAnswer(t *testing.T, err error) {
	t.Helper()
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") ||
		!strings.Contains(err.Error(), "DuckDB has not stopped it") {
		t.Fatalf("got %v, want the server's DeadlineExceeded saying DuckDB still runs the query", err)
	}
}
