package flightwire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A client's stream (a DoPut of rows to ingest or of parameters) begins
// with a Schema message that arrow-go turns into fields by recursion, one
// Go frame a level and no bound: a schema of one column nested 2,000,000
// lists deep (56 MB) overflowed the Go stack, a fatal error that no
// recover catches, and one of 10,000 levels crashed DuckDB converting it
// (found by a hostile client, 2026-12-04). A flatbuffer can also name one
// child table many times over, so that a small message stands for an
// exponentially large tree. CheckSchema reads the message's fields
// without recursion, every offset checked, before arrow-go sees it.

// ErrSchema is a schema message refused by CheckSchema.
var ErrSchema = errors.New("schema")

// Offsets into the IPC flatbuffers (format/Message.fbs, Schema.fbs):
// the vtable slot of each field read.
const (
	slotMessageHeaderType = 1 // Message.header_type
	slotMessageHeader     = 2 // Message.header
	slotSchemaFields      = 1 // Schema.fields
	slotFieldChildren     = 5 // Field.children
	headerSchema          = 1 // MessageHeader.Schema
)

// CheckSchema refuses a Flight message header (FlightData.data_header)
// that is a schema whose fields nest deeper than maxDepth levels (a
// list, struct or union is one level, a map two: its entries and the
// map) or that has more than maxFields fields at every level together.
// Other messages, and an empty header, pass: arrow-go checks those.
func CheckSchema(header []byte, maxDepth, maxFields int) error {
	if len(header) == 0 {
		return nil
	}
	fb := flatbuf(header)
	msg, err := fb.root()
	if err != nil {
		return err
	}
	typ, err := fb.byteField(msg, slotMessageHeaderType)
	if err != nil || typ != headerSchema {
		return err
	}
	schema, ok, err := fb.tableField(msg, slotMessageHeader)
	if err != nil || !ok {
		return err
	}
	type level struct{ vec, depth int } // a vector of fields, and its fields' depth
	var stack []level
	if vec, ok, err := fb.vectorField(schema, slotSchemaFields); err != nil {
		return err
	} else if ok {
		stack = append(stack, level{vec, 0})
	}
	fields := 0
	for len(stack) > 0 {
		l := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n, err := fb.u32(l.vec)
		if err != nil {
			return err
		}
		if fields += int(n); fields > maxFields {
			return fmt.Errorf("%w: more than %d fields", ErrSchema, maxFields)
		}
		for i := range int(n) {
			field, err := fb.indirect(l.vec + 4 + 4*i)
			if err != nil {
				return err
			}
			children, ok, err := fb.vectorField(field, slotFieldChildren)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			kids, err := fb.u32(children)
			if err != nil {
				return err
			}
			if kids == 0 {
				continue // a leaf: arrow-go writes it an empty vector
			}
			if l.depth+1 > maxDepth {
				return fmt.Errorf("%w: a column nests deeper than %d levels", ErrSchema, maxDepth)
			}
			stack = append(stack, level{children, l.depth + 1})
		}
	}
	return nil
}

// flatbuf reads a flatbuffer, every position checked against its length.
type flatbuf []byte

var errFlatbuf = fmt.Errorf("%w: a malformed schema message", ErrSchema)

func (b flatbuf) u32(pos int) (uint32, error) {
	if pos < 0 || pos > len(b)-4 {
		return 0, errFlatbuf
	}
	return binary.LittleEndian.Uint32(b[pos:]), nil
}

func (b flatbuf) u16(pos int) (uint16, error) {
	if pos < 0 || pos > len(b)-2 {
		return 0, errFlatbuf
	}
	return binary.LittleEndian.Uint16(b[pos:]), nil
}

// indirect follows the offset stored at pos.
func (b flatbuf) indirect(pos int) (int, error) {
	off, err := b.u32(pos)
	if err != nil {
		return 0, err
	}
	to := pos + int(off)
	if to >= len(b) {
		return 0, errFlatbuf
	}
	return to, nil
}

func (b flatbuf) root() (int, error) { return b.indirect(0) }

// field is where table's field in vtable slot is, if it is present.
func (b flatbuf) field(table, slot int) (int, bool, error) {
	soff, err := b.u32(table)
	if err != nil {
		return 0, false, err
	}
	vt := table - int(int32(soff))
	size, err := b.u16(vt)
	if err != nil {
		return 0, false, err
	}
	at := 4 + 2*slot
	if at+2 > int(size) {
		return 0, false, nil
	}
	off, err := b.u16(vt + at)
	if err != nil || off == 0 {
		return 0, false, err
	}
	return table + int(off), true, nil
}

func (b flatbuf) byteField(table, slot int) (byte, error) {
	pos, ok, err := b.field(table, slot)
	if err != nil || !ok {
		return 0, err
	}
	if pos >= len(b) {
		return 0, errFlatbuf
	}
	return b[pos], nil
}

// tableField and vectorField follow a field's offset to its table or
// vector.
func (b flatbuf) tableField(table, slot int) (int, bool, error) {
	pos, ok, err := b.field(table, slot)
	if err != nil || !ok {
		return 0, false, err
	}
	to, err := b.indirect(pos)
	return to, err == nil, err
}

func (b flatbuf) vectorField(table, slot int) (int, bool, error) {
	return b.tableField(table, slot)
}
