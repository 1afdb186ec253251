package flightsql_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	skeinsql "github.com/skeindb/skein/flightsql"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
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
	// A query's plan comes with no endpoint, and its query is cancelled:
	// its ticket stayed good, and a client reading it (ADBC reads what it
	// is given) ran EXPLAIN ANALYZE DELETE, or nextval() (a tester's).
	if _, err := c.ExecuteUpdate(ctx, "CREATE SEQUENCE sq"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"SELECT v FROM t", "EXPLAIN ANALYZE DELETE FROM t", "SELECT nextval('sq') AS n"} {
		info, err := c.Execute(explain, q)
		if err != nil || len(info.Endpoint) != 0 {
			t.Fatalf("%s explained: %v %v", q, info, err)
		}
		prep, err := c.Prepare(explain, q)
		if err != nil {
			t.Fatal(err)
		}
		if info, err = prep.Execute(explain); err != nil || len(info.Endpoint) != 0 {
			t.Fatalf("%s prepared, explained: %v %v", q, info, err)
		}
		_ = prep.Close(ctx)
	}
	if n := scalarInt(t, ctx, c, "SELECT count(*) FROM t"); n != 1 {
		t.Fatalf("t holds %d rows after EXPLAIN ANALYZE DELETE was explained", n)
	}
	if n := scalarInt(t, ctx, c, "SELECT nextval('sq')"); n != 1 {
		t.Fatalf("the sequence moved: %d", n)
	}
	// Nor does a bulk ingest run.
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64}}, nil)
	rdr, err := array.NewRecordReader(sc, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ExecuteIngest(explain, rdr, &flightsql.ExecuteIngestOpts{Table: "ing",
		TableDefinitionOptions: &flightsql.TableDefinitionOptions{IfNotExist: flightsql.TableDefinitionOptionsTableNotExistOptionCreate}})
	rdr.Release()
	wantCode(t, err, codes.InvalidArgument)
	// A session outside a transaction: the refused BEGIN began none.
	if _, err := c.ExecuteUpdate(ctx, "BEGIN TRANSACTION"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecuteUpdate(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
}
