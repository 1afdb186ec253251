package coordinator

import (
	"math"
	"slices"
	"time"
)

// Adaptive task granularity. A query's scan is planned as slices of whole
// Parquet row groups, about --task-rows each, each slice one task and one
// endpoint whatever runs where. On executors that queries before measured
// unequal (see unequal), the scan's last rows are cut smaller, a quarter
// of that (a row group at least; partition.SplitTail, see dist.slices):
// on equal ones small slices only add tasks, each with its fixed cost,
// that end no sooner. What adapts is how much of it a free slot is given
// at once: the scheduler measures each executor's speed for the query
// (the rows its slices read over the time its runs took) and gives a slot
// about batchSpan of its own work while the query is young, never more
// than half of what the slot would do if the query's remaining rows were
// shared by speed among all slots. Batches so shrink geometrically towards
// the tail (guided self-scheduling, weighted by speed); at the very tail a
// slot gets one slice, the largest that fits its share (small slices are
// kept for the end), and a slower executor takes none unless it would end
// it before the others end the rest.

// rowRate is what an executor's ended runs of a query's sized tasks read
// (their slices' rows) and how long they took.
type rowRate struct {
	runs int // all of them; the first is not counted in rows and took
	rows int64
	took time.Duration
	cold float64 // the first's rows a second
}

// rate is exec's measured speed for j in rows a second of one slot: its
// own runs', else that of all of j's measured runs (0 until one has ended).
func (j *job) rate(exec string) float64 {
	if r := j.speed[exec]; r != nil && r.took > 0 {
		return float64(r.rows) / r.took.Seconds()
	}
	var all rowRate
	for _, r := range j.speed {
		all.rows += r.rows
		all.took += r.took
	}
	if all.took <= 0 {
		return 0
	}
	return float64(all.rows) / all.took.Seconds()
}

// capacity is the speed of all slots taking tasks for j (an executor not
// measured at j's mean) and the fastest measured one's, computed once a
// scheduling pass (now): the speeds change only as runs end, between
// passes.
func (j *job) capacity(slots map[string]int, now time.Time) (all, fastest float64) {
	if j.capAt.Equal(now) && j.capSlots == len(slots) {
		return j.capAll, j.capFastest
	}
	mean := j.rate("")
	n := 0
	for id, r := range j.speed {
		if k := slots[id]; k > 0 && r.took > 0 {
			all += float64(k) * j.rate(id)
			fastest = max(fastest, j.rate(id))
			n += k
		}
	}
	for _, k := range slots {
		n -= k
	}
	all += float64(-n) * mean
	j.capAt, j.capSlots, j.capAll, j.capFastest = now, len(slots), all, fastest
	return all, fastest
}

// measured says exec's own runs of j have given it a speed.
func (j *job) measured(exec string) bool {
	r := j.speed[exec]
	return r != nil && r.took > 0
}

// readyRows sums the rows of j's queued tasks whose inputs have ended; ok
// is false if any of them has no known size.
func (j *job) readyRows() (rows int64, ok bool) {
	for _, q := range j.queues {
		for _, i := range q {
			if !j.ready(i) {
				continue
			}
			if j.tasks[i].rows <= 0 {
				return 0, false
			}
			rows += j.tasks[i].rows
		}
	}
	return rows, true
}

// inflight estimates the rows j's running runs have still to read: each
// slot's runs not ended, less what its executor's speed read since the
// slot's last run ended (or it was given them).
func (j *job) inflight(now time.Time) float64 {
	seen := map[*slotUse]bool{}
	var left float64
	for _, t := range j.tasks {
		if t.state != taskRunning {
			continue
		}
		for _, r := range t.runs {
			if r.gone || r.slot == nil || seen[r.slot] {
				continue
			}
			seen[r.slot] = true
			var rows int64
			for _, o := range r.slot.runs {
				if !o.gone {
					rows += j.tasks[o.task].rows
				}
			}
			left += max(float64(rows)-j.rate(r.exec)*now.Sub(r.slot.last).Seconds(), 0)
		}
	}
	return left
}

