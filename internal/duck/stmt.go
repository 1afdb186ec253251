package duck

import (
	"context"
	"database/sql/driver"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/arrowmapping"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// Stmt is a prepared statement on one connection.
type Stmt struct {
	conn   *Conn
	raw    *duckdb.Stmt
	handle mapping.PreparedStatement
	// Schema is the result schema exactly as DuckDB's Arrow export gives it.
	Schema *arrow.Schema
	// ReturnsRows is false for DDL and DML: DuckDB would answer them with a
	// single "Count" column, which Flight SQL reports as an update count.
	ReturnsRows bool
	// Params describes the parameters ($1...$n) in order; a parameter whose
	// type DuckDB cannot infer has the null type.
	Params *arrow.Schema
}

// Prepare prepares query. Statements before the last one in a multi-statement
// string are executed, as DuckDB does.
func (c *Conn) Prepare(ctx context.Context, query string) (*Stmt, error) {
	ds, err := c.raw.PrepareContext(ctx, query)
	if err != nil {
		return nil, wrap(err)
	}
	raw := ds.(*duckdb.Stmt)
	st := &Stmt{conn: c, raw: raw}
	if st.handle, err = stmtHandle(raw); err != nil {
		_ = raw.Close()
		return nil, err
	}
	if err := st.describe(); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return st, nil
}

func (s *Stmt) describe() error {
	t, err := s.raw.StatementType()
	if err != nil {
		return wrap(err)
	}
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN, duckdb.STATEMENT_TYPE_PRAGMA,
		duckdb.STATEMENT_TYPE_CALL, duckdb.STATEMENT_TYPE_RELATION, duckdb.STATEMENT_TYPE_EXECUTE,
		duckdb.STATEMENT_TYPE_ANALYZE, duckdb.STATEMENT_TYPE_LOGICAL_PLAN:
		s.ReturnsRows = true
	case duckdb.STATEMENT_TYPE_INSERT, duckdb.STATEMENT_TYPE_UPDATE, duckdb.STATEMENT_TYPE_DELETE:
		// DML with RETURNING produces rows; without it, a single Count.
		s.ReturnsRows = !s.isCountOnly()
	}
	n := int(mapping.PreparedStatementColumnCount(s.handle))
	types := make([]mapping.LogicalType, n)
	names := make([]string, n)
	for i := range n {
		types[i] = mapping.PreparedStatementColumnLogicalType(s.handle, mapping.IdxT(i))
		names[i] = mapping.PreparedStatementColumnName(s.handle, mapping.IdxT(i))
	}
	defer func() {
		for i := range types {
			mapping.DestroyLogicalType(&types[i])
		}
	}()
	if s.Schema, err = s.conn.arrowSchema(types, names); err != nil {
		return err
	}
	if !s.ReturnsRows {
		s.Schema = arrow.NewSchema(nil, nil)
	}
	return s.describeParams()
}

// isCountOnly reports whether a DML statement answers with DuckDB's single
// "Count" column, rather than RETURNING rows.
func (s *Stmt) isCountOnly() bool {
	if mapping.PreparedStatementColumnCount(s.handle) != 1 {
		return false
	}
	return mapping.PreparedStatementColumnName(s.handle, 0) == "Count" &&
		mapping.PreparedStatementColumnType(s.handle, 0) == mapping.TypeBigInt
}

func (s *Stmt) describeParams() error {
	n := s.raw.NumInput()
	if n <= 0 {
		s.Params = arrow.NewSchema(nil, nil)
		return nil
	}
	types := make([]mapping.LogicalType, n)
	names := make([]string, n)
	known := make([]bool, n)
	for i := range n {
		t := mapping.ParamType(s.handle, mapping.IdxT(i+1))
		names[i] = fmt.Sprintf("$%d", i+1)
		if name, err := s.raw.ParamName(i + 1); err == nil && name != "" && name != fmt.Sprint(i+1) {
			names[i] = name
		}
		known[i] = t != mapping.TypeInvalid && t != mapping.TypeAny
		if known[i] {
			types[i] = mapping.ParamLogicalType(s.handle, mapping.IdxT(i+1))
		} else {
			types[i] = mapping.CreateLogicalType(mapping.TypeVarchar)
		}
	}
	defer func() {
		for i := range types {
			mapping.DestroyLogicalType(&types[i])
		}
	}()
	sc, err := s.conn.arrowSchema(types, names)
	if err != nil {
		return err
	}
	fields := sc.Fields()
	for i := range fields {
		if !known[i] {
			fields[i].Type = arrow.Null
		}
		fields[i].Nullable = true
	}
	s.Params = arrow.NewSchema(fields, nil)
	return nil
}

func (c *Conn) arrowSchema(types []mapping.LogicalType, names []string) (*arrow.Schema, error) {
	var opts arrowmapping.ArrowOptions
	arrowmapping.ConnectionGetArrowOptions(c.handle, &opts)
	defer arrowmapping.DestroyArrowOptions(&opts)
	sc, ed := arrowmapping.NewArrowSchema(opts, types, names)
	defer mapping.DestroyErrorData(&ed)
	if mapping.ErrorDataHasError(ed) {
		return nil, newError(duckdb.ErrorType(mapping.ErrorDataErrorType(ed)), mapping.ErrorDataMessage(ed))
	}
	return sc, nil
}

// Close releases the statement.
func (s *Stmt) Close() error { return wrap(s.raw.Close()) }

func (s *Stmt) bind(ctx context.Context, args []any) error {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	if err := s.raw.BindWithCtx(ctx, named); err != nil {
		return wrap(err)
	}
	return nil
}

// Exec runs the statement with args and returns the rows changed.
func (s *Stmt) Exec(ctx context.Context, args []any) (int64, error) {
	if err := s.bind(ctx, args); err != nil {
		return 0, err
	}
	res, err := s.raw.ExecBound(ctx)
	if err != nil {
		return 0, wrap(err)
	}
	n, err := res.RowsAffected()
	return n, wrap(err)
}

// Query runs the statement with args and streams its result. The statement
// stays busy until the reader is released; the connection must not run
// anything else meanwhile. Cancelling ctx interrupts the query.
func (s *Stmt) Query(ctx context.Context, mem memory.Allocator, args []any, batch BatchSize) (array.RecordReader, error) {
	if err := s.bind(ctx, args); err != nil {
		return nil, err
	}
	return s.conn.stream(ctx, s.handle, s.Schema, mem, batch)
}
