package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// With --task-rows 0 (the planner's choice), a plain scan of more files
// than two an executor thread is cut into two tasks a thread, each reading
// consecutive whole files, rather than one task a file: a scatter, a
// scatter-merge and a staged aggregate alike. A filter's pruning still
// drops row groups before the files are grouped (a point lookup reads one
// row group), a join's scan is still cut one task a thread, and a given
// --task-rows cuts as before. The answers are DuckDB's.
func TestAutoTaskRowsGroupWholeFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		taskRows int64
		// tasks: the plain scans' tasks; files: the files each reads
		// (0: a row range of one).
		tasks, files int
	}{
		{0, 4, 2},     // 8 files of 10,000 rows, 2 slots: 4 tasks of 2 files
		{4096, 24, 0}, // 3 row ranges a file
	} {
		t.Run(fmt.Sprint("task rows ", tc.taskRows), func(t *testing.T) {
			dir := t.TempDir()
			glob := parquet(t, dir, 8, 10000)
			c, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
				c.AllowDirs, c.TaskRows = []string{dir}, tc.taskRows
			})
			ref := ducktest.Open(t, dir)
			view := fmt.Sprintf("CREATE VIEW t AS SELECT * FROM read_parquet('%s')", glob)
			ducktest.Exec(t, ref, view)
			if _, err := cl.ExecuteUpdate(context.Background(), view); err != nil {
				t.Fatal(err)
			}
			scan := "t"
			// A point lookup: one row group of one file, as pruned.
			q := "SELECT g AS v FROM " + scan + " WHERE id = 52000"
			info, e := explained(t, cl, q)
			if want := filepath.Join(dir, "f5.parquet") + "[0..2047]"; len(e.Plan) != 1 || e.Plan[0].Slice != want || len(e.Pruned) == 0 {
				t.Errorf("%s: planned %d slices (%s), pruned %q, want the one slice %s, pruned", q, len(e.Plan), e.Mode, e.Pruned, want)
			}
			if got := endpointRows(t, cl, info.Endpoint); !slices.Equal(got, duckRows(t, ref, q)) {
				t.Errorf("%s: %q", q, got)
			}
			for _, q := range []string{
				"SELECT id, g FROM " + scan + " WHERE id % 7 = 0",
				"SELECT count(*) AS n, sum(id) AS s, min(id) AS lo, max(id) AS hi FROM " + scan + " WHERE g <> 3",
				"SELECT g, count(*) AS n, sum(id) AS s FROM " + scan + " GROUP BY g",
			} {
				want := duckRows(t, ref, q)
				equal(t, c)
				info, e := explained(t, cl, q)
				tasks, files := len(e.Plan), 0
				var sl []string
				for _, p := range e.Plan {
					sl = append(sl, p.Slice)
				}
				if len(e.Stages) > 0 {
					tasks = e.Stages[0].Tasks
				} else if n := strings.Count(sl[0], ",") + 1; !strings.Contains(sl[0], "[") {
					files = n
				}
				// Grouped files are read one read_parquet each.
				if union := strings.Contains(e.TaskSQL, "UNION ALL"); len(e.Stages) == 0 && union != (tc.files > 1) {
					t.Errorf("%s: task SQL %s", q, e.TaskSQL)
				}
				if tasks != tc.tasks || len(e.Stages) == 0 && files != tc.files {
					t.Errorf("%s: %d scan tasks %q, want %d of %d files each", q, tasks, sl, tc.tasks, tc.files)
				}
				got := endpointRows(t, cl, info.Endpoint)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s: %d rows, want DuckDB's %d", q, len(got), len(want))
				}
			}
			// A join's scan: one task of whole files a thread.
			q = "SELECT a.g, count(*) AS n FROM " + scan + " a JOIN (SELECT DISTINCT g FROM range(5) r(g)) b ON a.g = b.g GROUP BY a.g"
			info, e = explained(t, cl, q)
			if e.Mode == "local" {
				t.Fatalf("%s: local (%s)", q, e.Reason)
			}
			got := endpointRows(t, cl, info.Endpoint)
			slices.Sort(got)
			if want := duckRows(t, ref, q); !slices.Equal(got, want) {
				t.Errorf("%s: %q, want DuckDB's %q", q, got, want)
			}
		})
	}
}

// On real executors, one slowed three times or more, with --task-rows 0:
// the tasks of grouped files are sized by their rows, so queries measure
// the slowed executor slower (a task of unknown rows measures nothing),
// and the scan after that is cut for unequal executors: its last quarter
// in smaller tasks, to be given out last (here a file each, two), the
// rest in four tasks of grouped files (CoalesceTail).
func TestGroupedFilesMeasureUnequalExecutors(t *testing.T) {
	dir := t.TempDir()
	glob := parquet(t, dir, 8, 10000)
	c, cl, _ := startCluster(t, 2, "direct", withHooks(slowed()), func(c *Config) {
		c.AllowDirs, c.TaskRows = []string{dir}, 0
	})
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	tasks := func() int {
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if rows, _ := readDirect(t, cl, info.Endpoint); rows != 8*10000 {
			t.Fatalf("%d rows", rows)
		}
		return len(planOf(t, info).Plan)
	}
	if n := tasks(); n != 4 {
		t.Fatalf("the first scan has %d tasks, want 4 of 2 files", n)
	}
	measureUnequal(t, c, 8, func() { tasks() })
	if n := tasks(); n != 6 {
		t.Fatalf("the scan after one that measured a slowed executor has %d tasks, want 6 (4 of 1 or 2 files, then 2 of a file)", n)
	}
}

// equal forgets the executors' speeds that c's queries measured: two
// equal executors on a busy machine are at times measured unequal, and
// their scans then cut for that (see scheduler.unequal). It waits first
// for the tasks still running to end: a task that ends after its query
// answered its client still tells the scheduler a speed.
func equal(t *testing.T, c *Coordinator) {
	t.Helper()
	s := c.dist.sched
	eventually(t, 30*time.Second, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for id, j := range s.jobs {
			for i, task := range j.tasks {
				if task.state == taskRunning {
					return false, fmt.Sprintf("task %d of query %s still runs", i, id)
				}
			}
		}
		return true, ""
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.pace)
}

// The scheduler sizes a task of whole files grouped at planning by their
// rows, as it does a row range.
func TestSliceRowsOfGroupedFiles(t *testing.T) {
	for _, tc := range []struct {
		s    partition.Slice
		want int64
	}{
		{partition.Slice{File: "a", First: 10, Last: 19}, 10},
		{partition.Slice{File: "a", Last: -1}, 0},
		{partition.Slice{Files: []string{"a", "b"}, Last: -1}, 0},
		{partition.Slice{Files: []string{"a", "b"}, Last: -1, Rows: 300}, 300},
	} {
		if got := sliceRows(tc.s); got != tc.want {
			t.Errorf("sliceRows(%s) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
