package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/token"
	"github.com/skeindb/skein/partition"
)

// Redeeming tickets: a task ticket brought to the coordinator is proxied
// from the executor running it (its alternate, or run here), a merge or
// single ticket is answered by gathering the query's tasks; both stream
// to the client with the query's deadline and record what they sent.

// Local implements flightsql.Cluster: queries run whole on the coordinator
// are recorded too.
func (d *dist) Local(tag flightsql.QueryTag, user, sql string) func(int64, error) {
	d.hist.started(tag, user, sql, partition.Local.String(), 0, false, false)
	return func(rows int64, err error) { d.hist.finished(tag.ID, rows, 0, err) }
}

// Redeem implements flightsql.Cluster: task tickets are proxied from an
// executor, merge tickets merged here, single tickets' tasks streamed one
// after the other.
func (d *dist) Redeem(ctx context.Context, user string, handle []byte) (*arrow.Schema, <-chan flight.StreamChunk, bool, error) {
	if err := d.work.enter(); err != nil {
		return nil, nil, false, err
	}
	defer d.work.leave()
	is, ok, err := d.issuedTicket(handle)
	if !ok || err != nil {
		return nil, nil, ok, err
	}
	if t := is.task; t != nil {
		if t.User != user {
			return nil, nil, true, fmt.Errorf("%w: the ticket was issued to another user", flightsql.ErrDenied)
		}
		if err := d.revoked.check(t.Query); err != nil {
			return nil, nil, true, err
		}
		d.owed.redeemed(t.Query, t.Task)
		d.leases.opened(t.Query)
		d.streams.Add(1) // until relay's end
		sc, ch, err := d.proxy(ctx, *t, handle)
		if err != nil {
			d.streams.Add(-1)
		}
		return sc, ch, true, err
	}
	m, answer := is.m, gathered(d.merge)
	if is.single {
		answer = d.single
	}
	if m.User != user {
		return nil, nil, true, fmt.Errorf("%w: the ticket was issued to another user", flightsql.ErrDenied)
	}
	if err := d.revoked.check(m.Query); err != nil {
		return nil, nil, true, err
	}
	if err := d.unbundled(m); err != nil {
		return nil, nil, true, err
	}
	d.owed.redeemed(m.Query, -1)
	d.leases.opened(m.Query)
	d.streams.Add(1) // until the end of relay's or merge's stream
	sc, ch, err := d.gather(ctx, *m, answer)
	if err != nil {
		d.streams.Add(-1)
	}
	return sc, ch, true, err
}

// issued is what a ticket handle this layer issued names: a task (task
// set), or a merge or single ticket's gathering of a query's tasks (m set).
type issued struct {
	task   *cluster.Task
	m      *merge
	single bool
}

// issuedTicket reads a ticket handle; ok is false for a handle this layer
// did not sign (a local query's, which the front door reads). One of ours
// past its expiry is an error that says so: checked by the front door's
// key instead it read as a forgery, "bad signature".
func (d *dist) issuedTicket(handle []byte) (issued, bool, error) {
	top := cluster.TopTicket(string(handle)) // a task's own ticket, without its producers'
	if !d.tickets.Signed(top) {
		return issued{}, false, nil // one HMAC, not one a kind
	}
	var t cluster.Task
	errTask := d.tickets.Verify(cluster.KindTask, top, &t)
	if errTask == nil {
		return issued{task: &t}, true, nil
	}
	var m merge
	if err := d.tickets.Verify(kindMerge, string(handle), &m); err == nil {
		return issued{m: &m}, true, nil
	} else if errors.Is(err, token.ErrExpired) {
		errTask = err
	}
	if err := d.tickets.Verify(kindSingle, string(handle), &m); err == nil {
		return issued{m: &m, single: true}, true, nil
	} else if errors.Is(err, token.ErrExpired) {
		errTask = err
	}
	if errors.Is(errTask, token.ErrExpired) {
		return issued{}, true, flightsql.VerifyError("ticket", errTask, flightsql.ErrInvalid)
	}
	return issued{}, false, nil
}

// open starts a task's stream: on its executor, then its alternate (an
// empty id: none), then here on the coordinator, which can run any task
// itself. It says which executor serves it ("" for the coordinator).
func (d *dist) open(ctx context.Context, t cluster.Task, handle []byte) (array.RecordReader, func(), string, error) {
	return d.openPart(ctx, t, handle, -1)
}

