package flightsql_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
)

// BenchmarkGetTablesWithSchemas lists 900 tables of 10 columns with their
// schemas, as ADBC's get_objects(depth=all) and BI tools' catalog browsers
// ask for them.
func BenchmarkGetTablesWithSchemas(b *testing.B) {
	ts := startServer(b)
	ctx := context.Background()
	c := ts.client(b)
	var ddl strings.Builder
	for i := range 900 {
		fmt.Fprintf(&ddl, "CREATE TABLE t%d (a INTEGER, b VARCHAR, c DECIMAL(12,2), d DATE, e DOUBLE, f BIGINT, g VARCHAR, h BOOLEAN, i TIMESTAMP, j BLOB);\n", i)
	}
	if _, err := c.ExecuteUpdate(ctx, ddl.String()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{IncludeSchema: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := readToEnd(ctx, c, info); err != nil {
			b.Fatal(err)
		}
	}
}
