package duck

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// A statement DuckDB does not let go of is reported with the label its
// caller gave: one folding a constant LIKE of four wildcards over 300
// bytes (about a second, checking for no interrupt) while it prepares,
// and one running that match a row on after its context was cancelled;
// each again when it returns.
func TestStuckStatementsAreReported(t *testing.T) {
	var mu sync.Mutex
	var got []Stuck
	_, c := openWith(t, Config{Threads: 1, StuckAfter: 100 * time.Millisecond, OnStuck: func(s Stuck) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, s)
	}})
	reports := func() []Stuck {
		mu.Lock()
		defer mu.Unlock()
		return append([]Stuck(nil), got...)
	}
	ctx := WithLabel(context.Background(), Label{QueryID: "q1", User: "ann", SQL: "SELECT ..."})
	st, err := c.Prepare(ctx, "SELECT repeat('a', 300) LIKE '%_%_%_%_b' AS m")
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	r := reports()
	if len(r) != 2 || r[0].Phase != "preparing" || r[0].Ended || !r[1].Ended || r[0].Label.QueryID != "q1" || r[0].Label.User != "ann" {
		t.Fatalf("reports of a slow prepare: %+v, want preparing, then ended, labelled q1 by ann", r)
	}
	if st, err = c.Prepare(context.Background(), "SELECT 42"); err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	if n := len(reports()); n != 2 {
		t.Fatalf("a quick prepare was reported: %+v", reports()[2:])
	}

	qctx, cancel := context.WithCancel(WithLabel(context.Background(), Label{QueryID: "q2"}))
	st, err = c.Prepare(qctx, "SELECT count(*) AS n FROM range(3) t(i) WHERE repeat('a', 300 + (i % 2)::INT) LIKE '%_%_%_%_b'")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	rdr, err := st.Query(qctx, memory.DefaultAllocator, nil, DefaultBatchSize)
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	if err == nil {
		t.Fatal("the cancelled query answered")
	}
	r = reports()[2:]
	if len(r) != 2 || r[0].Phase != "interrupted" || r[0].Label.QueryID != "q2" || !r[1].Ended || r[1].For < 100*time.Millisecond {
		t.Fatalf("reports of a query running on after its cancel (returned after %v): %+v", time.Since(start), r)
	}
}
