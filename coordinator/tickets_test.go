package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/partition"
	"google.golang.org/protobuf/proto"
)

// A UNION ALL of aggregates was planned as a chain of stages, each
// consumer's ticket holding its producers': ten of them signed 44 MB of
// tickets, twenty ran the coordinator out of memory. (Such a UNION ALL is
// one stage now; UNION ALL and UNION in turn still chain.) A handle now
// carries each upstream ticket once (cluster.Handles): twelve branches
// plan in stages with a FlightInfo of a few hundred KB. (A chain long
// enough for maxTickets is past DuckDB's expression depth: the bound is
// TestTicketEstimate's.)
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
		if plan.Mode != "stages" || size > 1<<20 {
			t.Fatalf("%d branches: %s, a FlightInfo of %d bytes, want stages (the chain this test is about) under 1 MiB",
				n, plan.Mode, size)
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

// TestTicketEstimate: a handle carries its own ticket and those of every
// stage it reads, transitively, each once: a chain of stages grows with
// its length, not with the product of its fan-ins; past maxTaskTicket for
// one handle or maxTickets for all, the plan does not fit.
func TestTicketEstimate(t *testing.T) {
	sql := strings.Repeat("x", 10_000) // a task's SQL, about 13 KB signed
	chain := func(stages, tasks int) *planned {
		p := &planned{}
		for si := range stages {
			st := &partition.Stage{ID: si}
			if si > 0 {
				st.Inputs = []partition.Input{{Stage: si - 1}}
			}
			ps := plannedStage{stage: st}
			for range tasks {
				ps.tasks = append(ps.tasks, plannedTask{sql: sql})
			}
			p.stages = append(p.stages, ps)
		}
		return p
	}
	// Nested, 10 stages of 4 tasks held 4^9 copies of the first stage's
	// tickets in each last one; bundled, 36 tickets of 13 KB.
	if !chain(10, 4).ticketsFit() {
		t.Fatal("10 stages of 4 tasks: do not fit")
	}
	// 40 stages of 16 tasks: each of the last stage's handles carries 624
	// tickets, 8 MB, and all of them together far more than maxTickets.
	if chain(40, 16).ticketsFit() {
		t.Fatal("40 stages of 16 tasks: fit")
	}
}
