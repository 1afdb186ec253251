package duck

import (
	"errors"
	"fmt"
	"reflect"
	"unsafe"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// duckdb-go keeps the C handles of a connection and of a prepared statement
// unexported. Skein needs both: the connection for its Arrow options (so that
// a prepared statement's schema is converted exactly as DuckDB's own Arrow
// export converts results) and for interrupts, the statement for its column
// logical types and for streaming execution. The field names and types are
// checked at run time, so a duckdb-go upgrade that moves them fails with an
// error instead of reading the wrong memory.

var errLayout = errors.New("duck: unexpected duckdb-go layout")

func connHandle(c *duckdb.Conn) (mapping.Connection, error) {
	f := reflect.ValueOf(c).Elem().FieldByName("conn")
	if !f.IsValid() || f.Type() != reflect.TypeOf(mapping.Connection{}) {
		return mapping.Connection{}, fmt.Errorf("%w: Conn.conn", errLayout)
	}
	return *(*mapping.Connection)(unsafe.Pointer(f.UnsafeAddr())), nil
}

func stmtHandle(s *duckdb.Stmt) (mapping.PreparedStatement, error) {
	f := reflect.ValueOf(s).Elem().FieldByName("preparedStmt")
	if !f.IsValid() || f.Type() != reflect.TypeOf(&mapping.PreparedStatement{}) {
		return mapping.PreparedStatement{}, fmt.Errorf("%w: Stmt.preparedStmt", errLayout)
	}
	p := *(**mapping.PreparedStatement)(unsafe.Pointer(f.UnsafeAddr()))
	if p == nil {
		return mapping.PreparedStatement{}, fmt.Errorf("%w: nil prepared statement", errLayout)
	}
	return *p, nil
}

// newStmt wraps a prepared statement handle in duckdb-go's Stmt, so that
// statements Skein prepares one by one (to check each before it runs) bind
// and execute through the same code as any other.
func newStmt(c *duckdb.Conn, p *mapping.PreparedStatement) (*duckdb.Stmt, error) {
	st := new(duckdb.Stmt)
	v := reflect.ValueOf(st).Elem()
	conn, prep := v.FieldByName("conn"), v.FieldByName("preparedStmt")
	if !conn.IsValid() || conn.Type() != reflect.TypeOf(c) {
		return nil, fmt.Errorf("%w: Stmt.conn", errLayout)
	}
	if !prep.IsValid() || prep.Type() != reflect.TypeOf(p) {
		return nil, fmt.Errorf("%w: Stmt.preparedStmt", errLayout)
	}
	*(**duckdb.Conn)(unsafe.Pointer(conn.UnsafeAddr())) = c
	*(**mapping.PreparedStatement)(unsafe.Pointer(prep.UnsafeAddr())) = p
	return st, nil
}
