package flightsql_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// jsonFileServer starts a server allowed a directory, and returns a client
// of it, the path of a JSON file there and a function writing that file.
func jsonFileServer(t *testing.T) (context.Context, *flightsql.Client, string, func(string)) {
	dir := t.TempDir()
	ts := startServer(t, func(c *coordinator.Config) { c.AllowDirs = []string{dir} })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	f := filepath.Join(dir, "f.json")
	return ctx, ts.client(t), f, func(content string) {
		if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A JSON file checked shallow when a statement was prepared (or planned)
// and rewritten deep before it ran was read by DuckDB, whose reader
// recurses a level a nesting and ended the process at 10,000 deep. The
// files a statement reads are checked again as it runs: a prepared query,
// a prepared update, and a query's DoGet after its GetFlightInfo are each
// refused once the file nests too deep (2,000 here, which DuckDB still
// reads, so that a miss fails the test rather than ending it).
func TestJSONFileRewrittenAfterItsCheck(t *testing.T) {
	ctx, c, f, write := jsonFileServer(t)
	write(`{"a": [1]}` + "\n")
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE t (a JSON)"); err != nil {
		t.Fatal(err)
	}
	read := "SELECT count(*) AS n FROM read_json('" + f + "', columns = {a: 'JSON'})"
	p, err := c.Prepare(ctx, read)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	ins, err := c.Prepare(ctx, "INSERT INTO t SELECT a FROM read_json('"+f+"', columns = {a: 'JSON'})")
	if err != nil {
		t.Fatal(err)
	}
	defer ins.Close(ctx)
	info, err := p.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, ctx, c, info); len(recs) != 1 || recs[0].NumRows() != 1 {
		t.Fatalf("the shallow file: %d batches", len(recs))
	}
	pending, err := c.Execute(ctx, read) // planned now, read below
	if err != nil {
		t.Fatal(err)
	}
	write(`{"a": ` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}\n")
	refused := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nested more than 1000 deep") {
			t.Errorf("%s after the file was rewritten: %v, want InvalidArgument naming the depth", what, err)
		}
	}
	_, err = p.Execute(ctx)
	refused("the prepared query", err)
	_, err = ins.ExecuteUpdate(ctx)
	refused("the prepared update", err)
	rdr, err := c.DoGet(ctx, pending.Endpoint[0].Ticket)
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	refused("the query's DoGet", err)
	write(`{"a": [2]}` + "\n")
	if info, err = p.Execute(ctx); err != nil {
		t.Fatalf("the file made shallow again: %v", err)
	}
	fetch(t, ctx, c, info)
}

// A statement prepared while the macro it calls read no JSON file, run
// after the macro was made to read one, written deep after that: DuckDB
// binds the statement again to the macro as it is now, so the check runs
// again too (it read only the files found when it was prepared).
func TestJSONFileOfAMacroRedefinedAfterTheCheck(t *testing.T) {
	ctx, c, f, write := jsonFileServer(t)
	write(`{"a": [1]}` + "\n")
	if _, err := c.ExecuteUpdate(ctx, "CREATE MACRO m() AS TABLE SELECT '[1]'::JSON AS a"); err != nil {
		t.Fatal(err)
	}
	p, err := c.Prepare(ctx, "SELECT count(*) AS n FROM m()")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	pending, err := c.Execute(ctx, "SELECT count(*) + 0 AS n FROM m()") // planned now, read below
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ctx, "CREATE OR REPLACE MACRO m() AS TABLE SELECT a FROM read_json('"+f+"', columns = {a: 'JSON'})"); err != nil {
		t.Fatal(err)
	}
	write(`{"a": ` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "}\n")
	_, err = p.Execute(ctx)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "nested more than 1000 deep") {
		t.Errorf("the prepared query after its macro came to read the deep file: %v, want InvalidArgument naming the depth", err)
	}
	if err := readToEnd(ctx, c, pending); status.Code(err) != codes.InvalidArgument {
		t.Errorf("the query's DoGet after its macro came to read the deep file: %v, want InvalidArgument", err)
	}
	write(`{"a": [2]}` + "\n")
	info, err := p.Execute(ctx)
	if err != nil {
		t.Fatalf("the file made shallow again: %v", err)
	}
	fetch(t, ctx, c, info)
}
