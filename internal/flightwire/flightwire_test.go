package flightwire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

var schema = arrow.NewSchema([]arrow.Field{
	{Name: "n", Type: arrow.PrimitiveTypes.Int64},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// records are n record batches of rows rows each; strings every third
// row null.
func records(alloc memory.Allocator, n, rows int) []arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, schema)
	defer b.Release()
	recs := make([]arrow.RecordBatch, n)
	for i := range recs {
		for r := range rows {
			b.Field(0).(*array.Int64Builder).Append(int64(i*rows + r))
			if r%3 == 0 {
				b.Field(1).AppendNull()
			} else {
				b.Field(1).(*array.StringBuilder).Append(string(rune('a' + r%26)))
			}
		}
		recs[i] = b.NewRecordBatch()
	}
	return recs
}

func addr(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }

// sendFunc is a Sender that encodes each message with Codec and gives the
// encoding to a function.
type sendFunc func(mem.BufferSlice) error

func (f sendFunc) SendMsg(m any) error {
	data, err := Codec{}.Marshal(m)
	if err != nil {
		return err
	}
	return f(data)
}

// TestWriterHandsOverRecordBuffers checks a record's message body is the
// record's own memory, held until gRPC frees it, and that its encoding is
// protobuf's of the same FlightData.
func TestWriterHandsOverRecordBuffers(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer alloc.AssertSize(t, 0)
	rec := records(alloc, 1, 10_000)[0]
	values := rec.Column(0).Data().Buffers()[1].Bytes()

	var sent []mem.BufferSlice
	w := NewWriter(sendFunc(func(d mem.BufferSlice) error { sent = append(sent, d); return nil }),
		ipc.WithSchema(schema), ipc.WithAllocator(alloc))
	if err := w.WriteWithAppMetadata(rec, []byte("meta")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if len(sent) != 2 {
		t.Fatalf("%d messages, want the schema and the record's", len(sent))
	}
	shared := false
	for _, b := range sent[1] {
		if addr(b.ReadOnlyData()) == addr(values) && b.Len() == len(values) {
			shared = true
		}
	}
	if !shared {
		t.Error("the int64 column's values were copied into the message, not handed to gRPC")
	}

	// The encoding is protobuf's of the FlightData arrow-go's writer sends.
	var want []*flight.FlightData
	fw := flight.NewRecordWriter(collect(func(fd *flight.FlightData) { want = append(want, proto.Clone(fd).(*flight.FlightData)) }),
		ipc.WithSchema(schema), ipc.WithAllocator(alloc))
	if err := fw.WriteWithAppMetadata(rec, []byte("meta")); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	for i, d := range sent {
		wire, err := proto.MarshalOptions{Deterministic: true}.Marshal(want[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Materialize(); !bytes.Equal(got, wire) {
			t.Errorf("message %d: %d bytes differ from protobuf's %d", i, len(got), len(wire))
		}
	}

	// Held by gRPC until it frees the message, not by the caller.
	rec.Release()
	if alloc.CurrentAlloc() == 0 {
		t.Error("the record was released while gRPC still had its buffers")
	}
	for _, d := range sent {
		d.Free()
	}
}

type collect func(*flight.FlightData)

func (c collect) Send(fd *flight.FlightData) error { c(fd); return nil }

// TestUnmarshalSharesOneCopy checks a received FlightData is decoded
// from one copy of the frames: its fields point into it.
func TestUnmarshalSharesOneCopy(t *testing.T) {
	in := &flight.FlightData{
		FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: []byte("cmd")},
		DataHeader:       []byte("header"), AppMetadata: []byte("app"), DataBody: bytes.Repeat([]byte("body"), 5000),
	}
	wire, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	// As gRPC gives it: in pieces, one per HTTP/2 frame.
	var data mem.BufferSlice
	for b := wire; len(b) > 0; {
		n := min(len(b), 4096)
		data = append(data, mem.SliceBuffer(bytes.Clone(b[:n])))
		b = b[n:]
	}
	var out flight.FlightData
	if err := (Codec{}).Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(in, &out) {
		t.Fatalf("decoded %v, want %v", &out, in)
	}
	if got, want := addr(out.DataBody)-addr(out.DataHeader), uintptr(bytes.Index(wire, in.DataBody)-bytes.Index(wire, in.DataHeader)); got != want {
		t.Errorf("header and body are %d bytes apart, not %d as in one decoded copy", got, want)
	}
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire[:len(wire)-1])}, &out); err == nil {
		t.Error("a truncated message decoded")
	}
}

// server streams its records through a Writer on DoGet.
type server struct {
	flight.BaseFlightServer
	recs       []arrow.RecordBatch
	opts       []ipc.Option
	compressed bool
	started    chan struct{}
	// done, when set, is closed as DoGet returns: the records are the
	// test's, read by the handler until then (grpc.Server.Stop does not
	// wait for handlers).
	done chan struct{}
}

func (s *server) DoGet(_ *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	if s.done != nil {
		defer close(s.done)
	}
	w := NewWriter(stream, append(s.opts, ipc.WithSchema(s.recs[0].Schema()))...)
	w.Compressed = s.compressed
	defer w.Close()
	for i, r := range s.recs {
		if err := w.WriteWithAppMetadata(r, []byte{byte(i)}); err != nil {
			return err
		}
		if i == 0 && s.started != nil {
			close(s.started)
		}
	}
	return nil
}

// listen is a loopback listener and a gRPC server with Codec and the
// flow-control windows and buffers Skein's servers use.
func listen(t testing.TB) (net.Listener, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis, grpc.NewServer(ServerOption(), grpc.InitialWindowSize(8<<20), grpc.InitialConnWindowSize(16<<20),
		grpc.WriteBufferSize(1<<20), grpc.ReadBufferSize(1<<20))
}

