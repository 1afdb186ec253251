// Package integration holds Skein's end-to-end checks that span packages:
// the Go benchmarks that compare fetching through the server with DuckDB's
// in-process Arrow export, the partition-invariance, fault and load tests,
// Go's database/sql through arrow-go's Flight SQL driver (with the driver's
// limits as tests), and (in python/ and jdbc/) the suites that drive the
// real binary with the ADBC, pyarrow, polars, SQLAlchemy and JDBC clients.
package integration
