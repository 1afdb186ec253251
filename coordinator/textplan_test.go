package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
)

// keptHits counts the queries that took the plan kept for their text,
// their text prepared again for its schema (hit) or not (unprepared).
func keptHits(t *testing.T, c *Coordinator) float64 {
	t.Helper()
	return counted(t, c.dist.textLookups, "hit") + counted(t, c.dist.textLookups, "unprepared")
}

// keptCount plans and reads a query of one BIGINT column whose one row is
// a count, through the client or the transaction: the count, and whether
// the query was split (not run local).
func keptCount(t *testing.T, cl *flightsql.Client, tx *flightsql.Txn, q string) (int64, bool) {
	t.Helper()
	ctx := context.Background()
	info, err := func() (*flight.FlightInfo, error) {
		if tx != nil {
			return tx.Execute(ctx, q)
		}
		return cl.Execute(ctx, q)
	}()
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	var meta struct{ Mode string }
	_ = json.Unmarshal(info.AppMetadata, &meta)
	rows, sum := readEndpoints(t, cl, info.Endpoint)
	if rows != 1 {
		t.Fatalf("%s: %d rows, want 1", q, rows)
	}
	return sum, meta.Mode != "" && meta.Mode != "local"
}

// A plan kept for a text is taken while nothing it was planned from
// changed, and planned again when something did: each change is followed
// by a query that would read a wrong count from the kept plan. (The files
// are changed last: the views' counts are of the files as written.) The plan is kept (a hit)
// for each before the change, so that the check is what stands between
// the kept plan and a wrong answer.
func TestTextPlanKeptUntilChanged(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, glob := startCluster(t, 2, "direct")
	dir := filepath.Dir(glob)
	ctx := context.Background()
	hits := func() float64 { return keptHits(t, c) }
	want := func(t *testing.T, what string, tx *flightsql.Txn, q string, n int64) {
		t.Helper()
		got, split := keptCount(t, cl, tx, q)
		if got != n || !split {
			t.Errorf("%s: %s counted %d (split %v), want %d, split", what, q, got, split, n)
		}
	}
	// kept runs q until a run takes the kept plan: the first is planned,
	// and the scheduler's measure of the executors (in the key) may
	// change between the next ones.
	kept := func(t *testing.T, what string, tx *flightsql.Txn, q string, n int64) {
		t.Helper()
		want(t, what, tx, q, n)
		for range 5 {
			before := hits()
			if want(t, what, tx, q, n); hits() > before {
				return
			}
		}
		t.Fatalf("%s: %s was planned again at each of 5 runs with nothing changed", what, q)
	}
	write := func(t *testing.T, name string, rows int) {
		t.Helper()
		conn := ducktest.Open(t, dir)
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + 100000)::BIGINT AS id, 0::INTEGER AS g FROM range(%d))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, rows, filepath.Join(dir, name)))
	}

	t.Run("catalog changed by another session", func(t *testing.T) {
		view := func(max int) string {
			return fmt.Sprintf("CREATE OR REPLACE VIEW kept_v AS SELECT * FROM read_parquet('%s') WHERE id < %d", glob, max)
		}
		if _, err := cl.ExecuteUpdate(ctx, view(10000)); err != nil {
			t.Fatal(err)
		}
		q := "SELECT count(*) FROM kept_v"
		// The same view read through a WITH, and a WITH of the view's
		// name, which DuckDB binds to the CTE: its plan reads the files
		// as the CTE does, whatever the view says.
		with := "WITH w AS (SELECT id FROM kept_v WHERE id >= 0) SELECT count(*) FROM w"
		shadow := fmt.Sprintf("WITH kept_v AS (SELECT * FROM read_parquet('%s') WHERE id < 7000) SELECT count(*) FROM kept_v", glob)
		kept(t, "the view as created", nil, q, 10000)
		kept(t, "the view as created, through a WITH", nil, with, 10000)
		kept(t, "a WITH of the view's name", nil, shadow, 7000)
		if _, err := dialClient(t, c).ExecuteUpdate(ctx, view(20000)); err != nil {
			t.Fatal(err)
		}
		want(t, "the view replaced by another session", nil, q, 20000)
		want(t, "the view replaced by another session, through a WITH", nil, with, 20000)
		want(t, "a WITH of the replaced view's name", nil, shadow, 7000)
	})

	t.Run("TEMP views of one name in two sessions", func(t *testing.T) {
		q := "SELECT count(*) FROM kept_tmp"
		var txs [2]*flightsql.Txn
		for i := range txs {
			tx, err := cl.BeginTransaction(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = tx.Rollback(ctx) })
			if _, err := tx.ExecuteUpdate(ctx, fmt.Sprintf(
				"CREATE TEMP VIEW kept_tmp AS SELECT * FROM read_parquet('%s') WHERE id < %d", glob, 5000*(i+1))); err != nil {
				t.Fatal(err)
			}
			txs[i] = tx
		}
		with := "WITH a AS (SELECT id FROM kept_tmp), b AS (SELECT id FROM a WHERE id >= 0) SELECT count(*) FROM b"
		for _, q := range []string{q, with} {
			kept(t, "the first session's", txs[0], q, 5000)
			want(t, "the second session's", txs[1], q, 10000)
			kept(t, "the second session's", txs[1], q, 10000)
			want(t, "the first session's again", txs[0], q, 5000)
		}
	})

	t.Run("files changed under the glob", func(t *testing.T) {
		q := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)
		// The glob read by a WITH only: its files are listed at each hit.
		with := fmt.Sprintf("WITH f AS (SELECT id FROM read_parquet('%s')) SELECT count(*) FROM f", glob)
		both := func(check func(*testing.T, string, *flightsql.Txn, string, int64), what string, n int64) {
			t.Helper()
			check(t, what, nil, q, n)
			check(t, what, nil, with, n)
		}
		both(kept, "three files", 30000)
		write(t, "f3.parquet", 10000)
		both(want, "a file added", 40000)
		both(kept, "four files", 40000)
		write(t, "f0.parquet", 20000)
		both(want, "a file rewritten with more rows", 50000)
		both(kept, "a file rewritten", 50000)
		if err := os.Remove(filepath.Join(dir, "f3.parquet")); err != nil {
			t.Fatal(err)
		}
		both(want, "a file removed", 40000)
	})
}

