package duck

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/arrowmapping"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// appendedData is the name under which an appender's query sees the rows
// appended to it: a relation of that query alone, in no catalog.
const appendedData = "appended_data"

// vectorRows is the most rows one DuckDB data chunk holds.
const vectorRows = 2048

// arrowInput converts Arrow record batches of one schema to DuckDB data
// chunks.
type arrowInput struct {
	schema *arrow.Schema
	conv   arrowmapping.ArrowConvertedSchema
	types  []mapping.LogicalType
	names  []string
	// structs: a column holds STRUCT values, in a list, a map or a
	// union too (see flatten).
	structs bool
}

func (c *Conn) newArrowInput(schema *arrow.Schema) (*arrowInput, error) {
	if schema == nil {
		// arrow-go's reader gives no schema for one it cannot decode (an
		// extension type over a storage type it refuses).
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid Input Error: the stream's schema does not decode"}
	}
	if err := convertible(schema); err != nil {
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid Input Error: " + err.Error()}
	}
	// The types DuckDB gives each column are those of a converted chunk:
	// convert one row of NULLs.
	probe, err := nullRow(schema)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Msg: "Invalid Input Error: " + err.Error()}
	}
	defer probe.Release()
	conv, ed := arrowmapping.SchemaFromArrow(c.handle, schema)
	if err := errorData(ed); err != nil {
		return nil, err
	}
	in := &arrowInput{schema: schema, conv: conv, structs: slices.ContainsFunc(schema.Fields(), func(f arrow.Field) bool { return holdsStruct(f.Type) })}
	chunk, err := in.chunk(c, probe)
	if err != nil {
		in.close()
		return nil, err
	}
	defer mapping.DestroyDataChunk(&chunk)
	for i := range schema.NumFields() {
		in.types = append(in.types, mapping.VectorGetColumnType(mapping.DataChunkGetVector(chunk, mapping.IdxT(i))))
		in.names = append(in.names, schema.Field(i).Name)
	}
	return in, nil
}

func (in *arrowInput) close() {
	for i := range in.types {
		mapping.DestroyLogicalType(&in.types[i])
	}
	arrowmapping.DestroyArrowConvertedSchema(&in.conv)
}

func (in *arrowInput) chunk(c *Conn, rec arrow.RecordBatch) (mapping.DataChunk, error) {
	return in.chunkOf(c.handle, rec)
}

// chunkOf converts rec to a DuckDB data chunk on the connection handle.
func (in *arrowInput) chunkOf(conn mapping.Connection, rec arrow.RecordBatch) (mapping.DataChunk, error) {
	if in.structs {
		flat, err := flatten(rec)
		if err != nil {
			return mapping.DataChunk{}, err
		}
		defer flat.Release()
		rec = flat
	}
	chunk, ed := arrowmapping.DataChunkFromArrow(conn, rec, in.conv)
	if err := errorData(ed); err != nil {
		return chunk, err
	}
	return chunk, nil
}

// flatten is rec with every column of STRUCTs that starts at an offset
// (a slice) copied to start at 0. DuckDB's
// C API conversion (duckdb_data_chunk_from_arrow, DuckDB 1.5.5) reads a
// STRUCT's children from their start, not from the struct array's offset:
// a slice of a batch (the scan and the load hand DuckDB one vector of
// rows at a time) gave the values of other rows, values never sent, or,
// for a VARCHAR field, a SIGSEGV that ended the process (found
// 2026-12-04 by a shuffle of count(DISTINCT (a, b))). Other types are read
// at their offsets, and are not copied.
func flatten(rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, rec.NumCols())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, col := range rec.Columns() {
		if col.Data().Offset() == 0 || !holdsStruct(col.DataType()) {
			col.Retain()
			cols[i] = col
			continue
		}
		flat, err := array.Concatenate([]arrow.Array{col}, memory.DefaultAllocator)
		if err != nil {
			// arrow-go concatenates no union: a sparse union's rows past
			// the first vector failed to load, Internal (a tester's).
			flat, err = copiedByIPC(col)
		}
		if err != nil {
			return nil, fmt.Errorf("duck: copying a STRUCT column: %w", err)
		}
		cols[i] = flat
	}
	return array.NewRecordBatch(rec.Schema(), cols, rec.NumRows()), nil
}

// copiedByIPC is col copied to start at offset 0, through Arrow IPC,
// whose writer cuts every kind of array, unions included, at its offset.
func copiedByIPC(col arrow.Array) (arrow.Array, error) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "c", Type: col.DataType(), Nullable: true}}, nil)
	rec := array.NewRecordBatch(schema, []arrow.Array{col}, int64(col.Len()))
	defer rec.Release()
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := errors.Join(w.Write(rec), w.Close()); err != nil {
		return nil, err
	}
	r, err := ipc.NewReader(&buf)
	if err != nil {
		return nil, err
	}
	defer r.Release()
	if !r.Next() {
		return nil, cmp.Or(r.Err(), errors.New("no batch read back"))
	}
	out := r.RecordBatch().Column(0)
	if !arrow.TypeEqual(out.DataType(), col.DataType()) {
		return nil, fmt.Errorf("%s read back as %s", col.DataType(), out.DataType())
	}
	out.Retain()
	return out, nil
}

