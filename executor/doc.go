// Package executor is a Skein worker: its own sandboxed DuckDB behind a
// Flight server (and the gRPC health service: SERVING while registered). It
// registers with the coordinator and sends heartbeats,
// and it runs exactly what a valid task ticket (signed with the cluster
// secret by the coordinator) says, for whoever redeems it: a client reading
// endpoints directly, or the coordinator proxying or merging.
//
// Tasks run as the coordinator issues their FlightInfo (the skein.start
// action), at most one per DuckDB thread, each into a spool (memory, then
// disk) that its reader streams from, so that every executor works while a
// client reads endpoints one at a time and no task holds a thread while its
// reader is slow. Spools are read once and dropped when their tickets
// expire; nothing else is kept. A frame a reader takes stays counted
// against the spools' memory budget until gRPC has written it, and a
// consumer streams an input from a few producers at a time, so that the
// Go heap follows the budget (cmd/skein sets GOMEMLIMIT from it).
//
// Executors exchange data between stages themselves (shuffle.go,
// fetch.go): a producer task splits its result by its last column into
// one spool per partition, each kept for its Readers and read with a
// partition ticket (a result of fixed-width columns copied once, chunk by
// chunk, into its partitions' buffers: scatter.go). What a producer holds
// of its partitions until they make a batch counts against the spools'
// memory budget too; when it is full, the partitions are written (and
// spill) rather than grown. A consumer task fetches its partition of every
// producer from the producers' executors (the next location when one is
// gone, which runs the producer again; itself when every one is) before
// it runs: into memory, for
// an input its SQL reads once and that fits in the spools' memory budget
// (which it then shares with the spooled results), else into a TEMP table.
//
// An executor leaves by draining (drain.go): it tells the coordinator to
// assign it nothing more, finishes what it has, waits for its results to
// be read, and deregisters.
package executor
