package duck

import (
	"testing"

	"github.com/duckdb/duckdb-go/v2"
)

// Object storage's answers, as DuckDB's httpfs words them, say what a
// client may do: nothing there, not allowed, or try again (a store that
// failed, was busy, or did not answer the gate).
func TestObjectStorageErrorKinds(t *testing.T) {
	for status, want := range map[string]Kind{
		"404 Not Found":             KindNotFound,
		"403 Forbidden":             KindPermission,
		"502 Bad Gateway":           KindUnavailable,
		"503 Service Unavailable":   KindUnavailable,
		"500 Internal Server Error": KindUnavailable,
		"429 Too Many Requests":     KindUnavailable,
		"400 Bad Request":           KindInternal,
	} {
		msg := "HTTP Error: HTTP GET error reading 'http://127.0.0.1:9000/b/k.parquet' in region 'us-east-1' (HTTP " + status + ")"
		if got := classify(&duckdb.Error{Type: duckdb.ErrorTypeHTTP, Msg: msg}); got != want {
			t.Errorf("HTTP %s: kind %d, want %d", status, got, want)
		}
	}
	// A listing's failure, as DuckDB words it (Internal until 2026-12-07).
	msg := "HTTP Error: Request returned HTTP 503 for HTTP GET to 'http://127.0.0.1:37650/bkt/?encoding-type=url&list-type=2&prefix=data%2Forders%2F'"
	if got := classify(&duckdb.Error{Type: duckdb.ErrorTypeHTTP, Msg: msg}); got != KindUnavailable {
		t.Errorf("%s: kind %d, want Unavailable", msg, got)
	}
}

// A full buffer pool is out of memory whatever failed for it: an
// appender's error, typed from its text, was Internal.
func TestFullBufferPoolIsOutOfMemory(t *testing.T) {
	msg := "Failed to append: could not allocate block of size 32.0 KiB (953.6 MiB/953.6 MiB used)"
	for _, typ := range []duckdb.ErrorType{duckdb.ErrorTypeInternal, duckdb.ErrorTypeInvalid} {
		if got := classify(&duckdb.Error{Type: typ, Msg: msg}); got != KindOutOfMemory {
			t.Errorf("type %d: kind %d, want KindOutOfMemory", typ, got)
		}
	}
}