func serve(t *testing.T, s *server) (addr string, stop func()) {
	t.Helper()
	lis, g := listen(t)
	flight.RegisterFlightServiceServer(g, s)
	go func() { _ = g.Serve(lis) }()
	return lis.Addr().String(), g.Stop
}

// released waits for alloc to hold nothing: gRPC frees a message's buffers
// once written, after the client may have read them, and drops those of a
// connection that failed under them to the garbage collector.
func released(t *testing.T, alloc *memory.CheckedAllocator) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for alloc.CurrentAlloc() != 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	alloc.AssertSize(t, 0)
}

// read is the record reader of a DoGet of cl.
func read(t testing.TB, cl flight.Client) *flight.Reader {
	t.Helper()
	stream, err := cl.DoGet(context.Background(), &flight.Ticket{})
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := flight.NewRecordReader(stream)
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}

// readAll reads a DoGet of cl: want's records, the app metadata of
// record i byte i.
func readAll(t *testing.T, cl flight.Client, want []arrow.RecordBatch) {
	t.Helper()
	rdr := read(t, cl)
	defer rdr.Release()
	i := 0
	for ; rdr.Next(); i++ {
		if i < len(want) && !array.RecordEqual(rdr.RecordBatch(), want[i]) {
			t.Errorf("record %d differs:\n%v\nwant\n%v", i, rdr.RecordBatch(), want[i])
		}
		if md := rdr.LatestAppMetadata(); !bytes.Equal(md, []byte{byte(i)}) {
			t.Errorf("record %d: app metadata %v", i, md)
		}
	}
	if err := rdr.Err(); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Errorf("read %d records, want %d", i, len(want))
	}
}

// TestStream reads a Writer's stream with arrow-go's reader, with and
// without Codec on the client, plain and compressed, and a stream the
// client drops; every record buffer is released.
func TestStream(t *testing.T) {
	for _, c := range []struct {
		name   string
		client []grpc.DialOption
		opts   []ipc.Option
	}{
		{"plain-client", nil, nil},
		{"codec-client", []grpc.DialOption{DialOption()}, nil},
		{"lz4", []grpc.DialOption{DialOption()}, []ipc.Option{ipc.WithLZ4()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			recs := records(alloc, 5, 50_000)
			// A sliced record: the IPC writer copies what it sends of it.
			recs = append(recs, recs[0].NewSlice(7, 30_007), recs[1].NewSlice(0, 0))
			srv := &server{recs: recs, opts: append(c.opts, ipc.WithAllocator(alloc))}
			a, stop := serve(t, srv)
			cl, err := flight.NewClientWithMiddleware(a, nil, nil,
				append(c.client, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, cl, recs)
			_ = cl.Close()
			stop()
			for _, r := range recs {
				r.Release()
			}
			released(t, alloc)
		})
	}
	// A client that drops the stream mid-way, the server still up (gRPC
	// frees what it queued for the stream) or stopped at once (it drops
	// it).
	for _, stopAtOnce := range []bool{false, true} {
		t.Run(fmt.Sprintf("dropped/stop=%v", stopAtOnce), func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
			recs := records(alloc, 50, 50_000)
			srv := &server{recs: recs, opts: []ipc.Option{ipc.WithAllocator(alloc)}, started: make(chan struct{}), done: make(chan struct{})}
			a, stop := serve(t, srv)
			defer stop()
			cl, err := flight.NewClientWithMiddleware(a, nil, nil, DialOption(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			stream, err := cl.DoGet(ctx, &flight.Ticket{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stream.Recv(); err != nil {
				t.Fatal(err)
			}
			<-srv.started
			cancel()
			if stopAtOnce {
				stop()
			}
			<-srv.done
			for _, r := range recs {
				r.Release()
			}
			released(t, alloc)
			_ = cl.Close()
		})
	}
}

// sentServer writes one record, then waits for gRPC to have sent it
// (Writer.Sent): briefly, while its client does not read, then until
// done.
type sentServer struct {
	flight.BaseFlightServer
	rec     arrow.RecordBatch
	stalled chan error // what the brief wait gave
	sent    chan error // what the wait to the end gave
}

func (s *sentServer) DoGet(_ *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	w := NewWriter(stream, ipc.WithSchema(s.rec.Schema()))
	defer w.Close()
	if err := w.Write(s.rec); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(stream.Context(), 300*time.Millisecond)
	defer cancel()
	s.stalled <- w.Sent(ctx)
	s.sent <- w.Sent(stream.Context())
	return nil
}

// Sent waits until gRPC has sent what was written: a server that takes
// its next record only then holds one beyond what gRPC sends when its
// client stops reading.
func TestSentWaitsForTheClient(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.NewGoAllocator())
	rec := records(alloc, 1, 4_000_000)[0] // 40 MB: past every flow-control window
	defer rec.Release()
	srv := &sentServer{rec: rec, stalled: make(chan error, 1), sent: make(chan error, 1)}
	lis, g := listen(t)
	flight.RegisterFlightServiceServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	cl, err := flight.NewClientWithMiddleware(lis.Addr().String(), nil, nil, DialOption(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rdr := read(t, cl) // the schema message only
	defer rdr.Release()
	if err := <-srv.stalled; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Sent while the client does not read: %v, want the deadline", err)
	}
	n := int64(0)
	for rdr.Next() {
		n += rdr.RecordBatch().NumRows()
	}
	if err := <-srv.sent; err != nil || n != rec.NumRows() {
		t.Fatalf("Sent once the client read: %v; %d rows read (%v)", err, n, rdr.Err())
	}
}
