package duck

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// Typed is a parameter value that Stmt binds as a value of its own DuckDB
// type through the C API, as DuckDB's own Arrow clients bind one: the Go
// binding binds no DECIMAL (it went as its text, which a comparison with an
// INTEGER column cast to an INTEGER: 2.6 matched 3), and binds a time.Time
// as TIMESTAMP WITH TIME ZONE wherever the SQL leaves the parameter's type
// open (a DATE's ? || ” gave '1995-01-01 00:00:00+00', date minus ? an
// INTERVAL, a TIME could not be bound at all).
type Typed interface {
	// SQLType is the value's DuckDB type, as a CAST names it.
	SQLType() string
	// Text is the value's text, which a CAST to SQLType reads back
	// exactly; ok is false for one it does not write (a year before 1 or
	// after 9999).
	Text() (text string, ok bool)
	value() mapping.Value
}

// Date is a DATE: days since 1970-01-01.
type Date struct{ Days int32 }

// Time is a TIME: microseconds since midnight.
type Time struct{ Micros int64 }

// TimeNS is a TIME_NS: nanoseconds since midnight (an Arrow time64[ns]
// parameter, which DuckDB binds as such: as a TIME it lost its
// nanoseconds, and compared with a TIME column where DuckDB refuses to).
type TimeNS struct{ Nanos int64 }

// Timestamp is a TIMESTAMP of Unit (seconds: TIMESTAMP_S, milliseconds:
// TIMESTAMP_MS, microseconds: TIMESTAMP, nanoseconds: TIMESTAMP_NS), or,
// Zoned, a TIMESTAMP WITH TIME ZONE of Value microseconds (the instant).
type Timestamp struct {
	Value int64
	Unit  arrow.TimeUnit
	Zoned bool
}

// Decimal is a DECIMAL(Width, Scale) of unscaled Value.
type Decimal struct {
	Width, Scale uint8
	Value        *big.Int
}

const stampLayout = "2006-01-02 15:04:05.999999999"

// inYears says t's year can be written as Go formats it.
func inYears(t time.Time) bool { return t.Year() >= 1 && t.Year() <= 9999 }

func (d Date) SQLType() string { return "DATE" }

func (d Date) Text() (string, bool) {
	t := time.Unix(int64(d.Days)*86400, 0).UTC()
	return t.Format(time.DateOnly), inYears(t)
}

func (d Date) value() mapping.Value { return mapping.CreateDate(mapping.NewDate(d.Days)) }

func (t Time) SQLType() string { return "TIME" }

// Text writes the time by its fields: as a time of day, 24:00:00 (which
// a TIME holds) came out 00:00:00, and a split query compared its
// column with midnight (a tester's).
func (t Time) Text() (string, bool) {
	s, us := t.Micros/1e6, t.Micros%1e6
	text := fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
	if us != 0 {
		text += strings.TrimRight(fmt.Sprintf(".%06d", us), "0")
	}
	return text, t.Micros >= 0 && t.Micros <= 24*3600*1e6
}

func (t Time) value() mapping.Value { return mapping.CreateTime(mapping.NewTime(t.Micros)) }

func (t TimeNS) SQLType() string { return "TIME_NS" }

func (t TimeNS) Text() (string, bool) {
	return time.Unix(0, t.Nanos).UTC().Format("15:04:05.999999999"), t.Nanos >= 0 && t.Nanos < 24*3600*1e9
}

func (t TimeNS) value() mapping.Value { return mapping.CreateTimeNS(mapping.NewTimeNS(t.Nanos)) }

func (t Timestamp) SQLType() string {
	switch {
	case t.Zoned:
		return "TIMESTAMP WITH TIME ZONE"
	case t.Unit == arrow.Second:
		return "TIMESTAMP_S"
	case t.Unit == arrow.Millisecond:
		return "TIMESTAMP_MS"
	case t.Unit == arrow.Nanosecond:
		return "TIMESTAMP_NS"
	}
	return "TIMESTAMP"
}

// micros is the timestamp in microseconds, a nanosecond's truncated
// towards zero as DuckDB converts one (floored, -1001 ns was bound as
// -2 µs, and matched none of DuckDB's -1 µs, a tester's); ok is false
// where they overflow (2^62 s wrapped to 1970, where DuckDB refuses it).
func (t Timestamp) micros() (us int64, ok bool) {
	switch t.Unit {
	case arrow.Second:
		return t.Value * 1e6, t.Value <= math.MaxInt64/1_000_000 && t.Value >= math.MinInt64/1_000_000
	case arrow.Millisecond:
		return t.Value * 1e3, t.Value <= math.MaxInt64/1_000 && t.Value >= math.MinInt64/1_000
	case arrow.Nanosecond:
		return t.Value / 1e3, true
	}
	return t.Value, true
}

