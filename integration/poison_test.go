package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestTaskThatEndsExecutorsIsNotRunEverywhere: a query whose input makes
// DuckDB crash (json_structure of a JSON value nested 200,000 deep, in
// one row of a Parquet file: DuckDB 1.5 recurses once a level and the
// executor dies of SIGSEGV) ended each executor in turn, as its task was
// given to the next, and then the coordinator, which ran the task itself
// once no executor could. Now the task is given at most three times, no
// reader (the coordinator included) runs it once an executor died running
// it, the query fails, and its text is refused when run again: of four
// executors one at least serves on, and so does the coordinator.
func TestTaskThatEndsExecutorsIsNotRunEverywhere(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conn := ducktest.Open(t, dir)
	deep := filepath.Join(dir, "deep.parquet")
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT i, CASE WHEN i = 77777 THEN repeat('[', 200000) || repeat(']', 200000) ELSE '[1]' END AS j
FROM range(200000) t(i)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 20000)`, deep))
	pc := newProcCluster(t, dir)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--result-mode", "proxy", "--task-rows", "20000",
		"--unsafe-json-functions")
	var execs []*proc
	for range 4 {
		execs = append(execs, pc.executor(coord.uri))
	}
	cl := dial(t, coord.uri)
	probe := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", deep)
	waitExecutors(t, ctx, cl, 4, probe)

	poison := fmt.Sprintf("SELECT count(*), max(length(json_structure(j::JSON)::VARCHAR)) FROM read_parquet('%s')", deep)
	res := runFlight(ctx, cl, poison)
	if res.err == nil {
		t.Fatalf("the query answered %q: this DuckDB no longer crashes on it, and the test needs another input that does", res.rows)
	}
	if !strings.Contains(res.err.Error(), "died") {
		t.Errorf("error %v, want one saying executors died as the task ran", res.err)
	}
	// Run again (a client's retry), the same text is refused: it ended
	// the last executor, then the coordinator.
	if res := runFlight(ctx, cl, poison); status.Code(res.err) != codes.InvalidArgument || !strings.Contains(res.err.Error(), "refused until") {
		t.Errorf("run again: %v, want InvalidArgument saying the text is refused", res.err)
	}
	if n := queryInt(t, ctx, cl, "SELECT 42"); n != 42 || coord.exited() {
		t.Fatalf("the coordinator answered %d (exited: %v)", n, coord.exited())
	}
	// The scheduler's last run of the task may end an executor a while
	// after the client has its error: the count is taken once split
	// queries have run on every executor still up for 3 s, with none
	// ended meanwhile.
	exited := func() (n int) {
		for _, e := range execs {
			if e.exited() {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(60 * time.Second)
	var stable time.Time
	for settled := 0; ; {
		before := exited()
		res := runFlight(ctx, cl, probe)
		if res.err == nil && len(res.rows) == 1 && res.rows[0] == "200000" &&
			executorsIn(appMetadata(res.info)) == 4-before && exited() == before {
			if settled == before && !stable.IsZero() && time.Since(stable) > 3*time.Second {
				break
			}
			if settled != before || stable.IsZero() {
				settled, stable = before, time.Now()
			}
		} else {
			stable = time.Time{}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the split query after it: %v %q on %d executors, %d of 4 ended", res.err, res.rows, executorsIn(appMetadata(res.info)), exited())
		}
		time.Sleep(200 * time.Millisecond)
	}
	dead := 0
	for _, e := range execs {
		if e.exited() {
			e.killed.Store(true) // its end is the test's
			dead++
		}
	}
	figures(t, "%d of 4 executors ended; the coordinator and the others serve on", dead)
	if dead == 0 || dead > 3 {
		t.Fatalf("%d of 4 executors ended; want 1 to 3 (the task given at most three times)", dead)
	}
}

// appMetadata is a FlightInfo's app_metadata kept as text (result.info).
type appMetadata string

func (m appMetadata) GetAppMetadata() []byte { return []byte(m) }
