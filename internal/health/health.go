package health

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

const (
	// Readiness is the service name a probe asks by default (""): SERVING
	// while the process takes work.
	Readiness = ""
	// Liveness is SERVING from start until the server stops, draining
	// included: a liveness probe must not restart a process that waits
	// for its coordinator or finishes its work.
	Liveness = "liveness"
	// MethodPrefix is the full method name prefix of the health service's
	// calls: the coordinator answers them without credentials (probes
	// have none), and nothing else.
	MethodPrefix = "/grpc.health.v1.Health/"
)

// Server is the health service of one gRPC listener.
type Server struct {
	*grpchealth.Server

	watching atomic.Int64 // Watch streams open

	mu       sync.Mutex
	draining bool
	stop     chan struct{}
	stopped  bool
}

// New returns a health service that is alive but not ready.
func New() *Server {
	s := &Server{Server: grpchealth.NewServer(), stop: make(chan struct{})}
	s.Server.SetServingStatus(Readiness, healthpb.HealthCheckResponse_NOT_SERVING)
	s.Server.SetServingStatus(Liveness, healthpb.HealthCheckResponse_SERVING)
	return s
}

// Register adds the service to g.
func (s *Server) Register(g *grpc.Server) { healthpb.RegisterHealthServer(g, s) }

// SetReady says whether the process takes work; once it drains, it stays
// NOT_SERVING whatever it is told.
func (s *Server) SetReady(ready bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining || s.stopped {
		return
	}
	s.Server.SetServingStatus(Readiness, servingStatus(ready))
}

// Drain makes the process NOT_SERVING for good: it finishes what it has and
// takes nothing new. It stays alive (Liveness) until Close.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	s.Server.SetServingStatus(Readiness, healthpb.HealthCheckResponse_NOT_SERVING)
}

// Fail makes every service NOT_SERVING for good, Liveness included: the
// process can do nothing more until it restarts (its database refuses
// every statement), and a supervisor's liveness probe should restart it.
func (s *Server) Fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.draining = true
	s.Server.SetServingStatus(Readiness, healthpb.HealthCheckResponse_NOT_SERVING)
	s.Server.SetServingStatus(Liveness, healthpb.HealthCheckResponse_NOT_SERVING)
}

// Close makes every service NOT_SERVING and ends the Watch streams (their
// clients see NOT_SERVING first), so that a graceful stop of the gRPC
// server need not wait for them.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.Server.Shutdown()
	close(s.stop)
}

// The health service answers without credentials, so what it keeps for a
// caller is bounded: grpc-go's server answers any service name, and keeps
// a Watch stream, and its name, for as long as the caller stays (thirty
// Watch streams of 50 MB names held 1.7 GB; 100,000 streams 200,000
// goroutines; found by a hostile client, 2026-12-04). Only the two
// services Skein serves are known, and at most maxWatches streams watch
// them at once.
const maxWatches = 256

// known refuses a service other than Readiness and Liveness.
func known(service string) error {
	if service != Readiness && service != Liveness {
		return status.Errorf(codes.NotFound, "unknown service (this server has %q and %q)", Readiness, Liveness)
	}
	return nil
}

// Check answers a known service's status.
func (s *Server) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if err := known(req.GetService()); err != nil {
		return nil, err
	}
	return s.Server.Check(ctx, req)
}

// Watch streams a known service's status, as grpc-go's server does, until
// the client goes or the server closes.
func (s *Server) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	if err := known(req.GetService()); err != nil {
		return err
	}
	if s.watching.Add(1) > maxWatches {
		s.watching.Add(-1)
		return status.Errorf(codes.ResourceExhausted, "%d health Watch streams are open, the most this server keeps", maxWatches)
	}
	defer s.watching.Add(-1)
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := s.Server.Watch(req, watchStream{Health_WatchServer: stream, ctx: ctx})
	select {
	case <-s.stop:
		return status.Error(codes.Unavailable, "the server is stopping")
	default:
		return err
	}
}

type watchStream struct {
	healthpb.Health_WatchServer
	ctx context.Context
}

func (w watchStream) Context() context.Context { return w.ctx }

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}