// instant is the timestamp as a time.Time in UTC.
func (t Timestamp) instant() time.Time { return arrow.Timestamp(t.Value).ToTime(t.Unit) }

func (t Timestamp) Text() (string, bool) {
	u := t.instant()
	if t.Zoned {
		us, _ := t.micros()
		u = time.UnixMicro(us).UTC()
	}
	text := u.Format(stampLayout)
	if t.Zoned {
		text += "+00" // the instant, whatever the session's TimeZone
	}
	return text, inYears(u)
}

func (t Timestamp) value() mapping.Value {
	switch {
	case t.Zoned:
		us, _ := t.micros() // it fits: Value refused one that does not
		return mapping.CreateTimestampTZ(mapping.NewTimestamp(us))
	case t.Unit == arrow.Second:
		return mapping.CreateTimestampS(mapping.NewTimestampS(t.Value))
	case t.Unit == arrow.Millisecond:
		return mapping.CreateTimestampMS(mapping.NewTimestampMS(t.Value))
	case t.Unit == arrow.Nanosecond:
		return mapping.CreateTimestampNS(mapping.NewTimestampNS(t.Value))
	}
	return mapping.CreateTimestamp(mapping.NewTimestamp(t.Value))
}

// UUID is a UUID, its 16 bytes in the order its text writes them (an
// Arrow arrow.uuid extension value, which pyarrow makes of Python's
// uuid.UUID: bound as its storage, a BLOB, SELECT ? gave 16 bytes and a
// comparison with a UUID's text matched nothing; a tester's).
type UUID [16]byte

func (u UUID) SQLType() string { return "UUID" }

func (u UUID) Text() (string, bool) {
	h := hex.EncodeToString(u[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
}

func (u UUID) value() mapping.Value {
	return mapping.CreateUUID(mapping.NewUHugeInt(binary.BigEndian.Uint64(u[8:]), binary.BigEndian.Uint64(u[:8])))
}

func (d Decimal) SQLType() string { return fmt.Sprintf("DECIMAL(%d,%d)", d.Width, d.Scale) }

func (d Decimal) Text() (string, bool) {
	return duckdb.Decimal{Width: d.Width, Scale: d.Scale, Value: d.Value}.String(), true
}

func (d Decimal) value() mapping.Value {
	// The unscaled value's 128 bits, two's complement.
	bits := new(big.Int).And(d.Value, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1)))
	lower := new(big.Int).And(bits, new(big.Int).SetUint64(^uint64(0))).Uint64()
	upper := new(big.Int).Rsh(bits, 64).Uint64()
	return mapping.CreateDecimal(mapping.NewDecimal(d.Width, d.Scale, mapping.NewHugeInt(lower, int64(upper))))
}

// bindTyped binds the Typed values of args to s's parameters, after the
// Go binding bound the others (and NULL in their places).
func (s *Stmt) bindTyped(args []any) error {
	for i, a := range args {
		v, ok := a.(Typed)
		if !ok {
			continue
		}
		v = castable(v, mapping.ParamType(s.handle, mapping.IdxT(i+1)))
		val := v.value()
		if val.Ptr == nil {
			// DuckDB makes no value of a MAP with equal or NULL keys
			// or of a STRUCT without fields, at any depth: bound, the
			// NULL handle ended the process.
			return fmt.Errorf("%w: parameter %d: a nested value DuckDB cannot hold (a MAP with two equal keys or a NULL key, or a STRUCT without fields)", ErrBadParameter, i+1)
		}
		state := mapping.BindValue(s.handle, mapping.IdxT(i+1), val)
		mapping.DestroyValue(&val)
		if state == mapping.StateError {
			return fmt.Errorf("%w: parameter %d (%s): %s", ErrBadParameter, i+1, v.SQLType(), mapping.PrepareError(s.handle))
		}
	}
	return nil
}

