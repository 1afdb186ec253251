package coordinator

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
)

// single streams the results of a query's tasks, one after the other in
// endpoint order, as the one stream of result mode single: for clients
// that read only the first endpoint of a FlightInfo. Each task is read as
// proxy mode reads it (its executor, its alternate, the coordinator; a
// stream broken midway resumes elsewhere), batch by batch: nothing is
// held whole here. The result limit counts the whole answer.
func (d *dist) single(ctx, req context.Context, m merge, cancel func()) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	c, err := d.concatenate(ctx, m.Tasks)
	if err != nil {
		return nil, nil, err
	}
	sc, ch := d.relay(ctx, req, m.Query, c, cancel, func(rows, bytes int64, err error) {
		d.hist.finished(m.Query, rows, bytes, err)
		d.read(m.Query, -1, err)
	})
	return sc, ch, nil
}

// concatenation reads the results of tasks one after the other, each as a
// taskStream, opened when the one before it has ended. Every batch has the
// first task's schema (forward relabels it): the tasks of one query give
// the same column types.
type concatenation struct {
	d      *dist
	ctx    context.Context
	tasks  []cluster.Task
	handle []string
	next   int         // the task to open when cur ends
	cur    *taskStream // nil between tasks
	schema *arrow.Schema
	err    error
	refs   atomic.Int64
}

// concatenate verifies the tasks' handles and opens the first task: an
// error before any row is the caller's to return.
func (d *dist) concatenate(ctx context.Context, handles []string) (*concatenation, error) {
	c := &concatenation{d: d, ctx: ctx, handle: handles}
	for _, h := range handles {
		t, err := d.secret.VerifyTask([]byte(h))
		if err != nil {
			return nil, err
		}
		c.tasks = append(c.tasks, t)
	}
	if len(c.tasks) == 0 {
		return nil, errors.New("a single ticket without tasks")
	}
	if err := c.open(); err != nil {
		return nil, err
	}
	c.schema = c.cur.Schema()
	c.refs.Store(1)
	return c, nil
}

// open starts reading the next task.
func (c *concatenation) open() error {
	t := c.tasks[c.next]
	s, err := c.d.resumable(c.ctx, t, []byte(c.handle[c.next]))
	if err != nil {
		return err
	}
	if c.schema != nil && !sameTypes(s.Schema(), c.schema) {
		s.Release()
		return fmt.Errorf("task %s/%d: its result has schema %s, the first task's %s", t.Query, t.Task, s.Schema(), c.schema)
	}
	c.cur = s
	c.next++
	return nil
}

// sameTypes says two schemas have the same column types, in order.
func sameTypes(a, b *arrow.Schema) bool {
	if a.NumFields() != b.NumFields() {
		return false
	}
	for i := range a.NumFields() {
		if !arrow.TypeEqual(a.Field(i).Type, b.Field(i).Type) {
			return false
		}
	}
	return true
}

func (c *concatenation) Schema() *arrow.Schema { return c.schema }

func (c *concatenation) Next() bool {
	for c.err == nil {
		if c.cur == nil {
			if c.next == len(c.tasks) {
				return false
			}
			if c.err = c.open(); c.err != nil {
				return false
			}
		}
		if c.cur.Next() {
			return true
		}
		if c.err = c.cur.Err(); c.err != nil {
			return false
		}
		c.cur.Release()
		c.cur = nil
	}
	return false
}

// failed records that the task being read failed with err, as the
// coordinator saw it (see taskStream.failed).
func (c *concatenation) failed(err error) {
	if c.cur != nil {
		c.cur.failed(err)
	}
}

func (c *concatenation) RecordBatch() arrow.RecordBatch {
	if c.cur == nil {
		return nil
	}
	return c.cur.RecordBatch()
}

// Record is RecordBatch (array.RecordReader still asks for it).
func (c *concatenation) Record() arrow.RecordBatch { return c.RecordBatch() }

func (c *concatenation) Err() error { return c.err }

func (c *concatenation) Retain() { c.refs.Add(1) }

func (c *concatenation) Release() {
	if c.refs.Add(-1) != 0 {
		return
	}
	if c.cur != nil {
		c.cur.Release()
		c.cur = nil
	}
}

var _ array.RecordReader = (*concatenation)(nil)
