package flightsql_test

import (
	"context"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// The health service answers without credentials (Kubernetes probes have
// none); with auth on, every other call without them is refused, also a
// method of a service whose name begins like the health service's.
func TestHealthWithoutCredentials(t *testing.T) {
	ts := startServer(t, func(c *coordinator.Config) { c.User, c.Password = "ann", "a" })
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "liveness"} {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("check %q without credentials: %v %v", svc, r.GetStatus(), err)
		}
	}
	w, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := w.Recv(); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch without credentials: %v %v", r.GetStatus(), err)
	}
	if _, err := hc.List(ctx, &healthpb.HealthListRequest{}); err != nil {
		t.Fatalf("list without credentials: %v", err)
	}
	// Everything else still needs them.
	for _, method := range []string{"/grpc.health.v1.HealthX/Check", "/grpc.health.v2.Health/Check",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", "/arrow.flight.protocol.FlightService/ListActions"} {
		err := conn.Invoke(ctx, method, &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
		wantCode(t, err, codes.Unauthenticated)
	}
	fc := flight.NewClientFromConn(conn, nil)
	lf, err := fc.ListFlights(ctx, &flight.Criteria{})
	if err == nil {
		_, err = lf.Recv()
	}
	wantCode(t, err, codes.Unauthenticated)
}

// A draining coordinator says NOT_SERVING, refuses what would start a
// query or a session (Unavailable), and waits for the queries it planned
// to be read; once they are, Drain returns. A query cancelled, or planned
// by a client that has gone, is not waited for.
func TestDrainFinishesPlannedQueries(t *testing.T) {
	ts := startServer(t)
	c := ts.client(t)
	ctx := context.Background()
	info, err := c.Execute(ctx, "SELECT range AS i FROM range(1000)")
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.Execute(ctx, "SELECT 1")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: cancelled}); err != nil || r.Status != flight.CancelStatusCancelled {
		t.Fatalf("cancel: %v %v", r.Status, err)
	}
	gone := ts.bareClient(t, "")
	if _, err := gone.Execute(ctx, "SELECT 2"); err != nil {
		t.Fatal(err)
	}
	_ = gone.Close()
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	drained := make(chan struct{})
	go func() {
		ts.c.Drain(dctx)
		close(drained)
	}()
	conn, err := grpc.NewClient(ts.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v %v while draining", r.GetStatus(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "liveness"}); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("liveness while draining: %v %v", r.GetStatus(), err)
	}
	_, err = c.Execute(ctx, "SELECT 1")
	wantCode(t, err, codes.Unavailable)
	err = doPutUpdateStatus(ctx, c, "CREATE TABLE t (i INTEGER)") // the status, not the EOF of a refused Send
	wantCode(t, err, codes.Unavailable)
	_, err = ts.bareClient(t, "").Client.AuthenticateBasicToken(ctx, "ann", "a")
	wantCode(t, err, codes.Unavailable)
	select {
	case <-drained:
		t.Fatal("Drain returned with a planned query unread")
	case <-time.After(300 * time.Millisecond):
	}
	_, recs := fetch(t, ctx, c, info)
	if n := rowCount(recs); n != 1000 {
		t.Fatalf("read %d rows, want 1000", n)
	}
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("Drain did not return once the planned query was read")
	}
}
