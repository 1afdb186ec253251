package flightsql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pbflight "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// BeginTransaction opens a transaction on the caller's session. Its id names
// the session, so later requests carrying it run on the same connection.
func (s *Server) BeginTransaction(ctx context.Context, _ flightsql.ActionBeginTransactionRequest) ([]byte, error) {
	sess, err := s.sessionFor(ctx, identityFrom(ctx))
	if err != nil {
		return nil, err
	}
	return withSession(ctx, sess, func() ([]byte, error) {
		sess.mu.Lock()
		open := sess.txn
		sess.mu.Unlock()
		if open != "" {
			return nil, fmt.Errorf("%w: the session already has an open transaction", ErrInvalid)
		}
		if _, err := sess.conn.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
			return nil, err
		}
		// DuckDB's id of the one just begun; if unknown, it is ended.
		duckID, err := sess.conn.TransactionID(ctx)
		if err != nil {
			_, rerr := sess.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			return nil, errors.Join(err, rerr)
		}
		id := sess.id + "/" + newID()
		sess.mu.Lock()
		sess.txn, sess.rollback, sess.duckTxn = id, new(atomic.Bool), duckID
		sess.mu.Unlock()
		return []byte(id), nil
	})
}

// endedInSQL forgets the session's Flight SQL transaction if its
// connection has none open any more: the client ended it with COMMIT or
// ROLLBACK in SQL, as the README says it may. Kept, its id was taken as
// open (a later write carrying it committed at once), BeginTransaction
// was refused "already has an open transaction", and a COPY to a
// directory ran as the transaction's (a tester's). The session's
// connection is held.
func (sess *session) endedInSQL(ctx context.Context) {
	sess.mu.Lock()
	open := sess.txn != ""
	sess.mu.Unlock()
	if !open {
		return
	}
	duckID, in, err := sess.conn.Transaction(ctx)
	switch {
	case err != nil:
	case !in:
		committed := sess.conn.LastEndCommitted()
		sess.mu.Lock()
		if committed {
			sess.committedInSQL = sess.txn
		}
		sess.endTxn(!committed)
		sess.mu.Unlock()
	case duckID != 0:
		// Ended and another begun in one text (ROLLBACK; BEGIN): the
		// Flight SQL transaction goes on in the new one, as before; the
		// queries planned in the one that ended are refused, which
		// cannot be told from a commit in one text, rather than run
		// outside it (a tester's).
		sess.mu.Lock()
		if sess.rollback != nil && sess.duckTxn != 0 && duckID != sess.duckTxn {
			sess.rollback.Store(true)
			sess.rollback, sess.duckTxn = new(atomic.Bool), duckID
		}
		sess.mu.Unlock()
	}
}

// endTxn forgets the session's open transaction, rolled back or not,
// with sess.mu held.
func (sess *session) endTxn(rolledBack bool) {
	if rolledBack && sess.rollback != nil {
		sess.rollback.Store(true)
	}
	sess.txn, sess.rollback, sess.duckTxn = "", nil, 0
}

// errTxnNotOpen is a transaction of a live session that has ended: by
// EndTransaction, or by COMMIT or ROLLBACK in SQL (endedInSQL).
var errTxnNotOpen = fmt.Errorf("%w: it is not open (ended by EndTransaction, or by COMMIT or ROLLBACK in SQL)", ErrInvalid)

// errTxnCommittedInSQL is errTxnNotOpen of the transaction the session's
// last COMMIT in SQL ended: EndTransaction's commit of it succeeds, as
// its writes were committed. Refused, ADBC's driver (autocommit off)
// dropped its transaction after execute("COMMIT") and commit(), and
// failed every later call (a tester's).
var errTxnCommittedInSQL = fmt.Errorf("%w (committed in SQL)", errTxnNotOpen)

// errTxnSessionEnded is a transaction whose session has ended: DuckDB
// rolled it back with the session's connection.
var errTxnSessionEnded = fmt.Errorf("%w: its session ended (the server restarted, or the session was closed, idle past --session-idle-timeout or reclaimed), and the transaction was rolled back with it: roll back, and begin again", ErrNotFound)

