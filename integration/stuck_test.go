package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
)

// TestStuckTaskEndsItsExecutor: a LIKE pattern of four wildcards over a
// 2,000-byte value a row runs for hours in DuckDB's matcher, which checks
// for no interrupt, so the query's timeout stopped the task only in name:
// its executor's thread and core stayed taken. An executor whose stopped
// task runs on past --task-kill-timeout exits with status 3 (after a
// drain bounded by its --shutdown-grace), for a supervisor to start it
// again; until then it takes no tasks, its threads being held. The
// coordinator serves on, and so do the executors started again.
func TestStuckTaskEndsItsExecutor(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conn := ducktest.Open(t, dir)
	file := filepath.Join(dir, "s.parquet")
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT i FROM range(4096) t(i)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1024)`, file))
	pc := newProcCluster(t, dir)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--query-timeout", "2s", "--task-rows", "1024")
	flags := []string{"--task-kill-timeout", "8s", "--shutdown-grace", "2s"}
	execs := []*proc{pc.executor(coord.uri, flags...), pc.executor(coord.uri, flags...)}
	cl := dial(t, coord.uri)
	probe := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", file)
	waitExecutors(t, ctx, cl, 2, probe)

	start := time.Now()
	res := runFlight(ctx, cl, fmt.Sprintf(`SELECT count(*) FROM read_parquet('%s') WHERE repeat('a', 2000 + (i %% 2)::INT) LIKE '%%_%%_%%_%%_b'`, file))
	if res.err == nil {
		t.Fatalf("the query answered %q in %v: DuckDB's LIKE no longer backtracks, and the test needs another call that checks for no interrupt", res.rows, time.Since(start))
	}
	t.Logf("the query ended in %v: %v", time.Since(start), res.err)
	// Until they exit, executors whose every thread runs a stopped task
	// on take no tasks: a query is planned without them (here on the
	// coordinator alone), rather than wait behind those tasks past its
	// timeout.
	time.Sleep(2500 * time.Millisecond)
	if res := runFlight(ctx, cl, probe); res.err != nil || len(res.rows) != 1 || res.rows[0] != "4096" {
		t.Fatalf("a query while the executors' threads are held: %v %q", res.err, res.rows)
	}
	// Each executor running one of its tasks exits: 8 s of kill timeout,
	// 2 s of drain.
	deadline := time.Now().Add(60 * time.Second)
	var stuck []*proc
	for len(stuck) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no executor exited a minute after its task was stopped")
		}
		time.Sleep(100 * time.Millisecond)
		for _, e := range execs {
			if e.exited() {
				stuck = append(stuck, e)
			}
		}
	}
	figures(t, "an executor with a stuck task exited %v after the query was sent", time.Since(start).Round(100*time.Millisecond))
	time.Sleep(6 * time.Second) // another one running a task of it too exits meanwhile
	stuck = stuck[:0]
	for _, e := range execs {
		if !e.exited() {
			continue
		}
		e.killed.Store(true) // its end is the test's
		stuck = append(stuck, e)
		var ee *exec.ExitError
		if !errors.As(e.err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("the executor exited with %v, want status 3", e.err)
		}
		if e.logged("task-kill-timeout", "exiting") == "" || e.logged("stopped task runs on") == "" {
			t.Errorf("the executor's log does not say why it exited:\n%s", strings.Join(strings.Split(e.output(t), "\n")[max(0, strings.Count(e.output(t), "\n")-10):], "\n"))
		}
	}
	if n := queryInt(t, ctx, cl, "SELECT 42"); n != 42 || coord.exited() {
		t.Fatalf("the coordinator answered %d (exited: %v)", n, coord.exited())
	}
	// A supervisor starts an executor again: split queries run on it and
	// any executor that had none of the stuck tasks.
	live := 1 + len(execs) - len(stuck)
	pc.executor(coord.uri, flags...)
	waitExecutors(t, ctx, cl, live, probe)
	if n := queryInt(t, ctx, cl, probe); n != 4096 {
		t.Fatalf("the split query after it answered %d, want 4096", n)
	}
}
