package duck

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
)

// Kind says what sort of failure a DuckDB error is, so that the front door
// can map it to a protocol status without knowing DuckDB.
type Kind int

// The kinds of DuckDB failure.
const (
	KindInternal      Kind = iota // a bug or an unexpected state
	KindInvalid                   // parser, binder, conversion: the SQL or its input is wrong
	KindNotFound                  // a table, file or other object does not exist
	KindAlreadyExists             // the object exists, or a unique key is taken
	KindPermission                // the sandbox refused
	KindConstraint                // a constraint other than uniqueness failed
	KindInterrupted               // the query was interrupted
	KindOutOfMemory               // memory limit reached
	KindConflict                  // transaction conflict: retry may succeed
	KindUnsupported               // DuckDB does not implement it
	KindUnavailable               // object storage did not answer, or was busy: a retry may succeed
)

// Error is a DuckDB failure with DuckDB's own message.
type Error struct {
	Kind Kind
	Msg  string
	err  error
}

func (e *Error) Error() string { return e.Msg }

// AbortsTransaction says whether DuckDB aborts the open transaction of
// the connection a statement failed on with e: every error but a
// parser's, binder's, catalog's, permission's or connection's does (a
// Conversion, IO or INTERNAL error), and the transaction then takes
// nothing but ROLLBACK.
func (e *Error) AbortsTransaction() bool {
	var de *duckdb.Error
	if !errors.As(e.err, &de) {
		return true
	}
	switch de.Type {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeBinder, duckdb.ErrorTypeCatalog, duckdb.ErrorTypePermission,
		duckdb.ErrorTypeConnection, duckdb.ErrorTypeParameterNotAllowed:
		return false
	}
	return true
}
func (e *Error) Unwrap() error { return e.err }

// Unquoted is err, an error of a statement Skein wrote, without the
// excerpt of that statement DuckDB ends its message with ("LINE 1: ..."
// and a caret): the user did not write it. An object store that stalled
// as the planner listed it showed the planner's read_blob query (a
// tester's).
func Unquoted(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	msg, _, found := strings.Cut(e.Msg, "\n\nLINE ")
	if !found {
		return err
	}
	c := *e
	c.Msg = msg
	return &c
}

// wrap classifies err if it carries a DuckDB error; other errors pass through.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return err
	}
	msg := de.Msg
	if msg == "" {
		msg = err.Error()
	}
	return &Error{Kind: classify(de), Msg: plainMessage(msg), err: err}
}

// plainMessage is msg, DuckDB's error message, in the words DuckDB gives
// any other: some of its Arrow conversion's errors come as the JSON of
// its error data ({"exception_type":"Not implemented",
// "exception_message":"Unsupported Internal Arrow Type e", with its stack
// addresses}), which reached clients as it was (a tester's).
func plainMessage(msg string) string {
	if !strings.HasPrefix(msg, `{"exception_type":`) {
		return msg
	}
	var e struct {
		Type    string `json:"exception_type"`
		Message string `json:"exception_message"`
	}
	if json.Unmarshal([]byte(msg), &e) != nil || e.Message == "" {
		return msg
	}
	return e.Type + " Error: " + e.Message
}

func newError(t duckdb.ErrorType, msg string) error {
	return wrap(&duckdb.Error{Type: t, Msg: msg})
}

