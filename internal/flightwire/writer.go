package flightwire

import (
	"cmp"
	"context"
	"slices"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/skeindb/skein/internal/joined"
)

// Sender is a gRPC stream whose codec is Codec (a server with
// ServerOption): it takes Messages.
type Sender interface {
	SendMsg(m any) error
}

// Writer writes record batches to a stream as Flight data messages, as
// arrow-go's flight.Writer does, but hands gRPC the records' own buffers:
// each record written is held until gRPC has sent its body. Buffers the
// IPC writer makes (compressed, or a sliced array's) are copied once. A
// joined.Record of flat types is sent from its parts, never joined (see
// partsBody), unless Compressed.
type Writer struct {
	*ipc.Writer
	pw *payloads

	// Compressed must be set when the IPC options compress: a
	// joined.Record is then joined and compressed by the IPC writer.
	Compressed bool

	types  []arrow.DataType // of the schema written, once written
	schema *arrow.Schema
	flat   bool
	closed bool
}

// NewWriter is a Writer to s with the IPC writer's options.
func NewWriter(s Sender, opts ...ipc.Option) *Writer {
	pw := &payloads{s: s, out: &outstanding{zero: make(chan struct{}, 1)}}
	return &Writer{Writer: ipc.NewWriterWithPayloadWriter(pw, opts...), pw: pw}
}

// Write writes rec.
func (w *Writer) Write(rec arrow.RecordBatch) error { return w.WriteWithAppMetadata(rec, nil) }

// WriteWithAppMetadata writes rec with app metadata in its message.
func (w *Writer) WriteWithAppMetadata(rec arrow.RecordBatch, appMetadata []byte) error {
	if parts := joined.Parts(rec); parts != nil && w.fromParts(rec) {
		return w.pw.writeParts(rec, parts, w.types, appMetadata)
	}
	w.pw.rec, w.pw.appMetadata = rec, appMetadata
	defer func() { w.pw.rec, w.pw.appMetadata = nil, nil }()
	if err := w.Writer.Write(rec); err != nil {
		return err
	}
	if w.schema == nil {
		w.schema, w.flat = rec.Schema(), joined.Flat(rec.Schema())
		for _, f := range w.schema.Fields() {
			w.types = append(w.types, f.Type)
		}
	}
	return nil
}

// fromParts reports whether rec, a joined.Record, is sent from its parts:
// once the IPC writer has sent the schema (with the first record) and
// if rec has it, the schema's types are flat and nothing is compressed.
func (w *Writer) fromParts(rec arrow.RecordBatch) bool {
	return !w.Compressed && !w.closed && w.flat && (rec.Schema() == w.schema || rec.Schema().Equal(w.schema))
}

// Close ends the stream (the IPC writer's end-of-stream message).
func (w *Writer) Close() error {
	w.closed = true
	return w.Writer.Close()
}

