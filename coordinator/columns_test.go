package coordinator

import (
	"context"
	"fmt"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// An aggregate of COLUMNS() is as many columns of the answer as the
// expression matches: the query runs on the coordinator, as DuckDB's
// (its planning failed: "16 output names for 1 columns").
func TestAggregateOfColumnsRunsHere(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	q := fmt.Sprintf("SELECT max(COLUMNS('^(id|g)$'))::BIGINT FROM read_parquet('%s')", glob)
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode != "local" {
		t.Fatalf("planned %s", e.Mode)
	}
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil || schema.NumFields() != 2 {
		t.Fatalf("schema %v (%v), want max(id) and max(g)", schema, err)
	}
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != 1 || sum != 29999 {
		t.Fatalf("%d rows, max(id) %d; want 1 row, 29999", rows, sum)
	}
}
