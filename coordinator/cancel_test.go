package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
)

// CancelFlightInfo of a distributed query, whose tasks start when the
// FlightInfo is issued, stops them on every executor before anyone reads
// them (skein sql --explain reads none), and ends the query cancelled:
// task tickets (scatter), merge tickets (scatter-merge) and single-endpoint
// tickets (a scatter in result mode single) alike.
func TestCancelFlightInfoStopsTasks(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	co, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	// Every row costs milliseconds (the length depends on id, so nothing
	// folds to a constant): the tasks would run for half a minute, a
	// chunk of rows for seconds (DuckDB stops between chunks).
	slow := fmt.Sprintf("levenshtein(repeat('a', 600 + id %% 2), repeat('b', 600)) FROM read_parquet('%s')", glob)
	for _, c := range []struct{ mode, results, sql string }{
		{"scatter", "", "SELECT id, " + slow},
		{"scatter-merge", "", "SELECT max(" + strings.Replace(slow, " FROM", ") FROM", 1)},
		{"scatter", "single", "SELECT id, " + slow},
	} {
		qctx := ctx
		if c.results != "" {
			qctx = withResultMode(ctx, c.results)
		}
		info, err := cl.Execute(qctx, c.sql)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		if plan.Mode != c.mode {
			t.Fatalf("%s: mode %s, want %s", c.sql, plan.Mode, c.mode)
		}
		eventually(t, 30*time.Second, func() (bool, string) { return runningTasks(co) > 0, c.mode + ": no task runs" })
		start := time.Now()
		res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: info})
		if err != nil || res.Status != flight.CancelStatusCancelled {
			t.Fatalf("%s: CancelFlightInfo %v %v", c.mode, res.Status, err)
		}
		eventually(t, 30*time.Second, func() (bool, string) {
			got := recorded(t, ctx, cl, plan.QueryID)
			ok := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'ok'`, plan.QueryID))
			n := runningTasks(co)
			return strings.HasPrefix(got, "cancelled") && n == 0 && ok == 0,
				fmt.Sprintf("%s: query recorded %q, %d tasks running, %d ran to the end", c.mode, got, n, ok)
		})
		t.Logf("%s: the tasks stopped %v after CancelFlightInfo", c.mode, time.Since(start).Round(time.Millisecond))
	}
}
