package coordinator

import (
	"fmt"

	"github.com/skeindb/skein/partition"
)

// A task's handle carries the signed tickets of every task it reads,
// directly or not, each once (cluster.Handles): any executor can run a
// lost producer again from it. Until 2026-12-03 tickets nested, each
// consumer's holding its producers' whole, and grew by every stage's
// fan-in and a third at every stage: a UNION ALL of ten aggregates of one
// table planned as a chain of stages signed 44 MB of tickets, and TPC-H
// Q12's merge ticket on two executors of one thread with --task-rows
// 100000 (60 tasks) was 974 KB, growing with the cube of the cluster's
// threads. Bundled, a handle grows with the
// tasks upstream of it; a plan with a task ticket of more than
// maxTaskTicket bytes, or more than maxTickets bytes of them together,
// still runs whole on the coordinator (as DuckDB alone would run it).
const (
	maxTaskTicket = 8 << 20  // under cluster.MaxMessage, what an executor reads in a message (the estimate is above the real size)
	maxTickets    = 16 << 20 // what ADBC reads in a message (a FlightInfo)
)

// ticketOverhead is about what a task ticket holds besides its SQL, slice,
// literals and producers: ids, user, executors, expiry and signature.
const ticketOverhead = 256

// sourceBytes is about what a consumer's ticket holds for each producer
// task besides its ticket: the locations to fetch it from.
const sourceBytes = 128

var errTicketsTooLarge = fmt.Errorf("%w: its task tickets would be too large (over %.1f MiB one, %d MiB together: "+
	"a task's handle holds the tickets of every task it reads)", partition.ErrLocal, float64(maxTaskTicket)/(1<<20), maxTickets>>20)

// ticketsFit says whether every task handle of p is at most maxTaskTicket
// bytes and all at most maxTickets, about (base64 and all): a task's own
// ticket and those of every stage it reads, transitively.
func (p *planned) ticketsFit() bool {
	own := func(t plannedTask) int64 {
		n := int64(ticketOverhead + len(t.sql) + len(t.slice.File))
		for _, f := range t.slice.Files {
			n += int64(len(f)) + 3
		}
		for _, l := range t.literals {
			n += int64(len(l)) + 3
		}
		return n
	}
	stages := p.stages
	if stages == nil {
		stages = []plannedStage{{stage: &partition.Stage{}, tasks: p.tasks}}
	}
	var total int64
	tickets := make([]int64, len(stages))      // each stage's own tickets together
	reach := make([]map[int]bool, len(stages)) // the stages each reads, transitively
	for si, ps := range stages {
		reach[si] = map[int]bool{}
		var sources int64
		for _, input := range ps.stage.Inputs {
			reach[si][input.Stage] = true
			for r := range reach[input.Stage] {
				reach[si][r] = true
			}
			sources += int64(len(stages[input.Stage].tasks)) * sourceBytes
		}
		var carried int64 // the tickets each of the stage's handles carries
		for r := range reach[si] {
			carried += tickets[r]
		}
		for _, t := range ps.tasks {
			mine := (own(t) + sources) * 4 / 3
			tickets[si] += mine
			n := mine + carried
			total += n
			if n > maxTaskTicket || total > maxTickets {
				return false
			}
		}
	}
	return true
}
