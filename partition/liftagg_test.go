package partition

import "testing"

// An aggregate over a FROM subquery with a window: the window is the
// subquery's, not the query's, so its aggregates are not lifted over it.
// Lifting them gave back the query itself as the lifted query's FROM,
// and planning recursed until the coordinator ran out of memory. The
// subquery is planned on its own (its window after a shuffle by
// o_custkey), the query over its rows.
func TestAggregateOverWindowedSubqueryIsPlannedOnce(t *testing.T) {
	cols := func(from Node) ([]Column, error) {
		if str(from, "type") == "SUBQUERY" {
			var out []Column
			for i := range list(child(child(from, "subquery"), "node"), "select_list") {
				out = append(out, Column{Name: string(rune('a' + i)), Type: "BIGINT"})
			}
			return out, nil
		}
		return []Column{{Name: "o_custkey", Type: "BIGINT"}, {Name: "o_totalprice", Type: "DECIMAL(15,2)"}}, nil
	}
	// SELECT count(DISTINCT t) FROM (SELECT o_custkey AS t, sum(o_totalprice)
	// OVER (PARTITION BY o_custkey) AS s FROM read_parquet('/d/orders.parquet'))
	a, err := Analyze(load(t, "window_under_distinct"), Env{Aggregates: aggs, Exchanges: true, Partitions: 2, Columns: cols})
	if err != nil {
		t.Fatalf("got %v, want the query over its subquery's plan, found at once", err)
	}
	if a.inner == nil || !a.inner.windows {
		t.Fatalf("the windowed subquery is not planned on its own (inner %v)", a.inner)
	}
}
