package health_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/health"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// serve runs s on a real gRPC server on 127.0.0.1:0 and returns a health
// client of it.
func serve(t *testing.T, s *health.Server) (healthpb.HealthClient, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return healthpb.NewHealthClient(conn), g
}

func check(t *testing.T, c healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("check %q: %v", service, err)
	}
	return r.GetStatus()
}

// recv reads the next status of a Watch stream, failing after a while.
func recv(t *testing.T, w healthpb.Health_WatchClient) (healthpb.HealthCheckResponse_ServingStatus, error) {
	t.Helper()
	type res struct {
		st  healthpb.HealthCheckResponse_ServingStatus
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := w.Recv()
		ch <- res{r.GetStatus(), err}
	}()
	select {
	case r := <-ch:
		return r.st, r.err
	case <-time.After(5 * time.Second):
		t.Fatal("no health update within 5s")
		return 0, nil
	}
}

const (
	serving    = healthpb.HealthCheckResponse_SERVING
	notServing = healthpb.HealthCheckResponse_NOT_SERVING
)

// The readiness service follows SetReady until Drain, after which it
// stays NOT_SERVING; liveness is SERVING until Close; a Watch stream sees
// every change and ends at Close, so that a graceful stop need not wait.
func TestStates(t *testing.T) {
	s := health.New()
	c, g := serve(t, s)
	if st := check(t, c, health.Readiness); st != notServing {
		t.Fatalf("before ready: %v", st)
	}
	if st := check(t, c, health.Liveness); st != serving {
		t.Fatalf("liveness at start: %v", st)
	}
	if _, err := c.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("unknown service: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: health.Readiness})
	if err != nil {
		t.Fatal(err)
	}
	want := func(st healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		if got, err := recv(t, w); err != nil || got != st {
			t.Fatalf("watch: %v %v, want %v", got, err, st)
		}
		if got := check(t, c, health.Readiness); got != st {
			t.Fatalf("check: %v, want %v", got, st)
		}
	}
	want(notServing)
	s.SetReady(true)
	want(serving)
	s.SetReady(false) // an executor that lost its registration
	want(notServing)
	s.SetReady(true)
	want(serving)
	s.Drain()
	want(notServing)
	s.SetReady(true) // a heartbeat during the drain
	if st := check(t, c, health.Readiness); st != notServing {
		t.Fatalf("ready again while draining: %v", st)
	}
	if st := check(t, c, health.Liveness); st != serving {
		t.Fatalf("liveness while draining: %v", st)
	}
	s.Close()
	for {
		_, err := recv(t, w)
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("watch ended with %v, want Unavailable", err)
			}
			break
		}
	}
	if st := check(t, c, health.Liveness); st != notServing {
		t.Fatalf("liveness after Close: %v", st)
	}
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("GracefulStop waits for something after Close")
	}
}

// What the service keeps for a caller without credentials is bounded: an
// unknown service (a 1 MB name) is NotFound at once, for Check and Watch
// alike, and Watch streams beyond the server's bound are refused.
func TestCallersCannotGrowTheServer(t *testing.T) {
	c, _ := serve(t, health.New())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := string(make([]byte, 1<<20))
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{Service: big}); status.Code(err) != codes.NotFound {
		t.Fatalf("Check of an unknown service: %v", err)
	}
	w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: big})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Fatalf("Watch of an unknown service: %v", err)
	}
	for i := 0; ; i++ {
		w, err := c.Watch(ctx, &healthpb.HealthCheckRequest{Service: health.Liveness})
		if err == nil {
			_, err = w.Recv() // the first status, or the refusal
		}
		if err != nil {
			if status.Code(err) != codes.ResourceExhausted || i < 256 {
				t.Fatalf("Watch %d: %v", i+1, err)
			}
			return
		}
		if i > 300 {
			t.Fatal("Watch streams are not bounded")
		}
	}
}
