package duck

import (
	"time"

	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// executePending runs a pending query to its result, as
// duckdb_execute_pending does, but without its busy wait. The calling
// thread is one of the query's DuckDB threads: it runs the query's tasks
// until none is left to take, and then duckdb_execute_pending asks again
// at once, over and over, until the threads still running tasks finish.
// A point lookup on Parquet spent about a fifth of its CPU there, on a
// core its own scan (or its client) could use. Here the thread runs tasks
// while there are any and pauses between asks when there are none.
//
// On an execution error the error comes from the pending result's
// message: duckdb_execute_pending on a failed pending result would wrap
// it in another ("Attempting to execute an unsuccessful ...").
func executePending(pending mapping.PendingResult, res *mapping.Result) (mapping.State, error) {
	step := func() bindings.PendingState { return bindings.PendingExecuteTask(pending) }
	if drive(step, pause) == bindings.PendingStateError {
		msg := mapping.PendingError(pending)
		return mapping.StateError, wrap(&duckdb.Error{Type: errorTypeOf(msg), Msg: msg})
	}
	return mapping.ExecutePending(pending, res), nil
}

// Pauses between asks for a task while none is left: the first short (a
// query's last task is often about to end), doubling while the wait goes
// on. The longest bounds both what a long wait costs (an ask is a few
// microseconds) and how late the thread joins the tasks of the query's
// next pipeline (the other threads start on them at once).
const (
	firstPause = 20 * time.Microsecond
	lastPause  = 250 * time.Microsecond
)

// drive calls step until it says the result is ready or failed, and
// returns that state; after each step that found no task to run it calls
// pause with the time to wait.
func drive(step func() bindings.PendingState, pause func(time.Duration)) bindings.PendingState {
	var wait time.Duration
	for {
		switch st := step(); st {
		case bindings.PendingStateResultReady, bindings.PendingStateError:
			return st
		case bindings.PendingStateNoTasksAvailable:
			wait = min(max(2*wait, firstPause), lastPause)
			pause(wait)
		default: // a task ran
			wait = 0
		}
	}
}
