package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A query whose staged rewrite, reading one file of its glob, fails where
// the query does not (hive partitions named as a column of each file: an
// INTERNAL error of DuckDB's reading one), planned inside the session's
// transaction: it ran local after the rewrite's failure had aborted the
// transaction, so the client got "Current transaction is aborted" for a
// query DuckDB answers, and lost the rows it had inserted (a tester's). It
// is answered as DuckDB answers it, and the transaction commits.
func TestRewriteFailureLeavesTheTransaction(t *testing.T) {
	dir := t.TempDir()
	ref := ducktest.Open(t, dir)
	for _, k := range []string{"1", "2"} {
		part := filepath.Join(dir, "k="+k)
		if err := os.MkdirAll(part, 0o755); err != nil {
			t.Fatal(err)
		}
		ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT range AS i, 'inner' AS k FROM range(4000)) TO '%s' (FORMAT parquet)", filepath.Join(part, "p.parquet")))
	}
	answeredInATransaction(t, ref, dir, fmt.Sprintf("SELECT CAST(k AS VARCHAR) || ' ' || count(*) FROM read_parquet('%s/*/*.parquet') GROUP BY k", dir))
}

// answeredInATransaction runs q, over files in dir, in a transaction that
// inserted rows first, on a 2-executor cluster making small tasks: its
// answer must be DuckDB's (ref), and the transaction must commit its rows.
func answeredInATransaction(t *testing.T, ref *duck.Conn, dir, q string) {
	t.Helper()
	c, _, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.SplitMinRows, c.LocalMaxRows, c.TaskRows = 0, 0, 1000
	})
	sess := sessionClient(t, c)
	ctx := context.Background()
	for _, stmt := range []string{"CREATE TABLE keep (x INTEGER)", "BEGIN TRANSACTION", "INSERT INTO keep VALUES (1), (2), (3)"} {
		if _, err := sess.ExecuteUpdate(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	info, err := sess.Execute(ctx, q)
	if err != nil {
		t.Fatalf("%s in a transaction: %v", q, err)
	}
	got, want := endpointRows(t, sess, info.Endpoint), refStrings(t, ref, q)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: %q, DuckDB's %q", q, got, want)
	}
	if _, err := sess.ExecuteUpdate(ctx, "COMMIT"); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	if n := queryInt(t, sess, "SELECT count(*) FROM keep"); n != 3 {
		t.Errorf("the transaction's table holds %d rows after its commit, want 3", n)
	}
}