func classify(e *duckdb.Error) Kind {
	msg := e.Msg
	if strings.Contains(msg, "configuration has been locked") || strings.Contains(msg, "attached in read-only mode") {
		return KindPermission
	}
	if strings.Contains(msg, "could not allocate block of size") {
		// The buffer pool is full, whatever failed for it (an
		// appender's "Failed to append: could not allocate block of
		// size 32.0 KiB (953.6 MiB/953.6 MiB used)" came as an internal
		// error).
		return KindOutOfMemory
	}
	if fullDisk(msg) {
		// Whatever failed to write (a commit's "Failed to commit: Could
		// not write file", a transaction error, Aborted: a conflict a
		// retry may get past), the disk is full.
		return KindOutOfMemory
	}
	switch e.Type {
	case duckdb.ErrorTypeParser, duckdb.ErrorTypeSyntax, duckdb.ErrorTypeBinder,
		duckdb.ErrorTypeConversion, duckdb.ErrorTypeInvalidInput, duckdb.ErrorTypeMismatchType,
		duckdb.ErrorTypeOutOfRange, duckdb.ErrorTypeDivideByZero, duckdb.ErrorTypeExpression,
		duckdb.ErrorTypeParameterNotResolved, duckdb.ErrorTypeParameterNotAllowed,
		duckdb.ErrorTypeInvalidType, duckdb.ErrorTypeInvalidConfiguration, duckdb.ErrorTypeSettings,
		duckdb.ErrorTypeDecimal, duckdb.ErrorTypeSequence, duckdb.ErrorTypeDependency:
		return KindInvalid
	case duckdb.ErrorTypeCatalog:
		switch {
		case strings.Contains(msg, "already exists"):
			return KindAlreadyExists
		case strings.Contains(msg, "does not exist"), strings.Contains(msg, "not found"):
			return KindNotFound
		}
		return KindInvalid
	case duckdb.ErrorTypeHTTP:
		// Object storage: S3's (or the gate's) answer.
		switch {
		case strings.Contains(msg, "HTTP 404"):
			return KindNotFound
		case strings.Contains(msg, "HTTP 403"):
			return KindPermission
		case strings.Contains(msg, "HTTP 5"), strings.Contains(msg, "HTTP 429"):
			// The store (or the gate, 504: the store did not answer,
			// or did not a moment ago; 502: it could not be reached)
			// failed or asked to slow down: a client may try again.
			// DuckDB writes "(HTTP 502 ...)" or "Request returned HTTP
			// 503 for ...".
			return KindUnavailable
		}
		return KindInternal
	case duckdb.ErrorTypeIO:
		switch {
		case strings.Contains(msg, "No files found") || strings.Contains(msg, "No such file") ||
			strings.Contains(msg, "does not exist"):
			return KindNotFound
		case strings.Contains(msg, "Proxy connection failed"), strings.Contains(msg, " to 'https://"):
			// DuckDB reaches object storage in plain HTTP through the
			// objstore gate, which refuses TLS tunnels: a request for
			// https:// was asked by a path (s3_use_ssl=true) and refused.
			return KindPermission
		case strings.Contains(msg, "Is a directory"), strings.Contains(msg, "Not a directory"),
			strings.Contains(msg, "File name too long"):
			// The path the SQL names is the wrong kind of thing: COPY
			// TO 'dir/' where DuckDB wants a file.
			return KindInvalid
		case strings.Contains(msg, "Could not read enough bytes from file"),
			strings.Contains(msg, "Could not read from file") && strings.Contains(msg, "Invalid argument"):
			// A file shorter than its own footer says: corrupt or cut
			// short, the data's fault (a tester's, Internal).
			return KindInvalid
		case strings.Contains(msg, "Invalid query parameters found"), strings.Contains(msg, "do not support negative intervals"):
			// The SQL's own: a path of object storage with a query
			// string DuckDB does not take (s3://b/f.parquet?foo=1), a
			// negative INTERVAL written to Parquet. Both were Internal
			// (a tester's).
			return KindInvalid
		}
		return KindInternal
	case duckdb.ErrorTypePermission, duckdb.ErrorTypeMissingExtension, duckdb.ErrorTypeAutoLoad:
		return KindPermission
	case duckdb.ErrorTypeConstraint:
		if strings.Contains(msg, "Duplicate key") || strings.Contains(msg, "duplicate key") {
			return KindAlreadyExists
		}
		return KindConstraint
	case duckdb.ErrorTypeInterrupt:
		return KindInterrupted
	case duckdb.ErrorTypeOutOfMemory:
		return KindOutOfMemory
	case duckdb.ErrorTypeTransaction:
		// A COMMIT or ROLLBACK with none open, a BEGIN within one: the
		// client's misuse, which no retry gets past (Aborted says one
		// may). A conflict, or the transaction aborted, is Conflict.
		if strings.Contains(msg, "no transaction is active") || strings.Contains(msg, "within a transaction") {
			return KindInvalid
		}
		return KindConflict

	case duckdb.ErrorTypeNotImplemented:
		return KindUnsupported
	case duckdb.ErrorTypeInvalid:
		if strings.Contains(msg, "Prefetch registered for bytes outside file") || strings.Contains(msg, "don't know what type") ||
			strings.Contains(msg, "TProtocolException") || strings.Contains(msg, "invalid TType") || strings.Contains(msg, "Out of buffer") {
			// A Parquet footer that is not one: a length past the
			// file's end, types that are garbage, bytes Thrift cannot
			// decode (testers', Internal).
			return KindInvalid
		}
	}
	// Errors raised without a typed prefix still name themselves.
	switch {
	case strings.HasPrefix(msg, "Permission Error"):
		return KindPermission
	case strings.HasPrefix(msg, "INTERRUPT Error"), strings.Contains(msg, "Interrupted"):
		return KindInterrupted
	case strings.Contains(msg, "Transaction conflict"):
		// An appender's flush that met another writer's change: "Failed
		// to append: Transaction conflict...".
		return KindConflict
	}
	return KindInternal
}

// fullDisk says whether a message is the operating system's for a write
// that found no room.
func fullDisk(msg string) bool {
	return strings.Contains(msg, "No space left on device") || strings.Contains(msg, "Disk quota exceeded") ||
		strings.Contains(msg, "File too large")
}

// Invalidated says whether err is DuckDB's refusal to run anything more:
// after a fatal error (a checkpoint that could not write: the disk full,
// the file size limit reached) the database answers every statement so
// until the process restarts.
func Invalidated(err error) bool {
	var de *duckdb.Error
	if errors.As(err, &de) && de.Type == duckdb.ErrorTypeFatal {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "database has been invalidated")
}
