package flightwire

import (
	"bytes"
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	flatbuffers "github.com/google/flatbuffers/go"
	"github.com/skeindb/skein/internal/joined"
)

// A batch made of parts (a joined.Record: DuckDB's chunks) is sent as
// one record batch message whose body is laid out as the IPC writer lays
// out the parts' concatenation, but built from the parts: each buffer of
// values (fixed-width values, string bytes) is the parts' buffers one
// after the other, handed to gRPC where they are; validity bitmaps,
// boolean values and string offsets, which do not join by placing bytes
// side by side (a part may end inside a byte; offsets restart at each
// part), are written anew into scratch memory that the encoding copies.
// Only flat types (joined.Flat) are sent so.

// IPC's flatbuffer constants (Message.fbs, Schema.fbs).
const (
	metadataV5         = 4  // MetadataVersion.V5
	headerRecordBatch  = 3  // MessageHeader.RecordBatch
	messageFields      = 5  // version, header_type, header, bodyLength, custom_metadata
	recordBatchFields  = 5  // length, nodes, buffers, compression, variadicBufferCounts
	structSize         = 16 // FieldNode, Buffer: two longs
	ipcBufferAlignment = 8
)

var zeros [ipcBufferAlignment]byte

// fieldNode and bufferMeta are IPC's FieldNode and Buffer structs.
type fieldNode struct{ length, nulls int64 }
type bufferMeta struct{ offset, length int64 }

// partsBody builds a message from parts; reused from one message to the
// next (what it holds is copied or handed over within SendMsg).
type partsBody struct {
	pieces  []piece
	nodes   []fieldNode
	buffers []bufferMeta
	size    int64  // of the body so far
	scratch []byte // bitmaps and offsets written anew
	fb      *flatbuffers.Builder
}

func (b *partsBody) reset() {
	b.pieces, b.nodes, b.buffers, b.size = b.pieces[:0], b.nodes[:0], b.buffers[:0], 0
	b.scratch = b.scratch[:0]
	if b.fb == nil {
		b.fb = flatbuffers.NewBuilder(1024)
	}
	b.fb.Reset()
}

// build lays out the body of parts' concatenation (rows rows, columns of
// types) and returns the message's header.
func (b *partsBody) build(types []arrow.DataType, parts []arrow.RecordBatch, rows int64) ([]byte, error) {
	b.reset()
	for c, t := range types {
		var nulls int64
		for _, p := range parts {
			nulls += int64(p.Column(c).NullN())
		}
		b.nodes = append(b.nodes, fieldNode{rows, nulls})
		if nulls == 0 {
			b.buffer(nil) // no validity bitmap, as the IPC writer sends none
		} else {
			b.bitmap(parts, c, 0, rows)
		}
		switch t.ID() {
		case arrow.BOOL:
			b.bitmap(parts, c, 1, rows)
		case arrow.STRING, arrow.BINARY:
			if err := offsets[int32](b, parts, c, rows, math.MaxInt32); err != nil {
				return nil, err
			}
		case arrow.LARGE_STRING, arrow.LARGE_BINARY:
			if err := offsets[int64](b, parts, c, rows, math.MaxInt64); err != nil {
				return nil, err
			}
		default:
			width := int64(t.(arrow.FixedWidthDataType).BitWidth() / 8)
			b.start()
			for _, p := range parts {
				d := p.Column(c).Data()
				if d.Len() == 0 {
					continue
				}
				off := int64(d.Offset()) * width
				b.held(d.Buffers()[1].Bytes()[off : off+int64(d.Len())*width])
			}
			b.end()
		}
	}
	return b.header(rows), nil
}

// buffer adds a buffer of one piece of scratch (or none).
func (b *partsBody) buffer(p []byte) {
	b.start()
	if len(p) > 0 {
		b.pieces = append(b.pieces, piece{b: p})
		b.size += int64(len(p))
	}
	b.end()
}

// start opens a buffer at the body's end; end closes it, padded.
func (b *partsBody) start() { b.buffers = append(b.buffers, bufferMeta{offset: b.size}) }

func (b *partsBody) end() {
	m := &b.buffers[len(b.buffers)-1]
	m.length = b.size - m.offset
	if pad := bitutil.CeilByte64(b.size) - b.size; pad > 0 {
		b.pieces = append(b.pieces, piece{b: zeros[:pad]})
		b.size += pad
	}
}

// held adds a piece of a part's buffer to the open buffer.
func (b *partsBody) held(p []byte) {
	if len(p) > 0 {
		b.pieces = append(b.pieces, piece{b: p, held: true})
		b.size += int64(len(p))
	}
}

// alloc is n bytes of scratch, zeroed, 8-byte aligned within it. A
// piece taken before scratch grows keeps the old memory, unchanged.
func (b *partsBody) alloc(n int64) []byte {
	at := int64(len(b.scratch))
	if need := at + bitutil.CeilByte64(n); need > int64(cap(b.scratch)) {
		b.scratch = append(b.scratch[:cap(b.scratch)], make([]byte, need-int64(cap(b.scratch)))...)[:at]
	}
	b.scratch = b.scratch[:at+bitutil.CeilByte64(n)]
	p := b.scratch[at : at+n : at+n]
	clear(p)
	return p
}

