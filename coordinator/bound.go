package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// PlanBound implements flightsql.Cluster: a prepared query with one row of
// parameters is planned as the query with their values in its AST in
// place of the parameters (partition.BindParameters), so that what a JDBC
// program or a BI tool prepares with parameters splits as the same query
// written with constants does. A value it does not write (a blob, an
// interval, a nested value, a date or time for a parameter DuckDB did not
// infer a date or time type for) keeps the query here, bound by DuckDB as
// before.
func (d *dist) PlanBound(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string, args []any, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if err := d.quarantine.check(query); err != nil {
		return nil, err
	}
	text, bound, err := d.boundText(ctx, conn, query, args)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("planning: %w", cerr) // as Plan: out of time, not local
		}
		if errors.Is(err, partition.ErrLocal) {
			return runsLocal(err)
		}
		return nil, err
	}
	// Its AST is the one just written: the planning need not ask DuckDB
	// for it again (parse).
	if !d.parsed.has(text) {
		if marked, vals, err := partition.MarkLiterals(bound); err == nil {
			d.parsed.put(text, parsedText{ast: string(bound), marked: marked, values: vals, bound: true})
		}
	}
	return d.Plan(ctx, conn, tag, user, text, schema, resultMode, desc)
}

// BoundSchema implements flightsql.Cluster: the result schema of a
// prepared query bound to args, as DuckDB binds them, learnt from the
// query with LIMIT 0 (partition.NoRows) bound to them and run: its
// columns, named and typed as the query's, and no row, nothing
// evaluated. ok is false where it is not learnt so (a text that is not
// one SELECT): the caller runs the query itself to learn it.
func (d *dist) BoundSchema(ctx context.Context, conn *duck.Conn, query string, args []any) (_ *arrow.Schema, ok bool) {
	parsed, _, err := d.parse(ctx, conn, query)
	if err != nil {
		return nil, false
	}
	empty, err := partition.NoRows([]byte(parsed.ast))
	if err != nil {
		return nil, false
	}
	text, err := deserialize(ctx, conn, empty)
	if err != nil {
		return nil, false
	}
	st, err := conn.Prepare(ctx, text)
	if err != nil {
		return nil, false
	}
	defer st.Close()
	if !st.ReturnsRows || st.Params.NumFields() != len(args) {
		return nil, false
	}
	sc, err := st.ResultSchema(ctx, args)
	if err != nil {
		return nil, false
	}
	return sc, true
}

// boundText is query with the values of args in place of its parameters
// (partition.BindParameters), and its AST; an error wrapping
// partition.ErrLocal for a value not written in place.
func (d *dist) boundText(ctx context.Context, conn *duck.Conn, query string, args []any) (string, []byte, error) {
	values := make([]partition.Bound, len(args))
	for i, a := range args {
		b, ok := boundValue(a)
		if !ok {
			return "", nil, fmt.Errorf("%w: parameter %d's value of Go type %T", partition.ErrLocal, i+1, a)
		}
		values[i] = b
	}
	// The prepared text's AST, asked of DuckDB at its first run only.
	parsed, _, err := d.parse(ctx, conn, query)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", partition.ErrLocal, err)
	}
	bound, err := partition.BindParameters([]byte(parsed.ast), values)
	if err != nil {
		return "", nil, err
	}
	text, err := deserialize(ctx, conn, bound)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", partition.ErrLocal, err)
	}
	return text, bound, nil
}

// integerTypes are the DuckDB types duckdb-go binds Go's integers as.
var integerTypes = map[reflect.Kind]string{reflect.Int8: "TINYINT", reflect.Int16: "SMALLINT", reflect.Int32: "INTEGER",
	reflect.Int64: "BIGINT", reflect.Uint8: "UTINYINT", reflect.Uint16: "USMALLINT", reflect.Uint32: "UINTEGER", reflect.Uint64: "UBIGINT"}

// boundValue is a parameter value as RowArgs gives it, written as its
// text and DuckDB type; false for a kind not written here.
func boundValue(v any) (partition.Bound, bool) {
	switch v := v.(type) {
	case duck.Typed:
		// A date, time, timestamp or decimal: its own type, which DuckDB
		// casts to its context's as it does the value bound.
		text, ok := v.Text()
		return partition.Bound{Text: text, Type: v.SQLType()}, ok
	case nil:
		return partition.Bound{Null: true}, true
	case bool:
		return partition.Bound{Text: strconv.FormatBool(v), Type: "BOOLEAN"}, true
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return partition.Bound{Text: fmt.Sprint(v), Type: integerTypes[reflect.TypeOf(v).Kind()]}, true
	case float32:
		// The shortest text that reads back as the same float.
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			return partition.Bound{}, false
		}
		return partition.Bound{Text: strconv.FormatFloat(float64(v), 'g', -1, 32), Type: "FLOAT"}, true
	case float64:
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return partition.Bound{}, false
		}
		return partition.Bound{Text: strconv.FormatFloat(v, 'g', -1, 64), Type: "DOUBLE"}, true
	case string:
		// DuckDB's SQL text cannot hold a NUL byte: written into a task's
		// SQL (json_deserialize_sql) the value was cut there, and the
		// text, the plan's cache key, then answered for the value before
		// it ('k1\x00zzz' as 'k1', and 'k1' as 'k1\x00zzz'; a tester's).
		// DuckDB binds such a value itself, on one node.
		if strings.IndexByte(v, 0) >= 0 {
			return partition.Bound{}, false
		}
		return partition.Bound{Text: v, Type: "VARCHAR"}, true
	}
	return partition.Bound{}, false
}
