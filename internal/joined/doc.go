// Package joined is a record batch made of consecutive record batches
// (DuckDB's 2048-row chunks) that are copied into one only when someone
// asks for its columns.
//
// A result stream sends batches of many chunks to amortise each
// message's cost; joining the chunks (array.Concatenate) copies every
// buffer once more before the batch is encoded. flightwire's Writer
// reads a Record's parts instead and sends their buffers as one IPC
// body, and an executor's spool copies them into one message
// (flightwire.Joiner), so on those paths the chunks are never
// joined; any other reader (a compressed stream, a shuffle, a merge)
// sees an ordinary record batch, joined when it first asks.
package joined
