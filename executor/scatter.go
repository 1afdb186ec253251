package executor

import (
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/joined"
)

// scatter gathers a producer's rows by partition when every column of its
// output is of a fixed width in whole bytes (integers, floats, decimals,
// dates, times: the keys and states of most partial aggregates): each
// value is copied once, from DuckDB's chunks into its partition's buffers,
// which make the partition's next batch. Through compute.Take a result was
// copied three times before its spool's copy (its chunks joined, its rows
// put in partition order, each partition's slices joined again), which
// cost a producer of a 200,000-group partial aggregate more CPU than
// DuckDB's scan of its slice (README, Performance: the two-executor plan's
// cost).
type scatter struct {
	types  []arrow.DataType
	widths []int // bytes a value, per column
	parts  []scatterPart
	part   []int32 // per row of a chunk: its partition
	dst    []int32 // and its index in its partition's new rows
}

// scatterPart is one partition's rows not yet written.
type scatterPart struct {
	rows int
	cols []scatterCol
}

type scatterCol struct {
	values []byte
	valid  []byte // validity bitmap; nil while every value is valid
	nulls  int
}

// newScatter is a scatter for a result of schema (without the partition
// column) into n partitions, or nil when a column is not of a fixed
// width in whole bytes.
func newScatter(schema *arrow.Schema, n int) *scatter {
	s := &scatter{parts: make([]scatterPart, n)}
	for _, f := range schema.Fields() {
		w := fixedBytes(f.Type)
		if w == 0 {
			return nil
		}
		s.types, s.widths = append(s.types, f.Type), append(s.widths, w)
	}
	for p := range s.parts {
		s.parts[p].cols = make([]scatterCol, len(s.types))
	}
	return s
}

// fixedBytes is the bytes of a value of t, or 0 when t's arrays are not
// one buffer of such values (booleans are bits; strings, nested,
// dictionary and extension types have more).
func fixedBytes(t arrow.DataType) int {
	switch t.ID() {
	case arrow.BOOL, arrow.EXTENSION, arrow.DICTIONARY, arrow.NULL:
		return 0
	}
	fw, ok := t.(arrow.FixedWidthDataType)
	if !ok || fw.BitWidth() < 8 || fw.BitWidth()%8 != 0 {
		return 0
	}
	return fw.BitWidth() / 8
}

// rowBytes is the bytes of one row's values.
func (s *scatter) rowBytes() int64 {
	var n int
	for _, w := range s.widths {
		n += w
	}
	return int64(n)
}

// chunks is rec's chunks: its parts if it is a joined.Record.
func chunks(rec arrow.RecordBatch) []arrow.RecordBatch {
	if parts := joined.Parts(rec); parts != nil {
		return parts
	}
	return []arrow.RecordBatch{rec}
}

// add routes the rows of rec (its last column their partition, checked by
// partitionsOf) to their partitions; counts[p] is set to the rows
// partition p gained.
func (s *scatter) add(rec arrow.RecordBatch, counts []int) error {
	clear(counts)
	return s.addChunk(rec, counts)
}

func (s *scatter) addChunk(rec arrow.RecordBatch, counts []int) error {
	n := int(rec.NumRows())
	if n == 0 {
		return nil
	}
	last := len(s.types)
	if cap(s.part) < n {
		s.part = make([]int32, n)
	}
	part := s.part[:n]
	if err := partitionsOf(rec.Column(last), len(s.parts), part); err != nil {
		return err
	}
	if cap(s.dst) < n {
		s.dst = make([]int32, n)
	}
	dst := s.dst[:n]
	gained := make([]int32, len(s.parts))
	for i, p := range part {
		dst[i] = gained[p]
		gained[p]++
	}
	for c, w := range s.widths {
		col := rec.Column(c)
		for p := range s.parts {
			if g := int(gained[p]); g > 0 {
				sc := &s.parts[p].cols[c]
				sc.values = grow(sc.values, g*w)
				if sc.valid != nil {
					sc.valid = setValid(sc.valid, s.parts[p].rows, g)
				}
			}
		}
		data := col.Data()
		var src []byte
		if b := data.Buffers()[1]; b != nil {
			src = b.Bytes()[data.Offset()*w : (data.Offset()+n)*w]
		}
		switch w {
		case 1:
			scatterValues[uint8](s, c, src, part, dst)
		case 2:
			scatterValues[uint16](s, c, src, part, dst)
		case 4:
			scatterValues[uint32](s, c, src, part, dst)
		case 8:
			scatterValues[uint64](s, c, src, part, dst)
		case 16:
			scatterValues[[2]uint64](s, c, src, part, dst)
		default:
			for i, p := range part {
				sc := &s.parts[p].cols[c]
				at := len(sc.values) - int(gained[p])*w + int(dst[i])*w
				copy(sc.values[at:at+w], src[i*w:])
			}
		}
		if col.NullN() > 0 {
			for i, p := range part {
				if col.IsValid(i) {
					continue
				}
				sc := &s.parts[p].cols[c]
				if sc.valid == nil {
					sc.valid = setValid(nil, 0, s.parts[p].rows+int(gained[p]))
				}
				bitutil.ClearBit(sc.valid, s.parts[p].rows+int(dst[i]))
				sc.nulls++
			}
		}
	}
	for p, g := range gained {
		s.parts[p].rows += int(g)
		counts[p] += int(g)
	}
	return nil
}

