package flightsql

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/sqltext"
)

// prepared is a client's prepared statement and its bound parameter rows.
type prepared struct {
	id    string
	sql   string
	check *duck.Checked // what its check found, checked again at each run (duck.Recheck)
	stmt  *duck.Stmt
	args  [][]any
	held  int // args' bytes, taken from the server's params budget
	cost  int // statementCost(sql), taken from the server's statements budget
	// released: stmt was closed when prepared, the process then holding
	// more descriptors than the budget (openfiles.go); its schema and
	// parameters stay known, and each run prepares its text again.
	released bool
	// wireSchema is the statement's result schema as FlightInfo carries
	// it, serialized once when the statement's types are known at prepare
	// time: a client that executes one prepared statement over and over
	// (ADBC does for a repeated query) does not pay for it per execution.
	wireSchema []byte
	// closing: its client closed it while the session ran a statement;
	// it is closed once the session is free (ClosePreparedStatement).
	// Guarded by the session's mu.
	closing bool
}

func preparedHandle(sess *session, p *prepared) []byte { return []byte(sess.id + "/" + p.id) }

// lookupPrepared finds a prepared statement by handle, checking its owner.
func (s *Server) lookupPrepared(ctx context.Context, handle []byte) (*session, *prepared, error) {
	sid, pid, ok := strings.Cut(string(handle), "/")
	sess := s.sessions.get(sid)
	if !ok || sess == nil {
		return nil, nil, fmt.Errorf("%w: prepared statement handle is unknown or its session ended", ErrNotFound)
	}
	if sess.user != identityFrom(ctx).user {
		return nil, nil, fmt.Errorf("%w: prepared statement belongs to another user", ErrDenied)
	}
	sess.mu.Lock()
	p := sess.prepared[pid]
	if p != nil && p.closing {
		p = nil
	}
	sess.mu.Unlock()
	if p == nil {
		return nil, nil, fmt.Errorf("%w: prepared statement is unknown or closed", ErrNotFound)
	}
	return sess, p, nil
}

// CreatePreparedStatement prepares a statement. Statements that return no
// rows answer with an empty dataset schema: the JDBC driver decides between
// executeQuery and executeUpdate from it.
func (s *Server) CreatePreparedStatement(ctx context.Context, req flightsql.ActionCreatePreparedStatementRequest) (flightsql.ActionCreatePreparedStatementResult, error) {
	var res flightsql.ActionCreatePreparedStatementResult
	if err := explainable(ctx, req.GetQuery()); err != nil {
		return res, err
	}
	release, err := s.running.take(identityFrom(ctx))
	if err != nil {
		return res, err
	}
	defer release()
	sess, err := s.sessionForTxn(ctx, req.GetTransactionId())
	if err != nil {
		return res, err
	}
	ctx = duck.WithLabel(ctx, duck.Label{User: sess.user, SQL: req.GetQuery()})
	p, err := withSession(ctx, sess, func() (_ *prepared, err error) {
		ctx, timed := s.withinTimeout(ctx, "(being prepared)", &err)
		defer timed()
		if err := s.sessions.roomFor(sess, s.cfg.MaxStatementsPerSession); err != nil {
			return nil, err
		}
		check, err := s.checkQuery(ctx, sess, req.GetQuery())
		if err != nil {
			return nil, err
		}
		cost := statementCost(req.GetQuery())
		if err := s.takeStatement(sess.user, cost); err != nil {
			return nil, err
		}
		st, err := sess.conn.PrepareAgain(ctx, req.GetQuery())
		if err != nil {
			s.stmts.give(sess.user, cost)
			return nil, err
		}
		// What DuckDB holds beyond what the text suggests (a constant it
		// folded: 40 bytes of SELECT repeat('x', 50000000 + i) held 48
		// MB, and a reader's 30 such statements 1.4 GB, past both
		// bounds, until other users' queries ran out of memory: a
		// tester's) counts too.
		if more := int(st.Held) - cost; more > 0 {
			if err := s.takeStatement(sess.user, more); err != nil {
				_ = st.Close()
				s.stmts.give(sess.user, cost)
				return nil, fmt.Errorf("%w (the process grew by %d MB as DuckDB prepared it)", err, st.Held>>20)
			}
			cost += more
		}
		p := &prepared{id: newID(), sql: req.GetQuery(), check: check, stmt: st, cost: cost}
		if p.released, err = s.release(sess, st); err != nil {
			s.stmts.give(sess.user, cost)
			return nil, err
		}
		// Kept while the connection is held: a session closes only
		// when no call holds it.
		sess.mu.Lock()
		sess.prepared[p.id] = p
		sess.mu.Unlock()
		return p, nil
	})
	if err != nil {
		return res, err
	}
	st := p.stmt
	if st.ReturnsRows && st.Resolved {
		p.wireSchema = wireSchema(st, s.mem)
	}
	isUpdate := !st.ReturnsRows
	return flightsql.ActionCreatePreparedStatementResult{
		Handle:          preparedHandle(sess, p),
		DatasetSchema:   ResultSchema(st.Schema),
		ParameterSchema: st.Params,
		IsUpdate:        &isUpdate,
	}, nil
}

