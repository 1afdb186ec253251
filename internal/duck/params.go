package duck

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// ErrBadParameter marks a parameter value that cannot be bound.
var ErrBadParameter = fmt.Errorf("invalid parameter")

// UnboundParams is the error of running a statement that takes n
// parameters with bound of them bound (a client that executes without a
// row of them: no DoPut, or one of no rows): the client's error.
func UnboundParams(n, bound int) error {
	return fmt.Errorf("%w: the statement takes %d parameters, and %d were bound: bind a row of them (DoPut of the prepared statement) before executing it", ErrBadParameter, n, bound)
}

// ErrParamsTooLarge is a row of parameters whose nested values' text
// would pass the bound RowArgs was given.
var ErrParamsTooLarge = errors.New("duck: parameters too large")

// RowArgs converts one row of a parameter batch into the values a statement
// binds, in column order. The text of its nested values may take at most
// max bytes together: a few bytes of Arrow can stand for far more (list
// views may all point at one long list: 20,000 views of one 20,000-long
// list, 180 KB, took 46 s of CPU and 5.8 GB to render).
func RowArgs(rec arrow.RecordBatch, row, max int) ([]any, error) {
	args := make([]any, rec.NumCols())
	for i, col := range rec.Columns() {
		v, err := Value(col, row, max)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %d (%s): %w", ErrBadParameter, i+1, rec.Schema().Field(i).Name, err)
		}
		if n, ok := v.(Nested); ok {
			max -= len(n.text)
		}
		args[i] = v
	}
	return args, nil
}

// Value converts the Arrow value at row i into the Go value DuckDB binds.
// Nested values (LIST, ARRAY, STRUCT, MAP) travel as DuckDB's text form of
// the value, which DuckDB casts to the parameter's type on binding: the
// Go binding cannot bind nested values holding NULLs or differently sized
// integers, and the text form is exact for every element type. That text
// may take at most max bytes (ErrParamsTooLarge).
func Value(a arrow.Array, i, max int) (any, error) {
	if isNested(a.DataType()) && !a.IsNull(i) {
		sb := text{max: max}
		if err := literal(&sb, a, i); err != nil {
			return nil, err
		}
		v, err := nestedOf(a, i, max)
		if err != nil {
			return nil, err
		}
		// Its DuckDB type, made when it is bound: a type none is made of
		// (a union inside) is refused now.
		lt, err := logicalType(a.DataType())
		if err != nil {
			return nil, err
		}
		mapping.DestroyLogicalType(&lt)
		return Nested{typ: a.DataType(), text: sb.String(), v: v}, nil
	}
	return scalar(a, i, max)
}

// text is a nested value's text as it is written, refused once it passes
// max bytes (checked before each element: it passes by one element at
// most).
type text struct {
	strings.Builder
	max int
}

func (t *text) full() error {
	if t.Len() > t.max {
		return fmt.Errorf("%w: a nested value's text passes %d bytes", ErrParamsTooLarge, t.max)
	}
	return nil
}

func isNested(t arrow.DataType) bool {
	switch t.ID() {
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST, arrow.LIST_VIEW, arrow.LARGE_LIST_VIEW,
		arrow.STRUCT, arrow.MAP:
		return true
	}
	return false
}

// utf8Value is a string parameter's value, refused unless it is UTF-8, as
// DuckDB's VARCHAR is (Arrow does not check its strings): DuckDB's binding
// failed "could not bind parameter", and a query split across executors
// answered as if it matched nothing (a tester's).
func utf8Value(s string) (any, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("a string that is not valid UTF-8, which DuckDB's VARCHAR holds only: send bytes as a binary parameter")
	}
	return s, nil
}

// scalar is the value at row i of a column not nested itself; a union's
// or dictionary's may be, whose text takes at most max bytes.
func scalar(a arrow.Array, i, max int) (any, error) {
	if a.IsNull(i) {
		return nil, nil
	}
	switch a := a.(type) {
	case *array.Null:
		return nil, nil
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Int8:
		return a.Value(i), nil
	case *array.Int16:
		return a.Value(i), nil
	case *array.Int32:
		return a.Value(i), nil
	case *array.Int64:
		return a.Value(i), nil
	case *array.Uint8:
		return a.Value(i), nil
	case *array.Uint16:
		return a.Value(i), nil
	case *array.Uint32:
		return a.Value(i), nil
	case *array.Uint64:
		return a.Value(i), nil
	case *array.Float16:
		return a.Value(i).Float32(), nil
	case *array.Float32:
		return a.Value(i), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.String:
		return utf8Value(a.Value(i))
	case *array.LargeString:
		return utf8Value(a.Value(i))
	case *array.StringView:
		return utf8Value(a.Value(i))
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.BinaryView:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.FixedSizeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.Date32:
		return Date{Days: int32(a.Value(i))}, nil
	case *array.Date64:
		const day = 24 * 60 * 60 * 1000
		ms := int64(a.Value(i))
		days := ms / day
		if ms%day < 0 {
			days-- // towards the earlier day, as a date of the instant
		}
		return Date{Days: int32(days)}, nil
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return Time{Micros: (time.Duration(a.Value(i)) * unit.Multiplier()).Microseconds()}, nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		if unit == arrow.Nanosecond {
			return TimeNS{Nanos: int64(a.Value(i))}, nil
		}
		return Time{Micros: (time.Duration(a.Value(i)) * unit.Multiplier()).Microseconds()}, nil
	case *array.Timestamp:
		ts := a.DataType().(*arrow.TimestampType)
		v := Timestamp{Value: int64(a.Value(i)), Unit: ts.Unit, Zoned: ts.TimeZone != ""}
		if _, ok := v.micros(); v.Zoned && !ok {
			return nil, fmt.Errorf("a timestamp with time zone of %d %s is out of DuckDB's range (microseconds in 64 bits)", v.Value, ts.Unit)
		}
		return v, nil
	case *array.Duration:
		unit := a.DataType().(*arrow.DurationType).Unit
		d := time.Duration(a.Value(i)) * unit.Multiplier()
		return duckdb.Interval{Micros: d.Microseconds()}, nil
	case *array.MonthDayNanoInterval:
		v := a.Value(i)
		return duckdb.Interval{Months: v.Months, Days: v.Days, Micros: v.Nanoseconds / 1000}, nil
	case *array.DayTimeInterval:
		v := a.Value(i)
		return duckdb.Interval{Days: v.Days, Micros: int64(v.Milliseconds) * 1000}, nil
	case *array.MonthInterval:
		return duckdb.Interval{Months: int32(a.Value(i))}, nil
	case *array.Decimal128:
		t := a.DataType().(*arrow.Decimal128Type)
		return decimal(t.Precision, t.Scale, a.Value(i).BigInt())
	case *array.Decimal256:
		t := a.DataType().(*arrow.Decimal256Type)
		return decimal(t.Precision, t.Scale, a.Value(i).BigInt())
	case *array.Dictionary:
		return Value(a.Dictionary(), a.GetValueIndex(i), max)
	case array.Union:
		child := a.Field(a.ChildID(i))
		idx := i
		if d, ok := a.(*array.DenseUnion); ok {
			idx = int(d.ValueOffset(i))
		}
		return Value(child, idx, max)
	case array.ExtensionArray:
		if isUUID(a.ExtensionType()) {
			var u UUID
			copy(u[:], a.Storage().(*array.FixedSizeBinary).Value(i))
			return u, nil
		}
		return Value(a.Storage(), i, max)
	}
	return nil, fmt.Errorf("arrow type %s is not supported as a parameter", a.DataType())
}