// openPart is open for partition part of a producer task (part >= 0), or
// for the task's whole result (part < 0).
func (d *dist) openPart(ctx context.Context, t cluster.Task, handle []byte, part int) (array.RecordReader, func(), string, error) {
	var ticket []byte
	var err error
	if part >= 0 {
		ticket, err = cluster.PartitionTicket(string(handle), part)
	} else {
		ticket, err = cluster.TaskTicket(string(handle))
	}
	if err != nil {
		return nil, nil, "", err
	}
	var errs []error
	ids, limit := []string{t.Executor, t.Alt}, d.retries
	at, ranErr := d.sched.at(t.Query, t.Task)
	if ranErr != nil { // its run failed on its own SQL
		err := fmt.Errorf("task %s/%d: %w", t.Query, t.Task, ranErr)
		d.hist.taskFailed(t.Query, err)
		d.sqlFailed(t.Query, err, true)
		return nil, nil, "", err
	}
	if at != "" && at != t.Executor {
		// Another executor ran it (it was stolen): read it there, not
		// through its home.
		ids, limit = []string{at, t.Executor, t.Alt}, limit+1
	}
	if len(t.Inputs) > 0 || t.Partitions > 0 {
		// A stage's task may fail for an input lost with another
		// executor (a stream broken midway): run it again on each
		// executor still taking tasks, its own included, twice round;
		// it fetches its inputs again, and lost producers are
		// recomputed. Executors that died a moment ago are still listed
		// until --heartbeat-timeout, and a run that met one deeper down
		// (its producer's producer) fails before the recomputing: with
		// two of three executors killed, one round gave the live one a
		// single try, and the query failed about one time in six.
		ready := d.reg.ready()
		for range 2 {
			for _, m := range ready {
				ids = append(ids, m.ID)
			}
		}
		limit = len(ids)
	}
	for attempt, id := range ids {
		if attempt > limit {
			break
		}
		if id == "" {
			continue
		}
		if err := d.revoked.check(t.Query); err != nil {
			return nil, nil, "", err // cancelled meanwhile: not tried elsewhere, nor here
		}
		loc, ok := d.reg.location(id)
		if !ok {
			errs = append(errs, fmt.Errorf("executor %s is not alive", id))
			continue
		}
		c, lease, err := d.clients.get(loc)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		tried := time.Now()
		stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: ticket})
		if err == nil {
			var rdr *flight.Reader
			if rdr, err = flight.NewRecordReader(stream, ipc.WithAllocator(d.mem)); err == nil {
				if err = sameZone(rdr.Schema(), d.reg.zone); err == nil {
					return rdr, func() { rdr.Release(); lease() }, id, nil
				}
				rdr.Release()
			}
		}
		lease()
		if errors.Is(lostCall(ctx, err), errRunBroken) {
			d.sched.suspectAt(t.Query, t.Task, id)
		}
		d.hist.saw(t.Query, t.Task, id, tried, err)
		if cluster.FailsAnywhere(err) {
			// The task's own SQL failed (a cast, a missing column): it
			// fails alike anywhere; tried on every executor and here, it
			// said its error three times and more.
			err = fmt.Errorf("task %s/%d (executor %s): %w", t.Query, t.Task, id, err)
			d.hist.taskFailed(t.Query, err)
			d.sqlFailed(t.Query, err, true)
			return nil, nil, "", err
		}
		flightsql.QueryLog(d.log, t.Query, t.Trace).Warn().Err(err).Int("task_id", t.Task).Str("executor", id).Msg("task failed; retrying elsewhere")
		errs = append(errs, fmt.Errorf("executor %s: %w", id, err))
	}
	if ctx.Err() != nil {
		return nil, nil, "", context.Cause(ctx)
	}
	if err := d.revoked.check(t.Query); err != nil {
		return nil, nil, "", err
	}
	if len(t.Inputs) > 0 || t.Partitions > 0 {
		// A task of a stage reads or feeds exchanges between executors.
		return nil, nil, "", fmt.Errorf("task %s/%d: %w", t.Query, t.Task, errors.Join(errs...))
	}
	// No executor could start it: run it here, unless an executor died
	// as it ran there. The task may have ended it (DuckDB crashing on the
	// query's input, SIGSEGV), and would end the coordinator too. The
	// scheduler first sees the ends of runs at the executors just tried
	// (a crash reaches it a moment after its readers).
	if err := d.sched.settle(ctx, t.Query, t.Task, ids); err != nil {
		return nil, nil, "", fmt.Errorf("task %s/%d: %w", t.Query, t.Task, err)
	}
	if at, _ := d.sched.at(t.Query, t.Task); at != "" && !slices.Contains(ids, at) {
		return d.openPart(ctx, t, handle, part) // given to another meanwhile
	}
	if err := d.sched.noneDied(ctx, t.Query, t.Task, true); err != nil {
		return nil, nil, "", fmt.Errorf("task %s/%d: %w", t.Query, t.Task, errors.Join(append(errs, err)...))
	}
	report := cluster.TaskReport{Query: t.Query, Task: t.Task, Executor: "coordinator", Started: time.Now()}
	failed := func(err error) (array.RecordReader, func(), string, error) {
		report.Finished = time.Now()
		d.hist.ranHere(report, err)
		return nil, nil, "", fmt.Errorf("task %s/%d: %w", t.Query, t.Task, errors.Join(append(errs, err)...))
	}
	conn, err := d.db.Connect(ctx)
	if err != nil {
		return failed(err)
	}
	for _, f := range t.Stamped() { // as the executors check before reading (executor.stampedUnchanged)
		if err := conn.FileUnchanged(ctx, f.Path, f.Size, f.Modified, f.Tail); err != nil {
			_ = conn.Close()
			return failed(err)
		}
	}
	prepare := func(sql string) (*duck.Stmt, error) { return conn.Prepare(ctx, sql) }
	run := func(st *duck.Stmt) (array.RecordReader, error) {
		rdr, err := st.Query(ctx, d.mem, t.Args(), d.batch)
		if err != nil {
			_ = st.Close()
		}
		return rdr, err
	}
	sql := t.SQL
	var written *duck.FileRun
	if t.Write != nil { // a part of a COPY (executor.run does the same)
		sql, written = duck.StartFileRun(t.SQL, t.Write.Path, t.Write.Options)
	}
	st, err := prepare(sql)
	var rdr array.RecordReader
	var texts map[int]string
	switch {
	case err != nil:
	case t.Merged:
		// As an executor gives it: a merge of partials from both sees
		// one schema (a HUGEINT sum's type named, a UUID as its text).
		st, rdr, texts, err = duck.ExchangeQuery(st, t.SQL, true, prepare, run)
	default:
		rdr, err = run(st)
	}
	if err != nil {
		_ = conn.Close()
		if written != nil {
			written.Abandon()
		}
		return failed(err)
	}
	if written != nil {
		rdr = written.Committing(rdr)
	}
	schema := flightsql.ResultSchema(rdr.Schema())
	if t.Merged {
		schema = duck.ExchangeSchema(rdr, schema, texts)
	}
	here := relabel(rdr, schema)
	return here, func() {
		report.Finished, report.Rows, report.Bytes = time.Now(), here.rows, here.bytes
		err := rdr.Err()
		if err == nil && ctx.Err() != nil {
			err = ctx.Err() // the reader stopped early
		}
		d.hist.ranHere(report, err)
		here.Release()
		_ = st.Close()
		_ = conn.Close()
		if written != nil {
			written.Abandon()
		}
	}, "", nil
}

