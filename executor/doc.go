// Package executor is a Skein worker: its own sandboxed DuckDB behind a
// Flight server. It registers with the coordinator and sends heartbeats,
// and it runs exactly what a valid task ticket (signed with the cluster
// secret by the coordinator) says, streaming the Arrow result to whoever
// redeems it: a client reading endpoints directly, or the coordinator
// proxying or merging. It keeps no state that matters.
package executor
