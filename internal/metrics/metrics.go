package metrics

import (
	"context"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// LatencyBuckets are the upper bounds, in seconds, of the query, task and
// call latency histograms: from a millisecond (a cached SELECT 1) to ten
// minutes (a task's ticket lifetime).
var LatencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// Runtime is a registry of the Go runtime and process collectors: one
// per process's listener (an in-process executor does not add its own).
func Runtime() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// GRPC counts and times the calls of one gRPC server.
type GRPC struct {
	started *prometheus.CounterVec
	handled *prometheus.CounterVec
	seconds *prometheus.HistogramVec
}

// NewGRPC registers a gRPC server's metrics with reg.
func NewGRPC(reg prometheus.Registerer) *GRPC {
	labels := []string{"grpc_service", "grpc_method", "grpc_type"}
	g := &GRPC{
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_grpc_server_started_total",
			Help: "gRPC calls started on the server."}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "skein_grpc_server_handled_total",
			Help: "gRPC calls completed on the server, by status code."}, append(labels, "grpc_code")),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "skein_grpc_server_handling_seconds",
			Help: "Time from a call's start to its handler's return (a stream's whole life).", Buckets: LatencyBuckets}, labels),
	}
	reg.MustRegister(g.started, g.handled, g.seconds)
	return g
}

// ServerOptions are the interceptors that count and time calls. Give them
// before any other interceptor option: they are then the outermost, and
// see each call's final status code.
func (g *GRPC) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.unary), grpc.ChainStreamInterceptor(g.stream)}
}

func (g *GRPC) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	done := g.begin(info.FullMethod, "unary")
	resp, err := h(ctx, req)
	done(err)
	return resp, err
}

func (g *GRPC) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	typ := "bidi_stream"
	switch {
	case info.IsClientStream && !info.IsServerStream:
		typ = "client_stream"
	case !info.IsClientStream && info.IsServerStream:
		typ = "server_stream"
	}
	done := g.begin(info.FullMethod, typ)
	err := h(srv, ss)
	done(err)
	return err
}

func (g *GRPC) begin(fullMethod, typ string) func(error) {
	service, method := splitMethod(fullMethod)
	g.started.WithLabelValues(service, method, typ).Inc()
	start := time.Now()
	return func(err error) {
		g.handled.WithLabelValues(service, method, typ, status.Code(err).String()).Inc()
		g.seconds.WithLabelValues(service, method, typ).Observe(time.Since(start).Seconds())
	}
}

// splitMethod splits "/package.Service/Method".
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// Labelled is a gatherer giving g's metrics with one more label, name
// set to value, on each (skein serve: an in-process executor's metrics,
// labelled with its id, on the coordinator's listener).
func Labelled(g prometheus.Gatherer, name, value string) prometheus.Gatherer {
	return labelled{g: g, name: name, value: value}
}

type labelled struct {
	g           prometheus.Gatherer
	name, value string
}

func (l labelled) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := l.g.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			m.Label = append(m.Label, &dto.LabelPair{Name: &l.name, Value: &l.value})
			sort.Slice(m.Label, func(i, j int) bool { return m.Label[i].GetName() < m.Label[j].GetName() })
		}
	}
	return mfs, err
}
