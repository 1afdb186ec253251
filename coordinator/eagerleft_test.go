package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
)

// outerJoinData adds to stageData's directory an orders-like table nk (the
// null-supplying side: 12,000 rows, o in 0..399 with NULLs, x with NULLs)
// and a customer-like nc (1,200 rows, c NULL in every eleventh, 400..1199
// matching no row of nk), with views.
func outerJoinData(t *testing.T, cl *flightsql.Client, dir string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT CASE WHEN range %% 13 = 0 THEN NULL ELSE (range %% 400)::INTEGER END AS o,
  CASE WHEN range %% 17 = 0 THEN NULL ELSE (range %% 50)::BIGINT END AS x, 's' || (range %% 23) AS s FROM range(12000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2000)`, filepath.Join(dir, "nk.parquet")))
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT CASE WHEN range %% 11 = 0 THEN NULL ELSE range::INTEGER END AS c, (range %% 5)::INTEGER AS g
FROM range(1200)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 600)`, filepath.Join(dir, "nc.parquet")))
	views := []string{
		fmt.Sprintf("CREATE VIEW nk AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "nk.parquet")),
		fmt.Sprintf("CREATE VIEW nc AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "nc.parquet")),
	}
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	return views
}

// belowOuterJoin are aggregates of an outer join's null-supplying side
// that partition/eagerleft.go computes below the join: TPC-H Q13's shape,
// SUM, MIN and MAX (NULL where no row matched), a filter of the preserved
// side in the ON and the WHERE, NULL keys on both sides, a RIGHT join, the
// null-supplying side's key grouped above the join, a preserved side that
// is itself an inner join.
var belowOuterJoin = []string{
	"SELECT n, count(*) AS custdist FROM (SELECT nc.c, count(nk.x) AS n FROM nc LEFT JOIN nk ON nc.c = nk.o AND nk.s <> 's3' GROUP BY nc.c) AS co GROUP BY n ORDER BY custdist DESC, n DESC",
	"SELECT nc.g, count(nk.x) AS n, sum(nk.x) AS s, min(nk.s) AS lo, max(nk.x) AS hi FROM nc LEFT JOIN nk ON nk.o = nc.c AND nc.g <> 2 WHERE nc.c IS NULL OR nc.c % 7 <> 1 GROUP BY nc.g ORDER BY nc.g",
	"SELECT nc.c, count(nk.o) AS n, sum(nk.x) AS s FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nc.c ORDER BY nc.c NULLS FIRST",
	"SELECT nc.c % 10 AS m, count(nk.x) AS n, max(nk.s) AS hi FROM nk RIGHT JOIN nc ON nk.o = nc.c AND nk.x > 20 GROUP BY nc.c % 10 ORDER BY m NULLS LAST",
	"SELECT nk.o AS k, count(nk.x) AS n, min(nk.x) AS lo FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nk.o ORDER BY k NULLS FIRST",
	"SELECT dim.name, count(f.k) AS n, max(f.x) AS hi FROM cust c JOIN dim ON c.g = dim.d AND dim.d <> 4 LEFT JOIN fact f ON f.o = c.c AND f.d < 3 GROUP BY dim.name ORDER BY dim.name",
}

// notBelowOuterJoin are outer join aggregates the rule refuses: COUNT(*)
// counts the NULL-extended row, coalesce(x, 1) is not NULL there, a WHERE
// on the null-supplying side filters the NULL-extended rows, an aggregate
// of the preserved side would count its rows once per partial row, AVG,
// an ON conjunct reading both sides beside the key, and a null-supplying
// side with one row per key (ord's o: nothing to aggregate first).
var notBelowOuterJoin = []string{
	"SELECT nc.c, count(*) AS n FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nc.c ORDER BY nc.c NULLS FIRST",
	"SELECT nc.g, sum(coalesce(nk.x, 1)) AS s FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nc.g ORDER BY nc.g",
	"SELECT nc.g, count(nk.x) AS n FROM nc LEFT JOIN nk ON nc.c = nk.o WHERE nk.x IS NULL OR nk.x > 10 GROUP BY nc.g ORDER BY nc.g",
	"SELECT nc.g, count(nc.c) AS b, count(nk.x) AS n FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nc.g ORDER BY nc.g",
	"SELECT nc.g, avg(nk.x) AS a FROM nc LEFT JOIN nk ON nc.c = nk.o GROUP BY nc.g ORDER BY nc.g",
	"SELECT nc.g, count(nk.x) AS n FROM nc LEFT JOIN nk ON nc.c = nk.o AND nk.x < nc.g * 10 GROUP BY nc.g ORDER BY nc.g",
	"SELECT f.d, count(o.od) AS n FROM fact f LEFT JOIN ord o ON f.o = o.o GROUP BY f.d ORDER BY f.d",
}

// preAggregate is the What of the plan's stage computing aggregates below
// a join, or "".
func preAggregate(e explanation) string {
	for _, s := range e.Stages {
		if strings.HasPrefix(s.What, "pre-aggregate skein_pre, ") {
			return s.What
		}
	}
	return ""
}

// TestAggregateBelowOuterJoin plans each of belowOuterJoin with the
// null-supplying side counted below the join (partial aggregates by its
// key, broadcast to the preserved side's join), and each of
// notBelowOuterJoin as before; every answer, in order, is DuckDB's.
func TestAggregateBelowOuterJoin(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	views = append(views, outerJoinData(t, cl, dir)...)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	for _, q := range append(slices.Clone(belowOuterJoin), notBelowOuterJoin...) {
		info, e := plannedStages(t, cl, q)
		pre := preAggregate(e)
		if want := slices.Contains(belowOuterJoin, q); want != (pre != "") {
			t.Errorf("%s: pre-aggregate stage %q, want one: %v (%+v)", q, pre, want, e.Stages)
		} else if want && !strings.Contains(pre, "partial aggregate by o (below the outer join)") {
			t.Errorf("%s: below the join %q, want nk's partial aggregate by o", q, pre)
		}
		if got, want := endpointRows(t, cl, info.Endpoint), duckInOrder(t, ref, q); !slices.Equal(got, want) {
			t.Errorf("%s: answer %q, want DuckDB's %q", q, got, want)
		}
	}
}

// An aggregate below an outer join costs about the CPU of the query run
// whole (TPC-H Q13), so it is split however few rows it reads, where more
// than one executor thread takes tasks; other small queries still run
// whole, and so does every query on one thread.
func TestAggregateBelowOuterJoinUnderSplitMinRows(t *testing.T) {
	t.Parallel()
	for _, slots := range []int{0, 1} {
		t.Run(fmt.Sprint("plan-slots=", slots), func(t *testing.T) {
			_, cl, dir, views := stageCoordinator(t, func(c *Config) {
				c.SplitMinRows = 1 << 40
				c.PlanSlots = slots
			})
			views = append(views, outerJoinData(t, cl, dir)...)
			ref := ducktest.Open(t, dir)
			ducktest.Exec(t, ref, views...)
			for _, q := range []string{belowOuterJoin[0], notBelowOuterJoin[0], "SELECT n, count(*) AS m FROM (SELECT c.c, count(f.k) AS n FROM cust c JOIN fact f ON c.c = f.o GROUP BY c.c) GROUP BY n ORDER BY n"} {
				info, err := cl.Execute(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				plan := planOf(t, info)
				split := q == belowOuterJoin[0] && slots == 0
				if whole := wholeWhat(t, plan); split != (whole == "") || split != (preAggregate(plan) != "") {
					t.Errorf("%s: whole %q, below the join %q; want split below the join: %v", q, whole, preAggregate(plan), split)
				}
				if got, want := endpointRows(t, cl, info.Endpoint), duckInOrder(t, ref, q); !slices.Equal(got, want) {
					t.Errorf("%s: answer %q, want DuckDB's %q", q, got, want)
				}
			}
		})
	}
}