// Sent waits until gRPC has sent every record written (or ctx ends). A
// server that takes its next record only then holds one record a stream
// beyond the one gRPC sends: a client that stops reading leaves gRPC
// holding the record it was sending, and without the wait the writer
// held the next one too, encoded and blocked in gRPC's send (3 records
// a stalled relayed stream at the coordinator, with the one its relay
// read ahead; found 2026-12-05).
func (w *Writer) Sent(ctx context.Context) error {
	for w.pw.out.n.Load() > 0 {
		select {
		case <-w.pw.out.zero:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// SetFlightDescriptor puts d in the next message written.
func (w *Writer) SetFlightDescriptor(d *flight.FlightDescriptor) { w.pw.desc = d }

// payloads is the ipc.PayloadWriter of a Writer.
type payloads struct {
	s           Sender
	rec         arrow.RecordBatch // being written
	appMetadata []byte
	desc        *flight.FlightDescriptor
	spans       []span
	body        bodyPieces
	parts       partsBody
	out         *outstanding
}

// outstanding counts a Writer's messages holding a record that gRPC has
// not finished with (Writer.Sent). Their releases refer to it, not to the
// payloads: a release the garbage collector runs (its connection failed
// under it, message.go's holder) must not keep the stream, which may
// keep the message, reachable.
type outstanding struct {
	n    atomic.Int32
	zero chan struct{} // a token when n falls to 0
}

// hold makes m hold rec until gRPC is done with m's body.
func (p *payloads) hold(m *Message, rec arrow.RecordBatch) {
	rec.Retain()
	o := p.out
	o.n.Add(1)
	m.release = func() {
		rec.Release()
		if o.n.Add(-1) == 0 {
			select {
			case o.zero <- struct{}{}:
			default:
			}
		}
	}
}

func (p *payloads) Start() error { return nil }
func (p *payloads) Close() error { return nil }

func (p *payloads) WritePayload(payload ipc.Payload) error {
	meta := payload.Meta()
	defer meta.Release()
	p.spans = p.spans[:0]
	if p.rec != nil {
		for _, c := range p.rec.Columns() {
			p.spans = appendSpans(p.spans, c.Data())
		}
		slices.SortFunc(p.spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	}
	p.body = bodyPieces{pieces: p.body.pieces[:0], spans: p.spans}
	if err := payload.SerializeBody(&p.body); err != nil {
		return err
	}
	m := &Message{Descriptor: p.desc, Header: meta.Bytes(), AppMetadata: p.appMetadata, pieces: p.body.pieces}
	p.desc = nil
	if p.body.held {
		p.hold(m, p.rec)
	}
	err := p.s.SendMsg(m)
	if !m.encoded {
		m.done()
	}
	clear(p.body.pieces) // no reference to the record's memory stays here
	return err
}

// writeParts sends rec, made of parts, as one record batch message whose
// body holds the parts' buffers.
func (p *payloads) writeParts(rec arrow.RecordBatch, parts []arrow.RecordBatch, types []arrow.DataType, appMetadata []byte) error {
	header, err := p.parts.build(types, parts, rec.NumRows())
	if err != nil {
		return err
	}
	m := &Message{Descriptor: p.desc, Header: header, AppMetadata: appMetadata, pieces: p.parts.pieces}
	p.desc = nil
	p.hold(m, rec)
	err = p.s.SendMsg(m)
	if !m.encoded {
		m.done()
	}
	clear(p.parts.pieces) // no reference to the record's memory stays here
	return err
}

// span is the memory of one Arrow buffer.
type span struct{ start, end uintptr }

func appendSpans(spans []span, d arrow.ArrayData) []span {
	for _, b := range d.Buffers() {
		if b != nil && b.Len() > 0 {
			start := uintptr(unsafe.Pointer(unsafe.SliceData(b.Bytes())))
			spans = append(spans, span{start, start + uintptr(b.Len())})
		}
	}
	for _, c := range d.Children() {
		spans = appendSpans(spans, c)
	}
	// A typed nil when there is none.
	if dict, ok := d.Dictionary().(*array.Data); ok && dict != nil {
		spans = appendSpans(spans, dict)
	}
	return spans
}

// bodyPieces collects a payload's body as the IPC writer serializes it:
// a piece within the record's buffers is held (sent from there), any
// other (padding, a buffer the IPC writer made and frees after) is copied
// when the message is encoded.
type bodyPieces struct {
	pieces []piece
	spans  []span // sorted by start
	held   bool
}

func (b *bodyPieces) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	// The last span starting at or before p.
	i, found := slices.BinarySearchFunc(b.spans, start, func(s span, x uintptr) int { return cmp.Compare(s.start, x) })
	if !found {
		i--
	}
	if i >= 0 && start+uintptr(len(p)) <= b.spans[i].end {
		b.pieces = append(b.pieces, piece{b: p, held: true})
		b.held = true
		return len(p), nil
	}
	b.pieces = append(b.pieces, piece{b: p}) // copied as it is encoded, within SendMsg
	return len(p), nil
}
