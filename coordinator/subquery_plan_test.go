package coordinator

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestHavingOverOwnRows plans TPC-H Q11's shape (HAVING compares each
// group with a subquery aggregating the query's own FROM and WHERE): the
// subquery is answered from the query's partial aggregates by the one
// final task, so the scan is read by one stage, not by one for the groups
// and one for the subquery. The answer is DuckDB's.
func TestHavingOverOwnRows(t *testing.T) {
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	q := "SELECT CAST(f.o AS BIGINT) AS v, sum(f.k) AS s FROM fact f, dim WHERE f.d = dim.d AND dim.name <> 'dim 1' GROUP BY f.o " +
		"HAVING sum(f.k) > (SELECT sum(f.k) / 600 FROM fact f, dim WHERE f.d = dim.d AND dim.name <> 'dim 1') ORDER BY s DESC"
	info, e := plannedStages(t, cl, q)
	sameAsDuckDB(t, cl, dir, views, q, info)
	stages := e.Stages
	scans := 0
	for _, s := range stages {
		if strings.Contains(s.What, "slices of f") {
			scans++
		}
	}
	if scans != 1 {
		t.Errorf("%d stages join slices of fact, want 1: %+v", scans, stages)
	}
	last := stages[len(stages)-1]
	if last.Tasks != 1 || !strings.Contains(last.SQL, "FROM skein_x") || strings.Count(last.SQL, "skein_partials") != 2 {
		t.Errorf("the last stage is not one task over the partials twice: %+v", last)
	}
}

// TestSubqueryStagesInOneOrder plans a query of several uncorrelated
// subqueries (TPC-DS Q09's shape) again and again, with other constants
// each time so that no plan is reused: the subqueries' stages come in the
// same order every time. They came in the order Go iterates the AST's
// maps, which changes from run to run. (How many tasks each stage has,
// and so which stages fuse, follows the executors' measured pace, which
// a loaded machine moves: only which subquery each stage computes is
// compared.)
func TestSubqueryStagesInOneOrder(t *testing.T) {
	cl, _, _ := stageCluster(t, anyBroadcast)
	var first []string
	for n := range 6 {
		q := fmt.Sprintf("SELECT CASE WHEN (SELECT count(*) FROM fact WHERE d = %d) > 10 THEN (SELECT avg(x) FROM fact WHERE o < %d) "+
			"ELSE (SELECT max(x) FROM fact WHERE k > %d) END AS a, (SELECT count(*) FROM ord WHERE od = %d) AS b FROM dim WHERE d = 1",
			n%7, 100+n, n, n%7)
		_, e := plannedStages(t, cl, q)
		var whats []string
		for _, s := range e.Stages {
			var which string
			for _, sub := range []string{"(d = ", "(o < ", "(k > ", "(od = "} {
				if strings.Contains(s.SQL, sub) {
					which = sub
				}
			}
			if which != "" && (len(whats) == 0 || whats[len(whats)-1] != which) {
				whats = append(whats, which) // by the stage reading its files
			}
		}
		if first == nil {
			first = whats
		} else if !slices.Equal(whats, first) {
			t.Fatalf("plan %d's stages are in another order:\n%s\nthe first's:\n%s", n, strings.Join(whats, "\n"), strings.Join(first, "\n"))
		}
	}
}
