package duck

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// ValidRecord checks that a client's record batch is well formed before
// anything reads its buffers: every column as long as the batch, every
// array's offsets, indices, type codes and buffers within bounds. DuckDB
// trusts the offsets, indices and buffer sizes it is given, and one it
// reads past (a dictionary index beyond its dictionary, an offset beyond
// its values) is a crash of the whole process, not an error; arrow-go
// panics on them. Arrow's IPC reader checks a message's framing, not
// this; array.ValidateFull checks every value (O(rows), like the
// conversion that follows).
func ValidRecord(rec arrow.RecordBatch) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	for i, col := range rec.Columns() {
		if int64(col.Len()) != rec.NumRows() {
			return fmt.Errorf("column %d has %d rows, the batch %d", i+1, col.Len(), rec.NumRows())
		}
		if err := validArray(col); err != nil {
			return fmt.Errorf("column %d (%s): %w", i+1, rec.Schema().Field(i).Name, err)
		}
	}
	return nil
}

// ownValidator is an array's check of itself alone (its offsets, run
// ends or type codes), without its children.
type ownValidator interface{ ValidateFull() error }

// validArray is array.ValidateFull, but for arrays of NULL and run-end
// encoded types, anywhere in a nested type: it refuses those as Arrow
// builds them (without buffers), so they are walked here, each part
// checked by its own rules.
func validArray(a arrow.Array) error {
	if !buflessInside(a.DataType()) {
		return array.ValidateFull(a)
	}
	if a.DataType().ID() == arrow.NULL {
		return nil // nothing to read
	}
	if v, ok := a.(ownValidator); ok {
		if err := v.ValidateFull(); err != nil {
			return err
		}
	}
	d := a.Data()
	for _, cd := range d.Children() {
		if err := validData(cd); err != nil {
			return err
		}
	}
	if d.DataType().ID() == arrow.DICTIONARY {
		return validData(d.Dictionary())
	}
	return nil
}

func validData(d arrow.ArrayData) error {
	a := array.MakeFromData(d)
	defer a.Release()
	return validArray(a)
}

// buflessInside says whether t is or holds a NULL or run-end encoded type.
func buflessInside(t arrow.DataType) bool {
	switch t := t.(type) {
	case *arrow.NullType, *arrow.RunEndEncodedType:
		return true
	case *arrow.DictionaryType:
		return buflessInside(t.ValueType)
	case arrow.NestedType:
		for _, f := range t.Fields() {
			if buflessInside(f.Type) {
				return true
			}
		}
	}
	return false
}
