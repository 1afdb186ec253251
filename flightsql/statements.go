package flightsql

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// sessionForTxn returns the session a request runs in: the one owning its
// transaction when it names one, else the caller's.
func (s *Server) sessionForTxn(ctx context.Context, txn []byte) (*session, error) {
	id := identityFrom(ctx)
	if len(txn) == 0 {
		return s.sessionFor(ctx, id)
	}
	sid, _, ok := strings.Cut(string(txn), "/")
	if !ok {
		return nil, fmt.Errorf("%w: transaction %q is unknown", ErrNotFound, txn)
	}
	sess := s.sessions.get(sid)
	if sess == nil {
		dropCookie(ctx)
		return nil, fmt.Errorf("transaction %q: %w", txn, errTxnSessionEnded)
	}
	if sess.user != id.user {
		return nil, fmt.Errorf("%w: transaction belongs to another user", ErrDenied)
	}
	sess.mu.Lock()
	open := sess.txn == string(txn)
	committed := sess.committedInSQL == string(txn)
	sess.mu.Unlock()
	if !open {
		err := errTxnNotOpen
		if committed {
			err = errTxnCommittedInSQL
		}
		return nil, fmt.Errorf("transaction %q: %w", txn, err)
	}
	return sess, nil
}

// withSession runs fn holding the session's connection.
func withSession[T any](ctx context.Context, sess *session, fn func() (T, error)) (T, error) {
	if err := sess.lock(ctx); err != nil {
		var zero T
		return zero, err
	}
	defer sess.unlock()
	sess.abortFailed(ctx)
	ran := sess.conn.TxnStatements()
	out, err := fn()
	if sess.conn.TxnStatements() != ran {
		sess.endedInSQL(ctx)
	}
	return out, err
}

// GetFlightInfoStatement prepares the query to learn its exact schema. DDL
// and DML run right away (ADBC sends them this way); queries run when their
// ticket is redeemed.
func (s *Server) GetFlightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	info, err := s.flightInfoStatement(ctx, cmd, desc)
	info, err = s.delivered(ctx, info, err)
	return s.planOnly(ctx, info, err)
}

// planOnly is info as a call asking for a plan only (ExplainHeader) gets
// it: its query cancelled at once and no endpoint to read. A query's
// tasks start when its FlightInfo is made, and its tickets stayed good:
// a client reading them (ADBC reads what it is given) ran EXPLAIN
// ANALYZE DELETE and nextval(), and a staged query's tasks ran to their
// end for a client that kept its connection (a tester's).
func (s *Server) planOnly(ctx context.Context, info *flight.FlightInfo, err error) (*flight.FlightInfo, error) {
	if err != nil || !explainOnly(ctx) {
		return info, err
	}
	if _, cerr := s.cancelEndpoints(identityFrom(ctx).user, info.GetEndpoint()); cerr != nil {
		s.log.Warn().Err(cerr).Msg("cancelling a query asked for its plan only")
	}
	info.Endpoint = nil
	return info, nil
}

// delivered is info, unless the client gave up on it while it was being
// planned (its deadline passed, it hung up): then nobody holds its
// tickets, and the query is cancelled now, not left running (recorded
// running in skein.queries) until they expire, ten minutes on.
func (s *Server) delivered(ctx context.Context, info *flight.FlightInfo, err error) (*flight.FlightInfo, error) {
	if err != nil || ctx.Err() == nil {
		return info, err
	}
	if _, cerr := s.cancelEndpoints(identityFrom(ctx).user, info.GetEndpoint()); cerr != nil {
		s.log.Warn().Err(cerr).Msg("cancelling a query whose client gave up planning it")
	}
	return nil, ctx.Err()
}

