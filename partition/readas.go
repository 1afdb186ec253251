package partition

import "encoding/json"

// A glob's Parquet files need not agree on their schema: DuckDB reading
// them together binds the first file's columns and reads every other file
// as them (matched by name, cast to the first file's types, with its own
// rules for the filters it pushes into each file), while a task reading
// one slice alone would take that file's own columns and types. When the
// coordinator finds the files differ (their footers' schemas), the slice
// reader names the whole scan's first file before the slice's file and
// keeps only the rows of the latter (file_index 1): DuckDB itself reads
// the slice as it reads it in the whole scan, and skips the first file's
// row groups by that filter (it reads its footer). When the files agree
// (the common case), the reader is the plain read_parquet of the slice.

// ReadAs makes every slice of the scan read as DuckDB reads it in the
// whole scan, whose first file is first: "" when the files agree.
func (a *Analysis) ReadAs(first string) { a.first = first }

// ReadsAs is the first file the scan's slices are read as ("" when they
// are read alone), for plan cache keys.
func (a *Analysis) ReadsAs() string { return a.first }

// withFirst is the list of files a slice reader reads: the whole scan's
// first file before files when the files differ in schema.
func (a *Analysis) withFirst(files []Node) Node {
	if a.first != "" {
		files = append([]Node{constant("VARCHAR", a.first)}, files...)
	}
	return function("list_value", files...)
}

// fromFirst is the filter keeping only the slice's files' rows of a
// reader made by withFirst (nil: there is no first file to drop).
func (a *Analysis) fromFirst() Node {
	if a.first == "" {
		return nil
	}
	return Node{"class": "COMPARISON", "type": "COMPARE_GREATERTHAN", "alias": "", "query_location": json.Number(noLocation),
		"left": columnRef("file_index"), "right": constant("INTEGER", 0)}
}
