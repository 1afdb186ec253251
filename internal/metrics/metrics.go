package metrics

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
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
	// calls holds each method's metrics (by method and call type): a
	// vector's WithLabelValues hashes its labels and looks them up under
	// a lock, three times a call.
	calls sync.Map
}

// callMetrics are one method's metrics, handled by status code as the
// codes occur (a code that never occurred exports no series).
type callMetrics struct {
	started prometheus.Counter
	seconds prometheus.Observer
	handled [codes.Unauthenticated + 1]atomicCounter
	g       *GRPC
	labels  [3]string
}

// atomicCounter is a counter made once, on first use.
type atomicCounter struct {
	once sync.Once
	c    prometheus.Counter
}

func (m *callMetrics) done(code codes.Code) prometheus.Counter {
	if code > codes.Unauthenticated {
		return m.g.handled.WithLabelValues(m.labels[0], m.labels[1], m.labels[2], code.String())
	}
	h := &m.handled[code]
	h.once.Do(func() { h.c = m.g.handled.WithLabelValues(m.labels[0], m.labels[1], m.labels[2], code.String()) })
	return h.c
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
	m := g.call(fullMethod, typ)
	m.started.Inc()
	start := time.Now()
	return func(err error) {
		m.done(status.Code(err)).Inc()
		m.seconds.Observe(time.Since(start).Seconds())
	}
}

// call is the metrics of fullMethod's calls of type typ.
func (g *GRPC) call(fullMethod, typ string) *callMetrics {
	type key struct{ method, typ string }
	k := key{fullMethod, typ}
	if m, ok := g.calls.Load(k); ok {
		return m.(*callMetrics)
	}
	service, method := splitMethod(fullMethod)
	m := &callMetrics{started: g.started.WithLabelValues(service, method, typ),
		seconds: g.seconds.WithLabelValues(service, method, typ), g: g, labels: [3]string{service, method, typ}}
	actual, _ := g.calls.LoadOrStore(k, m)
	return actual.(*callMetrics)
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

// ConnCounts is what a node's bounded listener (cluster.ConnLimit)
// counts.
type ConnCounts interface {
	Open() int64
	Max() int64
	Refused() int64
	Evicted() int64
}

// Connections exports a gRPC listener's connections: those open, its
// bound (--max-connections; -1 for none), those it closed as it accepted
// them for the bound, and the unproven ones it closed to make room.
func Connections(reg prometheus.Registerer, c ConnCounts) {
	max := c.Max()
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "skein_grpc_server_connections_open",
			Help: "Client connections open to the gRPC server."}, func() float64 { return float64(c.Open()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "skein_grpc_server_connections_max",
			Help: "Most connections the gRPC server keeps open at once (--max-connections; -1: no bound)."}, func() float64 { return float64(max) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "skein_grpc_server_connections_refused_total",
			Help: "Connections the gRPC server closed as it accepted them, --max-connections being open and every one having made an authenticated call."},
			func() float64 { return float64(c.Refused()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "skein_grpc_server_connections_evicted_total",
			Help: "Connections that had made no authenticated call, closed by the gRPC server to make room for new ones at --max-connections."},
			func() float64 { return float64(c.Evicted()) }))
}
