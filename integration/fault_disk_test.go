//go:build linux

package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDiskFullFailsLiveness runs a coordinator whose files may not grow
// past 16 MiB (RLIMIT_FSIZE, as a full disk refuses a write: DuckDB
// reports the write failed) and inserts until the database's checkpoint
// cannot be written. DuckDB then refuses every statement until the
// process restarts: health must say so, liveness included, and the
// process exits (status 4), so that a supervisor restarts it (both said
// SERVING while every query failed; then the process stayed up).
// Started again without the limit, every acknowledged insert is there.
func TestDiskFullFailsLiveness(t *testing.T) {
	t.Parallel() // the process tests run two at a time after the others (make test's time)
	ctx := context.Background()
	pc := newProcCluster(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	coord := pc.coordinator(dataDir)
	limit := unix.Rlimit{Cur: 16 << 20, Max: 16 << 20}
	if err := unix.Prlimit(coord.cmd.Process.Pid, unix.RLIMIT_FSIZE, &limit, nil); err != nil {
		t.Fatal(err)
	}
	cl := dial(t, coord.uri)
	mustUpdate(t, ctx, cl, "CREATE TABLE big (i BIGINT, s VARCHAR)")
	acked := 0
	var failed error
	for k := range 100 {
		_, err := cl.ExecuteUpdate(ctx, fmt.Sprintf("INSERT INTO big SELECT range, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) FROM range(%d, %d)", k*100_000, (k+1)*100_000))
		if err != nil {
			failed = err
			break
		}
		acked++
	}
	if failed == nil {
		t.Fatal("100 inserts of 100,000 rows fit in 16 MiB of files")
	}
	hc := healthClient(t, coord.uri)
	deadline := time.Now().Add(20 * time.Second)
	for healthOf(hc, "liveness") != "NOT_SERVING" || healthOf(hc, "") != "NOT_SERVING" {
		if time.Now().After(deadline) {
			t.Fatalf("after %d inserts, then %v: liveness %s, readiness %s", acked, failed,
				healthOf(hc, "liveness"), healthOf(hc, ""))
		}
		time.Sleep(100 * time.Millisecond)
	}
	figures(t, "%d inserts acknowledged, then: %v", acked, failed)
	// It exits by itself, for any supervisor to start it again, a
	// liveness probe or not (it stayed up, refusing every statement).
	for deadline := time.Now().Add(60 * time.Second); !coord.exited(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the coordinator of an invalidated database did not exit within a minute")
		}
	}
	coord.killed.Store(true) // its end is the test's
	var ee *exec.ExitError
	if !errors.As(coord.err, &ee) || ee.ExitCode() != 4 {
		t.Errorf("the coordinator exited with %v, want status 4", coord.err)
	}
	coord = pc.coordinator(dataDir)
	if n := queryInt(t, ctx, dial(t, coord.uri), "SELECT count(*) FROM big"); n != int64(acked)*100_000 {
		t.Fatalf("%d rows after the restart, %d inserts of 100,000 acknowledged", n, acked)
	}
}