// statementCost estimates the memory DuckDB holds for a prepared
// statement of sql, from its tokens more than its bytes. Measured on
// DuckDB 1.5.5 (skein serve's resident memory over 10 to 900 statements
// of a shape): 150 to 350 bytes a token (an IN list of 100,000 keys, 590
// KB of text, held 28.7 MB; 5,000 aliased columns 7 MB; a CASE of 10,000
// branches 23.7 MB), about 10 a byte of a string literal (22 MB for one
// of 2 MB), 2 a byte of blanks, and 9 KB for SELECT 1.
func statementCost(sql string) int {
	tokens, bytes := sqltext.Size(sql)
	return 8<<10 + 2*len(sql) + 10*bytes + 320*tokens
}

// ClosePreparedStatement frees a prepared statement.
func (s *Server) ClosePreparedStatement(ctx context.Context, req flightsql.ActionClosePreparedStatementRequest) error {
	sess, p, err := s.lookupPrepared(ctx, req.GetPreparedStatementHandle())
	if err != nil {
		return err
	}
	// The session may run a statement: one being read, or one DuckDB has
	// not left though its client was answered (a stopped query, see
	// answer). The handle is closed now and the statement when the
	// session is free: ADBC closes a cursor's statement as the cursor
	// closes, and that close waited for DuckDB's call to end. A session
	// that ends first closes its statements itself (finish).
	sess.mu.Lock()
	p.closing = true
	sess.mu.Unlock()
	sess.whenFree(ctx, s.life, func() { s.closePrepared(sess, p) }, nil)
	return nil
}

// closePrepared closes p, a statement of sess, whose connection the
// caller holds.
func (s *Server) closePrepared(sess *session, p *prepared) {
	sess.mu.Lock()
	mine := sess.prepared[p.id] == p
	delete(sess.prepared, p.id)
	sess.mu.Unlock()
	if !mine {
		return
	}
	s.params.give(sess.user, p.held)
	s.stmts.give(sess.user, p.cost)
	p.args, p.held, p.cost = nil, 0, 0
	s.queries.detach(p.stmt)
	// Kept for the next statement of its text (a client that prepares
	// every query, as the JDBC driver does, prepares it again), unless
	// it would hold files over the budget.
	switch {
	case p.released:
	case s.filesOver():
		_ = p.stmt.Close()
	default:
		sess.conn.Keep(p.stmt)
	}
}

