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
	after := e.cfg.KillTimeout
	if after <= 0 {
		return func() {}
	}
	var mu sync.Mutex
	var timer *time.Timer
	returned := false
	stopWatch := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			return
		}
		stopped := time.Now()
		timer = time.AfterFunc(after, func() {
			mu.Lock()
			defer mu.Unlock()
			if !returned {
				e.stuck(t, time.Since(stopped), context.Cause(ctx))
			}
		})
	})
	return func() {
		if stopWatch() {
			return // ctx had not ended: nothing to watch
		}
		mu.Lock()
		defer mu.Unlock()
		returned = true
		if timer != nil {
			timer.Stop()
		}
	}
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
