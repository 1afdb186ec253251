package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DuckDB 1.5.5 of one thread never ends an ASOF RIGHT or FULL join whose
// left input is empty, or, RIGHT, shares no key with the right: a task of
// one co-partitioned across executors of one thread waited for ever, and
// its executors ended at --task-kill-timeout (a tester's). Such joins run
// on the coordinator, whose DuckDB of one thread refuses them (the view
// that holds one too); of two threads, the answer is DuckDB's, keys shared
// with the right or not.
func TestAsofRightAndFullJoinsRunOnOneNode(t *testing.T) {
	ctx := context.Background()
	queries := func(glob string) []string {
		var out []string
		for _, shift := range []int{0, 100} { // 100: no key of the left's in the right
			for _, jt := range []string{"RIGHT", "FULL"} {
				out = append(out, fmt.Sprintf("SELECT a.id, b.id AS id2 FROM read_parquet('%[1]s') a ASOF %[2]s JOIN read_parquet('%[1]s') b "+
					"ON a.g + %[3]d = b.g AND a.id <= b.id - 7", glob, jt, shift))
			}
		}
		// Below the top of the FROM: in a subquery, a UNION ALL branch, a
		// joined derived table, a CTE (they ran in executors' stages).
		asof := "(SELECT b.g AS k FROM (SELECT 1 AS g, 1 AS id WHERE false) a ASOF RIGHT JOIN (SELECT 1 AS g, 2 AS id) b ON a.g = b.g AND a.id <= b.id)"
		return append(out,
			fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE g IN %s", glob, asof),
			fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE g = 2 UNION ALL SELECT k FROM %s", glob, asof),
			fmt.Sprintf("SELECT p.id, x.k FROM read_parquet('%s') p JOIN %s x ON p.g = x.k", glob, asof),
			fmt.Sprintf("WITH x AS %s SELECT count(*), sum(p.id) FROM read_parquet('%s') p, x WHERE p.g = x.k", asof, glob))
	}

	_, one, glob := startCluster(t, 2, "direct")
	for _, q := range append(queries(glob)[:2], "CREATE VIEW asof_view AS "+queries(glob)[0]) {
		_, err := one.Execute(ctx, q)
		if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "--threads 2") {
			t.Errorf("%s on a coordinator of one thread: %v, want Unimplemented naming --threads", q, err)
		}
	}

	_, two, glob := startCluster(t, 2, "direct", func(c *Config) { c.Threads = 2 })
	ref := ducktest.Open(t, filepath.Dir(glob))
	for _, q := range queries(glob) {
		info, err := two.Execute(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if p := planOf(t, info); p.Mode != "local" || !strings.Contains(p.Reason, "ASOF") {
			t.Errorf("%s: planned %s (%s), want local for its ASOF join", q, p.Mode, p.Reason)
		}
		got, want := endpointRows(t, two, info.Endpoint), duckRows(t, ref, q)
		slices.Sort(got)
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: %d rows, DuckDB's %d", q, len(got), len(want))
		}
	}
}