// sizedBatch picks the tasks of j a free slot of exec is given, by rows:
// ok is false when j's ready tasks are not all sized (the caller then
// sizes by task count). A nil pick with ok means exec leaves j's last
// tasks to faster executors (or has none it may take).
func (s *scheduler) sizedBatch(j *job, exec string, slots map[string]int, steal func(home string) bool, now time.Time) (picked []int, ok bool) {
	ready, ok := j.readyRows()
	if !ok || ready == 0 {
		return nil, false
	}
	first := j.largest(exec, steal)
	if first < 0 {
		return nil, true
	}
	mine := j.rate(exec)
	if !j.measured(exec) {
		// Until its own speed is known (from its second task: the first
		// runs cold), one task at a time.
		j.remove(first)
		return []int{first}, true
	}
	all, fastest := j.capacity(slots, now)
	// The time the cluster needs to end j's ready and running work, each
	// slot at its executor's speed; this slot's budget is half its share
	// of it, and at most batchSpan of its work. Tasks go largest first
	// (small ones are left for the tail).
	left := float64(ready) + j.inflight(now)
	share := left / max(all, mine)
	budget := mine * min(batchSpan.Seconds(), share/2)
	if u := float64(j.tasks[first].rows); u > budget && u <= mine*share {
		// Young for this slot but one task is more than its batch (a slow
		// executor's, or large slices): that task alone.
		j.remove(first)
		return []int{first}, true
	}
	if float64(j.tasks[first].rows) <= budget {
		var sum float64
		for len(picked) < s.batch {
			i := j.largest(exec, steal)
			if i < 0 || len(picked) > 0 && sum+float64(j.tasks[i].rows) > budget {
				break
			}
			j.remove(i)
			picked = append(picked, i)
			sum += float64(j.tasks[i].rows)
		}
		return picked, true
	}
	// The tail (the next task is more than the slot's share): one task,
	// the largest within the share, else the smallest. A slower executor
	// takes it only if it would end it no later than the others would end
	// the rest.
	i := j.fit(exec, steal, mine*share)
	u := float64(j.tasks[i].rows)
	others := all - mine
	if fastest >= slowerBy*mine && others > 0 && u/mine > (left-u)/others {
		return nil, true
	}
	j.remove(i)
	return []int{i}, true
}

// largest is the ready task with the most rows of exec's queue, else of
// the longest queue steal allows (the first of the largest); -1 if none.
// Large tasks go first, so the small ones are left for the tail.
func (j *job) largest(exec string, steal func(home string) bool) int {
	first := j.next(exec, steal)
	if first < 0 {
		return -1
	}
	best := first
	for _, i := range j.queues[j.tasks[first].home] {
		if j.readyFor(i, exec) && j.tasks[i].rows > j.tasks[best].rows {
			best = i
		}
	}
	return best
}

// fit is the ready task exec may take (its own or one steal allows) with
// the most rows within budget, else the one with the fewest; ties go to
// the one next would give first. There is one (next found it).
func (j *job) fit(exec string, steal func(home string) bool, budget float64) int {
	best, small := -1, -1
	consider := func(i int) {
		if !j.readyFor(i, exec) {
			return
		}
		n := float64(j.tasks[i].rows)
		if n <= budget && (best < 0 || n > float64(j.tasks[best].rows)) {
			best = i
		}
		if small < 0 || n < float64(j.tasks[small].rows) {
			small = i
		}
	}
	for _, i := range j.queues[exec] {
		consider(i)
	}
	homes := make([]string, 0, len(j.queues))
	for h := range j.queues {
		if h != exec && steal(h) {
			homes = append(homes, h)
		}
	}
	slices.Sort(homes)
	for _, h := range homes {
		for _, i := range j.queues[h] {
			consider(i)
		}
	}
	if best >= 0 {
		return best
	}
	return small
}

// remember keeps the speeds j measured of its executors relative to the
// fastest of them, for the queries planned after it (see unequal): the
// log of each, averaged over queries with the weight paceWeight on the
// newest, from equal (0) before any. One query tells little on a busy
// machine: on two equal executors of one thread each under other load,
// one query in three measured one of them at half the other's speed or
// less, each in turn. Only a job that measured two executors or more
// tells: by their speeds (see rate), or, for one that ended only its
// first run while another ended more (a slow one may get no other), by
// first runs' speeds, cold against cold. s.mu is held.
func (s *scheduler) remember(j *job) {
	var warm, cold float64 // the fastest of each
	nw, nc := 0, 0
	for id, r := range j.speed {
		if j.measured(id) {
			warm, nw = max(warm, j.rate(id)), nw+1
		}
		if r.cold > 0 {
			cold, nc = max(cold, r.cold), nc+1
		}
	}
	for id, r := range j.speed {
		var p float64
		switch {
		case nw >= 2 && j.measured(id):
			p = j.rate(id) / warm
		case nw >= 1 && nc >= 2 && r.cold > 0:
			p = r.cold / cold
		default:
			continue
		}
		s.pace[id] += paceWeight * (math.Log(p) - s.pace[id])
	}
}

// paceWeight is the newest query's weight in an executor's pace: an
// executor measured three times slower in each query is found slowerBy
// slower from the second query on; equal ones measured apart by noise
// rarely are.
const paceWeight = 0.25

// unequal says whether executors ids were measured, by queries before,
// to differ in speed by slowerBy or more. Only then is a scan's tail cut
// into small slices (see dist.slices): they let a slow executor end with
// the others, but on equal executors they only cost each task's fixed
// cost again (TPC-H Q6 on two equal executors: 12 tasks instead of 8).
func (s *scheduler) unequal(ids []string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, id := range ids {
		if p, ok := s.pace[id]; ok {
			lo, hi = min(lo, p), max(hi, p)
		}
	}
	return hi-lo >= math.Log(slowerBy)
}
