package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestProcessMemoryLimitFailsTheQuery: a value DuckDB builds in one call
// is memory outside --memory-limit. A 3 GB string built while the
// coordinator prepares a query, or by an executor's task, once grew the
// process by as much (and a larger one would have the kernel kill it).
// Under --process-memory-limit the allocation fails instead: the query
// ends ResourceExhausted, no process maps past its limit, and both serve
// the next query.
func TestProcessMemoryLimitFailsTheQuery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	conn := ducktest.Open(t, dir)
	for f := range 2 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range AS id, 'k' || (range %% 50) AS s FROM range(%d, %d))
TO '%s' (FORMAT parquet)`, f*1000, (f+1)*1000, filepath.Join(dir, fmt.Sprintf("m%d.parquet", f))))
	}
	src := fmt.Sprintf("read_parquet('%s')", filepath.Join(dir, "m*.parquet"))
	const limit = 1500 << 20
	limits := []string{"--memory-limit", "256MB", "--process-memory-limit", "1500MiB"}
	pc := newProcCluster(t, dir)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), append(limits, "--result-mode", "proxy")...)
	exec := pc.executor(coord.uri, limits...)
	cl := dial(t, coord.uri)
	probe := "SELECT count(*) FROM " + src
	waitExecutors(t, ctx, cl, 1, probe)

	for _, q := range []string{
		// Folded while the coordinator prepares it.
		"SELECT length(repeat('x', 3000000000))",
		// Built by the executor's task, row by row.
		"SELECT max(length(repeat(left(s, 1), 3000000000))) FROM " + src + " WHERE id = 7",
	} {
		res := runFlight(ctx, cl, q)
		if status.Code(res.err) != codes.ResourceExhausted || !strings.Contains(res.err.Error(), "Out of Memory") {
			t.Errorf("%s: want ResourceExhausted (Out of Memory), got %v (%d rows)", q, res.err, len(res.rows))
		}
	}
	for _, p := range []*proc{coord, exec} {
		if p.exited() {
			t.Fatalf("%s exited: %v", p.name, p.err)
		}
		if got := procStatusBytes(t, p, "Max data size"); got != limit {
			t.Errorf("%s: RLIMIT_DATA %d, want %d", p.name, got, limit)
		}
		if hwm := procStatusBytes(t, p, "VmHWM:"); hwm <= 0 || hwm >= limit {
			t.Errorf("%s: peak RSS %d bytes, want under the limit %d", p.name, hwm, limit)
		}
	}
	if n := queryInt(t, ctx, cl, probe); n != 2000 {
		t.Fatalf("%s after the failures: %d", probe, n)
	}
}

// procStatusBytes reads a figure of a process: a "Key: N kB" line of its
// /proc status, or, for "Max data size", the soft limit in its limits.
func procStatusBytes(t *testing.T, p *proc, key string) int64 {
	t.Helper()
	file, unit := "status", int64(1024)
	if key == "Max data size" {
		file, unit = "limits", 1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", p.cmd.Process.Pid, file))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			n, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", file, line, err)
			}
			return n * unit
		}
	}
	t.Fatalf("no %q in /proc/%d/%s", key, p.cmd.Process.Pid, file)
	return 0
}
