package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
)

// With --local-max-rows, a plan of one task in all whose files hold fewer
// rows runs on the coordinator as a local query, and --explain says why: a
// query run whole as one task (--split-min-rows) and a plan in stages that
// is one task (a correlated subquery over a scan of one row group). A plan
// of several tasks, or one task reading as many rows, still runs on
// executors; a query of one scan counts the rows of the row groups its
// filter's Parquet statistics do not refute. The answers, in order, are
// DuckDB's.
func TestSmallOneTaskRunsHere(t *testing.T) {
	t.Parallel()
	const here = "runs local: one task reading %s rows, under --local-max-rows %s: the coordinator runs it, with no dispatch to an executor and no result relayed"
	join := "SELECT a.g, count(*) AS n, sum(b.id) AS s FROM read_parquet('%[1]s') a JOIN read_parquet('%[1]s') b ON a.id = b.id + 1 GROUP BY a.g ORDER BY a.g"
	const filtered = "runs local: one task reading %s rows of the row groups its filter may match (Parquet statistics), under " +
		"--local-max-rows %s: the coordinator runs it, with no dispatch to an executor and no result relayed"
	lookup := "SELECT * FROM read_parquet('%[1]s') WHERE id = 12345"
	corr := "SELECT s.id, (SELECT count(*) FROM read_parquet('%[1]s') t WHERE t.g = s.id %% 5) AS n FROM read_parquet('%[2]s') s ORDER BY 1 LIMIT 5"
	for _, tc := range []struct {
		name            string
		splitMin, local int64
		q               string
		reason          string // "": runs on executors
		tasks           int    // on executors: 1, or at least 2 when more
	}{
		{"whole, never here", 1 << 40, 0, join, "", 1},
		{"whole, under", 1 << 40, 100_000, join, fmt.Sprintf(here, "60,000", "100,000"), 0},
		{"whole, over", 1 << 40, 50_000, join, "", 1},
		{"split, several tasks", 0, 1 << 40, join, "", 2},
		{"stages of one task, under", 0, 100_000, corr, fmt.Sprintf(here, "31,000", "100,000"), 0},
		{"stages of one task, never here", 0, 0, corr, "", 1},
		// A lookup in files sorted by its key: the row groups its filter
		// may match are under the bound, the files' rows are not.
		{"whole lookup, its row groups under", 1 << 40, 20_000, lookup, fmt.Sprintf(filtered, "2,048", "20,000"), 0},
		{"whole lookup, its row groups over", 1 << 40, 2_000, lookup, "", 1},
		{"whole, a filter refuting no row group", 1 << 40, 20_000, "SELECT id FROM read_parquet('%[1]s') WHERE g = 3 ORDER BY id LIMIT 4", "", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cl, glob := startCluster(t, 2, "direct", func(c *Config) {
				c.SplitMinRows, c.LocalMaxRows = tc.splitMin, tc.local
			})
			dir := c.cfg.AllowDirs[0]
			ref := ducktest.Open(t, dir)
			// One file of one row group: a scan of one task.
			one := filepath.Join(dir, "one", "one.parquet")
			if err := os.Mkdir(filepath.Dir(one), 0o755); err != nil {
				t.Fatal(err)
			}
			ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT range::BIGINT AS id FROM range(1000)) TO '%s' (FORMAT parquet)", one))
			q := fmt.Sprintf(tc.q, glob, one)
			want := duckInOrder(t, ref, q)
			info, plan := runsHere(t, cl, q, tc.reason)
			if tc.reason == "" && (tc.tasks == 1 && plan.Tasks != 1 || plan.Tasks < tc.tasks) {
				t.Errorf("%d tasks, want %d", plan.Tasks, tc.tasks)
			}
			if got := endpointRows(t, cl, info.Endpoint); !slices.Equal(got, want) {
				t.Errorf("answer %q, want DuckDB's %q", got, want)
			}
		})
	}
}

// A one-task plan run on the coordinator reads no file the executors
// could not: a small Parquet file outside the allowed directories is
// refused, as it is on executors.
func TestSmallOneTaskHereIsSandboxed(t *testing.T) {
	ctx := context.Background()
	outside := t.TempDir()
	ref := ducktest.Open(t, outside)
	secret := filepath.Join(outside, "secret.parquet")
	ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT 42 AS x) TO '%s' (FORMAT parquet)", secret))
	for _, local := range []int64{0, 1 << 40} {
		_, cl, _ := startCluster(t, 2, "direct", func(c *Config) { c.SplitMinRows, c.LocalMaxRows = 1<<40, local })
		err := run(ctx, cl, fmt.Sprintf("SELECT x FROM read_parquet('%s')", secret))
		if err == nil {
			t.Fatalf("--local-max-rows %d: read a file outside the allowed directories", local)
		}
		if !strings.Contains(err.Error(), "Permission Error") && !strings.Contains(err.Error(), "not allowed") {
			t.Errorf("--local-max-rows %d: %v, want a permission error", local, err)
		}
	}
}

// runsHere plans q and checks where it runs: on the coordinator for the
// reason given, or on executors when reason is "".
func runsHere(t *testing.T, cl *flightsql.Client, q, reason string) (*flight.FlightInfo, explanation) {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	switch {
	case reason != "" && (plan.Mode != "local" || plan.Reason != reason):
		t.Errorf("%s: plan %s (%q), want local: %q", q, plan.Mode, plan.Reason, reason)
	case reason == "" && plan.Mode == "local":
		t.Errorf("%s: runs local (%q), want on executors", q, plan.Reason)
	}
	return info, plan
}

// Any n rows of a scan (LIMIT n without ORDER BY or WHERE) run here when n
// is under --local-max-rows, however many rows the files hold; a larger n
// runs as one task on an executor. Either answer is n rows of the scan.
func TestFirstRowsRunHere(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct", func(c *Config) { c.SplitMinRows, c.LocalMaxRows = 1, 100 })
	ref := ducktest.Open(t, c.cfg.AllowDirs[0])
	whole := duckRows(t, ref, fmt.Sprintf("SELECT id, g FROM read_parquet('%s')", glob))
	for _, tc := range []struct {
		n      int
		reason string
	}{
		{7, "runs local: one task reading the first 7 rows of a scan, under --local-max-rows 100: the coordinator runs it, with no dispatch to an executor and no result relayed"},
		{500, ""},
	} {
		q := fmt.Sprintf("SELECT id, g FROM read_parquet('%s') LIMIT %d", glob, tc.n)
		info, plan := runsHere(t, cl, q, tc.reason)
		if tc.reason == "" && plan.Tasks != 1 {
			t.Errorf("LIMIT %d: %d tasks, want one", tc.n, plan.Tasks)
		}
		rows := endpointRows(t, cl, info.Endpoint)
		if len(rows) != tc.n {
			t.Errorf("LIMIT %d: %d rows", tc.n, len(rows))
		}
		for _, r := range rows {
			if _, ok := slices.BinarySearch(whole, r); !ok {
				t.Errorf("LIMIT %d: row %s is not a row of the scan", tc.n, r)
			}
		}
	}
}