// A glob holding a corrupt Parquet file that the query's hive filter
// skips, read in the session's transaction: the planner's read of every
// file's footer failed on the session's connection, DuckDB aborted the
// transaction, and the query DuckDB answers said "Current transaction is
// aborted", its inserted rows lost (a tester's). The footers are read
// outside the transaction: the query is answered, and the rows commit.
func TestUnreadableFooterLeavesTheTransaction(t *testing.T) {
	dir := t.TempDir()
	ref := ducktest.Open(t, dir)
	for _, k := range []string{"1", "2"} {
		if err := os.MkdirAll(filepath.Join(dir, "k="+k), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT range AS i FROM range(4000)) TO '%s' (FORMAT parquet)", filepath.Join(dir, "k=1", "p.parquet")))
	if err := os.WriteFile(filepath.Join(dir, "k=2", "p.parquet"), []byte("PAR1 not a footer PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	answeredInATransaction(t, ref, dir, fmt.Sprintf("SELECT count(*) || ' ' || sum(i) FROM read_parquet('%s/*/*.parquet') WHERE k = 1", dir))
}

// A query split across executors that fails in its own SQL (a conversion
// at one row) inside the session's transaction aborts the transaction, as
// DuckDB aborts one a statement fails in: it stayed open, and the rows
// inserted before the failed query committed (a tester's). The session's
// next statement meets the abort, its COMMIT fails, and nothing is kept.
// A transaction begun after the failure is not touched.
func TestSplitQueryFailureAbortsTheTransaction(t *testing.T) {
	sess, exec, glob := inTransaction(t)
	ctx := context.Background()
	failing := fmt.Sprintf("SELECT id, CASE WHEN id = 25000 THEN 'x' ELSE id::VARCHAR END::BIGINT AS v FROM read_parquet('%s')", glob)
	info, err := sess.Execute(ctx, failing)
	if err != nil {
		t.Fatal(err)
	}
	if p := planOf(t, info); p.Mode == "local" {
		t.Fatalf("%s ran local (%s): the test needs it split", failing, p.Reason)
	}
	var readErr error
	for _, ep := range info.Endpoint {
		if readErr = readEndpoint(ctx, sess, ep); readErr != nil {
			break
		}
	}
	if readErr == nil {
		t.Fatalf("%s: no error", failing)
	}
	// The executors' failure reaches the session as the client reads it:
	// the next statement, or one soon after, meets the aborted transaction.
	wantAborted(t, sess, exec)
	// The failure aborts only the transaction it happened in.
	for _, stmt := range []string{"BEGIN TRANSACTION", "INSERT INTO kept VALUES (4)", "COMMIT"} {
		if err := exec(stmt); err != nil {
			t.Fatalf("%s after the aborted transaction: %v", stmt, err)
		}
	}
	if n := queryInt(t, sess, "SELECT count(*) FROM kept"); n != 1 {
		t.Errorf("%d rows after the next transaction, want 1", n)
	}
	// A client that reads only rows before the failing ones and lets the
	// rest go keeps its transaction, as with DuckDB, which never computes
	// the failing rows (the executors ran them all the same: a tester's).
	for _, stmt := range []string{"BEGIN TRANSACTION", "INSERT INTO kept VALUES (5)"} {
		if err := exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	info, err = sess.Execute(ctx, failing)
	if err != nil {
		t.Fatal(err)
	}
	qid := planOf(t, info).QueryID
	eventually(t, 10*time.Second, func() (bool, string) {
		n := queryInt(t, sess, fmt.Sprintf("SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'failed'", qid))
		return n > 0, "the failing task has not failed yet"
	})
	if err := readEndpoint(ctx, sess, info.Endpoint[0]); err != nil {
		t.Fatalf("the first endpoint, before the failing rows: %v", err)
	}
	if _, err := sess.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info}); err != nil {
		t.Fatal(err)
	}
	if err := exec("COMMIT"); err != nil {
		t.Fatalf("COMMIT after a partial read: %v", err)
	}
	if n := queryInt(t, sess, "SELECT count(*) FROM kept"); n != 2 {
		t.Errorf("%d rows after a transaction whose query was read in part, want 2", n)
	}
}

// readEndpoint reads an endpoint through the coordinator to its end.
func readEndpoint(ctx context.Context, cl *flightsql.Client, ep *flight.FlightEndpoint) error {
	r, err := cl.DoGet(ctx, ep.Ticket)
	if err != nil {
		return err
	}
	defer r.Release()
	for r.Next() {
	}
	return r.Err()
}

// A split query whose merge, run here, fails in its own SQL (the sum's
// cast overflows there) aborts the session's transaction as a task's
// failure does: it stayed open, and COMMIT kept the rows inserted before
// the query (a tester's).
func TestMergeFailureAbortsTheTransaction(t *testing.T) {
	sess, exec, glob := inTransaction(t)
	ctx := context.Background()
	failing := fmt.Sprintf("SELECT CAST(sum(id) AS TINYINT) AS s FROM read_parquet('%s')", glob)
	info, err := sess.Execute(ctx, failing)
	if err == nil {
		if p := planOf(t, info); p.Mode != "scatter-merge" {
			t.Fatalf("%s planned %s (%s): the test needs a merge", failing, p.Mode, p.Reason)
		}
		for _, ep := range info.Endpoint {
			if err = readEndpoint(ctx, sess, ep); err != nil {
				break
			}
		}
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("%s: %v, want the merge's conversion error", failing, err)
	}
	wantAborted(t, sess, exec)
}

// inTransaction starts a cluster that splits every query over glob, and
// a session of it that has inserted 3 rows into a table kept in an open
// transaction; exec runs a statement in it.
func inTransaction(t *testing.T, opts ...func(*Config)) (sess *flightsql.Client, exec func(string) error, glob string) {
	t.Helper()
	c, _, glob := startCluster(t, 2, "direct", append([]func(*Config){func(c *Config) { c.SplitMinRows, c.LocalMaxRows = 0, 0 }}, opts...)...)
	sess = sessionClient(t, c)
	exec = func(stmt string) error {
		_, err := sess.ExecuteUpdate(context.Background(), stmt)
		return err
	}
	for _, stmt := range []string{"CREATE TABLE kept (x INTEGER)", "BEGIN TRANSACTION", "INSERT INTO kept VALUES (1), (2), (3)"} {
		if err := exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	return sess, exec, glob
}

// wantAborted waits until the session of inTransaction meets its
// transaction aborted (the failure reaches it as a client reads it: the
// next statement, or one soon after), then checks that COMMIT fails and
// that none of its rows is kept once it is rolled back.
func wantAborted(t *testing.T, sess *flightsql.Client, exec func(string) error) {
	t.Helper()
	eventually(t, 10*time.Second, func() (bool, string) {
		_, err := sess.Execute(context.Background(), "SELECT 1")
		return status.Code(err) == codes.Aborted, fmt.Sprintf("a statement after the failed query: %v", err)
	})
	if err := exec("COMMIT"); err == nil {
		t.Error("COMMIT of the aborted transaction succeeded")
	}
	_ = exec("ROLLBACK")
	if n := queryInt(t, sess, "SELECT count(*) FROM kept"); n != 0 {
		t.Errorf("%d rows kept from the aborted transaction", n)
	}
}

// A split query of a transaction cancelled while its tasks run, or read
// when it ran past --query-timeout, was interrupted, and DuckDB aborts
// the transaction of a statement interrupted: the transaction stayed
// open, and COMMIT kept the rows written before the query. Read from
// the executors (direct) and through the coordinator (proxy).
func TestInterruptedQueriesAbortTheTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	planned := func(t *testing.T, sess *flightsql.Client, sql string) *flight.FlightInfo {
		t.Helper()
		info, err := sess.Execute(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		if p := planOf(t, info); p.Mode == "local" {
			t.Fatalf("%s ran local (%s): the test needs executors", sql, p.Reason)
		}
		return info
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		sess, exec, glob := inTransaction(t)
		info := planned(t, sess, "SELECT p.id FROM "+fmt.Sprintf(slowJoin, glob))
		res, err := sess.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info})
		if err != nil || res.Status != flight.CancelStatusCancelled {
			t.Fatalf("cancel: %v, %v", res.Status, err)
		}
		wantAborted(t, sess, exec)
	})
	for _, c := range []struct {
		mode string
		late bool
	}{{"direct", false}, {"proxy", false}, {"direct", true}, {"proxy", true}} {
		mode, late := c.mode, c.late
		t.Run(fmt.Sprintf("timed out %s late %v", mode, late), func(t *testing.T) {
			t.Parallel()
			sess, exec, glob := inTransaction(t, func(c *Config) {
				c.QueryTimeout, c.ResultMode, c.EndpointExpiry = 2*time.Second, mode, 3*time.Second
			})
			info := planned(t, sess, "SELECT p.id FROM "+fmt.Sprintf(slowJoin, glob))
			var err error
			for _, ep := range info.Endpoint {
				if err = readEndpoint(ctx, sess, ep); err != nil {
					break
				}
			}
			if status.Code(err) != codes.DeadlineExceeded {
				t.Fatalf("reading the query: %v, want DeadlineExceeded", err)
			}
			// Let go meanwhile (its failed read reported, its lease
			// expired), the query is not forgotten: a request a few
			// seconds late committed the transaction (a tester's).
			if late {
				time.Sleep(6 * time.Second)
			}
			wantAborted(t, sess, exec)
		})
	}
	// One read in time keeps the transaction, and so does one of which
	// the client read the first endpoint and let the rest go, as with
	// DuckDB a result read in part.
	t.Run("read in time", func(t *testing.T) {
		t.Parallel()
		sess, exec, glob := inTransaction(t, func(c *Config) { c.QueryTimeout = 2 * time.Second })
		info := planned(t, sess, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
		if len(info.Endpoint) < 2 {
			t.Fatalf("%d endpoints: the test needs several", len(info.Endpoint))
		}
		if err := readEndpoint(ctx, sess, info.Endpoint[0]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // past the timeout, its grace and a heartbeat
		if err := exec("COMMIT"); err != nil {
			t.Fatalf("COMMIT: %v", err)
		}
		if n := queryInt(t, sess, "SELECT count(*) FROM kept"); n != 3 {
			t.Errorf("%d rows kept, want 3", n)
		}
	})
}
