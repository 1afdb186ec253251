// Package coordinator runs Skein's coordinator process: it opens the managed
// DuckDB database in the data directory with its sandbox, serves the Flight
// SQL front door on a gRPC listener (with TLS and mTLS when configured), and
// stops gracefully: no new connections, running queries finish within a grace
// period, the database is checkpointed. The query lifecycle across executors
// (planning, scheduling, merging, history) joins it with distribution.
package coordinator