func (s *Server) flightInfoStatement(ctx context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	header, err := requestResultMode(ctx) // before anything runs
	if err != nil {
		return nil, err
	}
	if _, err := RequestCodec(ctx); err != nil {
		return nil, err
	}
	sess, err := s.sessionForTxn(ctx, cmd.GetTransactionId())
	if err != nil {
		return nil, err
	}
	tag := newQueryTag(ctx)
	tag.Session = sess.id
	ctx = duck.WithLabel(ctx, duck.Label{QueryID: tag.ID, User: sess.user, SQL: cmd.GetQuery()})
	if err := explainable(ctx, cmd.GetQuery()); err != nil {
		return nil, err
	}
	q, err := withSession(ctx, sess, func() (_ *query, err error) {
		ctx, timed := s.withinTimeout(ctx, tag.ID, &err)
		defer timed()
		if err := s.sessions.roomFor(sess, s.cfg.MaxStatementsPerSession); err != nil {
			return nil, err
		}
		check, err := s.checkQuery(ctx, sess, cmd.GetQuery())
		if err != nil {
			return nil, err
		}
		// A text the cluster planned before over files unchanged since
		// is not prepared again for its schema.
		if s.cfg.Cluster != nil {
			info, _, err := s.cfg.Cluster.PlanKept(ctx, sess.conn, tag, sess.user, cmd.GetQuery(), resultMode(header, sess), desc)
			if err != nil || len(info.GetEndpoint()) > 0 {
				return &query{info: tagged(info, tag)}, err
			}
		}
		// A statement of this text that ran before on the session is
		// taken again: DuckDB plans it when it runs anyway (duck.Keep).
		st, err := sess.conn.PrepareAgain(ctx, cmd.GetQuery())
		if err != nil {
			return nil, err
		}
		if explainOnly(ctx) && (!st.ReturnsRows || st.WritesRows()) {
			_ = st.Close()
			return nil, errExplainWrite
		}
		q := &query{id: tag.ID, trace: tag.Trace, user: sess.user, sql: cmd.GetQuery(), check: check, sess: sess, stmt: st, ownStmt: true,
			keep: true, open: ConnOpen(ctx)}
		if !st.ReturnsRows {
			defer st.Close()
			q.stmt, q.ownStmt, q.empty = nil, false, true
			if _, ok, err := s.clusterWrite(ctx, sess, tag, cmd.GetTransactionId(), cmd.GetQuery()); ok {
				if err != nil {
					return nil, err
				}
				q.written = true
				return q.reserve(), nil // unreserved, its end took the session's count below zero
			}
			if err := s.timed(ctx, tag.ID, func(ctx context.Context) error {
				_, err := st.Exec(ctx, nil)
				return err
			}); err != nil {
				return nil, err
			}
			return q.reserve(), nil
		}
		if q.schema, err = st.ResultSchema(ctx, nil); err != nil {
			_ = st.Close()
			return nil, err
		}
		if q.schema == st.Schema {
			q.wireSchema = wireSchema(st, s.mem)
		}
		if st.WritesRows() {
			if err := s.runNow(ctx, q); err != nil {
				_ = st.Close()
				return nil, err
			}
			return q.reserve(), nil
		}
		// Inside a transaction too (ADBC's default): the planner splits only
		// what reads files alone, which the transaction does not isolate;
		// anything reading the session's tables runs here, in it.
		if s.cfg.Cluster != nil && st.Resolved {
			info, err := s.cfg.Cluster.Plan(ctx, sess.conn, tag, sess.user, cmd.GetQuery(), q.schema, resultMode(header, sess), desc)
			if err != nil || len(info.GetEndpoint()) > 0 {
				_ = st.Close()
				return &query{info: tagged(info, tag)}, err
			}
			q.meta = info.GetAppMetadata()
		}
		if err := s.holdUnread(q, max(statementCost(q.sql), int(st.Held))); err != nil {
			_ = st.Close()
			return nil, err
		}
		// Held until its DoGet, it would keep its scans' files open:
		// over the budget it holds none meanwhile, prepared again there.
		released, err := s.release(sess, st)
		if err != nil {
			q.unhold()
			return nil, err
		}
		if released {
			q.stmt = nil
		}
		return q.reserve(), nil
	})
	if err != nil {
		return nil, err
	}
	if q.info != nil {
		return q.info, nil
	}
	return s.register(q, desc)
}

// wireSchema is st's result schema as a FlightInfo carries it, serialized
// once for a statement that serves many runs of its text (duck.Keep): 10
// µs a query of SELECT 1 through the Go client.
func wireSchema(st *duck.Stmt, mem memory.Allocator) []byte {
	if b, ok := st.Memo.([]byte); ok {
		return b
	}
	b := flight.SerializeSchema(ResultSchema(st.Schema), mem)
	st.Memo = b
	return b
}

func (s *Server) register(q *query, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	q.expires = time.Now().Add(s.cfg.TicketTTL)
	tok, err := s.signer.Sign(ticketKind, ticketClaims{Query: q.id, User: q.user}, q.expires)
	var ticket []byte
	if err == nil {
		ticket, err = flightsql.CreateStatementQueryTicket([]byte(tok))
	}
	if err != nil {
		q.sess.pending.Add(-1) // q.reserve's
		q.unhold()
		return nil, err
	}
	q.sess.mu.Lock()
	q.rolledBack = q.sess.rollback
	q.sess.mu.Unlock()
	s.queries.add(q)
	if s.cfg.Cluster != nil && !q.written {
		q.done = s.cfg.Cluster.Local(QueryTag{ID: q.id, Trace: q.trace}, q.user, q.sql)
		if q.empty {
			q.done(0, nil)
			q.done = nil
		}
	}
	schema := arrow.NewSchema(nil, nil)
	records := int64(0)
	if !q.empty {
		schema, records = ResultSchema(q.schema), -1
	}
	queryDebug(s.log, q.id, q.trace).Str("user", q.user).Msg("query planned")
	wire := q.wireSchema
	if wire == nil {
		wire = flight.SerializeSchema(schema, s.mem)
	}
	info := flightInfoOf(desc, wire, ticket, records)
	info.Endpoint[0].ExpirationTime = timestamppb.New(q.expires) // the ticket's
	info.AppMetadata = withTag(q.meta, QueryTag{ID: q.id, Trace: q.trace})
	return info, nil
}