// castable is v as a value DuckDB casts to a parameter of type to: it
// implements no cast from TIMESTAMP_MS to TIMESTAMP_S nor from TIME to
// TIME_NS, the values the JDBC driver sends for them (declared in
// milliseconds: Stmt.paramType), so those are bound as the same instant in
// a finer unit, exactly.
func castable(v Typed, to mapping.Type) Typed {
	switch v := v.(type) {
	case Timestamp:
		if to == mapping.TypeTimestampS && v.Unit == arrow.Millisecond && !v.Zoned && v.Value > math.MinInt64/1000 && v.Value < math.MaxInt64/1000 {
			return Timestamp{Value: v.Value * 1000, Unit: arrow.Microsecond}
		}
	case Time:
		if to == mapping.TypeTimeNS && v.Micros > math.MinInt64/1000 && v.Micros < math.MaxInt64/1000 {
			return TimeNS{Nanos: v.Micros * 1000}
		}
	}
	return v
}

// AsBound is args as bindTyped binds them to s's parameters (castable):
// written as literals of their own types into a distributed plan, a
// TIMESTAMP_MS for a TIMESTAMP_S parameter (the JDBC driver's) failed on
// the executors, "Unimplemented type for cast", where the same query
// bound here ran (a tester's).
func (s *Stmt) AsBound(args []any) []any {
	var out []any
	for i, a := range args {
		switch v := a.(type) {
		case Timestamp, Time:
			if i >= s.Params.NumFields() {
				continue
			}
			if c := castable(v.(Typed), mapping.ParamType(s.handle, mapping.IdxT(i+1))); c != v {
				if out == nil {
					out = append([]any(nil), args...)
				}
				out[i] = c
			}
		}
	}
	if out == nil {
		return args
	}
	return out
}

// Nested is a LIST, ARRAY, STRUCT or MAP parameter value, bound as a value
// of its Arrow type's DuckDB type: sent as its text, where the SQL left
// the parameter's type open it was a VARCHAR (len(?) of [1, 2, 3] was 9,
// unnest(?) and (?).a failed). Its text is kept for the nested values it
// sits in, and for the bound on what a row of parameters may hold.
type Nested struct {
	typ  arrow.DataType
	text string
	v    any // listNode, structNode or mapNode
}

// The values within a Nested: each element a Go value as scalar gives it,
// a node, or nil for NULL.
type (
	listNode   []any
	structNode []any
	mapNode    struct{ keys, values []any }
)

// SQLType is not written for a nested value: a distributed plan does not
// take one as a literal (PlanBound keeps such a query here).
func (n Nested) SQLType() string { return "" }

// Text is the value's text, as DuckDB casts it from VARCHAR; false: a
// plan does not write it as a literal.
func (n Nested) Text() (string, bool) { return n.text, false }

// value is DuckDB's value of n, or one of no handle (Ptr nil) when DuckDB
// refuses to make it (valueOf), which bindTyped reports.
func (n Nested) value() mapping.Value {
	v, err := valueOf(n.typ, n.v)
	if err != nil {
		return mapping.Value{}
	}
	return v
}

// errNoValue: DuckDB's duckdb_create_map_value, _list_value, _array_value
// or _struct_value gave no value (a NULL handle): a MAP with equal or NULL
// keys, a STRUCT without fields, or a nested value holding one.
var errNoValue = errors.New("DuckDB makes no value of it")

// made is v, or errNoValue when it has no handle.
func made(v mapping.Value) (mapping.Value, error) {
	if v.Ptr == nil {
		return v, errNoValue
	}
	return v, nil
}

