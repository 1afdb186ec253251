package coordinator

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// An executor that closes a connection as it accepts it (one at its
// --max-connections) never saw the call: its run is not one broken under
// it, for which the executor would be suspected of dying of the task
// (a tester's: each query logged some 20 runs "broken").
func TestRefusedConnectionIsNotABrokenRun(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	full := cluster.LimitConns(tcp, 1, nil)
	defer full.Close()
	go func() {
		for {
			if _, err := full.Accept(); err != nil {
				return
			}
			// The one place, held open and never served.
		}
	}()
	hold, err := net.Dial("tcp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	for full.Open() == 0 { // until the listener has taken it
		time.Sleep(time.Millisecond)
	}
	c, err := cluster.NewClient(tcp.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	_, err = c.DoAction(ctx, &flight.Action{Type: "skein.start"})
	if err == nil {
		t.Fatal("a call past the bound was answered")
	}
	if errors.Is(lostCall(ctx, err), errRunBroken) {
		t.Fatalf("%v: taken for a run broken under it", err)
	}
}
