package executor

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A draining executor serves the stream being read to its end, still runs
// a task whose start arrives late, waits a while for results not yet
// fetched, then stops; a reader who comes after goes elsewhere.
func TestDrainFinishesStreams(t *testing.T) {
	e, cl, _ := startExecutor(t, 64<<20)
	hRead, tRead := task(t, e, 1)
	hLeft, tLeft := task(t, e, 2)
	start(t, cl, hRead, hLeft)
	r := readFirstBatch(t, cl, tRead)
	n := int64(r.RecordBatch().NumRows())
	began := time.Now()
	drained := make(chan struct{})
	go func() {
		e.Drain(context.Background())
		close(drained)
	}()
	// A start sent by a plan made before the drain was heard of.
	hLate, tLate := task(t, e, 3)
	start(t, cl, hLate)
	select {
	case <-drained:
		t.Fatal("Drain returned while a stream was being read")
	case <-time.After(time.Second):
	}
	for r.Next() {
		n += r.RecordBatch().NumRows()
	}
	if err := r.Err(); err != nil || n != rows {
		t.Fatalf("the stream read during the drain: %d rows, %v", n, err)
	}
	if got, _ := fetch(t, cl, tLate); got != rows {
		t.Fatalf("the task started during the drain: %d rows", got)
	}
	select {
	case <-drained:
	case <-time.After(drainLinger + 10*time.Second):
		t.Fatal("an unread result held the drain past its linger")
	}
	if took := time.Since(began); took < drainLinger {
		t.Errorf("the drain gave the unread result %v, want %v", took, drainLinger)
	}
	late, err := cl.DoGet(context.Background(), &flight.Ticket{Ticket: tLeft})
	if err == nil {
		_, err = late.Recv()
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a reader after the drain: %v, want Unavailable (it goes to the other locations)", err)
	}
}

// Past the grace, a drain stops with what is left: a reader that stalls
// gets an error, not a stream that ends as if complete.
func TestDrainGrace(t *testing.T) {
	e, cl, _ := startExecutor(t, 256<<20)
	const big = 5_000_000 // far more than gRPC's flow-control windows hold
	h, tk := taskOf(t, e, 1, big)
	start(t, cl, h)
	r := readFirstBatch(t, cl, tk)
	n := r.RecordBatch().NumRows()
	gctx, stop := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer stop()
	began := time.Now()
	e.Drain(gctx) // the reader stalls meanwhile
	if took := time.Since(began); took > 15*time.Second {
		t.Fatalf("the drain took %v past a grace of 500ms", took)
	}
	for r.Next() {
		n += r.RecordBatch().NumRows()
	}
	if r.Err() == nil || n >= big {
		t.Fatalf("a stream cut at the end of the grace gave %d of %d rows and error %v", n, big, r.Err())
	}
}

// readFirstBatch opens the stream of a task's ticket and reads its first
// batch, as a client that has begun a result; the reader is released when
// the test ends.
func readFirstBatch(t *testing.T, cl flight.Client, ticket []byte) *flight.Reader {
	t.Helper()
	r := openTicket(t, cl, ticket)
	t.Cleanup(r.Release)
	if !r.Next() {
		t.Fatalf("no first batch: %v", r.Err())
	}
	return r
}
