package flightsql_test

import (
	"context"
	"path/filepath"
	"testing"

	skeinsql "github.com/skeindb/skein/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/metadata"
)

// A call asking for a plan only (skein sql --explain) gets a query's
// FlightInfo, and a refusal for a statement that would do its work as it
// is planned, which is not run: "--explain DROP TABLE t" dropped the
// table, an INSERT inserted, a COPY wrote its file (a tester's).
func TestExplainRunsNothing(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE t AS SELECT 1 AS v"); err != nil {
		t.Fatal(err)
	}
	explain := metadata.AppendToOutgoingContext(ctx, skeinsql.ExplainHeader, "true")
	out := filepath.Join(ts.dataDir, "files", "out.csv")
	for _, q := range []string{
		"DROP TABLE t",
		"INSERT INTO t VALUES (2)",
		"INSERT INTO t VALUES (3) RETURNING v",
		"DELETE FROM t",
		"CREATE TABLE u AS SELECT 1 AS v",
		"COPY t TO '" + out + "'",
		"BEGIN TRANSACTION",
	} {
		_, err := c.Execute(explain, q)
		wantMessage(t, err, codes.InvalidArgument, "it was not run")
	}
	// Preparing a text of several runs its leading statements.
	for _, q := range []string{"DROP TABLE t; SELECT 1", "INSERT INTO t VALUES (2); SELECT v FROM t", "COPY t TO '" + out + "'; SELECT 1"} {
		_, err := c.Execute(explain, q)
		wantMessage(t, err, codes.InvalidArgument, "nothing was run")
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM t WHERE v = 1"); n != 1 {
		t.Fatalf("t holds %d rows of 1", n)
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("t holds %d rows", n)
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'u'"); n != 0 {
		t.Fatal("u was created")
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM glob('"+out+"')"); n != 0 {
		t.Fatal("the COPY wrote its file")
	}
	// The calls that run statements for their effect, and the prepared
	// statements' (ADBC's), honour the header too.
	if _, err := c.ExecuteUpdate(explain, "DROP TABLE t"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("an update asked for its plan: %v", err)
	}
	if _, err := c.Prepare(explain, "DROP TABLE t; SELECT 1"); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a text of two prepared, asked for its plan: %v", err)
	}
	prep, err := c.Prepare(ctx, "DELETE FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prep.Execute(explain); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a prepared DELETE asked for its plan: %v", err)
	}
	if _, err := prep.ExecuteUpdate(explain); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("a prepared DELETE run as an update, asked for its plan: %v", err)
	}
	_ = prep.Close(ctx)
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("t holds %d rows", n)
	}
	info, err := c.Execute(explain, "SELECT v FROM t")
	if err != nil || len(info.Endpoint) != 1 {
		t.Fatalf("a query explained: %v %v", info, err)
	}
	// A session outside a transaction: the refused BEGIN began none.
	if _, err := c.ExecuteUpdate(ctx, "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
