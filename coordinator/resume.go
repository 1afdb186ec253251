package coordinator

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
)

// taskStream is a proxied task's result that survives the death of the
// executor streaming it: when the stream breaks after some rows were
// read, the task runs again elsewhere and the rows already read are
// skipped. That gives the client each row once only because the task's
// output order is the same on every run (cluster.Task.Ordered). A task
// without that (a join's, an aggregate's after a shuffle) is held back up
// to resumeWindow bytes before its first row goes out, so that a stream
// broken within that window is run again whole; one that breaks after it
// fails where it broke.
type taskStream struct {
	d      *dist
	ctx    context.Context
	t      cluster.Task
	handle []byte
	schema *arrow.Schema // the first attempt's, as the client was told

	rdr     array.RecordReader
	release func()
	from    string    // the current attempt's executor ("" the coordinator)
	started time.Time // when the current attempt was asked for
	broken  []string  // executors whose stream of the task broke
	resumes int
	read    int64 // rows given out, over every attempt
	skip    int64 // rows the current attempt has yet to skip
	cur     arrow.RecordBatch
	ahead   []arrow.RecordBatch // read, not yet given out (see fill)
	filled  bool                // fill has run
	err     error
	refs    atomic.Int64
}

// resumeWindow is how much of an unordered task's output the coordinator
// holds before giving out any of it (taskStream). Most such tasks (a
// final aggregate's groups, a selective join's rows) end within it.
// resumeBudget bounds what all streams hold together: past it a stream
// holds nothing more, and breaks past what it holds cannot be resumed.
const (
	resumeWindow = 8 << 20
	resumeBudget = 256 << 20
)

// resumable opens a task's stream (see open) as a taskStream.
func (d *dist) resumable(ctx context.Context, t cluster.Task, handle []byte) (*taskStream, error) {
	started := time.Now()
	rdr, release, from, err := d.open(ctx, t, handle)
	if err != nil {
		return nil, err
	}
	s := &taskStream{d: d, ctx: ctx, t: t, handle: handle, schema: flightsql.ResultSchema(rdr.Schema()),
		rdr: rdr, release: release, from: from, started: started}
	s.refs.Store(1)
	return s, nil
}

func (s *taskStream) Schema() *arrow.Schema { return s.schema }

func (s *taskStream) Next() bool {
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	if !s.filled {
		s.filled = true
		if !s.t.Ordered && !s.fill() {
			return false
		}
	}
	if len(s.ahead) > 0 {
		s.cur, s.ahead = s.ahead[0], s.ahead[1:]
		s.d.held.Add(-duck.RecordSize(s.cur))
		s.read += s.cur.NumRows()
		return true
	}
	for s.rdr != nil {
		if !s.rdr.Next() {
			err := s.rdr.Err()
			if err == nil && s.skip > 0 {
				err = fmt.Errorf("task %s/%d: its run at %s gave fewer rows than the %d already sent",
					s.t.Query, s.t.Task, executorName(s.from), s.read)
			}
			if err == nil {
				return false
			}
			if !s.resume(err) {
				return false
			}
			continue
		}
		rec := s.rdr.RecordBatch()
		n := rec.NumRows()
		switch {
		case s.skip >= n:
			s.skip -= n
			continue
		case s.skip > 0:
			s.cur = rec.NewSlice(s.skip, n)
			s.skip = 0
		default:
			rec.Retain()
			s.cur = rec
		}
		s.read += s.cur.NumRows()
		return true
	}
	return false
}

// fill reads an unordered task's stream ahead until it ends or
// resumeWindow bytes are held (or all streams hold resumeBudget), running
// the task again from its start if the stream breaks meanwhile (nothing
// of it has gone out). It says whether it could; if not, s.err says why.
func (s *taskStream) fill() bool {
	var held int64
	for s.rdr != nil && held < resumeWindow && s.d.held.Load() < resumeBudget {
		if !s.rdr.Next() {
			err := s.rdr.Err()
			if err == nil {
				return true
			}
			s.drop()
			held = 0
			if !s.resume(err) {
				return false
			}
			continue
		}
		rec := s.rdr.RecordBatch()
		rec.Retain()
		s.ahead = append(s.ahead, rec)
		size := duck.RecordSize(rec)
		held += size
		s.d.held.Add(size)
	}
	return s.rdr != nil
}

