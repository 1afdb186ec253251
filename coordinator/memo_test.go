package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/skeindb/skein/internal/ducktest"
)

// factCount is the planner's questions about inputs so far with answer
// result (hit, miss, asked).
func factCount(t *testing.T, c *Coordinator, result string) float64 {
	t.Helper()
	return counted(t, c.dist.factLookups, result)
}

// counted is a counter's value for label.
func counted(t *testing.T, v *prometheus.CounterVec, label string) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues(label).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestInputFactsRemembered plans a join whose inputs the planner asks
// DuckDB about (their columns, the rows the filtered one gives) again and
// again: from the second planning every answer is remembered, none asked;
// a file of an input rewritten, or a view it reads redefined, is asked
// about again, and the answer stays DuckDB's over what the files and
// views now hold.
func TestInputFactsRemembered(t *testing.T) {
	t.Parallel()
	c, cl, dir, views := stageCoordinator(t, anyBroadcast)
	ctx := context.Background()
	// A join with a filtered input, and a WITH read twice (TPC-H Q15's
	// shape), whose query names the view fact: the planner asks about it
	// with the view unresolved.
	qs := []string{
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a, fact f WHERE a.k = f.k AND f.d = 3 AND f.x < 50 GROUP BY a.flag",
		`WITH r AS (SELECT d, count(*) AS n FROM fact WHERE x < 300 GROUP BY d)
SELECT CAST(d AS BIGINT) * 100000 + n AS v FROM r WHERE n = (SELECT max(n) FROM r)`,
	}
	// Each planning with texts of its own (trailing spaces), which are
	// planned again, not taken from the plans kept by text (textplan.go).
	again := 0
	plan := func() {
		t.Helper()
		again++
		for _, q := range qs {
			q += strings.Repeat(" ", again)
			info, e := plannedStages(t, cl, q)
			t.Logf("%d stages: %+v", len(e.Stages), e.Stages)
			sameAsDuckDB(t, cl, dir, views, q, info)
		}
	}
	plan()
	misses, hits := factCount(t, c, "miss"), factCount(t, c, "hit")
	if misses == 0 {
		t.Fatal("the planner asked nothing about the inputs that it could remember")
	}
	plan()
	if m, h := factCount(t, c, "miss"), factCount(t, c, "hit"); m != misses || h < hits+misses {
		t.Fatalf("planned again: %v more questions asked and %v answered from memory, want 0 and at least %v", m-misses, h-hits, misses)
	}

	// acct rewritten: other rows, k now an INTEGER.
	conn := ducktest.Open(t, dir)
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::INTEGER AS k, range %% 3 = 0 AS flag FROM range(16000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2000)`, filepath.Join(dir, "acct.parquet")))
	misses = factCount(t, c, "miss")
	plan()
	if factCount(t, c, "miss") == misses {
		t.Fatal("acct's file was rewritten, and nothing about it was asked again")
	}

	// fact redefined: only its odd d.
	redefined := fmt.Sprintf("CREATE OR REPLACE VIEW fact AS SELECT * FROM read_parquet('%s') WHERE d %% 2 = 1", filepath.Join(dir, "fact-*.parquet"))
	if _, err := cl.ExecuteUpdate(ctx, redefined); err != nil {
		t.Fatal(err)
	}
	views = append(views, redefined)
	misses = factCount(t, c, "miss")
	plan()
	if factCount(t, c, "miss") == misses {
		t.Fatal("the view fact was redefined, and nothing about it was asked again")
	}
}
