package coordinator

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

func TestNextRound(t *testing.T) {
	for _, tc := range []struct {
		ran, left, slots int
		got, want        int64
		next             int
	}{
		{2, 7, 2, 0, 10, 7},          // nothing yet: four times as many, within what is left
		{2, 30, 2, 0, 10, 8},         // nothing yet: four times as many
		{2, 7, 2, 5192, 8000, 3},     // 1.5 x 8000 x 2 / 5192 = 4.6: 5 in all
		{2, 7, 2, 9, 10, 2},          // nearly enough: still a task a thread
		{2, 100, 2, 1, 1000, 8},      // at most four times those run
		{1, 100, 1, 999, 1000, 1},    // at least one
		{8, 100, 3, 100, 100, 4},     // enough rows, too few distinct: half again as many
		{4, 2, 4, 10, 1000000, 2},    // no more than are left
		{3, 50, 3, 7, 7_000_000, 12}, // no overflow of the estimate
	} {
		if got := nextRound(tc.ran, tc.left, tc.slots, tc.got, tc.want); got != tc.next {
			t.Errorf("nextRound(ran %d, left %d, slots %d, got %d, want %d) = %d, want %d",
				tc.ran, tc.left, tc.slots, tc.got, tc.want, got, tc.next)
		}
	}
}

// started counts the tasks of query qid that the scheduler ever gave an
// executor, and says whether any still waits to be released or run, or
// runs: a task that ends after its query answered still tells the
// scheduler its executor's speed (remember), which would undo the next
// query's equal.
func started(c *Coordinator, qid string) (n int, busy bool) {
	s := c.dist.sched
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[qid]
	if j == nil {
		return 0, false
	}
	for _, t := range j.tasks {
		if !t.started.IsZero() {
			n++
		}
		busy = busy || t.state == taskRunning
	}
	return n, busy || j.queued > 0 && !j.cancelled
}

// A LIMIT without ORDER BY runs its tasks in rounds (firstrows.go): one a
// thread first, more only while the rows come up short, as many as the
// rows so far say are needed; the tasks never released never run, and
// the answer is any n rows of the query's, n of them where it has n.
func TestLimitRunsInRounds(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct") // ids 0-29,999 in three files; 9 tasks
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		where    string
		limit    int
		min, max int64 // the ids that match
		// The tasks run: the first round's two are released together,
		// the next as each task ends, in whatever order they end.
		fewest, most int
	}{
		// The first round's two tasks (ids 0-8,191) each hold 100 rows.
		{"first round", "id % 30000 >= 0", 100, 0, 29999, 2, 2},
		// The first round's tasks give 1,096 and 4,096 rows of 8,000:
		// more run (after both, 1.5 x 8,000 x 2 / 5,192 = 4.6 in all),
		// but not all nine.
		{"widening", "id % 30000 >= 3000", 8000, 3000, 29999, 4, 7},
		// None in the first round: four times as many as ended, here every
		// task released once both have; the answer (tasks 7 and 8 hold
		// it) may come before the last start.
		{"widened to all", "id % 30000 >= 25000", 10, 25000, 29999, 3, 9},
		// None anywhere: every task, an empty answer.
		{"no rows", "id % 30000 < 0", 10, 0, -1, 9, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The queries before may have measured the two executors
			// unequal on a busy machine, and the scan would then be cut
			// into more, smaller tasks than the nine counted on here.
			equal(t, c)
			q := fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE %s LIMIT %d", glob, tc.where, tc.limit)
			info, err := cl.Execute(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			plan := planOf(t, info)
			if plan.Mode != "scatter-merge" || plan.Tasks != 9 || plan.Rounds == nil || plan.Rounds.First != 2 {
				t.Fatalf("plan %s %d tasks, rounds %+v; want scatter-merge of 9 tasks in rounds from 2", plan.Mode, plan.Tasks, plan.Rounds)
			}
			rows := endpointRows(t, cl, info.Endpoint)
			want := min(tc.limit, int(tc.max-tc.min+1))
			if len(rows) != want {
				t.Fatalf("%d rows, want %d", len(rows), want)
			}
			seen := map[string]bool{}
			for _, r := range rows {
				id, err := strconv.ParseInt(r, 10, 64)
				if err != nil || id < tc.min || id > tc.max || seen[r] {
					t.Fatalf("row %q: not a row of the query's, or repeated", r)
				}
				seen[r] = true
			}
			// The query ended with its answer: what was never released
			// never runs.
			eventually(t, 10*time.Second, func() (bool, string) {
				n, busy := started(c, plan.QueryID)
				return n >= tc.fewest && n <= tc.most && !busy,
					fmt.Sprintf("%d tasks started (waiting or running %v), want %d to %d", n, busy, tc.fewest, tc.most)
			})
		})
	}
}

// A client that stops reading a LIMIT run in rounds mid-way (its DoGet
// cancelled while the first round runs) ends the query: the running
// tasks stop on the executors and the held ones never start.
func TestLimitRoundsCancelled(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, glob := startCluster(t, 2, "direct")
	// Every row costs milliseconds and none matches: the first round
	// would run for seconds.
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE levenshtein(repeat('a', 600 + id %% 2), repeat('b', 600)) < 0 LIMIT 5", glob)
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	if plan.Rounds == nil {
		t.Fatalf("plan %s of %d tasks, not in rounds", plan.Mode, plan.Tasks)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := readInBackground(ctx, cl, info.Endpoint[0].Ticket)
	eventually(t, 30*time.Second, func() (bool, string) { return runningTasks(c) > 0, "no task runs" })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled read ended without an error")
	}
	eventually(t, 30*time.Second, func() (bool, string) {
		n, busy := started(c, plan.QueryID)
		r := runningTasks(c)
		return r == 0 && !busy && n <= plan.Rounds.First,
			fmt.Sprintf("%d tasks running, %d started (waiting or running %v), the first round %d", r, n, busy, plan.Rounds.First)
	})
}
