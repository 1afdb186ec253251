package flightwire

import (
	"fmt"
	"runtime"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
)

// Message is a FlightData to send through Codec, which encodes it as
// protobuf encodes a FlightData (so any Flight client reads it) without
// copying its body into the encoding.
type Message struct {
	Descriptor  *flight.FlightDescriptor
	Header      []byte // copied when encoded
	AppMetadata []byte // copied when encoded
	// Body is handed to gRPC's transport as it is: it must not change
	// once sent (a slice no one writes again, left to the garbage
	// collector).
	Body []byte

	// A Writer's body instead: pieces of Arrow buffers (held) or of its
	// own (copied), and the release of what holds the held ones, called
	// once gRPC is done with them.
	pieces  []piece
	release func()
	encoded bool
}

type piece struct {
	b    []byte
	held bool
}

// marshal is m's encoding: a head of the small fields and the body's tag,
// then the body's pieces, each held one (not too small for gRPC to
// track) as it is.
func (m *Message) marshal() (out mem.BufferSlice, err error) {
	m.encoded = true
	size := len(m.Body)
	held := 0
	for _, p := range m.pieces {
		size += len(p.b)
		if p.held && !mem.IsBelowBufferPoolingThreshold(len(p.b)) {
			held++
		}
	}
	var head []byte
	if m.Descriptor != nil {
		d, err := protov2.Marshal(m.Descriptor)
		if err != nil {
			m.done()
			return nil, fmt.Errorf("flightwire: encoding a descriptor: %w", err)
		}
		head = protowire.AppendTag(head, fieldDescriptor, protowire.BytesType)
		head = protowire.AppendBytes(head, d)
	}
	if len(m.Header) > 0 {
		head = protowire.AppendTag(head, fieldHeader, protowire.BytesType)
		head = protowire.AppendBytes(head, m.Header)
	}
	if len(m.AppMetadata) > 0 {
		head = protowire.AppendTag(head, fieldAppMetadata, protowire.BytesType)
		head = protowire.AppendBytes(head, m.AppMetadata)
	}
	if size > 0 {
		head = protowire.AppendTag(head, fieldBody, protowire.BytesType)
		head = protowire.AppendVarint(head, uint64(size))
	}
	if m.pieces == nil {
		out = mem.BufferSlice{mem.SliceBuffer(head)}
		if len(m.Body) > 0 {
			out = append(out, mem.SliceBuffer(m.Body))
		}
		return out, nil
	}
	if held == 0 {
		for _, p := range m.pieces {
			head = append(head, p.b...)
		}
		m.done()
		return mem.BufferSlice{mem.SliceBuffer(head)}, nil
	}
	// gRPC frees each buffer once written; the last held one to go
	// releases what holds them all.
	h := newHolder(m.release, held)
	m.release = nil
	pending := head
	for _, p := range m.pieces {
		if !p.held || mem.IsBelowBufferPoolingThreshold(len(p.b)) {
			pending = append(pending, p.b...)
			continue
		}
		if len(pending) > 0 {
			out = append(out, mem.SliceBuffer(pending))
			pending = nil
		}
		b := p.b[:len(p.b):len(p.b)]
		out = append(out, mem.NewBuffer(&b, h))
	}
	if len(pending) > 0 {
		out = append(out, mem.SliceBuffer(pending))
	}
	return out, nil
}

// done releases what holds m's pieces, once.
func (m *Message) done() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

// holder is the gRPC buffer pool of one message's held pieces: it is
// only given them back, and releases them all with the last. gRPC (1.85)
// frees what it queued for a stream when the stream ends, but not what it
// queued on a connection that fails under it: those buffers are dropped,
// and the release waits for the garbage collector to find the holder
// unreachable.
type holder struct {
	n     atomic.Int32
	state *release
}

// release is a holder's release, called once.
type release struct {
	done atomic.Bool
	fn   func()
}

func (r *release) run() {
	if !r.done.Swap(true) {
		fn := r.fn
		r.fn = nil // what it holds is garbage now, not when the holder is
		fn()
	}
}

func newHolder(fn func(), n int) *holder {
	h := &holder{state: &release{fn: fn}}
	h.n.Store(int32(n))
	runtime.AddCleanup(h, (*release).run, h.state)
	return h
}

func (h *holder) Get(n int) *[]byte {
	b := make([]byte, n)
	return &b
}

func (h *holder) Put(*[]byte) {
	if h.n.Add(-1) == 0 {
		h.state.run()
	}
}

// SendHeld sends header and body through s as one Message whose body gRPC
// sends as it is (it must not change), and calls release once gRPC is done
// with the body: written to the connection, or dropped with its stream;
// at once if the send failed before encoding it. A caller counting the
// bytes it sends learns from release when they are gone.
func SendHeld(s Sender, header, body []byte, release func()) error {
	m := &Message{Header: header, pieces: []piece{{b: body, held: true}}, release: release}
	err := s.SendMsg(m)
	if !m.encoded {
		m.done()
	}
	return err
}