// sameZone checks that every TIMESTAMPTZ column of an executor's stream
// is in the coordinator's zone, the one its FlightInfo schema states: the
// registry admits only executors of that zone, and this catches one that
// changed underneath (the FlightInfo and the stream would disagree).
func sameZone(schema *arrow.Schema, zone string) error {
	var check func(name string, t arrow.DataType) error
	check = func(name string, t arrow.DataType) error {
		if ts, ok := t.(*arrow.TimestampType); ok && ts.TimeZone != "" && ts.TimeZone != zone {
			return fmt.Errorf("%w: column %q is in time zone %q, the coordinator's is %q", errZone, name, ts.TimeZone, zone)
		}
		if nt, ok := t.(arrow.NestedType); ok {
			for _, f := range nt.Fields() {
				if err := check(name+"."+f.Name, f.Type); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, f := range schema.Fields() {
		if err := check(f.Name, f.Type); err != nil {
			return err
		}
	}
	return nil
}

// relabeled is a result with the schema an executor streams it with:
// flightsql.ResultSchema (Flight SQL column metadata, as the executors add
// it), every record relabeled to it. A task run on the coordinator gives
// it, so that a merge of partials from executors and from here, a stream
// resumed here and a client comparing an endpoint with its FlightInfo all
// see one schema; and a CREATE TABLE AS appends the tasks' results through
// it. It counts what it gives.
type relabeled struct {
	array.RecordReader
	schema      *arrow.Schema
	cur         arrow.RecordBatch
	rows, bytes int64
}

func relabel(rdr array.RecordReader, schema *arrow.Schema) *relabeled {
	return &relabeled{RecordReader: rdr, schema: schema}
}

func (h *relabeled) Schema() *arrow.Schema { return h.schema }

func (h *relabeled) Next() bool {
	if h.cur != nil {
		h.cur.Release()
		h.cur = nil
	}
	if !h.RecordReader.Next() {
		return false
	}
	rec := h.RecordReader.RecordBatch()
	rec.Retain()
	h.cur = flightsql.Relabel(rec, h.schema)
	h.rows += h.cur.NumRows()
	h.bytes += duck.RecordSize(h.cur)
	return true
}

func (h *relabeled) RecordBatch() arrow.RecordBatch { return h.cur }

// Record is RecordBatch (array.RecordReader still asks for it).
func (h *relabeled) Record() arrow.RecordBatch { return h.cur }

// Release releases the current record and the reader (once: open's
// release calls it).
func (h *relabeled) Release() {
	if h.cur != nil {
		h.cur.Release()
		h.cur = nil
	}
	h.RecordReader.Release()
}

// proxy streams one task's result through the coordinator, resuming it
// elsewhere if the executor streaming it dies (see taskStream).
func (d *dist) proxy(req context.Context, t cluster.Task, handle []byte) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ctx, cancel := d.queryContext(req, t.Query, t.Deadline)
	ended := func(err error) error {
		d.read(t.Query, t.Task, err)
		err = d.limits.Expired(ctx, t.Query, err)
		if err != nil && req.Err() == nil && !errors.Is(err, context.Canceled) {
			// Its client is told the query failed: so is the history
			// (it said running until the endpoints expired, then
			// cancelled, the client gone: a tester's).
			d.hist.finished(t.Query, 0, 0, err)
		}
		return err
	}
	rdr, err := d.resumable(ctx, t, handle)
	if err != nil {
		cancel()
		return nil, nil, ended(err)
	}
	sc, ch := d.relay(ctx, req, t.Query, rdr, cancel, func(_, _ int64, err error) { ended(err) })
	return sc, ch, nil
}

// relayed is a stream of task results that the coordinator relays.
type relayed interface {
	array.RecordReader
	// failed records that the task being read failed with err, as the
	// coordinator saw it.
	failed(err error)
}

// relay forwards rdr to a DoGet stream in the background (see forward);
// at its end, it calls cancel, releases rdr and says to done what went.
func (d *dist) relay(ctx, req context.Context, query string, rdr relayed, cancel func(), done func(rows, bytes int64, err error)) (*arrow.Schema, <-chan flight.StreamChunk) {
	schema := rdr.Schema()
	ch := make(chan flight.StreamChunk) // a stalled client holds one batch less
	d.work.spawn(func() {
		defer d.streams.Add(-1)
		defer close(ch)
		defer cancel()
		defer rdr.Release()
		rows, bytes, err := d.forward(ctx, req, query, rdr, schema, ch)
		if err != nil && rdr.Err() == nil {
			rdr.failed(err) // the stream was fine: the limit or the client ended it
		}
		done(rows, bytes, err)
	})
	return schema, ch
}

// queryContext is the context a query's work runs in at the coordinator:
// it ends with the request, at shutdown and at the query's deadline.
func (d *dist) queryContext(req context.Context, qid string, deadline time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(req)
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(req, deadline)
	}
	ctx, revoke := context.WithCancelCause(ctx)
	forget := d.revoked.follow(qid, revoke) // CancelFlightInfo stops it
	if err := d.revoked.check(qid); err != nil {
		revoke(err)
	}
	stop := context.AfterFunc(d.life, cancel)
	return ctx, func() {
		stop()
		forget()
		revoke(context.Canceled)
		cancel()
	}
}

// forward sends a reader's batches to a DoGet stream and says how many
// rows and bytes went, or why it stopped. ctx is the query's (it ends at
// its deadline), req the request's: a query that fails while its client
// still reads gets the error, never a stream that just ends early.
func (d *dist) forward(ctx, req context.Context, query string, rdr array.RecordReader, schema *arrow.Schema, ch chan<- flight.StreamChunk) (rows, bytes int64, err error) {
	defer func() {
		if err != nil && req.Err() == nil {
			if cause := context.Cause(ctx); errors.Is(cause, errRevoked) {
				err = cause // not how the revocation's cancel broke the read
			}
			err = d.limits.Expired(ctx, query, err)
			select {
			case ch <- flight.StreamChunk{Err: err}:
			case <-req.Done():
			}
		}
	}()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		n, b := rec.NumRows(), duck.RecordSize(rec)
		if err := d.limits.Result(query, bytes+b); err != nil {
			return rows, bytes, err
		}
		rec.Retain()
		rec = flightsql.Relabel(rec, schema)
		select {
		case ch <- flight.StreamChunk{Data: rec}:
			rows, bytes = rows+n, bytes+b
		case <-ctx.Done():
			rec.Release()
			return rows, bytes, ctx.Err()
		}
	}
	return rows, bytes, rdr.Err()
}