// nestedOf is the node of the nested value at row i of a.
func nestedOf(a arrow.Array, i, max int) (any, error) {
	elem := func(c arrow.Array, j int) (any, error) {
		switch {
		case c.IsNull(j):
			return nil, nil
		case isNested(c.DataType()):
			return nestedOf(c, j, max)
		}
		return scalar(c, j, max)
	}
	switch a := a.(type) {
	case *array.Map:
		start, end := a.ValueOffsets(i)
		var m mapNode
		for j := start; j < end; j++ {
			k, err := elem(a.Keys(), int(j))
			if err != nil {
				return nil, err
			}
			v, err := elem(a.Items(), int(j))
			if err != nil {
				return nil, err
			}
			m.keys, m.values = append(m.keys, k), append(m.values, v)
		}
		return m, nil
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		l := listNode{}
		for j := start; j < end; j++ {
			v, err := elem(a.ListValues(), int(j))
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		return l, nil
	case *array.Struct:
		s := make(structNode, a.NumField())
		for f := range a.NumField() {
			v, err := elem(a.Field(f), i)
			if err != nil {
				return nil, err
			}
			s[f] = v
		}
		return s, nil
	}
	return nil, fmt.Errorf("arrow type %s is not a nested parameter", a.DataType())
}

// valueOf is DuckDB's value of v, a node or scalar of Arrow type t. The
// caller destroys it.
func valueOf(t arrow.DataType, v any) (mapping.Value, error) {
	if v == nil {
		return mapping.CreateNullValue(), nil
	}
	if n, ok := v.(Nested); ok {
		return valueOf(n.typ, n.v) // a dictionary's or union's value: scalar gave it whole
	}
	switch t := t.(type) {
	case *arrow.DictionaryType:
		return valueOf(t.ValueType, v)
	case arrow.ExtensionType:
		return valueOf(t.StorageType(), v)
	case *arrow.MapType:
		m, _ := v.(mapNode)
		lt, err := logicalType(t)
		if err != nil {
			return mapping.Value{}, err
		}
		defer mapping.DestroyLogicalType(&lt)
		keys, err := valuesOf(t.KeyType(), m.keys)
		defer destroyValues(keys)
		if err != nil {
			return mapping.Value{}, err
		}
		items, err := valuesOf(t.ItemType(), m.values)
		defer destroyValues(items)
		if err != nil {
			return mapping.Value{}, err
		}
		return made(mapping.CreateMapValue(lt, keys, items))
	case arrow.ListLikeType:
		l, _ := v.(listNode)
		child, err := logicalType(t.Elem())
		if err != nil {
			return mapping.Value{}, err
		}
		defer mapping.DestroyLogicalType(&child)
		elems, err := valuesOf(t.Elem(), l)
		defer destroyValues(elems)
		if err != nil {
			return mapping.Value{}, err
		}
		if _, fixed := t.(*arrow.FixedSizeListType); fixed {
			return made(mapping.CreateArrayValue(child, elems))
		}
		return made(mapping.CreateListValue(child, elems))
	case *arrow.StructType:
		s, _ := v.(structNode)
		lt, err := logicalType(t)
		if err != nil {
			return mapping.Value{}, err
		}
		defer mapping.DestroyLogicalType(&lt)
		fields := make([]any, len(t.Fields()))
		copy(fields, s)
		vals := make([]mapping.Value, 0, len(fields))
		defer func() { destroyValues(vals) }()
		for f, fv := range fields {
			val, err := valueOf(t.Field(f).Type, fv)
			if err != nil {
				return mapping.Value{}, err
			}
			vals = append(vals, val)
		}
		return made(mapping.CreateStructValue(lt, vals))
	}
	return scalarValue(v)
}

// valuesOf is valueOf of each of vs, all of type t; the caller destroys
// what it returns, also with an error.
func valuesOf(t arrow.DataType, vs []any) ([]mapping.Value, error) {
	out := make([]mapping.Value, 0, len(vs))
	for _, v := range vs {
		val, err := valueOf(t, v)
		if err != nil {
			return out, err
		}
		out = append(out, val)
	}
	return out, nil
}

func destroyValues(vs []mapping.Value) {
	for i := range vs {
		mapping.DestroyValue(&vs[i])
	}
}

// scalarValue is DuckDB's value of a Go value as scalar gives it.
func scalarValue(v any) (mapping.Value, error) {
	switch v := v.(type) {
	case Typed:
		return v.value(), nil
	case bool:
		return mapping.CreateBool(v), nil
	case int8:
		return mapping.CreateInt8(v), nil
	case int16:
		return mapping.CreateInt16(v), nil
	case int32:
		return mapping.CreateInt32(v), nil
	case int64:
		return mapping.CreateInt64(v), nil
	case uint8:
		return mapping.CreateUInt8(v), nil
	case uint16:
		return mapping.CreateUInt16(v), nil
	case uint32:
		return mapping.CreateUInt32(v), nil
	case uint64:
		return mapping.CreateUInt64(v), nil
	case float32:
		return mapping.CreateFloat(v), nil
	case float64:
		return mapping.CreateDouble(v), nil
	case string:
		return mapping.CreateVarchar(v), nil
	case []byte:
		return mapping.CreateBlob(v), nil
	case duckdb.Interval:
		return mapping.CreateInterval(mapping.NewInterval(v.Months, v.Days, v.Micros)), nil
	}
	return mapping.Value{}, fmt.Errorf("a value of Go type %T is not supported inside a nested parameter", v)
}

// logicalType is DuckDB's type of Arrow type t, as DuckDB's Arrow scan
// reads it; the caller destroys it.
func logicalType(t arrow.DataType) (mapping.LogicalType, error) {
	simple := func(typ mapping.Type) (mapping.LogicalType, error) { return mapping.CreateLogicalType(typ), nil }
	switch t := t.(type) {
	case *arrow.DictionaryType:
		return logicalType(t.ValueType)
	case arrow.ExtensionType:
		if isUUID(t) {
			return simple(mapping.TypeUUID)
		}
		return logicalType(t.StorageType())
	case *arrow.MapType:
		k, err := logicalType(t.KeyType())
		if err != nil {
			return mapping.LogicalType{}, err
		}
		defer mapping.DestroyLogicalType(&k)
		v, err := logicalType(t.ItemType())
		if err != nil {
			return mapping.LogicalType{}, err
		}
		defer mapping.DestroyLogicalType(&v)
		return mapping.CreateMapType(k, v), nil
	case *arrow.FixedSizeListType:
		c, err := logicalType(t.Elem())
		if err != nil {
			return mapping.LogicalType{}, err
		}
		defer mapping.DestroyLogicalType(&c)
		return mapping.CreateArrayType(c, mapping.IdxT(t.Len())), nil
	case arrow.ListLikeType:
		c, err := logicalType(t.Elem())
		if err != nil {
			return mapping.LogicalType{}, err
		}
		defer mapping.DestroyLogicalType(&c)
		return mapping.CreateListType(c), nil
	case *arrow.StructType:
		types := make([]mapping.LogicalType, 0, len(t.Fields()))
		defer func() {
			for i := range types {
				mapping.DestroyLogicalType(&types[i])
			}
		}()
		names := make([]string, 0, len(t.Fields()))
		for _, f := range t.Fields() {
			ft, err := logicalType(f.Type)
			if err != nil {
				return mapping.LogicalType{}, err
			}
			types, names = append(types, ft), append(names, f.Name)
		}
		return mapping.CreateStructType(types, names), nil
	case arrow.DecimalType:
		return mapping.CreateDecimalType(uint8(t.GetPrecision()), uint8(t.GetScale())), nil
	case *arrow.TimestampType:
		if t.TimeZone != "" {
			return simple(mapping.TypeTimestampTZ)
		}
		return simple(map[arrow.TimeUnit]mapping.Type{arrow.Second: mapping.TypeTimestampS, arrow.Millisecond: mapping.TypeTimestampMS,
			arrow.Microsecond: mapping.TypeTimestamp, arrow.Nanosecond: mapping.TypeTimestampNS}[t.Unit])
	}
	if typ, ok := arrowTypes[t.ID()]; ok {
		return simple(typ)
	}
	return mapping.LogicalType{}, fmt.Errorf("arrow type %s is not supported inside a nested parameter", t)
}

// arrowTypes are DuckDB's types of the Arrow types without parameters of
// their own.
var arrowTypes = map[arrow.Type]mapping.Type{
	arrow.NULL: mapping.TypeSQLNull, arrow.BOOL: mapping.TypeBoolean,
	arrow.INT8: mapping.TypeTinyInt, arrow.INT16: mapping.TypeSmallInt, arrow.INT32: mapping.TypeInteger, arrow.INT64: mapping.TypeBigInt,
	arrow.UINT8: mapping.TypeUTinyInt, arrow.UINT16: mapping.TypeUSmallInt, arrow.UINT32: mapping.TypeUInteger, arrow.UINT64: mapping.TypeUBigInt,
	arrow.FLOAT16: mapping.TypeFloat, arrow.FLOAT32: mapping.TypeFloat, arrow.FLOAT64: mapping.TypeDouble,
	arrow.STRING: mapping.TypeVarchar, arrow.LARGE_STRING: mapping.TypeVarchar, arrow.STRING_VIEW: mapping.TypeVarchar,
	arrow.BINARY: mapping.TypeBlob, arrow.LARGE_BINARY: mapping.TypeBlob, arrow.BINARY_VIEW: mapping.TypeBlob, arrow.FIXED_SIZE_BINARY: mapping.TypeBlob,
	arrow.DATE32: mapping.TypeDate, arrow.DATE64: mapping.TypeDate, arrow.TIME32: mapping.TypeTime, arrow.TIME64: mapping.TypeTime,
	arrow.DURATION: mapping.TypeInterval, arrow.INTERVAL_MONTHS: mapping.TypeInterval, arrow.INTERVAL_DAY_TIME: mapping.TypeInterval,
	arrow.INTERVAL_MONTH_DAY_NANO: mapping.TypeInterval,
}

// isUUID says t is Arrow's canonical UUID extension type (16 bytes a
// value).
func isUUID(t arrow.ExtensionType) bool {
	fixed, ok := t.StorageType().(*arrow.FixedSizeBinaryType)
	return t.ExtensionName() == "arrow.uuid" && ok && fixed.ByteWidth == 16
}
