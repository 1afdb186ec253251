package coordinator

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// manyFiles writes n Parquet files of three rows each into dir: distinct
// files (ids apart) written by DuckDB, each copied byte for byte under
// other names until there are n, which is quicker than n COPYs (7 s for
// 3,000); the glob reading them all.
func manyFiles(t *testing.T, dir string, n int) string {
	t.Helper()
	const distinct = 30
	conn := ducktest.Open(t, dir)
	var bodies [distinct][]byte
	for f := range distinct {
		p := filepath.Join(dir, fmt.Sprintf("m%05d.parquet", f))
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS id, (range %% 5)::INTEGER AS g FROM range(3))
TO '%s' (FORMAT parquet)`, 3*f, p))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		bodies[f] = b
	}
	for f := distinct; f < n; f++ {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("m%05d.parquet", f)), bodies[f%distinct], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "m*.parquet")
}

// descriptors is how many files the process holds open; -1: not
// countable here.
func descriptors() int {
	names, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(names)
}

// A query over a glob of thousands of files keeps every process within a
// bound of descriptors that does not grow with the files: tasks of whole
// files held one read_parquet a file in a UNION ALL, which DuckDB keeps
// open from bind to end, so 3,000 files on 2 executors of 2 threads took
// this process (coordinator and executors) from about 60 descriptors to
// about 2,000 (the coordinator binding a task's 375 to check it, each
// executor running two tasks of 375 at once). The answer is DuckDB's.
func TestManyFilesBoundedDescriptors(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3,000 files")
	}
	if descriptors() < 0 {
		t.Skip("no /proc/self/fd: descriptors not countable")
	}
	dir := t.TempDir()
	glob := manyFiles(t, dir, 3000)
	const threads = 2
	c, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.Threads = threads
		c.TaskRows = 0 // the planner's: whole files together, two tasks an executor thread
	})
	ref := ducktest.Open(t, dir)
	queries := []string{
		fmt.Sprintf("SELECT count(*), sum(id), min(id), max(g) FROM read_parquet('%s')", glob),
		fmt.Sprintf("SELECT g, count(*), sum(id) FROM read_parquet('%s') GROUP BY g", glob),
		fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE id %% 7 = 3", glob),
	}
	// Warm: the footers read once, the connections dialled; a few
	// descriptors a query (streams, DuckDB's temporary files) besides
	// the files.
	if _, err := cl.Execute(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	base := descriptors()
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n := int64(descriptors()); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	for _, q := range queries {
		// Each query planned as on equal executors: ones measured
		// unequal (a loaded machine) get a task a file (SplitTail).
		forgetAllPace(t, c)
		got, mode, sql := clusterAnswer(t, cl, q)
		if mode == "local" || mode == "" || !strings.Contains(sql, "UNION ALL") {
			t.Errorf("%s: planned %q, task SQL %.200s: want tasks of whole files in a UNION ALL", q, mode, sql)
		}
		if want := duckAnswer(t, ref, q); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: cluster %v, DuckDB %v", q, got.rows, want.rows)
		}
	}
	close(stop)
	wg.Wait()
	// Two executors of two threads each run two tasks at once, and the
	// coordinator binds one task to check it: five tasks' files open, a
	// few more a task besides (its list's files, one a DuckDB thread).
	bound := 5 * (partition.DefaultTaskOpenFiles + 16)
	t.Logf("descriptors: %d before, %d at most while 3 queries read 3,000 files (bound %d above)", base, peak.Load(), bound)
	if grew := int(peak.Load()) - base; grew > bound {
		t.Errorf("descriptors grew by %d while the queries ran, from %d: want at most %d", grew, base, bound)
	}
}

// forgetAllPace is forgetPace for every query c has run.
func forgetAllPace(t *testing.T, c *Coordinator) {
	t.Helper()
	s := c.dist.sched
	s.mu.Lock()
	var ids []string
	for id := range s.jobs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		forgetPace(t, c, id)
	}
	forgetPace(t, c, "")
}

// On executors measured unequal, a glob over thousands of small files is
// cut as SplitTail cuts it, but its whole files are grouped (CoalesceTail):
// a task a file made 3,000 tasks of 3 rows, each a dispatch, a prepare and
// a stream. The tail's tasks stay smaller than the others, for the
// scheduler to give out last, and the answers are DuckDB's.
func TestManyFilesUnequalPaceGroupsFiles(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	if testing.Short() {
		t.Skip("writes 3,000 files")
	}
	dir := t.TempDir()
	glob := manyFiles(t, dir, 3000)
	c, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.TaskRows = 0
	})
	ref := ducktest.Open(t, dir)
	ids := []string{c.Executors()[0].ID(), c.Executors()[1].ID()}
	for _, q := range []string{
		fmt.Sprintf("SELECT count(*), sum(id), min(id), max(g) FROM read_parquet('%s')", glob),
		fmt.Sprintf("SELECT g, count(*), sum(id) FROM read_parquet('%s') GROUP BY g", glob),
		fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE id %% 7 = 3", glob),
	} {
		// One executor three times slower than the other, as queries
		// before would have measured it.
		unequal := func() {
			forgetAllPace(t, c)
			s := c.dist.sched
			s.mu.Lock()
			s.pace[ids[0]], s.pace[ids[1]] = 0, math.Log(1.0/3)
			s.mu.Unlock()
			if !s.unequal(ids) {
				t.Fatal("the executors' pace does not say unequal")
			}
		}
		unequal()
		info, e := explained(t, cl, q)
		// 9,000 rows: 4 tasks before the tail (scanTasksPerSlot a slot),
		// the tail's 2,250 rows in tasks of a quarter of theirs. A staged
		// plan tells its scan's tasks, not their files.
		if len(e.Stages) > 0 {
			if n := e.Stages[0].Tasks; n < 4 || n > 12 {
				t.Errorf("%s: %d scan tasks, want 4 to 12", q, n)
			}
		} else {
			var files []int
			for _, p := range e.Plan {
				files = append(files, strings.Count(p.Slice, ",")+1)
			}
			t.Logf("%.40s: tasks of %v files", q, files)
			if len(files) < 4 || len(files) > 12 || files[len(files)-1] >= files[0] {
				t.Errorf("%s: %d tasks of %v files, want 4 to 12, the last ones smaller", q, len(files), files)
			}
		}
		readEndpointsAny(context.Background(), t, cl, info.Endpoint)
		unequal()
		got, _, _ := clusterAnswer(t, cl, q)
		if want := duckAnswer(t, ref, q); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: cluster %v, DuckDB %v", q, got.rows, want.rows)
		}
	}
}
