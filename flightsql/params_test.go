package flightsql_test

import (
	"context"
	"testing"

	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc/codes"
)

// The parameter rows a client binds are held in memory until the
// statement runs: their size is bounded (--max-message-mb), else one
// client streaming batches, each within the message limit, grows the
// server without end (20 million BIGINTs: 1.8 GB).
func TestBoundParametersAreBounded(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.MaxMessageMB = 1 })
	ctx := context.Background()
	c := ts.client(t)
	if _, err := c.ExecuteUpdate(ctx, "CREATE TABLE p (a BIGINT)"); err != nil {
		t.Fatal(err)
	}
	// 100 batches of 100,000 rows, each 800 KB on the wire: under the
	// message limit one by one, 10 million rows in all.
	for _, sql := range []string{"SELECT CAST(? AS BIGINT) + 1", "INSERT INTO p VALUES (?)"} {
		prep, err := c.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		prep.SetRecordReader(repeated(t, 100_000))
		if sql[0] == 'S' {
			_, err = prep.Execute(ctx)
		} else {
			_, err = prep.ExecuteUpdate(ctx)
		}
		wantCode(t, err, codes.ResourceExhausted)
		_ = prep.Close(ctx)
	}
	// A binding within the bound runs.
	prep, err := c.Prepare(ctx, "INSERT INTO p VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	defer prep.Close(ctx)
	rdr := repeated(t, 1000)
	rdr.Next()
	prep.SetParameters(rdr.RecordBatch())
	if n, err := prep.ExecuteUpdate(ctx); err != nil || n != 1000 {
		t.Fatalf("a binding of 1,000 rows: %d, %v", n, err)
	}
}
