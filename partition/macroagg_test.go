package partition_test

import (
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// TestMacroAggregates: DuckDB's macros over aggregates (geomean is
// exp(avg(ln(x)))) are aggregates to the planner, as the coordinator
// lists them; a query calling one is not split into tasks that each
// give their slice's row.
func TestMacroAggregates(t *testing.T) {
	conn := ducktest.Open(t)
	aggs := partition.Aggregates{}
	for _, r := range ducktest.Strings(t, conn, "SELECT DISTINCT function_name FROM duckdb_functions() WHERE function_type = 'aggregate'") {
		aggs[r[0]] = true
	}
	bodies := map[string][][]byte{}
	for _, r := range ducktest.Strings(t, conn, partition.MacroBodiesSQL) {
		bodies[r[0]] = append(bodies[r[0]], []byte(r[1]))
	}
	for _, name := range []string{"geomean", "geometric_mean", "weighted_avg", "wavg", "json_group_array", "json_group_object", "json_group_structure"} {
		if aggs[name] {
			t.Fatalf("%s is an aggregate already: the test needs another macro", name)
		}
	}
	if err := aggs.AddMacros(bodies); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"geomean", "geometric_mean", "weighted_avg", "wavg", "json_group_array", "json_group_object", "json_group_structure"} {
		if !aggs[name] {
			t.Errorf("macro %s is not an aggregate", name)
		}
	}
	for _, name := range []string{"list_sum", "list_avg", "ago", "current_catalog", "date_add", "array_to_string"} {
		if aggs[name] {
			t.Errorf("macro %s is an aggregate", name)
		}
	}
	for _, q := range []string{"SELECT geomean(x) FROM read_parquet('f.parquet')",
		"SELECT json_group_array(x), max(x) FROM read_parquet('f.parquet') WHERE x > 1"} {
		for _, exchanges := range []bool{false, true} {
			a, err := partition.Analyze([]byte(serialize(t, conn, q)), partition.Env{Aggregates: aggs, Exchanges: exchanges})
			if err == nil && a.Mode == partition.Scatter {
				t.Errorf("exchanges %v: %s: planned %s: a row per task", exchanges, q, a.Mode)
			}
		}
	}
}
