// Package metrics holds what Skein's processes share about Prometheus
// metrics: the gRPC server interceptors that count and time every call,
// the Go runtime and process collectors, the latency buckets, and a
// gatherer that labels another's metrics (skein serve exposes its
// in-process executors' metrics on the coordinator's listener, each
// labelled with its executor id).
//
// Every process, and every server in a test process, has its own
// prometheus.Registry: nothing registers with the global default, so
// several servers in one process never collide. Metric names start with
// skein_ and carry their unit (_seconds, _bytes, _total).
package metrics
