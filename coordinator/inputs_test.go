package coordinator

import (
	"slices"
	"testing"

	"github.com/skeindb/skein/executor"
)

// The exchange inputs a consumer task holds in memory count against its
// executor's spool memory budget. With a budget smaller than a join's
// inputs, the consumers hold what fits (a small aggregate's partials) and
// load the rest into DuckDB tables: the answers are DuckDB's, the spools'
// memory, inputs included, never went over the budget, and once the
// queries are done nothing is held.
func TestExchangeInputsCountAgainstSpoolMemory(t *testing.T) {
	const budget = 96 << 10
	c, cl, ref := stagedCluster(t, "proxy", func(c *Config) {
		c.Executor = func(e *executor.Config) { e.SpoolMemory = budget }
	})
	for _, q := range []string{
		// Partials of 7 groups: they fit.
		"SELECT d, count(*) AS n, sum(x) AS s FROM fact GROUP BY d",
		// Each consumer's share of fact is over 200 KiB: it does not.
		"SELECT f.k, f.x, f.c, o.od FROM fact f JOIN ord o ON f.o = o.o",
	} {
		want := duckRows(t, ref, q)
		got := endpointRows(t, cl, staged(t, cl, q).Endpoint)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: %d rows, want DuckDB's %d; first %q, want %q", q, len(got), len(want), first(got), first(want))
		}
	}
	var heldInputs int64
	for _, e := range c.Executors() {
		mem, inputs := e.SpoolPeak()
		if mem > budget {
			t.Errorf("executor %s: its spools held %d bytes in memory at once, over its budget of %d", e.ID(), mem, budget)
		}
		heldInputs += inputs
	}
	if heldInputs == 0 {
		t.Error("no exchange input was counted in the spools' memory")
	}
	if n := executorState(t, c, "skein_executor_exchange_inputs_total", "held", "memory"); n == 0 {
		t.Error("no consumer held an input in memory")
	}
	if n := executorState(t, c, "skein_executor_exchange_inputs_total", "held", "table"); n == 0 {
		t.Error("no consumer loaded an input over the budget into a table")
	}
	noShuffleData(t, c, "after the queries")
}
