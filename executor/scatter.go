package executor

import (
	"errors"
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
// cost). The buffers' bytes are counted against the spools' memory budget
// (store) before they are allocated, and go back to its pool at the end.
type scatter struct {
	store  *spoolStore
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
	valid  []byte // validity bitmap, in use when bitmap is set (a value is NULL)
	bitmap bool
	nulls  int
}

// errNoRoom is a scatter's when the spools' memory budget has not the
// bytes its rows need.
var errNoRoom = errors.New("the spools' memory budget is full")

// newScatter is a scatter for a result of schema (without the partition
// column) into n partitions, its buffers counted by store, or nil when a
// column is not of a fixed width in whole bytes.
func newScatter(schema *arrow.Schema, n int, store *spoolStore) *scatter {
	s := &scatter{store: store, parts: make([]scatterPart, n)}
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
// partition p gained. When the memory budget has not the bytes the rows
// need, add fails with errNoRoom and adds none (the buffers grown before
// stay counted), unless force is set: then it takes them over the budget.
func (s *scatter) add(rec arrow.RecordBatch, counts []int, force bool) error {
	clear(counts)
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
	// Room first, in every column, so that a budget without it leaves
	// the rows as they were.
	for c, w := range s.widths {
		nulls := rec.Column(c).NullN() > 0
		for p, g := range gained {
			sp := &s.parts[p]
			if sc := &sp.cols[c]; g > 0 {
				if err := s.room(&sc.values, len(sc.values)+int(g)*w, force); err != nil {
					return err
				}
				if nulls || sc.bitmap {
					if err := s.room(&sc.valid, int(bitutil.BytesForBits(int64(sp.rows+int(g)))), force); err != nil {
						return err
					}
				}
			}
		}
	}
	for c, w := range s.widths {
		col := rec.Column(c)
		nulls := col.NullN() > 0
		for p, g := range gained {
			sp := &s.parts[p]
			if sc := &sp.cols[c]; g > 0 {
				sc.values = sc.values[:len(sc.values)+int(g)*w]
				if nulls && !sc.bitmap {
					sc.valid, sc.bitmap = setValid(sc.valid[:0], 0, sp.rows), true
				}
				if sc.bitmap {
					sc.valid = setValid(sc.valid, sp.rows, int(g))
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
		if nulls {
			for i, p := range part {
				if col.IsValid(i) {
					continue
				}
				sc := &s.parts[p].cols[c]
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

// release gives s's buffers back to its store, to keep for the next
// scatter (allocating and zeroing them anew for every producer task cost
// as much as the copies into them) or to let go.
func (s *scatter) release() {
	for p := range s.parts {
		for c := range s.parts[p].cols {
			sc := &s.parts[p].cols[c]
			s.store.keep(sc.values)
			s.store.keep(sc.valid)
			*sc = scatterCol{}
		}
	}
}

// room makes *b's capacity n bytes or more: an idle buffer of the store's
// for an empty one, else a new one with room to spare, its bytes counted
// against the store's budget first (errNoRoom when they do not fit and
// force is not set).
func (s *scatter) room(b *[]byte, n int, force bool) error {
	if cap(*b) >= n {
		return nil
	}
	if cap(*b) == 0 {
		if *b = s.store.buffer(); cap(*b) >= n {
			return nil
		}
	}
	size := max(2*cap(*b), n, 64)
	// The old buffer is let go (garbage) once copied.
	if !s.store.holdShuffle(int64(size-cap(*b)), force) && !force {
		return errNoRoom
	}
	// 8-byte aligned for the typed views: a make of 16 bytes or more is.
	nb := make([]byte, len(*b), size)
	copy(nb, *b)
	*b = nb
	return nil
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
		if sc.bitmap {
			valid = memory.NewBufferBytes(sc.valid)
		}
		data := array.NewData(t, sp.rows, []*memory.Buffer{valid, memory.NewBufferBytes(sc.values)}, nil, sc.nulls, 0)
		cols[c] = array.MakeFromData(data)
		data.Release()
		sc.values, sc.valid, sc.bitmap, sc.nulls = sc.values[:0], sc.valid[:0], false, 0
	}
	rec := array.NewRecordBatch(schema, cols, int64(sp.rows))
	for _, col := range cols {
		col.Release()
	}
	sp.rows = 0
	return rec
}