// readParams reads a DoPut stream of parameter batches into rows of values,
// checking each batch against the statement's parameters. The rows are
// held until the statement runs (or, bound to a query, until it closes),
// as Go values several times the size of their Arrow form: their memory
// is bounded by limit bytes (paramBytes), else one client could stream
// parameters until the server runs out of memory (20 million BIGINTs
// took 1.8 GB), and taken from the server's budget batch by batch. held
// is what the rows took: the caller gives it back when it drops them.
func (s *Server) readParams(user string, p *prepared, rdr flight.MessageReader, limit int) (rows [][]any, held int, err error) {
	ok := false
	defer func() {
		// Also when it panics: the budget taken for a batch read before
		// a malformed one stayed taken, and a user's binds were refused
		// in every session after a few (a tester's).
		if !ok {
			s.params.give(user, held)
			rows, held = nil, 0
		}
	}()
	want := p.stmt.Params.NumFields()
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if int(rec.NumCols()) != want {
			return nil, held, fmt.Errorf("%w: parameter batch has %d columns, the statement takes %d", ErrInvalid, rec.NumCols(), want)
		}
		if err := duck.ValidRecord(rec); err != nil {
			return nil, held, fmt.Errorf("%w: a malformed parameter batch: %w", ErrInvalid, err)
		}
		batch := 0
		for i := 0; i < int(rec.NumRows()); i++ {
			args, err := duck.RowArgs(rec, i, limit-held-batch)
			if err == nil {
				batch += paramBytes(args)
			}
			if errors.Is(err, duck.ErrParamsTooLarge) || held+batch > limit {
				return nil, held, fmt.Errorf("%w: the parameter rows bound exceed %d MiB in memory at row %d (--max-message-mb): load many rows with bulk ingest",
					ErrBusy, limit>>20, len(rows)+1)
			}
			if err != nil {
				return nil, held, err
			}
			rows = append(rows, args)
		}
		if err := s.params.take(user, batch); err != nil {
			return nil, held, err
		}
		held += batch
	}
	if err := rdr.Err(); err != nil {
		return nil, held, fmt.Errorf("%w: reading parameters: %w", ErrInvalid, err)
	}
	ok = true
	return rows, held, nil
}

// paramBytes is about the memory one row of parameter values holds: the
// row's slice, an interface per value and what a value points to (a
// string's or a byte slice's bytes, else a word or two).
func paramBytes(args []any) int {
	n := 24 + 16*len(args)
	for _, a := range args {
		switch v := a.(type) {
		case string:
			n += 16 + len(v)
		case []byte:
			n += 24 + len(v)
		case nil:
		default:
			n += 16
		}
	}
	return n
}

// DoPutPreparedStatementQuery binds parameters for later executions.
func (s *Server) DoPutPreparedStatementQuery(ctx context.Context, cmd flightsql.PreparedStatementQuery, rdr flight.MessageReader, _ flight.MetadataWriter) ([]byte, error) {
	sess, p, err := s.lookupPrepared(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	rows, held, err := s.readParams(sess.user, p, rdr, s.cfg.MaxMessageBytes)
	if err != nil {
		return nil, err
	}
	_, err = withSession(ctx, sess, func() (struct{}, error) {
		sess.mu.Lock()
		open := sess.prepared[p.id] == p
		sess.mu.Unlock()
		if !open { // closed while its rows were read
			return struct{}{}, fmt.Errorf("%w: prepared statement is unknown or closed", ErrNotFound)
		}
		s.params.give(sess.user, p.held) // the rows they replace
		p.args, p.held = rows, held
		return struct{}{}, nil
	})
	if err != nil {
		s.params.give(sess.user, held)
	}
	return cmd.GetPreparedStatementHandle(), err
}

// GetFlightInfoPreparedStatement plans an execution of a prepared
// statement with its bound parameters (one execution per bound row).
func (s *Server) GetFlightInfoPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	info, err := s.flightInfoPrepared(ctx, cmd, desc)
	info, err = s.delivered(ctx, info, err)
	return s.planOnly(ctx, info, err)
}

