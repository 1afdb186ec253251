// Package integration holds Skein's end-to-end checks that span packages:
// the Go benchmarks that compare fetching through the server with DuckDB's
// in-process Arrow export, and (in python/ and jdbc/) the suites that drive
// the real binary with the ADBC, pyarrow and JDBC clients.
package integration