// holdsStruct says whether t is a STRUCT or holds one: in a list, an
// array, a map (whose entries are structs) or a union.
func holdsStruct(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.StructType, *arrow.MapType:
		return true
	case arrow.UnionType:
		return true
	case arrow.ListLikeType:
		return holdsStruct(t.Elem())
	}
	return false
}

// columnDefs is the column list of a table holding the input, with the
// names and types DuckDB's Arrow conversion gives. DuckDB names each type
// itself (typeof of the converted probe row), so nested, decimal and
// enum types come out as DuckDB's own SQL.
func (in *arrowInput) columnDefs(ctx context.Context, c *Conn) (string, error) {
	for i, f := range in.schema.Fields() {
		if in.names[i] == "" {
			return "", &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: column %d has an empty name, "+
				"which a table cannot be created with: name every column", i+1)}
		}
		if emptyFieldName(f.Type) {
			return "", &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: column %.60q holds a struct or union field "+
				"with an empty name, which a table cannot be created with: name every field", in.names[i])}
		}
	}
	// Unique: a client's TEMP table of a fixed name was replaced, then
	// dropped.
	probe := uniqueName("skein_ingest_types_")
	cols := make([]string, len(in.names))
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d VARCHAR", i)
	}
	if _, err := c.Exec(ctx, "CREATE OR REPLACE TEMP TABLE "+probe+" ("+strings.Join(cols, ", ")+")"); err != nil {
		return "", err
	}
	defer func() { _, _ = c.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS temp.main."+probe) }()
	rec, err := nullRow(in.schema) // built once already, by newArrowInput
	if err != nil {
		return "", err
	}
	defer rec.Release()
	rdr, err := array.NewRecordReader(in.schema, []arrow.RecordBatch{rec})
	if err != nil {
		return "", err
	}
	defer rdr.Release()
	if _, err := in.insert(ctx, c, "INSERT INTO temp.main."+probe+" SELECT typeof(COLUMNS(*)) FROM "+appendedData, rdr); err != nil {
		return "", err
	}
	rows, err := c.QueryRows(ctx, "SELECT * FROM temp.main."+probe)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	types := make([]string, len(in.names))
	ptrs := make([]any, len(types))
	for i := range types {
		ptrs[i] = &types[i]
	}
	if !rows.Next() {
		return "", fmt.Errorf("duck: no column types for the ingest: %w", rows.Err())
	}
	if err := rows.Scan(ptrs...); err != nil {
		return "", wrap(err)
	}
	defs := make([]string, len(types))
	for i, t := range types {
		// A column of Arrow's null type is INTEGER, as DuckDB's CREATE
		// TABLE AS makes it: of type NULL it could never hold a value
		// (a tester's). So are lists and arrays of it.
		if rest, ok := strings.CutPrefix(t, `"NULL"`); ok && strings.Trim(rest, "[]0123456789") == "" {
			t = "INTEGER" + rest
		}
		defs[i] = QuoteIdent(in.names[i]) + " " + t
	}
	return strings.Join(defs, ", "), nil
}

// emptyFieldName says whether a struct or union of t, at any depth, has a
// field of empty name, which a CREATE TABLE cannot write: DuckDB's name of
// the type leaves it out, and the table's DDL failed with a parser error
// about SQL the client never sent (a tester's).
func emptyFieldName(t arrow.DataType) bool {
	switch t := t.(type) {
	case arrow.NestedType:
		for _, f := range t.Fields() {
			if _, isStruct := t.(*arrow.StructType); isStruct && f.Name == "" {
				return true
			}
			if _, isUnion := t.(arrow.UnionType); isUnion && f.Name == "" {
				return true
			}
			if emptyFieldName(f.Type) {
				return true
			}
		}
	case *arrow.DictionaryType:
		return emptyFieldName(t.ValueType)
	case arrow.ExtensionType:
		return emptyFieldName(t.StorageType())
	}
	return false
}

// insert appends every batch of rdr to an appender running query over
// them, and returns the rows appended. DuckDB runs the query each time it
// flushes, so query must be an INSERT (or another statement that is right
// applied to the rows in parts).
func (in *arrowInput) insert(ctx context.Context, c *Conn, query string, rdr array.RecordReader) (int64, error) {
	var app mapping.Appender
	if mapping.AppenderCreateQuery(c.handle, query, in.types, appendedData, in.names, &app) == mapping.StateError {
		err := appenderError(app)
		mapping.AppenderDestroy(&app)
		return 0, err
	}
	defer mapping.AppenderDestroy(&app)
	// Waits for an interrupt under way: one that outlived the call could
	// reach the connection after it is closed (a crash in DuckDB).
	stop := c.interruptOnCancel(ctx)
	defer stop()
	var n int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		if !rec.Schema().Equal(in.schema) {
			return 0, &Error{Kind: KindInvalid, Msg: "Invalid Input Error: a record batch's schema differs from the stream's"}
		}
		if err := ValidRecord(rec); err != nil {
			return 0, &Error{Kind: KindInvalid, Msg: "Invalid Input Error: a malformed record batch: " + err.Error()}
		}
		for off := int64(0); off < rec.NumRows(); off += vectorRows {
			part := rec.NewSlice(off, min(off+vectorRows, rec.NumRows()))
			chunk, err := in.chunk(c, part)
			part.Release()
			if err != nil {
				return 0, err
			}
			state := mapping.AppendDataChunk(app, chunk)
			mapping.DestroyDataChunk(&chunk)
			if state == mapping.StateError {
				return 0, appenderError(app)
			}
		}
		n += rec.NumRows()
	}
	if err := rdr.Err(); err != nil {
		return 0, err
	}
	if mapping.AppenderFlush(app) == mapping.StateError {
		return 0, appenderError(app)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return n, nil
}