// tagged puts the query's tag into a FlightInfo the cluster planned.
func tagged(info *flight.FlightInfo, tag QueryTag) *flight.FlightInfo {
	if info != nil {
		info.AppMetadata = withTag(info.AppMetadata, tag)
	}
	return info
}

// GetSchemaStatement gives a statement's result schema without running it.
func (s *Server) GetSchemaStatement(ctx context.Context, cmd flightsql.StatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	sess, err := s.sessionForTxn(ctx, cmd.GetTransactionId())
	if err != nil {
		return nil, err
	}
	return withSession(ctx, sess, func() (*flight.SchemaResult, error) {
		if _, err := s.checkQuery(ctx, sess, cmd.GetQuery()); err != nil {
			return nil, err
		}
		st, err := sess.conn.Describe(ctx, cmd.GetQuery())
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return &flight.SchemaResult{Schema: flight.SerializeSchema(ResultSchema(st.Schema), s.mem)}, nil
	})
}

// queryFromTicket verifies a ticket and hands its query to the caller.
func (s *Server) queryFromTicket(ctx context.Context, handle []byte) (*query, error) {
	var c ticketClaims
	if err := s.signer.Verify(ticketKind, string(handle), &c); err != nil {
		return nil, VerifyError("ticket", err, ErrInvalid)
	}
	id := identityFrom(ctx)
	if c.User != id.user {
		return nil, fmt.Errorf("%w: the ticket was issued to another user", ErrDenied)
	}
	return s.queries.take(c.Query, id.user)
}

// errClosedByNext ends a result its client was still reading when the
// session ran another request: a session runs one statement at a time, and
// DuckDB closes a connection's pending result when it runs the next one.
var errClosedByNext = fmt.Errorf("%w: the session ran another request before this result was read to its end, which closes it (one statement at a time on a connection, as in DuckDB): read a result before the next statement, or use another connection", context.Canceled)

// DoGetStatement streams a planned query's result.
func (s *Server) DoGetStatement(ctx context.Context, t flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	if s.cfg.Cluster != nil {
		sc, ch, ok, err := s.cfg.Cluster.Redeem(ctx, identityFrom(ctx).user, t.GetStatementHandle())
		if ok || err != nil {
			return sc, ch, err
		}
	}
	q, err := s.queryFromTicket(ctx, t.GetStatementHandle())
	if err != nil {
		return nil, nil, err
	}
	if err := q.sess.lock(ctx); err != nil {
		q.keep = false // the session is not held: its connection is not ours to change
		s.queries.finish(q)
		return nil, nil, err
	}
	if q.empty {
		s.queries.finish(q)
		q.sess.unlock()
		ch := make(chan flight.StreamChunk)
		close(ch)
		return arrow.NewSchema(nil, nil), ch, nil
	}
	if err := q.inItsTxn(); err != nil {
		s.queries.finish(q)
		q.sess.unlock()
		return nil, nil, err
	}
	schema := ResultSchema(q.schema)
	runCtx, cancel := context.WithCancel(ctx)
	if s.cfg.Limits.QueryTimeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, s.cfg.Limits.QueryTimeout)
	}
	stopOnCancel := context.AfterFunc(q.ctx, cancel)
	// stopped says why the query was stopped: its deadline, its cancel.
	stopped := func(err error) error {
		err = s.cfg.Limits.Expired(runCtx, q.id, err)
		if q.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("query %s was cancelled: %w", q.id, err)
		}
		return err
	}
	ans := newAnswer()
	stopWatch := ans.watch(ctx, runCtx, func() error { return stopped(runCtx.Err()) }, *QueryLog(s.log, q.id, q.trace))
	next := q.sess.yielding()
	go func() {
		start := time.Now()
		// The connection is given back before an error is sent: a client
		// that stopped reading must not keep the session's next request
		// waiting (errClosedByNext).
		rows, err := func() (n int64, err error) {
			defer q.sess.unlock()
			defer q.sess.streamed()
			defer s.queries.finish(q)
			defer func() { // runs before finish, which may keep the statement for reuse
				if q.keep && s.filesOver() {
					q.keep = false
				}
			}()
			defer stopOnCancel()
			defer cancel()
			defer stopWatch()
			n, err = func() (n int64, err error) {
				defer func() {
					if r := recover(); r != nil {
						QueryLog(s.log, q.id, q.trace).Error().Interface("panic", r).Msg("query stream panicked")
						err = fmt.Errorf("internal error streaming query %s: %v", q.id, r)
					}
				}()
				return s.stream(duck.WithLabel(runCtx, duck.Label{QueryID: q.id, User: q.user, SQL: q.sql}), next, q, schema, ans)
			}()
			err = stopped(err)
			if err != nil {
				q.keep = false
			}
			if q.done != nil {
				q.done(n, err)
			}
			return n, err
		}()
		ans.finish(ctx, err)
		if err != nil {
			queryDebug(s.log, q.id, q.trace).Err(err).Msg("query failed")
			return
		}
		queryDebug(s.log, q.id, q.trace).Int64("rows", rows).Dur("took", time.Since(start)).Msg("query streamed")
	}()
	return schema, ans.ch, nil
}