// EndTransaction commits or rolls back. A rollback of a transaction
// whose session ended succeeds: it was rolled back then. A client of
// ADBC's default (autocommit off) whose session ended (a restart, its
// idle timeout) failed every call after, its rollback too, until it
// opened a new connection (a tester's, 2026-12-06); now its rollback
// lets it begin again.
func (s *Server) EndTransaction(ctx context.Context, req flightsql.ActionEndTransactionRequest) error {
	sess, err := s.sessionForTxn(ctx, req.GetTransactionId())
	if (errors.Is(err, errTxnSessionEnded) || errors.Is(err, errTxnNotOpen)) && req.GetAction() == flightsql.EndTransactionRollback {
		return nil // nothing left to roll back
	}
	if errors.Is(err, errTxnCommittedInSQL) && req.GetAction() == flightsql.EndTransactionCommit {
		return nil // committed already
	}
	if err != nil {
		return err
	}
	var stmt string
	switch req.GetAction() {
	case flightsql.EndTransactionCommit:
		stmt = "COMMIT"
	case flightsql.EndTransactionRollback:
		stmt = "ROLLBACK"
	default:
		return fmt.Errorf("%w: EndTransaction needs COMMIT or ROLLBACK", ErrInvalid)
	}
	_, err = withSession(ctx, sess, func() (struct{}, error) {
		_, err := sess.conn.Exec(ctx, stmt)
		sess.mu.Lock()
		// DuckDB ends the transaction even when COMMIT fails: it is
		// rolled back.
		sess.endTxn(stmt == "ROLLBACK" || err != nil)
		sess.mu.Unlock()
		return struct{}{}, err
	})
	return err
}

// Session options: "catalog" and "schema" select the current database and
// schema of the session's connection; "result_mode" (direct, proxy or
// single; see ResultModes) chooses how split queries give their answers.

// SetSessionOptions sets session options.
func (s *Server) SetSessionOptions(ctx context.Context, req *flight.SetSessionOptionsRequest) (*flight.SetSessionOptionsResult, error) {
	sess, err := s.sessionFor(ctx, identityFrom(ctx))
	if err != nil {
		return nil, err
	}
	res := &flight.SetSessionOptionsResult{Errors: map[string]*flight.SetSessionOptionsResultError{}}
	_, err = withSession(ctx, sess, func() (struct{}, error) {
		opts := req.GetSessionOptions()
		for name, v := range opts {
			val, ok := v.GetOptionValue().(*pbflight.SessionOptionValue_StringValue)
			switch {
			case name != "catalog" && name != "schema" && name != "result_mode":
				res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidName}
				continue
			case !ok || val.StringValue == "",
				// Names bounded as an ingest's are: USE of a 60 MB name
				// took 15 s and 1.4 GB, past --max-sql-bytes (it is the
				// server's SQL), the memory limit and the timeout (a
				// tester's F4).
				name != "result_mode" && len(val.StringValue) > maxIngestName:
				res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidValue}
				continue
			}
			if _, ok := ParseResultMode(val.StringValue); name == "result_mode" && !ok {
				res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidValue}
			}
		}
		if len(res.Errors) > 0 {
			return struct{}{}, nil
		}
		if v := opts["result_mode"]; v != nil {
			sess.mu.Lock()
			sess.resultMode, _ = ParseResultMode(v.GetStringValue())
			sess.mu.Unlock()
			if len(opts) == 1 {
				return struct{}{}, nil
			}
		}
		target, err := s.useTarget(ctx, sess, opts)
		if err != nil {
			return struct{}{}, err
		}
		if _, err := sess.conn.Exec(ctx, "USE "+target); err != nil {
			for name := range opts {
				res.Errors[name] = &flight.SetSessionOptionsResultError{Value: flight.SetSessionOptionsResultErrorInvalidValue}
			}
		}
		return struct{}{}, nil
	})
	return res, err
}