// drop releases the batches read ahead.
func (s *taskStream) drop() {
	for _, rec := range s.ahead {
		s.d.held.Add(-duck.RecordSize(rec))
		rec.Release()
	}
	s.ahead = nil
}

// resume runs the task again after its stream broke with err, to be read
// from where it broke. It says whether it could; if not, err (or why the
// new run failed) is the stream's error.
func (s *taskStream) resume(err error) bool {
	s.failed(err)
	s.release()
	s.rdr, s.release = nil, nil
	switch {
	case s.ctx.Err() != nil:
		s.err = err
		return false
	case s.from == "" || cluster.FailsAnywhere(err):
		// The coordinator's own run failed: nowhere is left to try; or
		// the task's own SQL failed as it ran, alike anywhere.
		s.err = err
		return false
	case !s.t.Ordered && s.read > 0:
		// Unavailable, whatever cut the stream (the coordinator's
		// connection to an executor it found dead closes as Canceled):
		// nobody cancelled the query, and it may be run again.
		s.err = fmt.Errorf("%w: task %s/%d: the stream from executor %s broke after %d rows, and the task's rows "+
			"may come in another order when it runs again (a join's, an aggregate's, a sort's rows of equal keys, or rows read from an exchange), so past what the coordinator held back of them it cannot be resumed: run the query again: %w",
			flightsql.ErrUnavailable, s.t.Query, s.t.Task, s.from, s.read, err)
		return false
	case s.resumes >= s.d.retries:
		s.err = fmt.Errorf("task %s/%d: its stream broke %d times: %w", s.t.Query, s.t.Task, s.resumes+1, err)
		return false
	}
	flightsql.QueryLog(s.d.log, s.t.Query, s.t.Trace).Warn().Err(err).Int("task_id", s.t.Task).Str("executor", s.from).
		Int64("rows", s.read).Msg("task stream broke; running the task again and skipping the rows sent")
	s.broken = append(s.broken, s.from)
	s.resumes++
	started := time.Now()
	rdr, release, from, oerr := s.d.open(s.ctx, s.d.elsewhere(s.t, s.broken), s.handle)
	if oerr != nil {
		s.err = fmt.Errorf("task %s/%d: resuming its broken stream (%w): %w", s.t.Query, s.t.Task, err, oerr)
		return false
	}
	if got := flightsql.ResultSchema(rdr.Schema()); !got.Equal(s.schema) {
		release()
		s.err = fmt.Errorf("task %s/%d: its run at %s has schema %s, its first %s", s.t.Query, s.t.Task,
			executorName(from), got, s.schema)
		return false
	}
	s.rdr, s.release, s.from, s.started, s.skip = rdr, release, from, started, s.read
	return true
}

// failed records in the history that the current attempt failed with err
// as the coordinator saw it (an executor that died never reports it; the
// coordinator's own runs record themselves).
func (s *taskStream) failed(err error) {
	if s.from != "" {
		s.d.hist.saw(s.t.Query, s.t.Task, s.from, s.started, err)
	}
}

func executorName(id string) string {
	if id == "" {
		return "the coordinator"
	}
	return "executor " + id
}

func (s *taskStream) RecordBatch() arrow.RecordBatch { return s.cur }

// Record is RecordBatch (array.RecordReader still asks for it).
func (s *taskStream) Record() arrow.RecordBatch { return s.cur }

func (s *taskStream) Err() error { return s.err }

func (s *taskStream) Retain() { s.refs.Add(1) }

func (s *taskStream) Release() {
	if s.refs.Add(-1) != 0 {
		return
	}
	if s.cur != nil {
		s.cur.Release()
		s.cur = nil
	}
	s.drop()
	if s.release != nil {
		s.release()
		s.rdr, s.release = nil, nil
	}
}

// elsewhere is t to be run again away from the executors in broken: at
// its alternate, else its executor, else any executor taking tasks, and failing
// those (open's last resort) on the coordinator.
func (d *dist) elsewhere(t cluster.Task, broken []string) cluster.Task {
	var next []string
	add := func(id string) {
		if id != "" && len(next) < 2 && !slices.Contains(broken, id) && !slices.Contains(next, id) {
			if _, ok := d.reg.location(id); ok {
				next = append(next, id)
			}
		}
	}
	add(t.Alt)
	add(t.Executor)
	for _, m := range d.reg.ready() {
		add(m.ID)
	}
	next = append(next, "", "")
	t.Executor, t.Alt = next[0], next[1]
	return t
}

var _ array.RecordReader = (*taskStream)(nil)