// runNow runs q, a write that returns rows, once per argument row, and
// keeps its rows for its DoGet (query.result), within the result limit.
// Run at its DoGet, an INSERT ... RETURNING whose client closed its
// cursor without reading was not done (ADBC cancels the read), and a
// COMMIT right after it committed nothing: DuckDB writes when the
// statement is executed.
func (s *Server) runNow(ctx context.Context, q *query) error {
	if err := q.prepared(ctx); err != nil {
		return err
	}
	return s.timed(ctx, q.id, func(ctx context.Context) error { return s.runRows(ctx, q) })
}

// runRows is runNow's run, under the query's deadline.
func (s *Server) runRows(ctx context.Context, q *query) error {
	q.ran = true
	var bytes int64
	// One transaction: rows over the limit undo the write (or abort the
	// client's transaction), rather than fail a write that was done.
	err := q.sess.conn.Atomic(ctx, "a write returning rows failed", func() error {
		for i, args := range q.runs() {
			rdr, err := q.stmt.Query(ctx, s.mem, args, s.cfg.Batch)
			if err != nil {
				return err
			}
			if q.schema == nil { // bound to arguments of other types: its first run's
				q.schema = rdr.Schema()
			}
			want := ResultSchema(q.schema)
			var same bool
			same, err = sameResult(q, i, rdr.Schema(), want)
			for err == nil && rdr.Next() {
				rec := rdr.RecordBatch()
				size := duck.RecordSize(rec)
				bytes += size
				if err = s.cfg.Limits.Result(q.id, bytes); err != nil {
					break
				}
				if err = s.held.take(q.user, int(size)); err != nil {
					break
				}
				q.budget, q.heldBytes = s.held, q.heldBytes+size
				rec.Retain()
				if !same {
					if rec, err = s.conform(ctx, q, i, rec, want); err != nil {
						break
					}
				}
				q.result = append(q.result, rec)
			}
			if err == nil {
				err = rdr.Err()
			}
			rdr.Release()
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		q.dropResult()
	}
	return err
}

// runs are the arguments of each of q's executions: one without any when
// it has none.
func (q *query) runs() [][]any {
	if q.args == nil {
		return [][]any{nil}
	}
	return q.args
}

// prepared prepares q's statement again if it was closed over the
// descriptor budget when planned.
func (q *query) prepared(ctx context.Context) error {
	if q.stmt != nil {
		return nil
	}
	st, err := q.sess.conn.PrepareAgain(ctx, q.sql)
	if err != nil {
		return err
	}
	q.stmt, q.ownStmt = st, true
	if !st.Schema.Equal(q.schema) {
		return fmt.Errorf("%w: query %s: its result columns changed since it was planned (a file or view it reads changed): run it again",
			ErrInvalid, q.id)
	}
	return nil
}

// stream runs q once per argument row and sends its batches to ans.
func (s *Server) stream(ctx context.Context, next <-chan struct{}, q *query, schema *arrow.Schema, ans *answer) (int64, error) {
	if q.ran {
		// Run when planned: its rows as they were, read now, no longer
		// held for a reader.
		q.giveHeld()
		var total int64
		for len(q.result) > 0 {
			rec := Relabel(q.result[0], schema)
			q.result = q.result[1:]
			n := rec.NumRows()
			if err := ans.send(ctx, next, rec); err != nil {
				rec.Release()
				return total, err
			}
			total += n
		}
		return total, nil
	}
	if err := q.prepared(ctx); err != nil {
		return 0, err
	}
	// A file it reads may have been rewritten since it was planned, a
	// view or macro it names redefined.
	if err := q.sess.conn.Recheck(ctx, q.check); err != nil {
		return 0, err
	}
	var total, bytes int64
	for i, args := range q.runs() {
		n, err := s.streamRun(ctx, next, q, i, args, schema, ans, &bytes)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// streamRun sends the rows of q's run with args (its parameter row i) to
// ans, counting their bytes in bytes.
func (s *Server) streamRun(ctx context.Context, next <-chan struct{}, q *query, i int, args []any, schema *arrow.Schema, ans *answer, bytes *int64) (int64, error) {
	rdr, err := q.stmt.Query(ctx, s.mem, args, s.cfg.Batch)
	if err != nil {
		return 0, err
	}
	// Released however this ends: a reader left open keeps interrupting
	// its connection, and the connection closed under it crashed the
	// process (a tester's: a panic here skipped the release).
	defer rdr.Release()
	same, err := sameResult(q, i, rdr.Schema(), schema)
	if err != nil {
		return 0, err
	}
	var total int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		*bytes += duck.RecordSize(rec)
		if err := s.cfg.Limits.Result(q.id, *bytes); err != nil {
			return total, err
		}
		rec.Retain()
		if !same {
			if rec, err = s.conform(ctx, q, i, rec, schema); err != nil {
				return total, err
			}
		}
		rec = Relabel(rec, schema)
		n := rec.NumRows()
		if err := ans.send(ctx, next, rec); err != nil {
			// Closed between batches, not interrupted: DuckDB rolls
			// back the transaction of a statement interrupted (and
			// COMMIT then says ok).
			rec.Release()
			return total, err
		}
		total += n
	}
	return total, rdr.Err()
}

// sameResult says whether a run of q (with its parameter row i) gives a
// result of the column types the schema its FlightInfo gave has (same),
// and refuses one of another number of columns: rows bound to one
// statement each give a result of their own, and read_parquet(?) of two
// files gives two schemas one stream cannot carry (the server panicked
// on it). Columns of other types are cast (conform).
// Columns of other names are refused as a statement whose file or view
// changed (duck.ResultChanged): relabelled with the promised names, a
// view's columns swapped came under each other's names (a tester's).
func sameResult(q *query, i int, got, want *arrow.Schema) (same bool, err error) {
	if got.NumFields() != want.NumFields() {
		return false, otherColumns(q, i, got, want, nil)
	}
	same = true
	for f := range got.NumFields() {
		if got.Field(f).Name != want.Field(f).Name {
			return false, duck.ResultChanged(got, want)
		}
		same = same && arrow.TypeEqual(got.Field(f).Type, want.Field(f).Type)
	}
	return same, nil
}

// conform is rec, a batch of q's run with its parameter row i, with the
// column types of want, cast where they differ, as long as no value
// changes (a cast that would is refused): a NULL bound where the SQL
// leaves the parameter's type open is DuckDB's NULL, an INTEGER, and
// SELECT ? of 1, NULL, 3 (BIGINTs) gave an INTEGER column in its second
// run (refused, a tester's); SELECT ? of an integer and a string still
// cannot share one stream. It takes rec's reference.
func (s *Server) conform(ctx context.Context, q *query, i int, rec arrow.RecordBatch, want *arrow.Schema) (arrow.RecordBatch, error) {
	defer rec.Release()
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for f, col := range rec.Columns() {
		fit, err := fitTo(ctx, s.mem, col, want.Field(f).Type)
		if err != nil {
			if errors.Is(err, errNotFit) {
				err = nil
			}
			return nil, otherColumns(q, i, rec.Schema(), want, err)
		}
		cols[f] = fit
	}
	return array.NewRecordBatch(want, cols, rec.NumRows()), nil
}

// errNotFit is a column a batch's run gave whose values its statement's
// type cannot carry unchanged.
var errNotFit = errors.New("not carried unchanged")

// fitTo is col as an array of type to, its values unchanged: col itself
// if it is of that type; NULLs of it if col is all NULL (a NULL bound:
// Arrow casts an INTEGER to no time, binary or nested type, and refused
// such a batch, a tester's); numbers cast where Arrow checks every value
// (exactCast); and lists (large, fixed-size), maps and structs whose
// elements and fields fit so (SELECT [?, 1] of a NULL is a list of
// INTEGER, MAP {'k': ?} a map of INTEGER). Sliced nested arrays (DuckDB's
// batches are not), unions (whose NULLs Arrow does not count) and
// anything else do not fit.
func fitTo(ctx context.Context, mem memory.Allocator, col arrow.Array, to arrow.DataType) (arrow.Array, error) {
	switch {
	case arrow.TypeEqual(col.DataType(), to):
		col.Retain()
		return col, nil
	case col.NullN() == col.Len():
		return array.MakeArrayOfNull(mem, to, col.Len()), nil
	case exactCast(col.DataType(), to):
		return compute.CastArray(compute.WithAllocator(ctx, mem), col, compute.SafeCastOptions(to))
	case col.Data().Offset() != 0:
		return nil, errNotFit
	}
	var children []arrow.Array
	defer func() {
		for _, c := range children {
			if c != nil {
				c.Release()
			}
		}
	}()
	d := col.Data()
	buffers := d.Buffers()
	var err error
	switch c := col.(type) {
	case array.ListLike:
		elem, ok := sameListKind(col.DataType(), to)
		if !ok {
			return nil, errNotFit
		}
		children = make([]arrow.Array, 1)
		if children[0], err = fitTo(ctx, mem, c.ListValues(), elem); err != nil {
			return nil, err
		}
		if to.ID() == arrow.FIXED_SIZE_LIST {
			buffers = buffers[:1]
		}
	case *array.Struct:
		t, isStruct := to.(*arrow.StructType)
		from := c.DataType().(*arrow.StructType)
		if !isStruct || t.NumFields() != from.NumFields() {
			return nil, errNotFit
		}
		children = make([]arrow.Array, t.NumFields())
		for i := range children {
			if from.Field(i).Name != t.Field(i).Name {
				return nil, errNotFit
			}
			if children[i], err = fitTo(ctx, mem, c.Field(i), t.Field(i).Type); err != nil {
				return nil, err
			}
		}
		buffers = buffers[:1]
	default:
		return nil, errNotFit
	}
	childData := make([]arrow.ArrayData, len(children))
	for i, c := range children {
		childData[i] = c.Data()
	}
	out := array.NewData(to, d.Len(), buffers, childData, d.NullN(), 0)
	defer out.Release()
	return array.MakeFromData(out), nil
}

// sameListKind is the element type of to (a map's: its entries) if from
// is a list of the same kind: list, large list, map, or fixed-size list
// of as many elements.
func sameListKind(from, to arrow.DataType) (arrow.DataType, bool) {
	t, ok := to.(arrow.ListLikeType)
	if !ok || from.ID() != to.ID() {
		return nil, false
	}
	if f, fixed := from.(*arrow.FixedSizeListType); fixed && f.Len() != to.(*arrow.FixedSizeListType).Len() {
		return nil, false
	}
	return t.Elem(), true
}

// exactCast says whether Arrow's safe cast from one numeric type to the
// other refuses every value it would change: between integers and
// decimals, from an integer to a float, and from a float to a wider one.
// Not from a decimal to a float, nor from a float to a decimal or a
// narrower float, which it rounds unchecked (DECIMAL(18,17)
// 1.23456789012345678 became 1.234567890123457 as a DOUBLE, a tester's);
// nor from a float to an integer, which takes -0.0 for 0 (a union
// parameter's rows 1 then -0.0 gave 0, a tester's).
func exactCast(from, to arrow.DataType) bool {
	integer := func(t arrow.DataType) bool { return arrow.IsInteger(t.ID()) }
	decimal := func(t arrow.DataType) bool { return arrow.IsDecimal(t.ID()) }
	float := func(t arrow.DataType) bool { return arrow.IsFloating(t.ID()) }
	switch {
	case integer(from) || decimal(from):
		return integer(to) || decimal(to) || integer(from) && float(to)
	case float(from):
		return float(to) && to.(arrow.FixedWidthDataType).BitWidth() >= from.(arrow.FixedWidthDataType).BitWidth()
	}
	return false
}

// otherColumns is the error of a run of q (its parameter row i) whose
// result has columns got that the statement's, want, cannot carry.
func otherColumns(q *query, i int, got, want *arrow.Schema, cause error) error {
	err := fmt.Errorf("%w: query %s: its parameter row %d gives a result of other columns than the statement's (%s, not %s): bind rows that give the same columns, or run them one at a time",
		ErrInvalid, q.id, i+1, schemaTypes(got), schemaTypes(want))
	if cause != nil {
		err = fmt.Errorf("%w (%v)", err, cause)
	}
	return err
}

// schemaTypes lists a schema's column types, for a message.
func schemaTypes(sc *arrow.Schema) string {
	types := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		types[i] = f.Type.String()
	}
	return "(" + strings.Join(types, ", ") + ")"
}

// send hands rec to a DoGet stream: at once when the stream has room for
// it, else when its client has read what went before, unless ctx ends or
// the session's next request waits (next, see errClosedByNext) and the
// client takes no batch within stalledReader. A result its client keeps
// reading, however slowly, is not closed: the next request waits for its
// end.
func send(ctx context.Context, next <-chan struct{}, ch chan<- flight.StreamChunk, rec arrow.RecordBatch) error {
	select {
	case ch <- flight.StreamChunk{Data: rec}:
		return nil
	default:
	}
	select {
	case ch <- flight.StreamChunk{Data: rec}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-next:
	}
	stalled := time.NewTimer(stalledReader)
	defer stalled.Stop()
	select {
	case ch <- flight.StreamChunk{Data: rec}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stalled.C:
		return errClosedByNext
	}
}

// stalledReader is how long a client whose session's next request waits
// may take to read its result's next batch before the result is closed
// for that request (send): one that reads a batch, processes it, then
// reads the next keeps its result (one closed at once was cut under a
// client that slept 5 ms a batch, and at 250 ms under one that slept
// 100 ms); one that stopped (ADBC's execute, fetchone, commit) delays the
// commit this long.
const stalledReader = time.Second

// DoPutCommandStatementUpdate runs DDL or DML and returns the rows changed.
//
// A reader's update runs too: its session's connection refuses whatever
// its role may not run (duck.Policy), and what it may (a transaction,
// USE, SET VARIABLE) ADBC sends as an update.
func (s *Server) DoPutCommandStatementUpdate(ctx context.Context, cmd flightsql.StatementUpdate) (int64, error) {
	if explainOnly(ctx) {
		return 0, errExplainWrite
	}
	sess, err := s.sessionForTxn(ctx, cmd.GetTransactionId())
	if err != nil {
		return 0, err
	}
	tag := newQueryTag(ctx)
	ctx = duck.WithLabel(ctx, duck.Label{QueryID: tag.ID, User: sess.user, SQL: cmd.GetQuery()})
	return withSession(ctx, sess, func() (n int64, err error) {
		if _, err := s.checkQuery(ctx, sess, cmd.GetQuery()); err != nil {
			return 0, err
		}
		if n, ok, err := s.clusterWrite(ctx, sess, tag, cmd.GetTransactionId(), cmd.GetQuery()); ok {
			return n, err
		}
		defer s.record(tag, sess.user, cmd.GetQuery())(&n, &err)
		err = s.timed(ctx, tag.ID, func(ctx context.Context) (err error) {
			n, err = sess.conn.Exec(ctx, cmd.GetQuery())
			return err
		})
		return n, err
	})
}

// clusterWrite runs a statement that writes across the cluster (a
// directory of files, a table from a query), if it is one; ok is false
// otherwise. Inside a transaction
// nothing is distributed: the statement is the transaction's. The caller
// holds the session.
func (s *Server) clusterWrite(ctx context.Context, sess *session, tag QueryTag, txn []byte, query string) (int64, bool, error) {
	if s.cfg.Cluster == nil || len(txn) > 0 {
		return 0, false, nil
	}
	sess.mu.Lock()
	inTxn := sess.txn != ""
	sess.mu.Unlock()
	if inTxn {
		return 0, false, nil
	}
	// One begun in SQL, which the session does not know, the cluster
	// asks the connection about once the statement is a write it would
	// distribute (the question costs two statements).
	return s.cfg.Cluster.Write(ctx, sess.conn, tag, sess.user, query)
}

// record enters a statement that runs outside a ticket (an update) in the
// history; the function it returns records its end.
func (s *Server) record(tag QueryTag, user, sql string) func(*int64, *error) {
	if s.cfg.Cluster == nil {
		return func(*int64, *error) {}
	}
	done := s.cfg.Cluster.Local(tag, user, sql)
	return func(n *int64, err *error) { done(*n, *err) }
}

// CancelFlightInfo stops the queries behind a FlightInfo's tickets.
func (s *Server) CancelFlightInfo(ctx context.Context, req *flight.CancelFlightInfoRequest) (flight.CancelFlightInfoResult, error) {
	info := req.GetInfo()
	if info == nil {
		return flight.CancelFlightInfoResult{Status: flight.CancelStatusNotCancellable}, fmt.Errorf("%w: CancelFlightInfo without a FlightInfo", ErrInvalid)
	}
	id := identityFrom(ctx)
	result, err := s.cancelEndpoints(id.user, info.GetEndpoint())
	if err == nil && result != flight.CancelStatusCancelled {
		// A PollInfo lists no endpoint before a task has finished: the
		// query its app_metadata names, if this user polls it, is
		// cancelled by the endpoints it was issued (it ran on,
		// NOT_CANCELLABLE, until one was ready).
		if eps := s.polledEndpoints(info, id.user); len(eps) > 0 {
			result, err = s.cancelEndpoints(id.user, eps)
		}
	}
	return flight.CancelFlightInfoResult{Status: result}, err
}

// cancelEndpoints cancels the queries of user's endpoints.
func (s *Server) cancelEndpoints(user string, eps []*flight.FlightEndpoint) (flight.CancelStatus, error) {
	result := flight.CancelStatusNotCancellable
	for _, ep := range eps {
		t, err := statementTicket(ep.GetTicket())
		if err != nil {
			continue
		}
		if s.cfg.Cluster != nil {
			ok, err := s.cfg.Cluster.Cancel(user, t.GetStatementHandle())
			if err != nil {
				return flight.CancelStatusNotCancellable, err
			}
			if ok { // the cluster's: every endpoint is the same query's
				return flight.CancelStatusCancelled, nil
			}
		}
		var c ticketClaims
		if err := s.signer.Verify(ticketKind, string(t.GetStatementHandle()), &c); err != nil || c.User != user {
			continue
		}
		if q := s.queries.get(c.Query); q != nil {
			q.cancel()
			if s.queries.cancelUnread(q) {
				s.queries.releaseCancelled(s.life, q)
			}
			result = flight.CancelStatusCancelled
			QueryLog(s.log, q.id, q.trace).Info().Msg("query cancelled")
		}
	}
	return result, nil
}

// timed runs fn, a statement's run that writes here (DDL, DML, a prepared
// update's parameter rows), within --query-timeout, as queries run: its
// deadline interrupts DuckDB, which undoes the statement (the rows of a
// parameter batch all, execRows), and the client learns which (Expired).
// Its answer waits for DuckDB's: a write that ends as its deadline passes
// may have committed, and the client is told what happened.
func (s *Server) timed(ctx context.Context, id string, fn func(context.Context) error) error {
	if s.cfg.Limits.QueryTimeout <= 0 {
		return fn(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.QueryTimeout)
	defer cancel()
	return s.cfg.Limits.Expired(ctx, id, fn(ctx))
}

// withinTimeout is ctx bounded by --query-timeout, for a statement's
// preparing and planning (and a write run as it is planned): DuckDB
// binding a query over object storage reads its files' metadata, and over
// a store answering in 23 s a query was answered 59 s past a 10 s timeout
// (a tester's). timed, deferred, says in *err that the timeout ended it.
func (s *Server) withinTimeout(ctx context.Context, id string, err *error) (_ context.Context, timed func()) {
	if s.cfg.Limits.QueryTimeout <= 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Limits.QueryTimeout)
	return ctx, func() {
		*err = s.cfg.Limits.Expired(ctx, id, *err)
		cancel()
	}
}

// execRows runs stmt once per argument row (once without arguments when
// there are none) as one transaction (duck.Conn.Atomic), so a failing row
// loses nothing and leaves nothing half done. The caller holds the session.
func (s *Server) execRows(ctx context.Context, sess *session, st *duck.Stmt, rows [][]any) (int64, error) {
	switch len(rows) {
	case 0:
		return st.Exec(ctx, nil)
	case 1: // one statement is all or nothing by itself
		return st.Exec(ctx, rows[0])
	}
	var total int64
	err := sess.conn.Atomic(ctx, "a parameter batch failed", func() error {
		for i, args := range rows {
			n, err := st.Exec(ctx, args)
			if err != nil {
				return fmt.Errorf("parameter row %d: %w", i+1, err)
			}
			total += n
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// DefaultMaxSQLBytes is the longest SQL text a client may send, 4 MiB:
// an IN list of 400,000 keys. Trino's default is a million characters.
const DefaultMaxSQLBytes = 4 << 20

// checkQuery refuses a client's SQL, before DuckDB sees it, that is
// longer than Config.MaxSQLBytes, whose aggregates nest deeper than DuckDB plans in reasonable time
// (Config.MaxNestedAggregates), or that binds more file scans than
// Config.MaxFileScans (each holds a descriptor while the statement
// lives). It returns what it found, for the check again as the statement
// runs (duck.Recheck).
func (s *Server) checkQuery(ctx context.Context, sess *session, query string) (*duck.Checked, error) {
	if max := cmp.Or(s.cfg.MaxSQLBytes, DefaultMaxSQLBytes); max > 0 && len(query) > max {
		return nil, fmt.Errorf("%w: the SQL text is %d bytes, over the server's limit of %d (--max-sql-bytes): "+
			"pass long lists of values as a bound parameter, an ingested table or a file", ErrInvalid, len(query), max)
	}
	b := duck.Bounds{Nesting: s.cfg.MaxNestedAggregates, FileScans: s.cfg.MaxFileScans}
	if b.Nesting == 0 {
		b.Nesting = duck.DefaultMaxNesting
	}
	if b.FileScans == 0 {
		b.FileScans = duck.DefaultMaxFileScans
	}
	return sess.conn.CheckQueryFiles(ctx, query, b)
}
