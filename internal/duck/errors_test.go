package duck

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// Unquoted drops the excerpt of the statement DuckDB ends a message with,
// keeping the error's kind: the statements Skein writes itself (a
// listing's read_blob) are not the user's to read.
func TestUnquotedDropsTheStatementsExcerpt(t *testing.T) {
	_, c, _ := openTest(t)
	_, err := c.QueryRows(context.Background(), "SELECT nope FROM range(1)")
	var de *Error
	if !errors.As(err, &de) || !strings.Contains(de.Msg, "LINE 1:") {
		t.Fatalf("DuckDB's error %v has no excerpt to drop", err)
	}
	u := Unquoted(err)
	var ue *Error
	if !errors.As(u, &ue) || ue.Kind != de.Kind || strings.Contains(u.Error(), "LINE") || !strings.Contains(u.Error(), "nope") {
		t.Fatalf("Unquoted: %q (kind %v), want the message without its excerpt, of kind %v", u, ue.Kind, de.Kind)
	}
	if plain := errors.New("no excerpt"); Unquoted(plain) != plain {
		t.Fatal("an error that is not DuckDB's changed")
	}
}

// A transaction statement a client misuses (COMMIT or ROLLBACK with none
// open, BEGIN within one) is the client's error, InvalidArgument: it was
// Aborted, which says a retry may get past it (a tester's). A statement
// of an aborted transaction stays a conflict.
func TestTransactionMisuseIsInvalid(t *testing.T) {
	_, c, _ := openTest(t)
	ctx := context.Background()
	for _, q := range []string{"COMMIT", "ROLLBACK"} {
		_, err := c.Exec(ctx, q)
		wantKind(t, q, err, KindInvalid)
	}
	if _, err := c.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Exec(ctx, "BEGIN")
	wantKind(t, "BEGIN within a transaction", err, KindInvalid)
	if _, err := c.Exec(ctx, "SELECT error('x')"); err == nil {
		t.Fatal("error() did not fail")
	}
	_, err = c.Exec(ctx, "SELECT 1")
	wantKind(t, "a statement of an aborted transaction", err, KindConflict)
}

// A Parquet file whose footer is corrupt is the data's fault, not the
// server's: its reading fails InvalidArgument however the footer is
// wrong. A footer length past the file's end, and a footer of garbage,
// were Internal (a tester's); an implausible length was already Invalid.
func TestCorruptFootersAreInvalid(t *testing.T) {
	_, c, dir := openTest(t)
	ctx := context.Background()
	good := filepath.Join(dir, "good.parquet")
	mustExec(t, c, "COPY (SELECT range AS id, 'x' || (range % 13) AS s FROM range(50000)) TO '"+good+"' (FORMAT parquet, ROW_GROUP_SIZE 5000)")
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	n := len(b)
	flen := int(binary.LittleEndian.Uint32(b[n-8 : n-4]))
	corrupt := map[string]func([]byte){
		"length past the end": func(f []byte) { binary.LittleEndian.PutUint32(f[n-8:], 0xffffffff) },
		"huge length":         func(f []byte) { binary.LittleEndian.PutUint32(f[n-8:], 0x7fffffff) },
		"garbage": func(f []byte) {
			for i := range flen {
				f[n-8-flen+i] = byte((i*37 + 11) % 256)
			}
		},
		"zeroed": func(f []byte) { clear(f[n-8-flen : n-8]) },
		"length 10 short": func(f []byte) {
			binary.LittleEndian.PutUint32(f[n-8:], uint32(flen-10))
		},
		"other garbage": func(f []byte) {
			for i := range flen {
				f[n-8-flen+i] = byte((i*101 + 7) % 256)
			}
		},
	}
	for name, spoil := range corrupt {
		f := slices.Clone(b)
		spoil(f)
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".parquet")
		if err := os.WriteFile(path, f, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exec(ctx, "SELECT count(*), sum(id) FROM read_parquet('"+path+"')")
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindInvalid {
			t.Errorf("%s: %v, want it invalid", name, err)
		}
	}
}

// Corrupt footers a sweep of random mutations found, as DuckDB 1.5.5
// words them (the files are a tester's): the data's fault too.
func TestCorruptFooterMessagesAreInvalid(t *testing.T) {
	for _, e := range []*duckdb.Error{
		{Type: duckdb.ErrorTypeInvalid, Msg: "Invalid Error: invalid TType"},
		{Type: duckdb.ErrorTypeInvalid, Msg: "Invalid Error: Out of buffer"},
		{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Could not read from file "/d/corrupt.parquet": Invalid argument`},
	} {
		if got := classify(e); got != KindInvalid {
			t.Errorf("%s: kind %d, want Invalid", e.Msg, got)
		}
	}
	// A read the disk failed stays the server's.
	if got := classify(&duckdb.Error{Type: duckdb.ErrorTypeIO, Msg: `IO Error: Could not read from file "/d/x.parquet": Input/output error`}); got != KindInternal {
		t.Errorf("a disk's failure: kind %d, want Internal", got)
	}
}