// useTarget is the quoted "catalog"."schema" that USE should switch to.
func (s *Server) useTarget(ctx context.Context, sess *session, opts map[string]*flight.SessionOptionValue) (string, error) {
	cat, sch, err := currentCatalogSchema(ctx, sess)
	if err != nil {
		return "", err
	}
	if v := opts["catalog"]; v != nil {
		cat, sch = v.GetStringValue(), "main"
	}
	if v := opts["schema"]; v != nil {
		sch = v.GetStringValue()
	}
	return quoteIdent(cat) + "." + quoteIdent(sch), nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func currentCatalogSchema(ctx context.Context, sess *session) (string, string, error) {
	rows, err := sess.conn.QueryRows(ctx, "SELECT current_database(), current_schema()")
	if err != nil {
		return "", "", err
	}
	defer rows.Close()
	var cat, sch string
	if rows.Next() {
		if err := rows.Scan(&cat, &sch); err != nil {
			return "", "", err
		}
	}
	return cat, sch, rows.Err()
}

// GetSessionOptions reports the session's catalog and schema.
func (s *Server) GetSessionOptions(ctx context.Context, _ *flight.GetSessionOptionsRequest) (*flight.GetSessionOptionsResult, error) {
	sess, err := s.sessionFor(ctx, identityFrom(ctx))
	if err != nil {
		return nil, err
	}
	return withSession(ctx, sess, func() (*flight.GetSessionOptionsResult, error) {
		cat, sch, err := currentCatalogSchema(ctx, sess)
		if err != nil {
			return nil, err
		}
		opts := map[string]*flight.SessionOptionValue{
			"catalog": {OptionValue: &pbflight.SessionOptionValue_StringValue{StringValue: cat}},
			"schema":  {OptionValue: &pbflight.SessionOptionValue_StringValue{StringValue: sch}},
		}
		sess.mu.Lock()
		if sess.resultMode != "" {
			opts["result_mode"] = &flight.SessionOptionValue{OptionValue: &pbflight.SessionOptionValue_StringValue{StringValue: sess.resultMode}}
		}
		sess.mu.Unlock()
		return &flight.GetSessionOptionsResult{SessionOptions: opts}, nil
	})
}

// CloseSession ends the caller's session.
func (s *Server) CloseSession(ctx context.Context, _ *flight.CloseSessionRequest) (*flight.CloseSessionResult, error) {
	id := identityFrom(ctx)
	if sess := s.sessions.get(id.session); sess != nil && sess.user == id.user {
		s.sessions.close(sess)
		// A cookie client's next call starts a new session; a token
		// naming this one is refused from now on.
		_ = grpc.SetHeader(ctx, metadata.Pairs("set-cookie", expiredCookie))
		return &flight.CloseSessionResult{Status: flight.CloseSessionResultClosed}, nil
	}
	return &flight.CloseSessionResult{Status: flight.CloseSessionResultNotCloseable}, nil
}

// FailedInTransaction tells the session that planned a query run on
// executors, at since, that the query failed in its own SQL with err (a
// conversion, an overflow): DuckDB aborts the transaction a statement
// fails in, and a split query's failure on executors left the session's
// transaction open, so that its writes before the failed query committed
// (a tester's). read says a reader of the query met the error: DuckDB
// aborts only a statement whose failing rows were read (a client that
// read the first rows and closed the result keeps its transaction, a
// tester's), and executors run tasks before their rows are asked for;
// read with a nil err says a reader met a failure of the query told
// before. The transaction, if it was open then and still is, is aborted before
// the session's next request once a reader met the error (abortFailed),
// which then meets "Current transaction is aborted", as with DuckDB alone.
func (s *Server) FailedInTransaction(session string, since time.Time, err error, read bool) {
	sess := s.sessions.peek(session)
	if sess == nil {
		return
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.failed == nil && err != nil {
		sess.failed, sess.failedSince = err, since
	}
	sess.failedRead = sess.failedRead || read && sess.failed != nil
}

// failedReadWait is how long a session's next request waits to learn
// whether a reader met a failure of its query (FailedInTransaction): an
// executor reports its reads with its heartbeats, once a second.
const failedReadWait = 2500 * time.Millisecond

// abortFailed aborts the session's transaction if a query it planned in
// it failed on executors and a reader met the failure
// (FailedInTransaction), or ran past its timeout before it was read to
// its end (Cluster.SessionOverdue), as DuckDB aborts the transaction of
// a statement interrupted: it runs a statement that fails as the query
// did, which DuckDB takes as the transaction's failure. The session's
// connection is held.
func (sess *session) abortFailed(ctx context.Context) {
	sess.mu.Lock()
	err, since, read := sess.failed, sess.failedSince, sess.failedRead
	sess.mu.Unlock()
	var wait time.Duration
	if err == nil {
		if sess.overdue == nil {
			return
		}
		if since, wait = sess.overdue(); since.IsZero() {
			return
		}
		err, read = errOverdue, true
	} else {
		defer func() {
			sess.mu.Lock()
			sess.failed, sess.failedRead = nil, false
			sess.mu.Unlock()
		}()
	}
	if in, ierr := sess.conn.InTransaction(ctx); ierr != nil || !in {
		return
	}
	if wait > 0 { // a read that ended in time may be reported yet
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if since, wait = sess.overdue(); since.IsZero() || wait > 0 {
			return
		}
	}
	rows, qerr := sess.conn.QueryRows(ctx, "SELECT now()") // the transaction's start
	if qerr != nil {
		return // aborted already
	}
	var start time.Time
	if rows.Next() {
		qerr = rows.Scan(&start)
	}
	rows.Close()
	if qerr != nil || start.After(since) {
		return // a transaction begun after the query was planned
	}
	for wait := time.Now().Add(failedReadWait); !read && time.Now().Before(wait) && ctx.Err() == nil; {
		time.Sleep(20 * time.Millisecond)
		sess.mu.Lock()
		read = sess.failedRead
		sess.mu.Unlock()
	}
	if !read {
		return // its failing rows were not read: DuckDB would not have met them
	}
	_, _ = sess.conn.Exec(ctx, "SELECT error($1)", "a query of this transaction failed on the executors: "+err.Error())
}

// errOverdue is the failure of a query a session planned on executors
// that ran past its timeout before it was read to its end.
var errOverdue = errors.New("it ran longer than the query timeout (--query-timeout) before it was read to its end")
