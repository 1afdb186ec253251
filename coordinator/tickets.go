package coordinator

import (
	"fmt"

	"github.com/skeindb/skein/partition"
)

// Tickets nest: a consumer task's ticket holds every ticket of the
// producers it reads (cluster.Source.Handle), so that any executor can run
// a lost producer again from it, and a signed ticket is its JSON in
// base64. A plan whose stages read one another in a chain makes tickets
// that grow by that fan-in and a third at every stage: a UNION ALL of ten
// aggregates of one table, planned as such a chain before its branches
// were one stage's inputs (partition/setop.go), signed 44 MB of tickets, whose consumers no
// executor would take (gRPC read 4 MiB at most then), and of twenty
// ran the coordinator to gigabytes while it signed them, deaf to its
// client hanging up and to SIGTERM. A plan with a task ticket of more
// than maxTaskTicket bytes, or more than maxTickets bytes of them
// together, runs whole on the coordinator instead (as DuckDB alone would
// run it).
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
	"a consumer's ticket holds its producers', stage upon stage)", partition.ErrLocal, float64(maxTaskTicket)/(1<<20), maxTickets>>20)

// ticketsFit says whether every task ticket of p is at most maxTaskTicket
// bytes and all at most maxTickets, about (base64 and all). It stops at
// the first past a bound, so that an exponential plan costs no more than
// the bounds to size.
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
	stage := make([]int64, len(stages)) // each stage's tickets together
	for si, ps := range stages {
		var in int64 // the producers' tickets each of the stage's tasks holds
		for _, input := range ps.stage.Inputs {
			in += stage[input.Stage] + int64(len(stages[input.Stage].tasks))*sourceBytes
		}
		for _, t := range ps.tasks {
			n := (own(t) + in) * 4 / 3
			stage[si] += n
			if n > maxTaskTicket || total+stage[si] > maxTickets {
				return false
			}
		}
		total += stage[si]
	}
	return true
}