// bitmap adds the bitmap of buffer i (validity or boolean values) of
// column c of parts, a part without a validity bitmap all valid.
func (b *partsBody) bitmap(parts []arrow.RecordBatch, c, i int, rows int64) {
	out := b.alloc(bitutil.BytesForBits(rows))
	pos := 0
	for _, p := range parts {
		d := p.Column(c).Data()
		if buf := d.Buffers()[i]; buf == nil {
			bitutil.SetBitsTo(out, int64(pos), int64(d.Len()), true)
		} else {
			bitutil.CopyBitmap(buf.Bytes(), d.Offset(), d.Len(), out, pos)
		}
		pos += d.Len()
	}
	b.buffer(out)
}

// offsets adds the offsets (of type T, at most limit) and the value
// bytes of a string or binary column c of parts: each part's offsets
// moved to start where the previous part's values end.
func offsets[T int32 | int64](b *partsBody, parts []arrow.RecordBatch, c int, rows int64, limit int64) error {
	size := int64(unsafe.Sizeof(T(0)))
	out := unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b.alloc((rows+1)*size)))), rows+1)
	of := func(d arrow.ArrayData) []T {
		buf := d.Buffers()[1].Bytes()
		return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)/int(size))[d.Offset() : d.Offset()+d.Len()+1]
	}
	k, base := 0, int64(0)
	for _, p := range parts {
		d := p.Column(c).Data()
		if d.Len() == 0 {
			continue
		}
		offs := of(d)
		first := offs[0]
		for _, o := range offs[:d.Len()] {
			out[k] = T(base + int64(o-first))
			k++
		}
		base += int64(offs[d.Len()] - first)
		if base > limit {
			return fmt.Errorf("flightwire: a batch of column %d holds %d bytes of values, over its offsets' reach", c, base)
		}
	}
	out[k] = T(base)
	b.buffer(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(out))), len(out)*int(size)))
	b.start()
	for _, p := range parts {
		if d := p.Column(c).Data(); d.Len() > 0 {
			offs := of(d)
			b.held(d.Buffers()[2].Bytes()[offs[0]:offs[d.Len()]])
		}
	}
	b.end()
	return nil
}

// header is the flatbuffer Message of a RecordBatch of rows rows with
// the nodes and buffers laid out.
func (b *partsBody) header(rows int64) []byte {
	fb := b.fb
	buffers := structs(fb, b.buffers, func(m bufferMeta) (int64, int64) { return m.offset, m.length })
	nodes := structs(fb, b.nodes, func(n fieldNode) (int64, int64) { return n.length, n.nulls })
	fb.StartObject(recordBatchFields)
	fb.PrependInt64Slot(0, rows, 0)
	fb.PrependUOffsetTSlot(1, nodes, 0)
	fb.PrependUOffsetTSlot(2, buffers, 0)
	batch := fb.EndObject()
	fb.StartObject(messageFields)
	fb.PrependInt64Slot(3, b.size, 0)
	fb.PrependUOffsetTSlot(2, batch, 0)
	fb.PrependInt16Slot(0, metadataV5, 0)
	fb.PrependByteSlot(1, headerRecordBatch, 0)
	fb.Finish(fb.EndObject())
	return fb.FinishedBytes()
}

// Joiner lays out the record batch messages of joined.Records (a spool's
// batches), reusing its scratch from one message to the next.
type Joiner struct{ b partsBody }

// Message is the record batch message of rec if it is a joined.Record of
// flat types: its header, and its body copied from the parts into
// alloc(size), a slice of the body's exact size that alloc may reuse (it
// need not be zeroed: every byte is written). One copy, where joining the
// parts and then serializing the batch makes two. ok is false for any
// other record, which the caller writes as it did. The caller has sent
// the stream's schema message and does not compress.
func (j *Joiner) Message(rec arrow.RecordBatch, alloc func(size int) []byte) (header, body []byte, ok bool, err error) {
	parts := joined.Parts(rec)
	if parts == nil || !joined.Flat(rec.Schema()) {
		return nil, nil, false, nil
	}
	b := &j.b
	types := make([]arrow.DataType, rec.Schema().NumFields())
	for i, f := range rec.Schema().Fields() {
		types[i] = f.Type
	}
	h, err := b.build(types, parts, rec.NumRows())
	if err != nil {
		return nil, nil, true, err
	}
	header = bytes.Clone(h)
	body = alloc(int(b.size))
	n := 0
	for _, p := range b.pieces {
		n += copy(body[n:], p.b)
	}
	clear(b.pieces) // no reference to the record's memory stays here
	return header, body, true, nil
}

// structs adds a vector of v's structs, each two longs (a FieldNode or a
// Buffer) that fields gives in order.
func structs[T any](fb *flatbuffers.Builder, v []T, fields func(T) (int64, int64)) flatbuffers.UOffsetT {
	fb.StartVector(structSize, len(v), 8)
	for i := len(v) - 1; i >= 0; i-- {
		first, second := fields(v[i])
		fb.Prep(8, structSize)
		fb.PrependInt64(second)
		fb.PrependInt64(first)
	}
	return fb.EndVector(len(v))
}
