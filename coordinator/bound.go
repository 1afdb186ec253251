package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

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
// written with constants does. A value it does not write (a timestamp, a
// decimal, a blob, a nested value) keeps the query here, bound by DuckDB
// as before.
func (d *dist) PlanBound(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string, args []any, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	values := make([]partition.Bound, len(args))
	for i, a := range args {
		b, ok := boundValue(a)
		if !ok {
			return runsLocal(fmt.Errorf("%w: parameter %d's value of Go type %T", partition.ErrLocal, i+1, a))
		}
		values[i] = b
	}
	ast, err := serialize(ctx, conn, query)
	if err != nil {
		return runsLocal(fmt.Errorf("%w: %v", partition.ErrLocal, err))
	}
	bound, err := partition.BindParameters([]byte(ast), values)
	if err != nil {
		if errors.Is(err, partition.ErrLocal) {
			return runsLocal(err)
		}
		return nil, err
	}
	text, err := deserialize(ctx, conn, bound)
	if err != nil {
		return runsLocal(fmt.Errorf("%w: %v", partition.ErrLocal, err))
	}
	return d.Plan(ctx, conn, tag, user, text, schema, resultMode, desc)
}

// boundValue is a parameter value as RowArgs gives it, written as its
// text and DuckDB type; false for a kind not written here.
func boundValue(v any) (partition.Bound, bool) {
	i := func(n int64, typ string) (partition.Bound, bool) {
		return partition.Bound{Text: strconv.FormatInt(n, 10), Type: typ}, true
	}
	u := func(n uint64, typ string) (partition.Bound, bool) {
		return partition.Bound{Text: strconv.FormatUint(n, 10), Type: typ}, true
	}
	switch v := v.(type) {
	case nil:
		return partition.Bound{Null: true}, true
	case bool:
		return partition.Bound{Text: strconv.FormatBool(v), Type: "BOOLEAN"}, true
	case int8:
		return i(int64(v), "TINYINT")
	case int16:
		return i(int64(v), "SMALLINT")
	case int32:
		return i(int64(v), "INTEGER")
	case int64:
		return i(v, "BIGINT")
	case uint8:
		return u(uint64(v), "UTINYINT")
	case uint16:
		return u(uint64(v), "USMALLINT")
	case uint32:
		return u(uint64(v), "UINTEGER")
	case uint64:
		return u(v, "UBIGINT")
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
		return partition.Bound{Text: v, Type: "VARCHAR"}, true
	}
	return partition.Bound{}, false
}
