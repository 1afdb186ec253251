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