func decimal(precision, scale int32, v *big.Int) (any, error) {
	if precision > 38 || scale < 0 || scale > precision {
		return nil, fmt.Errorf("decimal(%d, %d) is not one of DuckDB's (precision at most 38)", precision, scale)
	}
	// Arrow does not check that a value fits its precision; DuckDB's
	// cast of one that does not threw an INTERNAL error that ended the
	// process (decimal128(4,2) of 1234.56, a tester's), and one past 18
	// digits wider than its type was bound wrapped.
	if v.CmpAbs(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(precision)), nil)) >= 0 {
		return nil, fmt.Errorf("a decimal(%d, %d) value of %d digits: more than its precision", precision, scale, len(new(big.Int).Abs(v).String()))
	}
	return Decimal{Width: uint8(precision), Scale: uint8(scale), Value: v}, nil
}

// literal writes the value at row i in DuckDB's text form for values,
// which its VARCHAR casts read back: [a, b], {'f': v}, {k=v}, with strings
// quoted and backslash-escaped.
func literal(sb *text, a arrow.Array, i int) error {
	if err := sb.full(); err != nil {
		return err
	}
	if a.IsNull(i) {
		sb.WriteString("NULL")
		return nil
	}
	switch a := a.(type) {
	case *array.Map:
		start, end := a.ValueOffsets(i)
		sb.WriteByte('{')
		for j := start; j < end; j++ {
			if j > start {
				sb.WriteString(", ")
			}
			if err := literal(sb, a.Keys(), int(j)); err != nil {
				return err
			}
			sb.WriteByte('=')
			if err := literal(sb, a.Items(), int(j)); err != nil {
				return err
			}
		}
		sb.WriteByte('}')
		return nil
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		sb.WriteByte('[')
		for j := start; j < end; j++ {
			if j > start {
				sb.WriteString(", ")
			}
			if err := literal(sb, a.ListValues(), int(j)); err != nil {
				return err
			}
		}
		sb.WriteByte(']')
		return nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		sb.WriteByte('{')
		for f := range a.NumField() {
			if f > 0 {
				sb.WriteString(", ")
			}
			quote(sb, st.Field(f).Name)
			sb.WriteString(": ")
			if err := literal(sb, a.Field(f), i); err != nil {
				return err
			}
		}
		sb.WriteByte('}')
		return nil
	}
	v, err := scalar(a, i, sb.max-sb.Len())
	if err != nil {
		return err
	}
	switch v := v.(type) {
	case bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		fmt.Fprint(sb, v)
	case float32:
		quote(sb, strconv.FormatFloat(float64(v), 'g', -1, 32))
	case float64:
		quote(sb, strconv.FormatFloat(v, 'g', -1, 64))
	case string:
		quote(sb, v)
	case []byte:
		var hex strings.Builder
		for _, b := range v {
			fmt.Fprintf(&hex, "\\\\x%02X", b)
		}
		sb.WriteByte('\'')
		sb.WriteString(hex.String())
		sb.WriteByte('\'')
	case Typed:
		text, ok := v.Text()
		switch {
		case !ok && v.SQLType() == "":
			// A nested value (a dictionary's STRUCT) within another.
			return fmt.Errorf("arrow type %s is not supported inside a nested parameter", a.DataType())
		case !ok:
			return fmt.Errorf("a %s value out of the years 1 to 9999 inside a nested parameter", v.SQLType())
		}
		quote(sb, text)
	case duckdb.Interval:
		quote(sb, fmt.Sprintf("%d months %d days %d microseconds", v.Months, v.Days, v.Micros))
	default:
		return fmt.Errorf("arrow type %s is not supported inside a nested parameter", a.DataType())
	}
	return nil
}

func quote(sb *text, s string) {
	sb.WriteByte('\'')
	for _, r := range s {
		if r == '\'' || r == '\\' {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	sb.WriteByte('\'')
}
