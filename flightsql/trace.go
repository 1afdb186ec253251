package flightsql

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// Headers of trace ids: the query id goes back to the client on every call
// that starts a query, with the trace id of the client's W3C traceparent
// when it sent one.
const (
	QueryIDHeader     = "x-skein-query-id"
	TraceIDHeader     = "x-skein-trace-id"
	traceparentHeader = "traceparent"
)

// QueryTag names one query wherever it goes (the cluster layer, tasks on
// executors, the history, every log line): its id, made here and unique,
// and the trace id of the W3C traceparent header its client sent, if any.
// A client's trace id is kept beside the query id, not used as it: one
// trace commonly spans several queries (a request of an instrumented
// application), while a query id must name exactly one (it cancels the
// query's tasks on every executor).
type QueryTag struct {
	ID    string
	Trace string
	// Session is the client session that planned it: closing the session
	// cancels it.
	Session string
}

// newQueryTag tags a query starting in the call ctx belongs to and tells
// the client its id in the response headers.
func newQueryTag(ctx context.Context) QueryTag {
	tag := QueryTag{ID: newQueryID()}
	for _, v := range metadata.ValueFromIncomingContext(ctx, traceparentHeader) { // not the whole header copied
		if id, ok := TraceID(v); ok {
			tag.Trace = id
			break
		}
	}
	md := metadata.Pairs(QueryIDHeader, tag.ID)
	if tag.Trace != "" {
		md.Append(TraceIDHeader, tag.Trace)
	}
	// Only a call that has already sent its headers refuses, and every
	// query-starting call sets them before it answers.
	_ = grpc.SetHeader(ctx, md)
	return tag
}

// newQueryID makes a query id: the time in nanoseconds (so ids sort about
// by start) and random bits.
func newQueryID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x", time.Now().UnixNano())[4:] + hex.EncodeToString(b[:])
}

// TraceID is the trace id of a W3C traceparent header value
// (version-traceid-parentid-flags, lower-case hex), if it is valid: an
// unknown future version may add fields after the four, version ff and
// all-zero ids are invalid.
func TraceID(traceparent string) (string, bool) {
	parts := strings.Split(strings.TrimSpace(traceparent), "-")
	if len(parts) < 4 {
		return "", false
	}
	version, trace, parent, flags := parts[0], parts[1], parts[2], parts[3]
	switch {
	case !lowerHex(version, 2) || version == "ff",
		version == "00" && len(parts) != 4,
		!lowerHex(trace, 32) || trace == strings.Repeat("0", 32),
		!lowerHex(parent, 16) || parent == strings.Repeat("0", 16),
		!lowerHex(flags, 2):
		return "", false
	}
	return trace, true
}

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// withTag puts a query's tag into a FlightInfo's app_metadata, a JSON
// object (what the cluster layer says of the plan, or nothing), as
// "query_id" and "trace_id".
func withTag(meta []byte, tag QueryTag) []byte {
	id, _ := json.Marshal(tag.ID)
	fields := map[string]json.RawMessage{"query_id": id}
	if tag.Trace != "" {
		fields["trace_id"], _ = json.Marshal(tag.Trace)
	}
	return withFields(meta, fields)
}

// queryDebug is a debug line about a query, with its id and trace id;
// nil, on which every method does nothing, when debug lines are off:
// QueryLog's logger, built for every query, cost allocations for lines
// nobody writes.
func queryDebug(log zerolog.Logger, id, trace string) *zerolog.Event {
	e := log.Debug()
	if e == nil {
		return nil
	}
	e = e.Str("query_id", id)
	if trace != "" {
		e = e.Str("trace_id", trace)
	}
	return e
}

// QueryLog is log with a query's id and, when its client sent one, its
// trace id: the logger of every line about the query.
func QueryLog(log zerolog.Logger, id, trace string) *zerolog.Logger {
	c := log.With().Str("query_id", id)
	if trace != "" {
		c = c.Str("trace_id", trace)
	}
	l := c.Logger()
	return &l
}
