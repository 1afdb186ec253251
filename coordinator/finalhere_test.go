package coordinator

import (
	"fmt"
	"testing"
)

// TestFinalAggregateInTheMerge runs aggregates whose answer the
// coordinator merges (sorted) over partials shuffled to a final stage:
// with the producers' rows within the scheduler's limit the final stage's
// tasks never run and the merge computes it over every partition itself;
// above it (a limit of 0 rows) the executors run it as planned. The
// answer is DuckDB's either way.
func TestFinalAggregateInTheMerge(t *testing.T) {
	c, cl, dir, views := stageCoordinator(t, anyBroadcast)
	queries := []string{
		// 7 groups, few partial rows.
		"SELECT CAST(CAST(d AS BIGINT) * 1000000 + sum(x) AS BIGINT) AS v FROM fact GROUP BY d ORDER BY v",
		// Cut on each partition, then in the merge.
		"SELECT CAST(d AS BIGINT) * 1000000 + count(*) AS v FROM fact GROUP BY d ORDER BY v DESC LIMIT 3 OFFSET 1",
		// A join's partial aggregate: its groups' partials come from the
		// join's tasks.
		"SELECT CAST(count(DISTINCT f.k) AS BIGINT) AS v FROM fact f JOIN ord o ON f.o = o.o GROUP BY o.urgent ORDER BY v",
	}
	for _, limit := range []int64{finalHereRows, 0} {
		for _, q := range queries {
			t.Run(fmt.Sprintf("limit %d/%s", limit, q), func(t *testing.T) {
				s := c.dist.sched
				s.mu.Lock()
				s.hereRows = limit
				s.mu.Unlock()
				info, e := plannedStages(t, cl, q)
				if e.FinalHere == "" || len(info.Endpoint) != 1 {
					t.Fatalf("plan %+v: want a merge the coordinator may run the last stage in", e)
				}
				sameAsDuckDB(t, cl, dir, views, q, info)
				last := e.Stages[len(e.Stages)-1]
				ran, producers := lastStageRuns(t, c, e.QueryID, len(e.Stages)-1)
				switch {
				case limit > 0 && ran != 0:
					t.Fatalf("%d of the last stage's %d tasks ran over %d producers' few rows; want the merge to run it", ran, last.Tasks, producers)
				case limit == 0 && ran != last.Tasks:
					t.Fatalf("%d of the last stage's %d tasks ran; want all, its input being over the limit", ran, last.Tasks)
				}
				// The history (skein.tasks, the status page) says where
				// the skipped tasks' work went.
				want := 0
				if limit > 0 {
					want = last.Tasks
				}
				if n := mergedAttempts(c, e.QueryID); n != want {
					t.Fatalf("%d of the query's attempts recorded as merged, want %d", n, want)
				}
			})
		}
	}
}

// lastStageRuns counts the tasks of stage si of query qid that an executor
// was given, and the tasks of the stages it reads.
func lastStageRuns(t *testing.T, c *Coordinator, qid string, si int) (ran, producers int) {
	t.Helper()
	s := c.dist.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[qid]
	if j == nil {
		t.Fatalf("the scheduler does not know query %s", qid)
	}
	for _, tk := range j.tasks {
		switch {
		case tk.stage == si && !tk.started.IsZero():
			ran++
		case tk.stage != si && tk.out >= 0:
			producers++
		}
	}
	return ran, producers
}

// mergedAttempts counts the attempts of query qid the history records as
// done by the coordinator's merge.
func mergedAttempts(c *Coordinator, qid string) int {
	h := c.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	if q := h.byID[qid]; q != nil {
		for _, a := range q.attempts {
			if a.status == statusMerged && a.executor == "coordinator" {
				n++
			}
		}
	}
	return n
}
