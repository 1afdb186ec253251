// Package sqltext reads SQL text by DuckDB's lexical rules, as far as
// telling statements, string literals, quoted identifiers and comments
// apart needs: which ';' ends a statement and which is only text, and
// where a string begins and ends.
//
// It is pure Go and has two readers: the server's guard (internal/duck),
// which finds the file a COPY writes, and the CLI's shell (cmd/skein),
// which must know whether the lines typed so far end a statement. Both
// read SQL the same way because both read it here.
package sqltext
