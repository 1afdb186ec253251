package partition

import (
	"errors"
	"strings"
	"testing"
)

// An aggregate over a FROM subquery with a window: the window is the
// subquery's, not the query's, so its aggregates are not lifted over it.
// Lifting them gave back the query itself as the lifted query's FROM,
// and planning recursed until the coordinator ran out of memory.
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
	_, err := Analyze(load(t, "window_under_distinct"), Env{Aggregates: aggs, Exchanges: true, Partitions: 2, Columns: cols})
	if !errors.Is(err, ErrLocal) || strings.Contains(err.Error(), "deep") {
		t.Fatalf("got %v, want a local plan for its window, found at once", err)
	}
}
