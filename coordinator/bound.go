package coordinator

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"time"

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
func (d *dist) PlanBound(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string, args []any, timeTypes []string, schema *arrow.Schema, resultMode string, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	values := make([]partition.Bound, len(args))
	for i, a := range args {
		timeType := ""
		if i < len(timeTypes) {
			timeType = timeTypes[i]
		}
		b, ok := boundValue(a, timeType)
		if !ok {
			return runsLocal(fmt.Errorf("%w: parameter %d's value of Go type %T", partition.ErrLocal, i+1, a))
		}
		values[i] = b
	}
	// The prepared text's AST, asked of DuckDB at its first run only.
	parsed, _, err := d.parse(ctx, conn, query)
	if err != nil {
		return runsLocal(fmt.Errorf("%w: %v", partition.ErrLocal, err))
	}
	bound, err := partition.BindParameters([]byte(parsed.ast), values)
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
	// Its AST is the one just written: the planning need not ask DuckDB
	// for it again (parse).
	if !d.parsed.has(text) {
		if marked, vals, err := partition.MarkLiterals(bound); err == nil {
			d.parsed.put(text, parsedText{ast: string(bound), marked: marked, values: vals, bound: true})
		}
	}
	return d.Plan(ctx, conn, tag, user, text, schema, resultMode, desc)
}

// integerTypes are the DuckDB types duckdb-go binds Go's integers as.
var integerTypes = map[reflect.Kind]string{reflect.Int8: "TINYINT", reflect.Int16: "SMALLINT", reflect.Int32: "INTEGER",
	reflect.Int64: "BIGINT", reflect.Uint8: "UTINYINT", reflect.Uint16: "USMALLINT", reflect.Uint32: "UINTEGER", reflect.Uint64: "UBIGINT"}

// boundValue is a parameter value as RowArgs gives it, written as its
// text and DuckDB type (a date or time as timeType, its parameter's:
// timeValue); false for a kind not written here.
func boundValue(v any, timeType string) (partition.Bound, bool) {
	switch v := v.(type) {
	case time.Time:
		return timeValue(v, timeType)
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
		return partition.Bound{Text: v, Type: "VARCHAR"}, true
	}
	return partition.Bound{}, false
}

// timeValue is a date or time value bound to a parameter of DuckDB's type
// typ (duck.Stmt.TimeParams), written as the value the Go binding binds:
// it converts the instant to that type (a DATE the instant's UTC day, its
// Unix seconds divided by a day's, truncated towards 1970; a TIMESTAMP
// its microseconds; a TIME the wall clock's time of day), where a value of
// another kind is bound as its own type. false for a type not written
// here, or a year a text cannot hold as Go formats it.
func timeValue(t time.Time, typ string) (partition.Bound, bool) {
	u := t.UTC()
	if u.Year() < 1 || u.Year() > 9999 {
		return partition.Bound{}, false
	}
	const stamp = "2006-01-02 15:04:05.999999999"
	var text string
	switch typ {
	case "DATE":
		const day = 24 * 60 * 60
		text = time.Unix(t.Unix()/day*day, 0).UTC().Format(time.DateOnly)
	case "TIMESTAMP", "TIMESTAMP WITH TIME ZONE":
		text = time.UnixMicro(t.UnixMicro()).UTC().Format(stamp)
	case "TIMESTAMP_S":
		text = time.Unix(t.Unix(), 0).UTC().Format(stamp)
	case "TIMESTAMP_MS":
		text = time.UnixMilli(t.UnixMilli()).UTC().Format(stamp)
	case "TIMESTAMP_NS":
		if u.Year() < 1678 || u.Year() > 2262 {
			return partition.Bound{}, false
		}
		text = u.Format(stamp)
	case "TIME", "TIME WITH TIME ZONE":
		// The time of day in the value's own location, as the binding
		// takes it; a TIME WITH TIME ZONE keeps the location's offset.
		text = t.Format("15:04:05.999999")
		if typ == "TIME WITH TIME ZONE" {
			text += t.Format("-07:00")
		}
	default:
		return partition.Bound{}, false
	}
	if typ == "TIMESTAMP WITH TIME ZONE" {
		text += "+00" // the instant, whatever the session's TimeZone
	}
	return partition.Bound{Text: text, Type: typ}, true
}
