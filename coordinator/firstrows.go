package coordinator

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/flightsql"
)

// A LIMIT without ORDER BY asks for any n rows (partition.Analysis.
// AnyRowsLimit). Split, each task gives any n+offset rows of its slice and
// the merge keeps n; but every task then reads at least a row group of
// every column for rows all but n of which are dropped, and with a filter
// most rows match, the first task's alone are the answer: on SF1, 2
// executors x 1 thread, `SELECT * FROM lineitem WHERE l_quantity > 10
// LIMIT 100` took 80 ms split in 4 tasks, 18 ms as one. Run whole as one
// task, a selective filter (`l_comment LIKE '%zzzz%' LIMIT 5`) reads the
// whole scan on one executor thread instead (736 ms, against 601 split).
//
// So the merge runs the tasks in rounds, as Spark's take does: first one
// task per executor thread (the first slices, a file or less each; the
// later ones joined as a split scan's are: dist.slices, scanSlices),
// then, as each task ends while the merge over the rows so far gives
// fewer than n, more tasks, as many as the rows that came back say are
// needed (at least one per thread, at most four times those ended), until
// every task has run. The tasks not yet released wait in the scheduler
// (jobTask.held); the query's end cancels them with the others (track in
// Plan). The answer is legal at every round: the merge over some tasks'
// rows gives rows of the whole answer, and it is taken only when it has n
// of them, or when every task has run (then it has all the answer has, up
// to n).

// limitRounds is how a merge runs a LIMIT's tasks in rounds.
type limitRounds struct {
	Limit int64 `json:"limit"`       // n: the rows the answer has when complete
	Want  int64 `json:"want"`        // n plus the offset: the partial rows needed at least
	First int   `json:"first_round"` // the tasks of the first round
}

// limitRounds is the rounds of a LIMIT of n rows after an offset (want
// in all) over tasks tasks, nil when one round would hold them all.
func (d *dist) limitRounds(n, want int64, tasks int) *limitRounds {
	first := d.slots()
	if tasks <= first {
		return nil
	}
	return &limitRounds{Limit: n, Want: want, First: first}
}

// nextRound is how many more tasks the next round runs, ran having given
// got rows where want are needed, left tasks not yet run: as many as the
// rows so far say are needed with half again as many to spare, four
// times ran when none came back, within one per executor thread (slots)
// and four times ran.
func nextRound(ran, left, slots int, got, want int64) int {
	n := 4 * ran
	if got > 0 {
		// In floating point until it is within n: want may be huge.
		n = int(min(float64(n), math.Ceil(1.5*float64(want)*float64(ran)/float64(got))-float64(ran)))
	}
	return min(max(n, slots, 1), left)
}

// mergeRounds answers a merge whose tasks run in rounds (m.Rounds): held
// counts the bytes of partial results held, within the result limit. A
// round does not wait for its slowest task: each task's rows, as they
// come, either complete the answer (the tasks still running are then
// cancelled with the query) or release as many more as nextRound says,
// counting the tasks ended, so that no thread idles while the answer is
// short (a task that gave nothing has its thread given the next at once).
func (d *dist) mergeRounds(ctx context.Context, m merge, sql string, srcs []mergeSource, held *atomic.Int64) (array.RecordReader, func(), error) {
	r := m.Rounds
	type fetched struct {
		recs   []arrow.RecordBatch
		schema *arrow.Schema
		err    error
	}
	// The fetches end with this call; the merge's answer is read after.
	fctx, stop := context.WithCancel(ctx)
	results := make(chan fetched)
	sem := make(chan struct{}, max(2, 2*len(d.reg.live()))) // streams open at once, as fetchParts
	var wg sync.WaitGroup
	released := 0
	release := func(n int) {
		n = min(n, len(srcs))
		if n <= released {
			return
		}
		d.sched.release(m.Query, n)
		for _, src := range srcs[released:n] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case sem <- struct{}{}:
				case <-fctx.Done():
					return
				}
				recs, schema, err := d.fetchTask(fctx, []byte(src.handle), src.part, m.Query, held)
				<-sem
				select {
				case results <- fetched{recs, schema, err}:
				case <-fctx.Done():
					releaseParts([][]arrow.RecordBatch{recs})
				}
			}()
		}
		released = n
	}
	var parts [][]arrow.RecordBatch
	defer func() {
		stop()
		wg.Wait()
		releaseParts(parts) // the merge's reader holds its own references
	}()
	release(r.First)
	var got int64
	for ended := 1; ; ended++ {
		var f fetched
		select {
		case f = <-results:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if f.err != nil {
			return nil, nil, fmt.Errorf("query %s: %w", m.Query, f.err)
		}
		parts = append(parts, f.recs)
		for _, rec := range f.recs {
			got += rec.NumRows()
		}
		if ended == len(srcs) {
			return d.mergeOver(ctx, m, sql, parts, f.schema)
		}
		if got >= r.Want {
			// Enough rows, unless DISTINCT finds some the same: the merge
			// says, and its answer, at most n rows, is kept if it has n.
			rdr, ok, err := d.mergeComplete(ctx, m, sql, parts, f.schema, r.Limit)
			if err != nil || ok {
				return rdr, func() {
					if rdr != nil {
						rdr.Release()
					}
				}, err
			}
		}
		next := ended + nextRound(ended, len(srcs)-ended, r.First, got, r.Want)
		if next > released {
			flightsql.QueryLog(d.log, m.Query, m.Trace).Debug().Int("tasks_ended", ended).Int64("rows", got).
				Int("released", next).Msg("LIMIT without ORDER BY: too few rows, more tasks run")
		}
		release(next)
	}
}

// mergeComplete runs the merge over parts and reads its answer whole: ok
// says it has n rows, rdr then holding them (released by the caller).
func (d *dist) mergeComplete(ctx context.Context, m merge, sql string, parts [][]arrow.RecordBatch, schema *arrow.Schema, n int64) (_ array.RecordReader, ok bool, err error) {
	rdr, done, err := d.mergeOver(ctx, m, sql, parts, schema)
	if err != nil {
		return nil, false, err
	}
	defer done()
	var recs []arrow.RecordBatch
	defer func() { releaseParts([][]arrow.RecordBatch{recs}) }()
	var rows int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rec.Retain()
		recs = append(recs, rec)
		rows += rec.NumRows()
	}
	if err := rdr.Err(); err != nil {
		return nil, false, fmt.Errorf("query %s: merge: %w", m.Query, err)
	}
	if rows < n {
		return nil, false, nil
	}
	out, err := array.NewRecordReader(rdr.Schema(), recs)
	return out, err == nil, err
}
