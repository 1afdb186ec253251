package executor

import (
	"errors"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/joined"
)

// scatter gathers a producer's rows by partition when every column of its
// output is of a fixed width in whole bytes (integers, floats, decimals,
// dates, times: the keys and states of most partial aggregates) or a
// string or binary (their offsets and bytes): each value is copied once,
// from DuckDB's chunks into its partition's buffers, which make the
// partition's next batch. Through compute.Take a result was
// copied three times before its spool's copy (its chunks joined, its rows
// put in partition order, each partition's slices joined again), which
// cost a producer of a 200,000-group partial aggregate more CPU than
// DuckDB's scan of its slice (README, Performance: the two-executor plan's
// cost); a row with a string went that way until 2026-12-06, and in
// TPC-DS Q39 (1.17M join rows a producer, one a string) took 15% of the
// executors' CPU (1.24 s of 8.18 s sampled over 9 runs). The buffers'
// bytes are counted against the spools' memory budget (store) before
// they are allocated, and go back to its pool at the end.
type scatter struct {
	store  *spoolStore
	types  []arrow.DataType
	widths []int // bytes a value, per column; 0 for a string or binary
	offw   []int // bytes an offset of a string or binary column (4 or 8), per column; 0 for the others
	parts  []scatterPart
	part   []int32 // per row of a chunk: its partition
	dst    []int32 // and its index in its partition's new rows
	// bytes is what each partition's buffers gained in the last add.
	bytes []int64
}

// scatterPart is one partition's rows not yet written.
type scatterPart struct {
	rows int
	cols []scatterCol
}

type scatterCol struct {
	values  []byte // the values; a string or binary column's bytes
	offsets []byte // a string or binary column's offsets: its rows plus one
	valid   []byte // validity bitmap, in use when bitmap is set (a value is NULL)
	bitmap  bool
	nulls   int
}

// errNoRoom is a scatter's when the spools' memory budget has not the
// bytes its rows need.
var errNoRoom = errors.New("the spools' memory budget is full")