// A kept plan is shared by the queries of its text running at once, read
// and never changed by them: under the race detector, each of them gets
// the answer the text gets alone.
func TestKeptPlanSharedByConcurrentQueries(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, _, _ := stageCoordinator(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	ctx := context.Background()
	answer := func(q string) (rows, sum int64, err error) {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			return 0, 0, err
		}
		for _, ep := range info.Endpoint {
			r, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				return 0, 0, err
			}
			for r.Next() {
				ids := r.RecordBatch().Column(0).(*array.Int64)
				for i := range ids.Len() {
					sum += ids.Value(i)
				}
				rows += int64(ids.Len())
			}
			err = r.Err()
			r.Release()
			if err != nil {
				return 0, 0, err
			}
		}
		return rows, sum, nil
	}
	for _, q := range []string{
		"SELECT count(*) AS v FROM fact JOIN dim USING (d) GROUP BY name",
		"SELECT k AS v FROM fact WHERE d = 3 ORDER BY k DESC LIMIT 50",
	} {
		var want [2]int64
		for range 2 { // kept from its second planning
			rows, sum, err := answer(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			want = [2]int64{rows, sum}
		}
		hits := keptHits(t, c)
		var wg sync.WaitGroup
		errs := make(chan error, 24)
		for range 6 {
			wg.Go(func() {
				for range 4 {
					rows, sum, err := answer(q)
					if err == nil && [2]int64{rows, sum} != want {
						err = fmt.Errorf("%d rows summing to %d, alone %d and %d", rows, sum, want[0], want[1])
					}
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s: %v", q, err)
		}
		if keptHits(t, c) == hits {
			t.Errorf("%s: no query took the kept plan", q)
		}
	}
}