// nullRow is a record of one row of NULLs in schema, or why arrow-go
// makes none. A column arrow-go's builders make no value of (a
// dictionary of large_string, string_view or bool values, refused until
// 2026-12-07, a tester's) is made as arrow-go makes an array of NULLs,
// which in turn makes none of a nested NULL type; neither makes a
// dictionary of lists or structs.
func nullRow(schema *arrow.Schema) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, schema.NumFields())
	defer func() {
		for _, c := range cols {
			if c != nil {
				c.Release()
			}
		}
	}()
	for i, f := range schema.Fields() {
		col, err := nullOf(f.Type, func() arrow.Array {
			b := array.NewBuilder(memory.DefaultAllocator, f.Type)
			defer b.Release()
			b.AppendNull()
			return b.NewArray()
		})
		if err != nil {
			col, err = nullOf(f.Type, func() arrow.Array { return array.MakeArrayOfNull(memory.DefaultAllocator, f.Type, 1) })
		}
		if err != nil {
			return nil, err
		}
		cols[i] = col
	}
	return array.NewRecordBatch(schema, cols, 1), nil
}

// nullOf is build's array, or why it panicked.
func nullOf(t arrow.DataType, build func() arrow.Array) (a arrow.Array, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("arrow-go makes no value of %s: %v", t, r)
		}
	}()
	return build(), nil
}

// convertible refuses the types DuckDB's Arrow conversion reads out of
// bounds (DuckDB 1.5.5): run-end encoded values under a list (of any
// kind), the process ended (SIGSEGV in duckdb_data_chunk_from_arrow)
// whatever the data, even on the probe row of NULLs; run-end encoded
// values that are themselves run-end encoded, nested or a dictionary
// (read past their vector, or stored as the dictionary's indices).
func convertible(schema *arrow.Schema) error {
	var check func(t arrow.DataType, underList bool) error
	check = func(t arrow.DataType, underList bool) error {
		switch t := t.(type) {
		case *arrow.RunEndEncodedType:
			if underList {
				return fmt.Errorf("run-end encoded values inside a list are not supported")
			}
			switch t.Encoded().(type) {
			case *arrow.RunEndEncodedType, *arrow.DictionaryType, arrow.NestedType:
				return fmt.Errorf("run-end encoded %s values are not supported", t.Encoded())
			}
			return nil
		case *arrow.DictionaryType:
			if _, ok := t.ValueType.(arrow.NestedType); ok {
				// arrow-go's builders make no NULL of them (nullRow),
				// as they were refused before 2026-12-07.
				return fmt.Errorf("dictionary-encoded %s values are not supported: send the values", t.ValueType)
			}
			if underList {
				// DuckDB 1.5.5's conversion of them is broken: of
				// strings or binaries it fails whatever the rows
				// (INTERNAL: "Attempted to dereference unique_ptr that
				// is NULL!"), of numbers with NULL indices past a
				// vector it corrupted the heap and the process ended
				// (DuckDB alone too), and rows past the first vector
				// got other rows' NULLs (testers').
				return fmt.Errorf("dictionary-encoded %s values inside a list are not supported: send the values", t.ValueType)
			}
			return check(t.ValueType, underList)
		case arrow.ExtensionType:
			return check(t.StorageType(), underList)
		case arrow.ListLikeType:
			return check(t.Elem(), true)
		case arrow.NestedType:
			for _, f := range t.Fields() {
				if err := check(f.Type, underList); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, f := range schema.Fields() {
		if err := check(f.Type, false); err != nil {
			return fmt.Errorf("column %s: %w", f.Name, err)
		}
	}
	return nil
}

func appenderError(app mapping.Appender) error {
	// Typed: its text ("Failed to append: NOT NULL constraint failed")
	// does not say its type, which made it Internal.
	if err := errorData(mapping.AppenderErrorData(app)); err != nil {
		return err
	}
	msg := mapping.AppenderError(app)
	if msg == "" {
		return errors.New("duck: appender failed")
	}
	return newError(errorTypeOf(msg), msg)
}

func errorData(ed mapping.ErrorData) error {
	defer mapping.DestroyErrorData(&ed)
	if !mapping.ErrorDataHasError(ed) {
		return nil
	}
	return newError(duckdb.ErrorType(mapping.ErrorDataErrorType(ed)), mapping.ErrorDataMessage(ed))
}
