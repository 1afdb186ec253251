package coordinator

import (
	"context"
	"fmt"
	"math"
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
// then, while the merge over the rows so far gives fewer than n, more
// tasks, as many as the rows that came back say are needed (at least one
// per thread, at most four times those run so far), until every task has
// run. The tasks not yet
// released wait in the scheduler (jobTask.held); the query's end cancels
// them with the others (track in Plan). The answer is legal at every
// round: the merge over some tasks' rows gives rows of the whole answer,
// and it is taken only when it has n of them, or when every task has run
// (then it has all the answer has, up to n).

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
// counts the bytes of partial results held, within the result limit.
func (d *dist) mergeRounds(ctx context.Context, m merge, sql string, srcs []mergeSource, held *atomic.Int64) (array.RecordReader, func(), error) {
	r := m.Rounds
	var parts [][]arrow.RecordBatch
	defer func() { releaseParts(parts) }() // the merge's reader holds its own references
	var schema *arrow.Schema
	var got int64
	ran, next := 0, min(r.First, len(srcs))
	for {
		d.sched.release(m.Query, ran+next)
		p, schemas, err := d.fetchParts(ctx, m, srcs[ran:ran+next], held)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, p...)
		schema = schemas[0]
		for _, recs := range p {
			for _, rec := range recs {
				got += rec.NumRows()
			}
		}
		ran += next
		if ran == len(srcs) {
			return d.mergeOver(ctx, m, sql, parts, schema)
		}
		if got >= r.Want {
			// Enough rows, unless DISTINCT finds some the same: the merge
			// says, and its answer, at most n rows, is kept if it has n.
			rdr, ok, err := d.mergeComplete(ctx, m, sql, parts, schema, r.Limit)
			if err != nil || ok {
				return rdr, func() {
					if rdr != nil {
						rdr.Release()
					}
				}, err
			}
		}
		next = nextRound(ran, len(srcs)-ran, r.First, got, r.Want)
		flightsql.QueryLog(d.log, m.Query, m.Trace).Debug().Int("tasks_run", ran).Int64("rows", got).
			Int("next_round", next).Msg("LIMIT without ORDER BY: too few rows, more tasks run")
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
