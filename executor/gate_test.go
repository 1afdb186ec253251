package executor

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Calls that open a stream and send no message hold the executor's memory
// for the message gRPC reads before any ticket is checked. They wait in a
// bounded number of slots, for a bounded time: past the bound the next
// caller is refused Unavailable, the coordinator's calls are not, and a
// call that sends nothing loses its slot.
func TestCallsWaitingForTheirMessageAreBounded(t *testing.T) {
	secret := cluster.NewSecret()
	e, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Coordinator: "grpc://127.0.0.1:1",
		Secret: secret, Threads: 1, SpoolDir: t.TempDir(), Heartbeat: time.Hour,
		MaxAwaiting: 4, FirstMessageWait: 500 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	conn, err := grpc.NewClient(strings.TrimPrefix(e.URI(), "grpc://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Four DoGet streams whose ticket never comes: their headers go at
	// once, in order, on one connection.
	desc := &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}
	var silent []grpc.ClientStream
	for range 4 {
		s, err := conn.NewStream(ctx, desc, "/arrow.flight.protocol.FlightService/DoGet")
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, s)
	}
	cl := flight.NewClientFromConn(conn, nil)
	doGet := func(ctx context.Context) error {
		s, err := cl.DoGet(ctx, &flight.Ticket{Ticket: []byte("not a ticket")})
		if err == nil {
			_, err = s.Recv()
		}
		return err
	}
	err = doGet(ctx)
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "first message") {
		t.Fatalf("a fifth call beside four silent ones: %v, want Unavailable", err)
	}
	// The coordinator's calls take no slot.
	cctx, err := secret.WithCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = cluster.Do(cctx, cl, &flight.Action{Type: cluster.ActionCancel, Body: []byte("no such task")})
	if status.Code(err) == codes.Unavailable {
		t.Fatalf("the coordinator's call refused: %v", err)
	}
	// The silent calls end at their wait, and give their slots back.
	for i, s := range silent {
		if err := s.RecvMsg(new(flight.FlightData)); status.Code(err) != codes.Canceled {
			t.Fatalf("silent call %d: %v, want it cancelled", i, err)
		}
	}
	if err := doGet(ctx); status.Code(err) == codes.Unavailable {
		t.Fatalf("a call once the silent ones ended: %v", err)
	}
}
