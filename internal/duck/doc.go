// Package duck is Skein's only cgo boundary: everything that touches DuckDB
// goes through it. It opens sandboxed database instances, hands out
// connections, prepares statements (giving the exact Arrow result schema
// before execution), streams results as wire-sized Arrow batches (starting
// with one DuckDB chunk and doubling, so a small result leaves at once) and
// ingests Arrow streams. Callers above it see Go values and Arrow records only.
// A query's calling thread runs its tasks with DuckDB's threads but, unlike
// duckdb_execute_pending, pauses rather than spins while none is left for it
// (pending.go). DuckDB plans a statement that reads files again at every
// run, so a connection keeps the statements its caller hands back (Keep)
// for the next PrepareAgain of the same text instead of planning it twice
// (spare.go); a statement run again checks that its result types are still
// those of its Schema.
//
// It is also where SQL meets the server's integrity: DuckDB's sandbox
// settings keep SQL inside the allowed directories, and the guard
// (guard.go, target.go) refuses what the sandbox lets through: statements
// that act on the whole instance (ATTACH, DETACH, LOAD, CALL
// enable_logging, ...) and COPY/EXPORT targets DuckDB itself would allow
// (its own database, WAL and temp files). Each statement of a string is
// checked before it runs; a connection's Policy can make it read-only.
//
// It builds on duckdb-go v2 with the duckdb_arrow build tag. Where duckdb-go
// keeps something unexported that Skein needs (the raw connection and prepared
// statement handles, for DuckDB's own Arrow schema conversion and for streaming
// execution), handles.go reaches for it once, with checks that fail loudly if
// a future duckdb-go changes its layout.
package duck
