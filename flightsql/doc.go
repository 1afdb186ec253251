// Package flightsql is Skein's front door: it speaks Arrow Flight SQL to
// clients (the ADBC and JDBC drivers, pyarrow, Go) and turns each RPC into
// work on DuckDB connections.
//
// It owns what belongs to the protocol: authentication and bearer tokens,
// client sessions (one DuckDB connection each), statement and prepared
// statement handles, signed tickets, transactions, bulk ingest, the metadata
// commands with their exact reference schemas, and the one place where
// errors become gRPC status codes (status.go). It knows nothing about how
// DuckDB is reached: that is internal/duck.
package flightsql
