package flightsql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/skeindb/skein/internal/sqltext"
	"google.golang.org/grpc/metadata"
)

// Result modes: how the FlightInfo of a query split across executors
// gives its answer. The server has a default (--result-mode); a client
// picks its own per session (the session option result_mode) or per call
// (the ResultModeHeader request header, which wins).
const (
	// ResultDirect: one endpoint per task, located at its executors.
	ResultDirect = "direct"
	// ResultProxy: one endpoint per task, redeemed at the coordinator.
	ResultProxy = "proxy"
	// ResultSingle: one endpoint, at the coordinator, streaming every
	// task's result in endpoint order: for clients that read only the
	// first endpoint of a FlightInfo (flightsql-dbapi, so SQLAlchemy and
	// Superset).
	ResultSingle = "single"
)

// ResultModes are the result modes, as flags and errors list them.
var ResultModes = []string{ResultDirect, ResultProxy, ResultSingle}

// ResultModeHeader is the gRPC request header with which a client picks
// the result mode of the statements it runs, whatever the server's
// default; drivers that turn URL parameters into headers take it in the
// URL (flightsql-dbapi: datafusion://host:port?skein-result-mode=single).
const ResultModeHeader = "skein-result-mode"

// ParseResultMode is s as a result mode, in any case; ok is false if s
// names none.
func ParseResultMode(s string) (mode string, ok bool) {
	m := strings.ToLower(strings.TrimSpace(s))
	return m, slices.Contains(ResultModes, m)
}

// requestResultMode is the result mode a call's ResultModeHeader asks
// for ("" when it has none); a header with a mode that does not parse, or
// given twice with different modes, is an error.
func requestResultMode(ctx context.Context) (string, error) {
	mode := ""
	for _, v := range metadata.ValueFromIncomingContext(ctx, ResultModeHeader) { // not the whole header copied
		m, ok := ParseResultMode(v)
		if !ok {
			return "", fmt.Errorf("%w: header %s: %q is no result mode: want one of %s", ErrInvalid, ResultModeHeader, v,
				strings.Join(ResultModes, ", "))
		}
		if mode != "" && m != mode {
			return "", fmt.Errorf("%w: header %s is given twice, as %s and %s", ErrInvalid, ResultModeHeader, mode, m)
		}
		mode = m
	}
	return mode, nil
}

// resultMode is the result mode a statement is planned in: the call's
// header's, else the session's, else "" (the server's default).
func resultMode(header string, sess *session) string {
	if header != "" {
		return header
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	return sess.resultMode
}

// ExplainHeader is the gRPC request header (any value but "" or "false")
// with which a client asks GetFlightInfo for a statement's plan and not
// its run (skein sql --explain): a query is planned as ever, its tasks
// started, and the client cancels it; a statement that would do its work
// as the FlightInfo is made (DDL, INSERT, COPY, CREATE TABLE AS) is
// refused, unrun. --explain ran them: "--explain DROP TABLE t" dropped
// the table (a tester's).
const ExplainHeader = "skein-explain"

// explainOnly says whether a call asks for a plan only (ExplainHeader).
func explainOnly(ctx context.Context) bool {
	for _, v := range metadata.ValueFromIncomingContext(ctx, ExplainHeader) {
		if v = strings.ToLower(strings.TrimSpace(v)); v != "" && v != "false" && v != "0" {
			return true
		}
	}
	return false
}

// errExplainWrite refuses, unrun, a statement asked for its plan only
// (ExplainHeader) that would do its work as it is planned, or a call that
// runs statements for their effect (an update).
var errExplainWrite = fmt.Errorf("%w: %s: the statement does its work as it is planned (DDL, INSERT, UPDATE, DELETE, COPY, CREATE TABLE AS): "+
	"it was not run, and only queries are explained", ErrInvalid, ExplainHeader)

// explainable refuses, asked for a plan only, a text of several
// statements: preparing it runs all but its last ("DROP TABLE t; SELECT
// 1" dropped the table, a tester's).
func explainable(ctx context.Context, query string) error {
	if !explainOnly(ctx) {
		return nil
	}
	if stmts, err := sqltext.Statements(query); err == nil && len(stmts) > 1 {
		return fmt.Errorf("%w: %s: a text of %d statements, whose leading ones would run as it is planned: nothing was run; explain one statement",
			ErrInvalid, ExplainHeader, len(stmts))
	}
	return nil
}
