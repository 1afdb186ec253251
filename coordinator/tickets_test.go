package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"google.golang.org/protobuf/proto"
)

// A UNION ALL of aggregates was planned as a chain of stages, each
// consumer's ticket holding its producers': ten of them signed 44 MB of
// tickets, twenty ran the coordinator out of memory. (Such a UNION ALL is
// one stage now; UNION ALL and UNION in turn still chain.) Past maxTicketBytes
// the query runs whole on the coordinator, and answers.
func TestNestedTicketsAreBounded(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	branches := func(n int) string {
		// UNION ALL and UNION in turn: a run of one of them is one stage
		// (partition/setop.go), a chain of both still a chain of stages.
		var b strings.Builder
		for k := range n {
			if k > 0 {
				b.WriteString([]string{" UNION ALL ", " UNION "}[k%2])
			}
			fmt.Fprintf(&b, "SELECT %d AS k, count(*) AS n FROM read_parquet('%s') WHERE id %% 1000 = %d", k, glob, k)
		}
		return b.String()
	}
	for _, n := range []int{2, 12} {
		info, err := cl.Execute(ctx, branches(n))
		if err != nil {
			t.Fatal(err)
		}
		var plan explanation
		if err := json.Unmarshal(info.AppMetadata, &plan); err != nil {
			t.Fatal(err)
		}
		size := proto.Size(info)
		t.Logf("%d branches: %s, %d tasks, FlightInfo of %d bytes (%s)", n, plan.Mode, plan.Tasks, size, plan.Reason)
		if n == 2 && plan.Mode != "stages" {
			t.Fatalf("two branches: %+v, want stages (the chain this test is about)", plan)
		}
		if n == 12 && !strings.Contains(plan.Reason, "task tickets would be too large") {
			t.Fatalf("twelve branches: %+v, want it local for its tickets", plan)
		}
		if size > maxTickets {
			t.Fatalf("%d branches: a FlightInfo of %d bytes", n, size)
		}
		rows := 0
		for _, ep := range info.Endpoint {
			r, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				t.Fatal(err)
			}
			for r.Next() {
				rec := r.RecordBatch()
				for i := range int(rec.NumRows()) {
					if got := rec.Column(1).(*array.Int64).Value(i); got != total/1000 {
						t.Fatalf("branch %d counted %d", rec.Column(0).(*array.Int32).Value(i), got)
					}
				}
				rows += int(rec.NumRows())
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			r.Release()
		}
		if rows != n {
			t.Fatalf("%d branches answered %d rows", n, rows)
		}
	}
}
