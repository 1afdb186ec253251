package partition

import (
	"encoding/json"
	"strings"
)

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

// ReadsAs is how the scan's slices are read as the whole scan (its first
// file, "" when they are read alone; its hive partitioning), for plan
// cache keys.
func (a *Analysis) ReadsAs() string { return a.first + "\x00" + a.hive.String() }

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

// Hive partitioning is decided by DuckDB from the files a scan lists: it
// is on when every file's directories name the same keys (dir/k=v/...),
// and each key's type is inferred from the values of all the listed
// paths. A slice lists fewer files, so alone it could infer another type
// (k=1 and k=x are VARCHAR together, BIGINT apart) or turn partitioning on
// where the whole scan leaves it off (some files under k=v directories,
// others not). A slice reader therefore says what the whole scan decided:
// hive_types with the whole scan's types, or hive_partitioning off.

// HiveColumn is a hive partition column of a whole scan and its type there
// (a DuckDB type name, as DESCRIBE gives it).
type HiveColumn struct{ Name, Type string }

// Hive is how a whole scan reads its paths' key=value directories.
type Hive struct {
	Off     bool         // some paths have key=value directories, but the whole scan does not partition by them
	Columns []HiveColumn // the partition columns, when it does
}

// Read says the scan's paths have key=value directories, whether or not
// the whole scan partitions by them: its slices must say how it reads them.
func (h Hive) Read() bool { return h.Off || len(h.Columns) > 0 }

// readHive learns how the whole scan (its reader fn) reads hive
// partitioning, from Env.Hive. A text reader given hive options of its own
// over key=value directories runs local: its slices would need them
// merged with the whole scan's.
func (a *Analysis) readHive(fn Node) error {
	a.hive = Hive{}
	if a.env.Hive == nil {
		return nil
	}
	h, err := a.env.Hive(a.Paths)
	if err != nil {
		return err
	}
	if h.Read() {
		for _, o := range []string{"hive_partitioning", "hive_types", "hive_types_autocast"} {
			if namedParam(fn, o) {
				return local("a scan with %s over key=value directories", o)
			}
		}
	}
	a.hive = h
	return nil
}

// String is the Hive for plan cache keys.
func (h Hive) String() string {
	if h.Off {
		return "hive off"
	}
	var b strings.Builder
	for _, c := range h.Columns {
		b.WriteString(c.Name + " " + c.Type + ";")
	}
	return b.String()
}

// hiveParams are the named parameters a slice's read_parquet takes to read
// hive partitioning as the whole scan does: none when its paths have no
// key=value directories.
func (a *Analysis) hiveParams() []Node {
	switch {
	case a.hive.Off:
		return []Node{namedArg("hive_partitioning", cast("BOOLEAN", constant("VARCHAR", "f")))}
	case len(a.hive.Columns) == 0:
		return nil
	}
	types := make([]Node, len(a.hive.Columns))
	for i, c := range a.hive.Columns {
		types[i] = constant("VARCHAR", c.Type)
		types[i]["alias"] = c.Name
	}
	return []Node{namedArg("hive_types", function("struct_pack", types...))}
}

// namedArg is a table function's named parameter name = value, which
// DuckDB's AST writes as a comparison.
func namedArg(name string, value Node) Node {
	return Node{"class": "COMPARISON", "type": "COMPARE_EQUAL", "alias": "", "query_location": json.Number(noLocation),
		"left": columnRef(name), "right": value}
}

// parquetReader is read_parquet of files with the scan's named parameters
// (extra first, then how it reads hive partitioning).
func (a *Analysis) parquetReader(files Node, extra ...Node) Node {
	return function("read_parquet", append(append([]Node{files}, extra...), a.hiveParams()...)...)
}
