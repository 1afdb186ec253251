package flightsql_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
)

// processFiles counts this process's file descriptors: the server's, as
// it runs in the test.
func processFiles(t *testing.T) int {
	t.Helper()
	names, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// DuckDB keeps one file a scan open for as long as the statement that
// bound it lives. A client holding statements of many scans (prepared,
// or planned and never read) took a coordinator to its last descriptor
// (809 statements of 25 scans: 20,000), after which nobody could connect.
// Over --max-open-files the statements kept for later hold no files and
// are prepared again when they run, with the same answers.
func TestHeldStatementsKeepTheirFilesWithinTheBudget(t *testing.T) {
	dir := t.TempDir()
	const files, scans, held = 20, 20, 60
	budget := processFiles(t) + 150 // the server's own, started below, and some
	ts := startServer(t, func(c *coordinator.Config) {
		c.AllowDirs = []string{dir}
		c.MaxOpenFiles = budget
	})
	ctx := context.Background()
	c := ts.client(t)
	for i := range files {
		path := filepath.Join(dir, fmt.Sprintf("f%02d.parquet", i))
		if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf("COPY (SELECT %d AS id FROM range(10)) TO '%s' (FORMAT parquet)", i, path)); err != nil {
			t.Fatal(err)
		}
	}
	// Statement k reads every file once, each by its own scan, and adds k.
	sql := func(k int) string {
		parts := make([]string, scans)
		for j := range parts {
			parts[j] = fmt.Sprintf("SELECT id FROM read_parquet('%s')", filepath.Join(dir, fmt.Sprintf("f%02d.parquet", j%files)))
		}
		return fmt.Sprintf("SELECT CAST(sum(id) AS BIGINT) + %d AS s FROM (%s)", k, strings.Join(parts, " UNION ALL "))
	}
	want := func(k int) int64 { return int64(10*(files-1)*files/2*scans/files + k) }
	var preps []*flightsql.PreparedStatement
	var infos []*flight.FlightInfo
	for k := range held {
		p, err := c.Prepare(ctx, sql(k))
		if err != nil {
			t.Fatalf("prepare %d: %v", k, err)
		}
		preps = append(preps, p)
		info, err := c.Execute(ctx, sql(held+k))
		if err != nil {
			t.Fatalf("execute %d: %v", k, err)
		}
		infos = append(infos, info)
	}
	// Without the budget: 2 x 60 statements x 20 scans, 2,400 more.
	if n := processFiles(t); n > budget+scans {
		t.Fatalf("%d statements of %d scans held: the process holds %d descriptors, over the budget of %d", 2*held, scans, n, budget)
	}
	sum := func(info *flight.FlightInfo) int64 {
		_, recs := fetch(t, ctx, c, info)
		if len(recs) != 1 || recs[0].NumRows() != 1 {
			t.Fatalf("want one row, got %d batches", len(recs))
		}
		return recs[0].Column(0).(*array.Int64).Value(0)
	}
	for k := range held {
		if got := sum(infos[k]); got != want(held+k) {
			t.Fatalf("query %d: %d, want %d", k, got, want(held+k))
		}
		info, err := preps[k].Execute(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := sum(info); got != want(k) {
			t.Fatalf("prepared %d: %d, want %d", k, got, want(k))
		}
	}
	// While the process holds more than the budget (here the test's own
	// descriptors), a statement that cannot be prepared again from its
	// text alone (one taking a parameter) is refused, and one that can is
	// kept closed until it runs.
	for range budget {
		f, err := os.Open(filepath.Join(dir, "f00.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	_, err := c.Prepare(ctx, sql(0)+" WHERE id >= ?")
	wantCode(t, err, codes.ResourceExhausted)
	before := processFiles(t)
	p, err := c.Prepare(ctx, sql(1))
	if err != nil {
		t.Fatal(err)
	}
	if n := processFiles(t); n > before {
		t.Errorf("a statement prepared over the budget holds %d descriptors", n-before)
	}
	info, err := p.Execute(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := sum(info); got != want(1) {
		t.Fatalf("prepared over the budget: %d, want %d", got, want(1))
	}
	preps = append(preps, p)
	for _, p := range preps {
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// Over --max-open-files the statements that must stay open (here, with a
// parameter) are refused to the session holding the most statements, not
// to everyone: ann floods the server with prepared statements of many
// scans until she is refused, and bob, holding none, still prepares and
// runs his; ann's own are taken again once she closes hers.
func TestOverTheFileBudgetTheFlooderIsRefusedNotEveryone(t *testing.T) {
	dir := t.TempDir()
	const scans = 20
	budget := processFiles(t) + 100
	path := usersFile(t, map[string]string{"ann": "admin:a", "bob": "reader:b"})
	ts := startServer(t, func(c *coordinator.Config) {
		c.UsersFile, c.AllowDirs, c.MaxOpenFiles = path, []string{dir}, budget
	})
	c := ts.bareClient(t, "")
	ann, bob := login(t, c, "ann", "a"), login(t, c, "bob", "b")
	for i := range scans {
		file := filepath.Join(dir, fmt.Sprintf("f%02d.parquet", i))
		if _, err := c.ExecuteUpdate(ann, fmt.Sprintf("COPY (SELECT %d::BIGINT AS id) TO '%s' (FORMAT parquet)", i, file)); err != nil {
			t.Fatal(err)
		}
	}
	// Each statement reads every file by its own scan (one descriptor
	// each) and sums the ids from k on; ann's without a parameter are kept
	// open until the process is over the budget, then closed until they
	// run (released), and her statement with a parameter, which cannot be
	// prepared again later, is refused.
	parts := make([]string, scans)
	for j := range parts {
		parts[j] = fmt.Sprintf("SELECT id FROM read_parquet('%s')", filepath.Join(dir, fmt.Sprintf("f%02d.parquet", j)))
	}
	sql := func(k string) string {
		return fmt.Sprintf("SELECT CAST(sum(id) AS BIGINT) AS s FROM (%s) WHERE id >= %s", strings.Join(parts, " UNION ALL "), k)
	}
	var anns []*flightsql.PreparedStatement
	for k := 0; processFiles(t) <= budget; k++ {
		if k == 50 {
			t.Fatalf("50 statements of %d scans held: the process holds %d descriptors, the budget is %d", scans, processFiles(t), budget)
		}
		p, err := c.Prepare(ann, sql(fmt.Sprint(k%scans)))
		if err != nil {
			t.Fatal(err)
		}
		anns = append(anns, p)
	}
	// Statements released over the budget let the count fall back to it:
	// the test's own descriptors keep the process over.
	for range 2 * scans {
		f, err := os.Open(filepath.Join(dir, "f00.parquet"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	_, err := c.Prepare(ann, sql("$1::BIGINT"))
	wantCode(t, err, codes.ResourceExhausted)
	// bob holds nothing: his statement is kept open and runs.
	p, err := c.Prepare(bob, sql("$1::BIGINT"))
	if err != nil {
		t.Fatalf("bob, holding no statement, is refused over ann's: %v", err)
	}
	p.SetParameters(int64Param(t, "k", 10))
	info, err := p.Execute(bob)
	if err != nil {
		t.Fatal(err)
	}
	if _, recs := fetch(t, bob, c, info); len(recs) != 1 || recs[0].Column(0).(*array.Int64).Value(0) != 145 {
		t.Fatalf("bob's statement: %v, want 145 (10 + ... + 19)", recs)
	}
	_, err = c.Prepare(ann, sql("$1::BIGINT"))
	wantCode(t, err, codes.ResourceExhausted)
	for _, p := range anns {
		if err := p.Close(ann); err != nil {
			t.Fatal(err)
		}
	}
	q, err := c.Prepare(ann, sql("$1::BIGINT"))
	if err != nil {
		t.Fatalf("ann, her statements closed: %v", err)
	}
	if err := errors.Join(p.Close(bob), q.Close(ann)); err != nil {
		t.Fatal(err)
	}
}
