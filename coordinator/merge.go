package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// gathered is how the coordinator answers a ticket naming several tasks
// (a merge's, a single endpoint's) in ctx, the query's context: it returns
// the answer's stream, which calls cancel at its end.
type gathered func(ctx, req context.Context, m merge, cancel func()) (*arrow.Schema, <-chan flight.StreamChunk, error)

// gather answers a ticket naming several tasks: the query ends, in the
// history and on the executors, when its stream does, or here if it
// fails before streaming.
func (d *dist) gather(req context.Context, m merge, answer gathered) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	d.hist.merging(m.Query)
	ctx, cancel := d.queryContext(req, m.Query, m.Deadline)
	sc, ch, err := answer(ctx, req, m, cancel)
	if err != nil {
		cancel()
		err = d.limits.Expired(ctx, m.Query, err)
		d.mergeFailed(m.Query, err)
		d.hist.finished(m.Query, 0, 0, err)
		d.read(m.Query, -1, err)
	}
	return sc, ch, err
}

// mergeFailed tells the query's session that its merge here (or its last
// stage, run here) failed in its own SQL, a cast or an overflow, as its
// reader met it: DuckDB aborts the transaction such a statement fails
// in, as the executors' tasks failing so do (sqlFailed). The merge's
// failure left it open, and COMMIT kept the writes before the query (a
// tester's).
func (d *dist) mergeFailed(qid string, err error) {
	var de *duck.Error
	if errors.As(err, &de) && de.Kind == duck.KindInvalid && de.AbortsTransaction() {
		d.sqlFailed(qid, err, true)
	}
}

// merge fetches every partial result in parallel and runs the final SQL
// over them in DuckDB (mergeAnswer), streaming its answer.
func (d *dist) merge(ctx, req context.Context, m merge, cancel func()) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	rdr, done, err := d.mergeAnswer(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	schema := flightsql.ResultSchema(rdr.Schema())
	ch := make(chan flight.StreamChunk, 1)
	d.work.spawn(func() {
		defer d.streams.Add(-1)
		defer close(ch)
		defer cancel()
		defer done()
		rows, bytes, err := d.forward(ctx, req, m.Query, rdr, schema, ch)
		d.mergeFailed(m.Query, err)
		d.hist.finished(m.Query, rows, bytes, err)
		d.read(m.Query, -1, err)
	})
	return schema, ch, nil
}

// mergeAnswer fetches every partial result in parallel and runs the final
// SQL over them in DuckDB: rdr is its answer, done releases it all once
// read. Each task's partial result is read whole before it is used, so a
// task that fails midway is run again elsewhere without its first rows
// counting twice.
func (d *dist) mergeAnswer(ctx context.Context, m merge) (rdr array.RecordReader, done func(), err error) {
	sql, srcs, err := d.mergeSources(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	var held atomic.Int64 // bytes of partial results held, within the result limit
	if m.Rounds != nil && m.Final == "" {
		return d.mergeRounds(ctx, m, sql, srcs, &held)
	}
	parts, schemas, err := d.fetchParts(ctx, m, srcs, &held)
	if err != nil {
		return nil, nil, err
	}
	defer releaseParts(parts) // the merge's reader holds its own references
	return d.mergeOver(ctx, m, sql, parts, schemas[0])
}

// fetchParts fetches the partial results of srcs in parallel.
func (d *dist) fetchParts(ctx context.Context, m merge, srcs []mergeSource, held *atomic.Int64) ([][]arrow.RecordBatch, []*arrow.Schema, error) {
	parts := make([][]arrow.RecordBatch, len(srcs))
	schemas := make([]*arrow.Schema, len(srcs))
	errs := make([]error, len(srcs))
	at := max(2, 2*len(d.reg.live()))
	if len(srcs) > 0 && srcs[0].part >= 0 {
		at = len(srcs) // a few rows in each partition: all at once
	}
	sem := make(chan struct{}, at)
	var wg sync.WaitGroup
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			parts[i], schemas[i], errs[i] = d.fetchTask(ctx, []byte(src.handle), src.part, m.Query, held)
		}()
	}
	wg.Wait()
	if err := taskErrors(errs); err != nil {
		releaseParts(parts)
		return nil, nil, fmt.Errorf("query %s: %w", m.Query, err)
	}
	return parts, schemas, nil
}

// taskErrors is one error for the failures of a query's tasks: the
// first that is not a cancellation (one only if all are), and how many
// others failed. Joined, a query failing alike in its 16 tasks said
// DuckDB's error 16 times (18 KB).
func taskErrors(errs []error) error {
	var first error
	n := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		n++
		cancelled := errors.Is(err, context.Canceled) || status.Code(err) == codes.Canceled
		if first == nil || !cancelled && (errors.Is(first, context.Canceled) || status.Code(first) == codes.Canceled) {
			first = err
		}
	}
	if n > 1 {
		return fmt.Errorf("%w (and %d other tasks failed)", first, n-1)
	}
	return first
}

func releaseParts(parts [][]arrow.RecordBatch) {
	for _, p := range parts {
		for _, r := range p {
			r.Release()
		}
	}
}

