// Package health serves the gRPC health checking protocol (grpc.health.v1)
// on Skein's gRPC listeners, so that Kubernetes probes (native gRPC probes,
// or grpc_health_probe) and load balancers can ask a coordinator or an
// executor whether it takes work. It wraps grpc-go's health server with the
// states Skein needs: NOT_SERVING until the process is ready, NOT_SERVING
// again while it is not (an executor that lost its registration), NOT_SERVING
// for good once it drains, and Watch streams that end when the server stops
// (a graceful stop would otherwise wait for them forever).
package health
