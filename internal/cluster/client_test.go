package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// A node's client closed while calls use it (its node was lost) fails
// those calls and the ones begun after, and never panics: arrow-go's own
// client, closed so, dereferenced nil in DoAction and took the
// coordinator down.
func TestClosedClientFailsItsCalls(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := flight.NewServerWithMiddleware(nil)
	srv.InitListener(lis)
	srv.RegisterFlightService(&flight.BaseFlightServer{})
	go func() { _ = srv.Serve() }()
	defer srv.Shutdown()

	c, err := NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				_ = Do(ctx, c, &flight.Action{Type: "none"})
			}
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := Do(ctx, c, &flight.Action{Type: "none"}); err == nil {
		t.Fatal("a call on a closed client succeeded")
	}
}

// A call whose connection is closed under it (its node taken for lost)
// fails Unavailable, and one its caller cancels Canceled: gRPC says
// Canceled for both, and clients were told their query was cancelled
// when its executors had stopped answering (a tester's).
func TestCallClosedUnderIsUnavailable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := flight.NewServerWithMiddleware(nil)
	srv.InitListener(lis)
	srv.RegisterFlightService(&blockingDoGet{})
	go func() { _ = srv.Serve() }()
	defer srv.Shutdown()
	read := func(stop func(c flight.Client, cancel func())) error {
		c, err := NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := c.DoGet(ctx, &flight.Ticket{Ticket: []byte("t")})
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(50*time.Millisecond, func() { stop(c, cancel) })
		_, err = s.Recv()
		return err
	}
	if err := read(func(c flight.Client, _ func()) { _ = c.Close() }); status.Code(err) != codes.Unavailable || !errors.Is(err, ErrClosedUnder) {
		t.Errorf("a stream whose connection closed: %v, want Unavailable, ErrClosedUnder", err)
	}
	if err := read(func(_ flight.Client, cancel func()) { cancel() }); status.Code(err) != codes.Canceled {
		t.Errorf("a stream its caller cancelled: %v, want Canceled", err)
	}
}

// blockingDoGet's DoGet sends nothing until its caller goes.
type blockingDoGet struct{ flight.BaseFlightServer }

func (blockingDoGet) DoGet(_ *flight.Ticket, s flight.FlightService_DoGetServer) error {
	<-s.Context().Done()
	return s.Context().Err()
}