func (s *Server) flightInfoPrepared(ctx context.Context, cmd flightsql.PreparedStatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	header, err := requestResultMode(ctx) // before anything runs
	if err != nil {
		return nil, err
	}
	if _, err := RequestCodec(ctx); err != nil {
		return nil, err
	}
	sess, p, err := s.lookupPrepared(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	if explainOnly(ctx) && (!p.stmt.ReturnsRows || p.stmt.WritesRows()) {
		return nil, errExplainWrite
	}
	tag := newQueryTag(ctx)
	tag.Session = sess.id
	ctx = duck.WithLabel(ctx, duck.Label{QueryID: tag.ID, User: sess.user, SQL: p.sql})
	q, err := withSession(ctx, sess, func() (_ *query, err error) {
		ctx, timed := s.withinTimeout(ctx, tag.ID, &err)
		defer timed()
		if err := s.sessions.roomFor(sess, s.cfg.MaxStatementsPerSession); err != nil {
			return nil, err
		}
		// A file it reads may have been rewritten since it was prepared,
		// a view or macro it names redefined.
		if err := sess.conn.Recheck(ctx, p.check); err != nil {
			return nil, err
		}
		q := &query{id: tag.ID, trace: tag.Trace, user: sess.user, sql: p.sql, check: p.check, sess: sess, stmt: p.stmt, args: p.args,
			open: ConnOpen(ctx)}
		if p.released {
			q.stmt = nil // prepared again when it runs
		}
		if !p.stmt.ReturnsRows {
			q.stmt, q.empty = nil, true
			// A write across the cluster (COPY to a directory, CREATE
			// TABLE AS), as the same text not prepared: ADBC prepares
			// every statement it executes, and the COPY ran here, to a
			// path DuckDB alone takes as a file ("Is a directory").
			if _, ok, err := s.preparedWrite(ctx, sess, tag, p); ok {
				if err != nil {
					return nil, err
				}
				q.written = true
				return q.reserve(), nil
			}
			if err := s.timed(ctx, tag.ID, func(ctx context.Context) error {
				_, err := s.execRows(ctx, sess, p.stmt, p.args)
				return err
			}); err != nil {
				return nil, err
			}
			return q.reserve(), nil
		}
		var first []any
		if len(p.args) > 0 {
			first = p.args[0]
		}
		if p.stmt.WritesRows() {
			// Bound to arguments of other types than its parameters',
			// its result's are learnt from its run (runRows): learnt
			// first by running it (boundSchema), an INSERT ... RETURNING
			// wrote twice (a tester's).
			if len(first) == 0 || p.stmt.Resolved && p.stmt.AsDeclared(first) {
				q.schema, q.wireSchema = p.stmt.Schema, p.wireSchema
			}
			if err := s.runNow(ctx, q); err != nil {
				return nil, err
			}
			return q.reserve(), nil
		}
		if q.schema, err = s.boundSchema(ctx, sess, p, typingRow(p.args)); err != nil {
			return nil, err
		}
		if q.schema == p.stmt.Schema {
			q.wireSchema = p.wireSchema
		}
		if n := p.stmt.Params.NumFields(); n > 0 && len(p.args) == 0 {
			// Found at its DoGet, it was Internal (duckdb-go's "incorrect
			// argument count"). A write runs once per row: none, none.
			return nil, duck.UnboundParams(n, 0)
		}
		// A prepared query is split like a statement (the JDBC driver
		// prepares every query), in a transaction too; with one row of
		// parameters, as the query with their values in place.
		takes := p.stmt.Params.NumFields() > 0
		if s.cfg.Cluster != nil && p.stmt.Resolved && (takes && len(p.args) == 1 || !takes && len(p.args) == 0) {
			var info *flight.FlightInfo
			if takes {
				info, err = s.cfg.Cluster.PlanBound(ctx, sess.conn, tag, sess.user, p.sql, p.stmt.AsBound(p.args[0]), q.schema, resultMode(header, sess), desc)
			} else {
				info, err = s.cfg.Cluster.Plan(ctx, sess.conn, tag, sess.user, p.sql, q.schema, resultMode(header, sess), desc)
			}
			if err != nil || len(info.GetEndpoint()) > 0 {
				return &query{info: tagged(info, tag)}, err
			}
			q.meta = info.GetAppMetadata()
		}
		// Its statement is p's, whose memory its Prepare counted (or,
		// p closed, prepared again when it runs, one at a time): the
		// query holds its text. Counted at p's cost again, a prepared
		// IN list of 200,000 keys, half the user's share, was refused
		// as it ran (a tester's).
		if err := s.holdUnread(q, unreadCost(p.sql)); err != nil {
			return nil, err
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

// typingRow is the row of parameter values a multi-row batch's result
// types are learnt from: its first row, each NULL in it replaced by the
// first value a later row binds to that parameter. The first row alone
// decided them, and a NULL there, DuckDB's INTEGER where the SQL leaves
// the type open, refused SELECT coalesce(?, 0) of NULL then 2^40 (a
// BIGINT that no INTEGER holds); a NULL row fits any type (fitTo).
func typingRow(rows [][]any) []any {
	if len(rows) == 0 {
		return nil
	}
	if len(rows) == 1 || !slices.Contains(rows[0], nil) {
		return rows[0]
	}
	row := slices.Clone(rows[0]) // the bound rows stay as bound
	for i := range row {
		for _, later := range rows[1:] {
			if row[i] != nil {
				break
			}
			row[i] = later[i]
		}
	}
	return row
}

// boundSchema is p's result schema bound to args. A column that takes a
// parameter's type takes its argument's: SELECT ? is the type of what is
// bound, and so is coalesce(?, 0) bound to another type than the INTEGER
// DuckDB inferred (a Python int, a BIGINT: DuckDB binds the statement
// again for it, see duck.Stmt.AsDeclared). The cluster learns it without
// running the statement (BoundSchema): ResultSchema's way runs it, then
// its DoGet again, twice the work, and nextval() advanced twice.
func (s *Server) boundSchema(ctx context.Context, sess *session, p *prepared, args []any) (*arrow.Schema, error) {
	st := p.stmt
	if len(args) > 0 && (!st.Resolved || !st.AsDeclared(args)) && s.cfg.Cluster != nil {
		if sc, ok := s.cfg.Cluster.BoundSchema(ctx, sess.conn, p.sql, args); ok {
			if sc.Equal(st.Schema) {
				return st.Schema, nil
			}
			return sc, nil
		}
	}
	return st.ResultSchema(ctx, args)
}

// preparedWrite runs a prepared statement that takes no parameters as
// clusterWrite runs its text, if it is a write across the cluster.
func (s *Server) preparedWrite(ctx context.Context, sess *session, tag QueryTag, p *prepared) (int64, bool, error) {
	if p.stmt.Params.NumFields() > 0 {
		return 0, false, nil
	}
	return s.clusterWrite(ctx, sess, tag, nil, p.sql)
}

// GetSchemaPreparedStatement gives a prepared statement's result schema.
func (s *Server) GetSchemaPreparedStatement(ctx context.Context, cmd flightsql.PreparedStatementQuery, _ *flight.FlightDescriptor) (*flight.SchemaResult, error) {
	_, p, err := s.lookupPrepared(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return nil, err
	}
	return &flight.SchemaResult{Schema: flight.SerializeSchema(ResultSchema(p.stmt.Schema), s.mem)}, nil
}

// DoPutPreparedStatementUpdate runs a prepared update once per parameter
// row, all or nothing, and returns the rows changed.
// A reader's runs too (DoPutCommandStatementUpdate): its statement was
// checked against its role when prepared.
func (s *Server) DoPutPreparedStatementUpdate(ctx context.Context, cmd flightsql.PreparedStatementUpdate, rdr flight.MessageReader) (int64, error) {
	if explainOnly(ctx) {
		return 0, errExplainWrite
	}
	sess, p, err := s.lookupPrepared(ctx, cmd.GetPreparedStatementHandle())
	if err != nil {
		return 0, err
	}
	rows, held, err := s.readParams(sess.user, p, rdr, s.cfg.MaxMessageBytes)
	if err != nil {
		return 0, err
	}
	defer s.params.give(sess.user, held) // rows run now, not kept
	if len(rows) == 0 {
		rows = p.args
	}
	if p.stmt.Params.NumFields() > 0 && len(rows) == 0 {
		return 0, fmt.Errorf("%w: the statement takes %d parameters and none were bound", ErrInvalid, p.stmt.Params.NumFields())
	}
	tag := newQueryTag(ctx)
	ctx = duck.WithLabel(ctx, duck.Label{QueryID: tag.ID, User: sess.user, SQL: p.sql})
	return withSession(ctx, sess, func() (n int64, err error) {
		if err := sess.conn.Recheck(ctx, p.check); err != nil {
			return 0, err
		}
		if n, ok, err := s.preparedWrite(ctx, sess, tag, p); ok {
			return n, err
		}
		defer s.record(tag, sess.user, p.sql)(&n, &err)
		st := p.stmt
		if p.released {
			if st, err = sess.conn.PrepareAgain(ctx, p.sql); err != nil {
				return 0, err
			}
			defer st.Close()
		}
		err = s.timed(ctx, tag.ID, func(ctx context.Context) (err error) {
			n, err = s.execRows(ctx, sess, st, rows)
			return err
		})
		return n, err
	})
}
