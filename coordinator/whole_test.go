package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
)

// wholeWhat is what the plan of a query run whole as one task says, or ""
// if the plan is split (or local).
func wholeWhat(t *testing.T, plan explanation) string {
	t.Helper()
	if plan.Tasks == 1 && len(plan.Stages) == 1 && strings.HasPrefix(plan.Stages[0].What, "whole query in one task: ") {
		return plan.Stages[0].What
	}
	return ""
}

// With --split-min-rows, a query whose files hold fewer rows runs whole as
// one task on one executor, its one endpoint the answer; one whose files
// hold more (each scan counted: a join of the files with themselves reads
// them twice) is split as before. The answers are DuckDB's either way, a
// view read through inlined, a WITH kept; a query that runs local still
// does.
func TestSmallInputsRunWholeInOneTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		min   int64
		whole string // what the one task's plan says; "": split
	}{
		{0, ""},
		{50_000, ""}, // 30,000 rows a scan, 60,000 read
		{100_000, "whole query in one task: inputs 60,000 rows under --split-min-rows 100,000"},
	} {
		t.Run(fmt.Sprint("split-min-rows=", tc.min), func(t *testing.T) {
			c, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.SplitMinRows = tc.min })
			dir := c.cfg.AllowDirs[0]
			view := fmt.Sprintf("CREATE VIEW t AS SELECT * FROM read_parquet('%s')", glob)
			if _, err := cl.ExecuteUpdate(ctx, view); err != nil {
				t.Fatal(err)
			}
			q := "WITH b AS (SELECT id + 1 AS id FROM t) SELECT a.g, count(*) AS n, sum(b.id) AS s FROM t a JOIN b ON a.id = b.id GROUP BY a.g ORDER BY a.g"
			ref := ducktest.Open(t, dir)
			ducktest.Exec(t, ref, view)
			want := duckInOrder(t, ref, q)
			info, err := cl.Execute(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			plan := planOf(t, info)
			if got := wholeWhat(t, plan); got != tc.whole {
				t.Errorf("plan %q (%d tasks), want %q", got, plan.Tasks, tc.whole)
			}
			if tc.whole == "" && plan.Tasks < 2 {
				t.Errorf("split into %d tasks", plan.Tasks)
			}
			if tc.whole != "" && (len(info.Endpoint) != 1 || len(info.Endpoint[0].Location) < 2) {
				t.Errorf("%d endpoints, want one at an executor", len(info.Endpoint))
			}
			if got := endpointRows(t, cl, info.Endpoint); !slices.Equal(got, want) {
				t.Errorf("answer %q, want DuckDB's %q", got, want)
			}
			// A volatile function keeps a query on the coordinator.
			info, err = cl.Execute(ctx, fmt.Sprintf("SELECT id, random() AS r FROM read_parquet('%s')", glob))
			if err != nil {
				t.Fatal(err)
			}
			if p := planOf(t, info); p.Mode != "local" {
				t.Errorf("a volatile query planned %s, want local", p.Mode)
			}
			endpointRows(t, cl, info.Endpoint)
		})
	}
}

// On one executor thread, every query the planner would split runs whole
// as one task, whatever its inputs; --split-min-rows 0 splits it.
func TestOneSlotRunsWholeInOneTask(t *testing.T) {
	ctx := context.Background()
	for _, min := range []int64{0, 1} {
		c, cl, glob := startCluster(t, 1, "direct", func(c *Config) { c.SplitMinRows = min })
		q := fmt.Sprintf("SELECT id, g FROM read_parquet('%s') WHERE id %% 7 = 0", glob)
		want := duckRows(t, ducktest.Open(t, c.cfg.AllowDirs[0]), q)
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		got := wholeWhat(t, plan)
		switch {
		case min == 0 && (got != "" || plan.Tasks < 2):
			t.Errorf("--split-min-rows 0 on one slot: %q, %d tasks; want split", got, plan.Tasks)
		case min > 0 && got != "whole query in one task: one executor thread in the cluster":
			t.Errorf("one slot: plan %q (%d tasks), want one task", got, plan.Tasks)
		}
		rows := endpointRows(t, cl, info.Endpoint)
		slices.Sort(rows)
		if !slices.Equal(rows, want) {
			t.Errorf("%d rows, want DuckDB's %d", len(rows), len(want))
		}
	}
}

