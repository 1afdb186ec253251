package duck

import (
	"fmt"
	"math/big"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
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

func (t Time) Text() (string, bool) {
	return time.UnixMicro(t.Micros).UTC().Format("15:04:05.999999"), t.Micros >= 0 && t.Micros <= 24*3600*1e6
}

func (t Time) value() mapping.Value { return mapping.CreateTime(mapping.NewTime(t.Micros)) }

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

// instant is the timestamp as a time.Time in UTC.
func (t Timestamp) instant() time.Time { return arrow.Timestamp(t.Value).ToTime(t.Unit) }

func (t Timestamp) Text() (string, bool) {
	u := t.instant()
	text := u.Format(stampLayout)
	if t.Zoned {
		text += "+00" // the instant, whatever the session's TimeZone
	}
	return text, inYears(u)
}

func (t Timestamp) value() mapping.Value {
	switch {
	case t.Zoned:
		return mapping.CreateTimestampTZ(mapping.NewTimestamp(t.instant().UnixMicro()))
	case t.Unit == arrow.Second:
		return mapping.CreateTimestampS(mapping.NewTimestampS(t.Value))
	case t.Unit == arrow.Millisecond:
		return mapping.CreateTimestampMS(mapping.NewTimestampMS(t.Value))
	case t.Unit == arrow.Nanosecond:
		return mapping.CreateTimestampNS(mapping.NewTimestampNS(t.Value))
	}
	return mapping.CreateTimestamp(mapping.NewTimestamp(t.Value))
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
		val := v.value()
		state := mapping.BindValue(s.handle, mapping.IdxT(i+1), val)
		mapping.DestroyValue(&val)
		if state == mapping.StateError {
			return fmt.Errorf("%w: parameter %d (%s): %s", ErrBadParameter, i+1, v.SQLType(), mapping.PrepareError(s.handle))
		}
	}
	return nil
}
