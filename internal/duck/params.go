package duck

import (
	"fmt"
	"math/big"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2"
)

// ErrBadParameter marks a parameter value that cannot be bound.
var ErrBadParameter = fmt.Errorf("duck: bad parameter")

// RowArgs converts one row of a parameter batch into the values a statement
// binds, in column order.
func RowArgs(rec arrow.RecordBatch, row int) ([]any, error) {
	args := make([]any, rec.NumCols())
	for i, col := range rec.Columns() {
		v, err := Value(col, row)
		if err != nil {
			return nil, fmt.Errorf("%w: parameter %d (%s): %w", ErrBadParameter, i+1, rec.Schema().Field(i).Name, err)
		}
		args[i] = v
	}
	return args, nil
}

// Value converts the Arrow value at row i into the Go value DuckDB binds.
func Value(a arrow.Array, i int) (any, error) {
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
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.StringView:
		return a.Value(i), nil
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.BinaryView:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.FixedSizeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.Date32:
		return a.Value(i).ToTime().UTC(), nil
	case *array.Date64:
		return a.Value(i).ToTime().UTC(), nil
	case *array.Time32:
		unit := a.DataType().(*arrow.Time32Type).Unit
		return time.Unix(0, 0).UTC().Add(time.Duration(a.Value(i)) * unit.Multiplier()), nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return time.Unix(0, 0).UTC().Add(time.Duration(a.Value(i)) * unit.Multiplier()), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC(), nil
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
		return Value(a.Dictionary(), a.GetValueIndex(i))
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		out := make([]any, 0, end-start)
		if m, ok := a.(*array.Map); ok {
			keys, items := m.Keys(), m.Items()
			mv := duckdb.Map{}
			for j := start; j < end; j++ {
				k, err := Value(keys, int(j))
				if err != nil {
					return nil, err
				}
				v, err := Value(items, int(j))
				if err != nil {
					return nil, err
				}
				mv[k] = v
			}
			return mv, nil
		}
		for j := start; j < end; j++ {
			v, err := Value(a.ListValues(), int(j))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *array.Struct:
		st := a.DataType().(*arrow.StructType)
		out := make(map[string]any, a.NumField())
		for f := range a.NumField() {
			v, err := Value(a.Field(f), i)
			if err != nil {
				return nil, err
			}
			out[st.Field(f).Name] = v
		}
		return out, nil
	case array.Union:
		child := a.Field(a.ChildID(i))
		idx := i
		if d, ok := a.(*array.DenseUnion); ok {
			idx = int(d.ValueOffset(i))
		}
		return Value(child, idx)
	case array.ExtensionArray:
		return Value(a.Storage(), i)
	}
	return nil, fmt.Errorf("arrow type %s is not supported as a parameter", a.DataType())
}

func decimal(precision, scale int32, v *big.Int) (any, error) {
	if precision > 38 {
		return nil, fmt.Errorf("decimal precision %d exceeds DuckDB's 38", precision)
	}
	// duckdb-go cannot bind a Decimal; its exact text casts losslessly to
	// the parameter's DECIMAL type.
	return duckdb.Decimal{Width: uint8(precision), Scale: uint8(scale), Value: v}.String(), nil
}