// Any n rows of a scan (SELECT ... LIMIT n without ORDER BY or WHERE, a
// table's preview) run as one task that reads the first rows, whatever
// the inputs; with a WHERE, each task of the split gives n of its rows and
// the merge n of those. Either answer is n rows of the scan.
func TestFirstRowsRunWholeInOneTask(t *testing.T) {
	ctx := context.Background()
	c, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.SplitMinRows = 1 })
	ref := ducktest.Open(t, c.cfg.AllowDirs[0])
	for _, tc := range []struct {
		q, whole string
	}{
		{"SELECT id, g FROM read_parquet('%s') LIMIT 7", "whole query in one task: LIMIT without ORDER BY or WHERE: the first rows read are the answer"},
		{"SELECT id, g FROM read_parquet('%s') WHERE id %% 7 = 0 LIMIT 7", ""},
	} {
		q := fmt.Sprintf(tc.q, glob)
		all, _, _ := strings.Cut(q, " LIMIT ")
		whole := duckRows(t, ref, all)
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		if got := wholeWhat(t, plan); got != tc.whole {
			t.Errorf("%s: plan %q (%d tasks), want %q", q, got, plan.Tasks, tc.whole)
		}
		if tc.whole == "" && plan.Tasks < 2 {
			t.Errorf("%s: split into %d tasks", q, plan.Tasks)
		}
		rows := endpointRows(t, cl, info.Endpoint)
		if len(rows) != 7 {
			t.Errorf("%s: %d rows, want 7", q, len(rows))
		}
		for _, r := range rows {
			if _, ok := slices.BinarySearch(whole, r); !ok {
				t.Errorf("%s: row %s is not a row of the scan", q, r)
			}
		}
	}
}

// Under --split-min-rows, a query whose plan in stages is one stage of
// tasks gathered (each reading its slice and the other inputs whole, no
// exchange: TPC-H Q2's shape, a correlated subquery read by each task) is
// split where more than one executor thread takes tasks; one whose plan
// moves rows between executors still runs whole, and every query does on
// one thread. Every answer, in order, is DuckDB's.
func TestOneGatheredStageSplitsUnderSplitMinRows(t *testing.T) {
	queries := []struct {
		q        string
		gathered bool // its plan in stages is one stage gathered
	}{
		{"SELECT f.k FROM fact f JOIN dim ON f.d = dim.d WHERE dim.name = 'dim 3' AND f.x > (SELECT avg(x) FROM fact g WHERE g.d = f.d)", true},
		{"SELECT o, sum(x) AS s FROM seq GROUP BY o ORDER BY s DESC, o LIMIT 7", true},
		// Sorted whole, its rows range-partitioned between executors.
		{"SELECT f.k FROM fact f JOIN dim ON f.d = dim.d WHERE dim.name = 'dim 3' AND f.x > (SELECT avg(x) FROM fact g WHERE g.d = f.d) ORDER BY f.k", false},
		{"SELECT d, count(*) AS n, sum(x) AS s FROM fact GROUP BY d ORDER BY d", false},
	}
	for _, slots := range []int{0, 1} {
		t.Run(fmt.Sprint("plan-slots=", slots), func(t *testing.T) {
			_, cl, dir, views := stageCoordinator(t, func(c *Config) {
				c.SplitMinRows = 1 << 40
				c.TaskRows = 6000
				c.BroadcastRows = 4000
				c.PlanSlots = slots
			})
			ref := ducktest.Open(t, dir)
			ducktest.Exec(t, ref, views...)
			for _, tc := range queries {
				info, err := cl.Execute(context.Background(), tc.q)
				if err != nil {
					t.Fatal(err)
				}
				plan := planOf(t, info)
				whole := wholeWhat(t, plan)
				split := tc.gathered && slots == 0
				switch {
				case split && (whole != "" || len(plan.Stages) != 1 || plan.Tasks < 2):
					t.Errorf("%s: plan %q, %d stages of %d tasks; want one stage of tasks gathered", tc.q, whole, len(plan.Stages), plan.Tasks)
				case !split && !strings.Contains(whole, "under --split-min-rows") && !strings.Contains(whole, "one executor thread"):
					t.Errorf("%s: plan %q (%d tasks), want whole in one task", tc.q, whole, plan.Tasks)
				}
				got := endpointRows(t, cl, info.Endpoint)
				want := duckInOrder(t, ref, tc.q)
				if !strings.Contains(tc.q, "ORDER BY") {
					slices.Sort(got)
					slices.Sort(want)
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: answer %q, want DuckDB's %q", tc.q, got, want)
				}
			}
		})
	}
}
