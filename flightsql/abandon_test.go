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
	dir := t.TempDir()
	fifo := filepath.Join(dir, "rows.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, func(c *coordinator.Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.QueryTimeout = 500 * time.Millisecond
	})
	// DuckDB waits in its read of the FIFO: a writer ends it (at the
	// latest before the server shuts down, whatever the test saw).
	var once sync.Once
	release := func() {
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
	c := ts.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The client's own deadline is far later: a DeadlineExceeded from it
	// would not name the server's flag.
	err := readErr(t, ctx, c, "SELECT a FROM read_csv('"+fifo+"', columns = {'a': 'INTEGER'}, auto_detect = false, header = false)")
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") ||
		!strings.Contains(err.Error(), "DuckDB has not stopped it") {
		t.Fatalf("got %v, want the server's DeadlineExceeded saying DuckDB still runs the query", err)
	}
	release()
	_, recs := query(t, ctx, c, "SELECT 42")
	if rowCount(recs) != 1 {
		t.Fatalf("the session's next query: %d rows", rowCount(recs))
	}
}
