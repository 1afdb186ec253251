// Package coordinator runs Skein's coordinator process: it opens the managed
// DuckDB database in the data directory with its sandbox, serves the Flight
// SQL front door and the gRPC health service on a gRPC listener (with TLS and
// mTLS when configured), and stops gracefully: it drains (NOT_SERVING, new
// queries refused, planned and running ones finish within a grace period),
// then the database is checkpointed. The query lifecycle across executors
// (planning, scheduling, merging, history) joins it with distribution.
package coordinator