// scatterValues copies column c's values (src, of T) of each row i to its
// partition part[i], at its new row dst[i]: the partition's values were
// grown by its new rows already.
func scatterValues[T any](s *scatter, c int, src []byte, part, dst []int32) {
	var zero T
	w := int(unsafe.Sizeof(zero))
	vals := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(src))), len(src)/w)
	views := make([][]T, len(s.parts))
	for p := range s.parts {
		sc := &s.parts[p].cols[c]
		if len(sc.values) > 0 {
			// The partition's new rows: from its old count on.
			all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(sc.values))), len(sc.values)/w)
			views[p] = all[s.parts[p].rows:]
		}
	}
	for i, p := range part {
		views[p][dst[i]] = vals[i]
	}
}

// scatterBufs holds the value buffers of ended scatters: a producer task's
// partitions grow theirs to a batch each, and allocating (and zeroing) them
// anew for every task cost as much as the copies into them.
var scatterBufs sync.Pool // of *[]byte

// release gives s's buffers to the next scatter.
func (s *scatter) release() {
	for p := range s.parts {
		for c := range s.parts[p].cols {
			if b := s.parts[p].cols[c].values; cap(b) > 0 && cap(b) <= 64<<20 {
				b = b[:0]
				scatterBufs.Put(&b)
			}
			s.parts[p].cols[c] = scatterCol{}
		}
	}
}

// grow is b with n more bytes (their values unset), reallocated with room
// to spare when it has not the capacity.
func grow(b []byte, n int) []byte {
	if cap(b) == 0 {
		if pb, ok := scatterBufs.Get().(*[]byte); ok {
			b = *pb
		}
	}
	if len(b)+n > cap(b) {
		// 8-byte aligned for the typed views: a make of 16 bytes or more
		// is.
		nb := make([]byte, len(b), max(2*cap(b), len(b)+n, 64))
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// setValid is bitmap valid grown to hold rows from+n and those n rows set
// valid.
func setValid(valid []byte, from, n int) []byte {
	need := int(bitutil.BytesForBits(int64(from + n)))
	if need > len(valid) {
		valid = append(valid, make([]byte, need-len(valid))...)
	}
	bitutil.SetBitsTo(valid, int64(from), int64(n), true)
	return valid
}

// take is partition p's rows as a record of schema (its buffers are the
// scatter's, valid until its next add: the caller writes and releases it
// first), and empties the partition.
func (s *scatter) take(p int, schema *arrow.Schema) arrow.RecordBatch {
	sp := &s.parts[p]
	cols := make([]arrow.Array, len(s.types))
	for c, t := range s.types {
		sc := &sp.cols[c]
		var valid *memory.Buffer
		if sc.valid != nil {
			valid = memory.NewBufferBytes(sc.valid)
		}
		data := array.NewData(t, sp.rows, []*memory.Buffer{valid, memory.NewBufferBytes(sc.values)}, nil, sc.nulls, 0)
		cols[c] = array.MakeFromData(data)
		data.Release()
		sc.values, sc.valid, sc.nulls = sc.values[:0], nil, 0
	}
	rec := array.NewRecordBatch(schema, cols, int64(sp.rows))
	for _, col := range cols {
		col.Release()
	}
	sp.rows = 0
	return rec
}
