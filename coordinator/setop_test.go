package coordinator

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestUnionBranchesAreIndependent plans UNION ALLs of 2, 4 and 8 aggregates
// of one table. DuckDB parses them as a tree of binary set operations, and
// each was a stage reading the one below it: a chain whose tickets (a
// consumer's holds its producers') doubled at every branch, 44 MB for ten
// (here 207 KB of FlightInfo for four branches, 1.4 MB for eight). Each branch is planned on its own, and one stage
// applies the UNION ALL to all of them: no set operation's stage reads
// another's, the plan is as deep for eight branches as for two, and its
// FlightInfo grows in proportion to the branches. The answer is DuckDB's.
func TestUnionBranchesAreIndependent(t *testing.T) {
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	query := func(n int) string {
		var b []string
		for k := range n {
			agg := []string{"count(*)", "CAST(sum(x) AS BIGINT)", "CAST(max(x) AS BIGINT)"}[k%3]
			b = append(b, fmt.Sprintf("SELECT %s AS v FROM fact WHERE d <> %d", agg, k))
		}
		return strings.Join(b, " UNION ALL ")
	}
	size, tasks := map[int]int{}, map[int]int{}
	depth := map[int]int{}
	for _, n := range []int{2, 4, 8} {
		q := query(n)
		info, e := plannedStages(t, cl, q)
		d := map[int]int{} // each stage's depth: 1 + its deepest input's
		setops := 0
		for _, s := range e.Stages {
			tasks[n] += s.Tasks
			for _, in := range s.Inputs {
				d[s.Stage] = max(d[s.Stage], d[in])
			}
			d[s.Stage]++
			if strings.HasPrefix(s.What, "UNION ALL") {
				setops++
				if len(s.Inputs) != n {
					t.Errorf("%d branches: the UNION ALL's stage %d reads %d stages", n, s.Stage, len(s.Inputs))
				}
			}
		}
		if setops != 1 {
			t.Errorf("%d branches: %d stages of a UNION ALL, want one", n, setops)
		}
		depth[n], size[n] = d[e.Stages[len(e.Stages)-1].Stage], proto.Size(info)
		t.Logf("%d branches: %d stages, %d deep, %d tasks, FlightInfo of %d bytes", n, len(e.Stages), depth[n], tasks[n], size[n])
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
	if depth[8] != depth[2] {
		t.Errorf("a plan %d stages deep for two branches, %d for eight", depth[2], depth[8])
	}
	// Linear: no more bytes a task for twice the branches. (How many
	// tasks a scan is cut in varies: executors measured unequal, under
	// load, cut its last rows smaller.)
	if size[8]*tasks[4] > 5*size[4]*tasks[8]/4 {
		t.Errorf("FlightInfo of %d bytes for four branches (%d tasks), %d for eight (%d tasks)", size[4], tasks[4], size[8], tasks[8])
	}
}
