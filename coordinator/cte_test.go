package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
)

// A WITH read by two stages (TPC-H Q15's shape, its subquery joining a
// table too: one over r alone the join evaluates itself, subhere.go) is
// computed by one stage whose broadcast output is kept for the tasks of
// both readers: every task of the plan runs exactly once (a reader beyond
// a spool's readers would run its producer again), and the answer is
// DuckDB's.
func TestWithComputedOnceRunsEachTaskOnce(t *testing.T) {
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 2000
		c.NoStealing = true // no straggler runs twice
	})
	ctx := context.Background()
	const q = "WITH r AS (SELECT o AS ok, sum(x) AS s FROM fact WHERE d < 5 GROUP BY ok) " +
		"SELECT CAST(ord.o AS BIGINT) FROM ord, r WHERE ord.o = r.ok AND r.s >= (SELECT max(s) - 100 FROM r JOIN dim ON r.ok % 10 = dim.d)"
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	want, err := scalar[string](ctx, ref, "SELECT count(*) || ' ' || sum(o) FROM ("+q+") AS t(o)")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	tasks, computing, readers := 0, 0, 0
	for _, s := range plan.Stages {
		tasks += s.Tasks
		if strings.HasPrefix(s.What, "WITH r, ") {
			computing++
			readers = 1 + len(s.Also)
		}
	}
	if plan.Mode != "stages" || computing != 1 || readers != 2 {
		t.Fatalf("want one stage computing r, read by two: %+v", plan)
	}
	if rows, sum := readEndpoints(t, cl, info.Endpoint); fmt.Sprintf("%d %d", rows, sum) != want || rows == 0 {
		t.Fatalf("%d rows summing to %d, want %s", rows, sum, want)
	}
	eventually(t, 15*time.Second, func() (bool, string) {
		ok := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID))
		return ok == int64(tasks), fmt.Sprintf("%d of %d tasks ended", ok, tasks)
	})
	if all := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s'`, plan.QueryID)); all != int64(tasks) {
		t.Fatalf("%d task runs for %d tasks: a producer ran again", all, tasks)
	}
}

// TestWithKeepsWhatItsReadsKeep plans TPC-DS Q4's shape: a WITH computed
// once, a UNION ALL of two aggregates each marked by a constant, read
// three times, each read keeping one mark and one group key. The WITH's
// branches keep only the rows some read keeps (ctefilter.go): the fact
// branch the two years its reads name, the ord branch its one, as
// conditions on their group keys under the aggregates. In the second
// query the UNION's v is a VARCHAR made from fact's INTEGER d too, which
// compares otherwise with '10' ('6' > '10', 6 < 10): that branch keeps
// every row, the dim branch takes the filter. A view read twice, computed
// once, keeps what its reads keep too. The answers are DuckDB's.
func TestWithKeepsWhatItsReadsKeep(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	const marked = "WITH t AS (SELECT o, d AS yr, sum(x) AS tot, 'f' AS kind FROM fact GROUP BY o, d " +
		"UNION ALL SELECT o, CAST(od AS INTEGER) AS yr, sum(o) * 1.0 AS tot, 'o' AS kind FROM ord GROUP BY o, od) " +
		"SELECT CAST(a.o AS BIGINT) * 100000 + CAST(a.tot + b.tot + c.tot AS BIGINT) AS v FROM t a, t b, t c " +
		"WHERE a.o = b.o AND b.o = c.o AND a.kind = 'f' AND a.yr = 1 AND b.kind = 'f' AND b.yr = (1 + 1) AND c.kind = 'o' AND c.yr = 3"
	info, e := plannedStages(t, cl, marked)
	var factKept, ordKept bool
	for _, s := range e.Stages {
		factKept = factKept || strings.Contains(s.SQL, "AS fact WHERE ((d = 1) OR (d = (1 + 1)) OR")
		ordKept = ordKept || strings.Contains(s.SQL, "(CAST(od AS INTEGER) = 3)")
	}
	if !factKept || !ordKept {
		t.Errorf("the WITH's branches do not keep only what the reads keep (fact %v, ord %v): %+v", factKept, ordKept, e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, marked, info)
	// The same shape with other constants: a plan reused must not keep
	// the first query's years.
	other := strings.NewReplacer("a.yr = 1 ", "a.yr = 4 ", "(1 + 1)", "(4 + 1)", "c.yr = 3", "c.yr = 6").Replace(marked)
	info, _ = plannedStages(t, cl, other)
	sameAsDuckDB(t, cl, dir, views, other, info)

	const typed = "WITH t AS (SELECT d AS v, count(*) AS n FROM fact GROUP BY d UNION ALL SELECT name, count(*) FROM dim GROUP BY name) " +
		"SELECT a.n * 1000 + b.n AS v FROM t a, t b WHERE a.v = b.v AND a.v > '10' AND b.v > '10'"
	info, e = plannedStages(t, cl, typed)
	var dimKept bool
	for _, s := range e.Stages {
		if strings.Contains(s.SQL, "AS fact") && strings.Contains(s.SQL, "'10'") {
			t.Errorf("fact's branch, of another type than the UNION's, takes the filter: %s", s.SQL)
		}
		dimKept = dimKept || strings.Contains(s.SQL, `("name" > '10')`)
	}
	if !dimKept {
		t.Errorf("dim's branch does not take the filter: %+v", e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, typed, info)

	// A view read twice is computed once too, and keeps what its reads keep.
	const viewed = "SELECT CAST(a.s + b.s AS BIGINT) AS v FROM fact_by_d a, fact_by_d b WHERE a.d = 1 AND b.d = 2"
	info, e = plannedStages(t, cl, viewed)
	var viewKept bool
	for _, s := range e.Stages {
		viewKept = viewKept || strings.Contains(s.SQL, "AS fact WHERE ((d = 1) OR (d = 2))")
	}
	if !viewKept {
		t.Errorf("the view's stages do not keep only what its reads keep: %+v", e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, viewed, info)
}
