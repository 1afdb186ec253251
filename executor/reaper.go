package executor

import (
	"context"
	"sync"
	"time"

	"github.com/skeindb/skein/internal/cluster"
)

// A task stopped (its query cancelled or timed out, its reader gone) ends
// at DuckDB's next check for an interrupt, between two vectors. A scalar
// call checks for none while it runs: a LIKE pattern with four wildcards
// over a 2,000-byte value per row (DuckDB matches by backtracking),
// strpos of a 20 MB text for a 1 MB needle, jaro_similarity of two 6 MB
// strings each run for minutes to hours in one call, and the task's thread
// slot and a core with it stay taken long after its query has ended:
// two such tasks left an executor of two cores nothing for the others.
// The Go side cannot end a thread running DuckDB's code; the process can
// end. As Spark's task reaper does (spark.task.reaper.killTimeout), an
// executor whose stopped task runs on past KillTimeout counts it stuck:
// it logs the task, counts it (skein_executor_stuck_tasks_total) and
// calls Config.Stuck, with which `skein executor` drains what it can
// within its shutdown grace and exits, for its supervisor to start it
// again (a new process, its cores free).

// DefaultKillTimeout is `skein executor --task-kill-timeout`'s default,
// and the in-process executors' of skein serve.
const DefaultKillTimeout = time.Minute

// reap watches task t, run under ctx: once ctx has ended, if the run has
// not returned (done called) within KillTimeout, the task is stuck. done
// must be called when the run returns.
func (e *Executor) reap(ctx context.Context, t cluster.Task) (done func()) {
	var mu sync.Mutex
	var timers []*time.Timer
	returned, holding := false, false
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			return
		}
		stopped := time.Now()
		timers = append(timers, time.AfterFunc(holdsAfter, func() {
			mu.Lock()
			defer mu.Unlock()
			if !returned {
				holding = true
				e.holding.Add(1)
				e.wakeReport() // it may take no tasks now (threadsHeld)
			}
		}))
		if after := e.cfg.KillTimeout; after > 0 {
			timers = append(timers, time.AfterFunc(after, func() {
				mu.Lock()
				defer mu.Unlock()
				if !returned {
					e.stuck(t, time.Since(stopped), context.Cause(ctx))
				}
			}))
		}
	})
	return func() {
		if stopWatch() {
			return // ctx had not ended: nothing to watch
		}
		mu.Lock()
		defer mu.Unlock()
		returned = true
		for _, t := range timers {
			t.Stop()
		}
		if holding {
			e.holding.Add(-1)
			e.wakeReport()
		}
	}
}

// holdsAfter is how long a stopped task may run on before it counts as
// holding its thread (Executor.holding): a stop takes effect at DuckDB's
// next check for an interrupt, within milliseconds, unless a call checks
// for none.
const holdsAfter = time.Second

// threadsHeld says whether every thread of the executor is held by a
// task that was stopped and runs on (holdsAfter): a task started now
// would wait for one of them, up to --task-kill-timeout and the exit
// after it, past its query's timeout (a tester's one-thread executor, at
// a kill timeout of 20 s, failed others' queries for 33 s). Meanwhile its heartbeats say it
// takes no tasks (as a draining one's do), so that queries are planned
// without it, and a start is refused: the scheduler gives the task to
// another executor.
func (e *Executor) threadsHeld() bool {
	return e.holding.Load() >= int64(cap(e.slots))
}

// stuck reports a task still running for so long after it was stopped
// for why. The first one calls Config.Stuck.
func (e *Executor) stuck(t cluster.Task, since time.Duration, why error) {
	e.counts.stuck.Inc()
	e.taskLog(t).Error().Dur("stopped_for", since).AnErr("stopped_by", why).Dur("kill_timeout", e.cfg.KillTimeout).
		Msg("a stopped task runs on in one DuckDB call that checks for no interrupt, holding a thread and a core")
	e.stuckOnce.Do(func() {
		close(e.stuckNow)
		if e.cfg.Stuck != nil {
			e.cfg.Stuck()
		}
	})
}

// waitTasks waits for the task runs to return, or for one to be stuck:
// its run never returns, and the process ends with it running (DuckDB is
// then left open: closed under a running query it would wait for it).
func (e *Executor) waitTasks() (stuck bool) {
	returned := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(returned)
	}()
	select {
	case <-returned:
		return false
	case <-e.stuckNow:
		e.log.Warn().Msg("stopping with a stuck task still running")
		return true
	}
}

// sayHeld is threadsHeld, as the heartbeat being sent tells it.
func (e *Executor) sayHeld() bool {
	held := e.threadsHeld()
	e.saidHeld.Store(held)
	return held
}
