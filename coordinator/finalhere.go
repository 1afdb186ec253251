package coordinator

import (
	"context"
	"slices"
)

// A query whose answer the coordinator merges (an aggregate's final step,
// a sort) may have its last stage run here instead of on executors: the
// stage's query, inside the merge, over every partition of the stage
// that feeds it (partition.Plan.FinalHere). The scheduler chooses once
// that input has been produced, by its rows as the executors counted
// them: at most finalHereRows (a final aggregate of few groups, as in
// TPC-H Q1, Q4, Q5, Q7, Q8, Q9, Q12 and Q21, whose partial rows are a
// few per group and task), the last stage's tasks never run and the merge
// reads the partitions itself; more (GROUP BY l_orderkey's 1.5M groups),
// the executors finish the aggregate as planned and the coordinator
// merges only their outputs. On two executors of one thread the last
// stage took TPC-H Q4 9 ms of its 155 and Q12 8 ms of its 179 (README,
// Performance: a scheduling round trip, each task's fetch of a partition
// from every producer, its fixed cost).
const finalHereRows = 50_000

// decide chooses where j's last stage runs, once the stages it reads
// have ended: here when every producer said its rows and they are few,
// its tasks then done without a run. s.mu is held.
func (s *scheduler) decide(j *job) {
	if j.decided == nil || j.admitted.IsZero() || j.cancelled {
		return
	}
	select {
	case <-j.decided:
		return
	default:
	}
	si := slices.IndexFunc(j.stages, func(st *jobStage) bool { return st.here })
	st := j.stages[si]
	if !j.stageReady(st) {
		return
	}
	var rows int64
	for _, t := range j.tasks {
		if !slices.Contains(st.inputs, t.stage) {
			continue
		}
		if t.out < 0 {
			j.decideHere(false)
			return
		}
		rows += t.out
	}
	if rows > s.hereRows || st.queued != st.n {
		j.decideHere(false)
		return
	}
	for i, t := range j.tasks {
		if t.stage == si && t.state == taskQueued {
			j.remove(i)
			j.queued--
			st.queued--
			s.done(j, i, "", 0)
		}
	}
	if j.left == 0 {
		s.remember(j)
	}
	j.decideHere(true)
	s.log.Debug().Str("query_id", j.id).Int64("rows", rows).Int("tasks", st.n).Msg("the last stage runs in the coordinator's merge")
}

// decideHere records where j's last stage runs, if not yet chosen.
func (j *job) decideHere(here bool) {
	if j.decided == nil {
		return
	}
	select {
	case <-j.decided:
	default:
		j.here = here
		close(j.decided)
	}
}

// produced records the rows a run of a task gave (rows < 0: not said).
func (s *scheduler) produced(r *taskRun, rows int64) {
	if rows < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r.job.tasks[r.task].out = rows
}

// finishHere waits until the scheduler has chosen where query qid's last
// stage runs and says whether it is on the coordinator (false for a query
// with no such choice).
func (s *scheduler) finishHere(ctx context.Context, qid string) (bool, error) {
	s.mu.Lock()
	j := s.jobs[qid]
	s.mu.Unlock()
	if j == nil || j.decided == nil {
		return false, nil
	}
	select {
	case <-j.decided:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-s.life.Done():
		return false, errShuttingDown
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return j.here, nil
}