// mergeOver runs the merge's SQL over partial results (schema theirs),
// which it does not release: rdr holds references of its own.
func (d *dist) mergeOver(ctx context.Context, m merge, sql string, parts [][]arrow.RecordBatch, schema *arrow.Schema) (rdr array.RecordReader, done func(), err error) {
	var all []arrow.RecordBatch
	var rows int64
	for _, p := range parts {
		all = append(all, p...)
		for _, r := range p {
			rows += r.NumRows()
		}
	}
	partials, err := array.NewRecordReader(schema, all)
	if err != nil {
		return nil, nil, fmt.Errorf("query %s: partial results disagree: %w", m.Query, err)
	}
	conn, err := d.mergeDB.Connect(ctx)
	if err != nil {
		partials.Release()
		return nil, nil, err
	}
	// Scanned with Skein's own stream scan, which reads the columns the
	// merge asks for, with their exact count for DuckDB's planner (DuckDB's
	// C API Arrow scan ignores pushed projections and filters); loaded into
	// a table when a column is to be cast back to its DuckDB type (one
	// Arrow does not give back: internal/duck/kept.go, encoded.go).
	var unregister func()
	if duck.Kept(schema) {
		unregister, err = func() {}, conn.LoadTemp(ctx, partialsView, partials)
	} else {
		unregister, err = conn.RegisterStream(partials, partialsView, rows)
	}
	if err != nil {
		partials.Release()
		_ = conn.Close()
		return nil, nil, err
	}
	cleanup := func() {
		unregister()
		partials.Release()
		_ = conn.Close()
	}
	if m.Role.ReadOnly() {
		conn.SetPolicy(duck.Policy{ReadOnly: true})
	}
	st, err := conn.Prepare(ctx, sql)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("query %s: merge: %w", m.Query, err)
	}
	var args []any
	if st.Params != nil && st.Params.NumFields() > 0 {
		// Its only parameter: the query's instant (partition.NowParameter).
		args = []any{m.Now}
	}
	if rdr, err = st.Query(ctx, d.mem, args, d.batch); err != nil {
		_ = st.Close()
		cleanup()
		return nil, nil, fmt.Errorf("query %s: merge: %w", m.Query, err)
	}
	return rdr, func() {
		rdr.Release()
		_ = st.Close()
		cleanup()
	}, nil
}

// A mergeSource is what a merge reads: a task's result, or one partition
// of a producer task's (part >= 0).
type mergeSource struct {
	handle string
	part   int
}

// mergeSources is the SQL a merge runs and what it reads: its tasks' results
// and its SQL, or, when the scheduler leaves the last stage to the
// coordinator (finalhere.go), every partition of the producers' tasks
// and the SQL with the last stage's query in it.
func (d *dist) mergeSources(ctx context.Context, m merge) (string, []mergeSource, error) {
	var srcs []mergeSource
	if m.Final != "" {
		here, err := d.sched.finishHere(ctx, m.Query)
		if err != nil {
			return "", nil, err
		}
		if here {
			last := make([]int, 0, len(m.Tasks))
			for _, h := range m.Tasks {
				t, err := d.secret.VerifyTask([]byte(h))
				if err != nil {
					return "", nil, err
				}
				last = append(last, t.Task)
			}
			d.hist.merged(m.Query, last, time.Now())
			for _, h := range m.Producers {
				t, err := d.secret.VerifyTask([]byte(h))
				if err != nil {
					return "", nil, err
				}
				for part := range t.Partitions {
					srcs = append(srcs, mergeSource{handle: h, part: part})
				}
			}
			return m.Final, srcs, nil
		}
	}
	for _, h := range m.Tasks {
		srcs = append(srcs, mergeSource{handle: h, part: -1})
	}
	return m.SQL, srcs, nil
}

// fetchTask reads one task's whole result (or, part >= 0, that partition
// of a producer's). If its stream breaks, even
// midway, what it gave is dropped and the task runs again elsewhere
// (alternate, any live executor, the coordinator): a partial result is
// used whole or not at all.
func (d *dist) fetchTask(ctx context.Context, handle []byte, part int, query string, held *atomic.Int64) ([]arrow.RecordBatch, *arrow.Schema, error) {
	t, err := d.secret.VerifyTask(handle)
	if err != nil {
		return nil, nil, err
	}
	var recs []arrow.RecordBatch
	drop := func() {
		for _, r := range recs {
			r.Release()
		}
		recs = nil
	}
	var broken []string
	for attempt := 0; ; attempt++ {
		started := time.Now()
		rdr, release, from, err := d.openPart(ctx, t, handle, part)
		if err != nil {
			return nil, nil, err // it names the task, and each executor tried
		}
		var size int64
		for rdr.Next() {
			r := rdr.RecordBatch()
			b := duck.RecordSize(r)
			size += b
			if err = d.limits.Result(query, held.Add(b)); err != nil {
				break
			}
			r.Retain()
			recs = append(recs, r)
		}
		schema := rdr.Schema()
		if err == nil {
			err = rdr.Err()
		}
		release()
		if errors.Is(err, flightsql.ErrBusy) {
			drop()
			return nil, nil, err
		}
		if err == nil {
			return recs, schema, nil
		}
		drop()
		held.Add(-size)
		if from != "" {
			d.hist.saw(t.Query, t.Task, from, started, err)
		}
		// A task whose own SQL failed as it ran (an overflow, a cast of
		// one row) fails alike anywhere.
		if attempt >= d.retries || ctx.Err() != nil || from == "" || cluster.FailsAnywhere(err) {
			return nil, nil, fmt.Errorf("task %d (%s): %w", t.Task, executorName(from), err)
		}
		flightsql.QueryLog(d.log, t.Query, t.Trace).Warn().Err(err).Int("task_id", t.Task).Str("executor", from).
			Msg("task stream broke; its rows are dropped and it runs again")
		broken = append(broken, from)
		t = d.elsewhere(t, broken)
	}
}