// newScatter is a scatter for a result of schema (without the partition
// column) into n partitions, its buffers counted by store, or nil when a
// column is neither of a fixed width in whole bytes nor a string or
// binary.
func newScatter(schema *arrow.Schema, n int, store *spoolStore) *scatter {
	s := &scatter{store: store, parts: make([]scatterPart, n), bytes: make([]int64, n)}
	for _, f := range schema.Fields() {
		w, ow := fixedBytes(f.Type), offsetBytes(f.Type)
		if w == 0 && ow == 0 {
			return nil
		}
		s.types, s.widths, s.offw = append(s.types, f.Type), append(s.widths, w), append(s.offw, ow)
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

// offsetBytes is the bytes of an offset of t's arrays when they are
// offsets into one buffer of bytes (strings and binaries), else 0.
func offsetBytes(t arrow.DataType) int {
	switch t.ID() {
	case arrow.STRING, arrow.BINARY:
		return 4
	case arrow.LARGE_STRING, arrow.LARGE_BINARY:
		return 8
	}
	return 0
}

// rowBytes is the bytes of one row's fixed-width values and offsets.
func (s *scatter) rowBytes() int64 {
	var n int
	for c, w := range s.widths {
		n += w + s.offw[c]
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
	width := s.rowBytes()
	for p, g := range gained {
		s.bytes[p] = int64(g) * width
	}
	// The bytes of each string column's values, by partition.
	data := make([][]int64, len(s.types))
	for c, ow := range s.offw {
		if ow > 0 {
			data[c] = make([]int64, len(s.parts))
			addLengths(rec.Column(c), ow, part, data[c])
			for p, b := range data[c] {
				s.bytes[p] += b
			}
		}
	}
	// Room first, in every column, so that a budget without it leaves
	// the rows as they were.
	for c, w := range s.widths {
		nulls := rec.Column(c).NullN() > 0
		for p, g := range gained {
			sp := &s.parts[p]
			if sc := &sp.cols[c]; g > 0 {
				if ow := s.offw[c]; ow > 0 {
					size := len(sc.values) + int(data[c][p])
					if ow == 4 && size > math.MaxInt32 {
						// 32-bit offsets: the partition is written first.
						return errNoRoom
					}
					if err := s.room(&sc.values, size, force); err != nil {
						return err
					}
					if err := s.room(&sc.offsets, (sp.rows+int(g)+1)*ow, force); err != nil {
						return err
					}
				} else if err := s.room(&sc.values, len(sc.values)+int(g)*w, force); err != nil {
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
				if w > 0 {
					sc.values = sc.values[:len(sc.values)+int(g)*w]
				}
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
		switch ow := s.offw[c]; {
		case ow == 4:
			scatterBytes[int32](s, c, data, part, gained)
		case ow == 8:
			scatterBytes[int64](s, c, data, part, gained)
		case data.Buffers()[1] != nil:
			src = data.Buffers()[1].Bytes()[data.Offset()*w : (data.Offset()+n)*w]
		}
		switch w {
		case 0: // copied above
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

// addLengths adds to bytes[p] the lengths of the values of col (a string
// or binary column of ow-byte offsets) whose rows go to partition p.
func addLengths(col arrow.Array, ow int, part []int32, bytes []int64) {
	if ow == 4 {
		lengths(offsetsOf[int32](col.Data()), part, bytes)
	} else {
		lengths(offsetsOf[int64](col.Data()), part, bytes)
	}
}

func lengths[T int32 | int64](offs []T, part []int32, bytes []int64) {
	for i, p := range part {
		bytes[p] += int64(offs[i+1] - offs[i])
	}
}

// offsetsOf is the offsets of data's rows (one more than its rows), of T.
func offsetsOf[T int32 | int64](data arrow.ArrayData) []T {
	n := data.Len()
	b := data.Buffers()[1]
	if b == nil || n == 0 {
		return make([]T, n+1)
	}
	all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b.Bytes()))), b.Len()/int(unsafe.Sizeof(T(0))))
	return all[data.Offset() : data.Offset()+n+1]
}

// scatterBytes appends column c's values of each row (data, a string or
// binary of T offsets) to its partition part[i], in row order: the
// partitions' buffers have room for them already (add).
func scatterBytes[T int32 | int64](s *scatter, c int, data arrow.ArrayData, part []int32, gained []int32) {
	offs := offsetsOf[T](data)
	var src []byte
	if b := data.Buffers()[2]; b != nil {
		src = b.Bytes()
	}
	w := int(unsafe.Sizeof(T(0)))
	views := make([][]T, len(s.parts))
	ends := make([]T, len(s.parts))
	for p, g := range gained {
		sc := &s.parts[p].cols[c]
		if g == 0 {
			continue
		}
		rows := s.parts[p].rows
		if len(sc.offsets) == 0 {
			sc.offsets = sc.offsets[:w] // the first offset, 0
			clear(sc.offsets)
		}
		sc.offsets = sc.offsets[:(rows+int(g)+1)*w]
		all := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(sc.offsets))), rows+int(g)+1)
		views[p] = all[rows+1:]
		ends[p] = all[rows]
	}
	k := make([]int, len(s.parts))
	for i, p := range part {
		sc := &s.parts[p].cols[c]
		sc.values = append(sc.values, src[offs[i]:offs[i+1]]...) // within its capacity (add)
		ends[p] += offs[i+1] - offs[i]
		views[p][k[p]] = ends[p]
		k[p]++
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
			s.store.keep(sc.offsets)
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
		bufs := []*memory.Buffer{valid, memory.NewBufferBytes(sc.values)}
		if s.offw[c] > 0 {
			bufs = []*memory.Buffer{valid, memory.NewBufferBytes(sc.offsets), memory.NewBufferBytes(sc.values)}
		}
		data := array.NewData(t, sp.rows, bufs, nil, sc.nulls, 0)
		cols[c] = array.MakeFromData(data)
		data.Release()
		sc.values, sc.offsets, sc.valid, sc.bitmap, sc.nulls = sc.values[:0], sc.offsets[:0], sc.valid[:0], false, 0
	}
	rec := array.NewRecordBatch(schema, cols, int64(sp.rows))
	for _, col := range cols {
		col.Release()
	}
	sp.rows = 0
	return rec
}
