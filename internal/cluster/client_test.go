package cluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
