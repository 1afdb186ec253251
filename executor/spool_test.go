package executor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flighttest"
	"github.com/skeindb/skein/internal/joined"
)

// kxs is the schema of testBatch: an int64, a nullable float64 and a
// string column (buffers of odd sizes, so bodies carry padding).
var kxs = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64},
	{Name: "x", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String},
}, nil)

// testBatch is a batch of kxs of n rows, its keys from first.
func testBatch(alloc memory.Allocator, first, n int) arrow.RecordBatch {
	b := array.NewRecordBuilder(alloc, kxs)
	defer b.Release()
	for i := range n {
		b.Field(0).(*array.Int64Builder).Append(int64(first + i))
		if i%7 == 0 {
			b.Field(1).AppendNull()
		} else {
			b.Field(1).(*array.Float64Builder).Append(float64(i) / 3)
		}
		b.Field(2).(*array.StringBuilder).Append(fmt.Sprintf("comment %d", i*i))
	}
	return b.NewRecordBatch()
}

// payloadsOf writes a testBatch of n rows through an IPC writer and hands
// each payload to f before the writer releases it.
func payloadsOf(t testing.TB, alloc memory.Allocator, n int, f func(ipc.Payload) error) {
	t.Helper()
	schema := kxs
	rec := testBatch(alloc, 0, n)
	defer rec.Release()
	w := ipc.NewWriterWithPayloadWriter(payloadFunc(f), ipc.WithSchema(schema), ipc.WithAllocator(alloc))
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

type payloadFunc func(ipc.Payload) error

func (f payloadFunc) Start() error                     { return nil }
func (f payloadFunc) Close() error                     { return nil }
func (f payloadFunc) WritePayload(p ipc.Payload) error { return f(p) }

// A body copied into its exact size is the body arrow-go serializes, padding
// and all, in a slice with no room to spare, into memory given dirty (as a
// reused body is).
func TestSerializeBody(t *testing.T) {
	alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
	defer alloc.AssertSize(t, 0)
	bodies := 0
	for _, n := range []int{0, 1, 5, 1000} {
		payloadsOf(t, alloc, n, func(p ipc.Payload) error {
			var want bytes.Buffer
			if err := p.SerializeBody(&want); err != nil {
				return err
			}
			got, err := serializeBody(p, func(n int) []byte { return bytes.Repeat([]byte{0xa5}, n) })
			if err != nil {
				return err
			}
			if !bytes.Equal(got, want.Bytes()) || cap(got) != len(got) {
				t.Errorf("%d rows: body of %d bytes (cap %d), arrow-go writes %d", n, len(got), cap(got), want.Len())
			}
			if want.Len() > 0 {
				bodies++
			}
			return nil
		})
	}
	if bodies == 0 {
		t.Fatal("no payload had a body")
	}
}

// go test -tags duckdb_arrow -run '^$' -bench SerializeBody ./executor/
// (bytes.Buffer: how the body was copied before).
func BenchmarkSerializeBody(b *testing.B) {
	payloadsOf(b, memory.NewGoAllocator(), 60_000, func(p ipc.Payload) error {
		var buf bytes.Buffer
		if err := p.SerializeBody(&buf); err != nil || buf.Len() == 0 {
			return err // the schema's payload has no body
		}
		b.Run("exact", func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, err := serializeBody(p, func(n int) []byte { return make([]byte, n) }); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("pooled", func(b *testing.B) {
			var pool bodyPool
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				body, err := serializeBody(p, pool.get)
				if err != nil {
					b.Fatal(err)
				}
				pool.put(body)
			}
		})
		b.Run("bytes.Buffer", func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				var grown bytes.Buffer
				if err := p.SerializeBody(&grown); err != nil {
					b.Fatal(err)
				}
			}
		})
		return nil
	})
}

// A spool takes a batch of DuckDB's chunks (a joined.Record) from the
// chunks, without joining them, and what it holds reads back, framed as
// the IPC stream format frames messages, as the chunks joined; the first
// batch (one chunk, with the schema) and a compressed stream go through
// the IPC writer.
func TestSpoolTakesChunksUnjoined(t *testing.T) {
	for _, compressed := range []bool{false, true} {
		t.Run(fmt.Sprint("compressed=", compressed), func(t *testing.T) {
			alloc := memory.NewCheckedAllocator(memory.DefaultAllocator)
			defer alloc.AssertSize(t, 0)
			schema := kxs
			var chunks []arrow.RecordBatch
			for i, n := range []int{2048, 2048, 1000, 3} {
				chunks = append(chunks, testBatch(alloc, i*10000, n))
			}
			want, err := joined.Join(alloc, schema, chunks[1:])
			if err != nil {
				t.Fatal(err)
			}
			defer want.Release()
			counted := &flighttest.CountingAllocator{Allocator: alloc}
			batch := joined.New(counted, schema, chunks[1:])

			sp := newSpool(newSpoolStore(t.TempDir(), 1<<30, 1<<30), 1)
			var opts []ipc.Option
			if compressed {
				opts = skeinsql.IPCOptions(skeinsql.CodecLZ4)
			}
			w := newSpoolWriter(payloads{ctx: context.Background(), sp: sp}, schema, compressed,
				append(opts, ipc.WithSchema(schema), ipc.WithAllocator(alloc))...)
			for _, rec := range []arrow.RecordBatch{chunks[0], batch} {
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			chunks[0].Release()
			batch.Release()
			sp.finish(nil)
			if joins := counted.N.Load(); compressed != (joins > 0) {
				t.Errorf("%d allocations joining the chunks", joins)
			}

			var stream bytes.Buffer
			r := sp.take()
			eachFrame(t, r, func(f sendFrame) {
				flighttest.AppendMessage(&stream, f.header, f.body)
				r.release(f.held)
			})
			r.done()
			flighttest.CheckSecond(t, &stream, alloc, want)
		})
	}
}

// eachFrame reads r's frames to the end, handing each to f.
func eachFrame(t *testing.T, r *spoolReader, f func(sendFrame)) {
	t.Helper()
	for {
		fr, err := r.read(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		f(fr)
	}
}

// A frame a reader takes stays counted against the spools' memory budget
// until gRPC is done with it (the reader's release), whether it came from
// memory or from the spool's file; and a reader with a frame in flight
// reads no further file frame over the budget until that frame is
// released, so what readers hand gRPC never exceeds the budget by more
// than a frame a stream.
func TestFramesInFlightAreCounted(t *testing.T) {
	ctx := context.Background()
	const size = 1000
	store := newSpoolStore(t.TempDir(), 2*size, 1<<30)
	sp := newSpool(store, 1)
	defer sp.release()
	for i := range 4 { // two in memory, two in the file
		if err := sp.add(ctx, frame{header: []byte{byte(i)}, body: make([]byte, size-1)}); err != nil {
			t.Fatal(err)
		}
	}
	sp.finish(nil)
	r := sp.take()
	if r == nil {
		t.Fatal("no reader")
	}
	defer r.done()
	usage := func() SpoolUsage {
		store.mu.Lock()
		defer store.mu.Unlock()
		return SpoolUsage{Memory: store.mem, Sending: store.sending, Disk: store.disk}
	}
	if u := usage(); u.Memory != 2*size || u.Disk != 2*(size) {
		t.Fatalf("before reading: %+v", u)
	}
	var got []sendFrame
	for i := range 2 {
		f, err := r.read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f)
		if u := usage(); u.Memory != 2*size || u.Sending != int64(i+1)*size {
			t.Fatalf("frame %d read, not sent: %+v, want it still counted", i, u)
		}
	}
	// The budget is full of frames in flight: the next (a file frame)
	// waits for one of them.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if f, err := r.read(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("read file frame %v over the budget with two in flight: %v, %+v", f.header, err, usage())
	}
	r.release(got[0].held)
	f, err := r.read(ctx)
	if err != nil || f.header[0] != 2 {
		t.Fatalf("third frame: %v %v", f.header, err)
	}
	if u := usage(); u.Memory != 2*size || u.Sending != 2*size {
		t.Fatalf("a file frame in flight: %+v, want it counted", u)
	}
	r.release(got[1].held)
	r.release(f.held)
	// With nothing in flight, a frame is read even over the budget: the
	// stream always moves.
	store.mu.Lock()
	store.mem += 2 * size // another spool's frames fill the budget
	store.mu.Unlock()
	f, err = r.read(ctx)
	if err != nil || f.header[0] != 3 {
		t.Fatalf("fourth frame over the budget, none in flight: %v %v", f.header, err)
	}
	r.release(f.held)
	store.free(2*size, 0)
	if u := usage(); u.Memory != 0 || u.Sending != 0 {
		t.Fatalf("every frame sent: %+v", u)
	}
}

// A spool's file that finds its disk full is the spools being full
// (ResourceExhausted, what a producer gives up with), saying so without
// the file's path; another write error stays itself.
func TestFullSpoolDiskIsSpoolFull(t *testing.T) {
	err := spillError(&os.PathError{Op: "write", Path: "/spool/skein-spool-1/task-2.spool", Err: syscall.ENOSPC})
	if !errors.Is(err, errSpoolFull) || strings.Contains(err.Error(), "/spool") {
		t.Errorf("no space left: %v", err)
	}
	if err := spillError(&os.PathError{Op: "write", Path: "/s/t.spool", Err: syscall.EIO}); errors.Is(err, errSpoolFull) || !errors.Is(err, syscall.EIO) {
		t.Errorf("an I/O error: %v", err)
	}
}

// A spool directory removed under the executor (a cleaner of the system's
// temporary directory, its default place) is made again when a spool
// spills: every spilling task failed until a restart.
func TestRemovedSpoolDirIsMadeAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "skein-spool-1")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	store := newSpoolStore(dir, 0, 1<<30)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	f, err := store.createFile()
	if err != nil {
		t.Fatalf("spilling after the directory was removed: %v", err)
	}
	defer f.Close()
	if filepath.Dir(f.Name()) != dir {
		t.Fatalf("spool file %s outside %s", f.Name(), dir)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("directory made again: %v %v", st, err)
	}
}

// A result whose reader does not take it in waits for spool room without
// its thread slot: on an executor of one thread, another task still runs
// while it waits, and the waiting one goes on, whole, once read. Held,
// readers that had stopped took every executor's slot and every other
// query waited until they closed (a tester's, 2026-12-06).
func TestResultWaitingForRoomLeavesItsThread(t *testing.T) {
	e, cl, _ := startMemberConfig(t, Config{Addr: "127.0.0.1:0", Coordinator: "grpc://127.0.0.1:1",
		Secret: cluster.NewSecret(), Threads: 1, SpoolMemory: 1 << 20, SpoolDisk: 1 << 20, SpoolDir: t.TempDir(), Heartbeat: time.Hour})
	big := sign(t, e, cluster.Task{Query: "big", Task: 0, SQL: "SELECT range AS id, repeat('x', 200) AS pad FROM range(200000)"})
	// Started (its answer comes once it has run: not awaited), the big
	// result fills both budgets, and nobody reads it yet.
	actx, stop := context.WithCancel(context.Background())
	defer stop()
	if _, err := cl.DoAction(actx, &flight.Action{Type: cluster.ActionStart, Body: []byte(big)}); err != nil {
		t.Fatal(err)
	}
	full := func() bool {
		e.spools.mu.Lock()
		defer e.spools.mu.Unlock()
		return e.spools.disk > 0
	}
	deadline := time.Now().Add(20 * time.Second)
	for (!full() || e.running.Load() != 0) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	small := sign(t, e, cluster.Task{Query: "small", Task: 0, SQL: "SELECT 42::BIGINT AS a, 7::BIGINT AS b"})
	tk, err := cluster.TaskTicket(small)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, rows, err := readAll(ctx, cl, tk); err != nil || len(rows) != 1 || rows[0][0] != "42" {
		t.Fatalf("the small task beside a waiting result: %v, %v", rows, err)
	}
	tk, err = cluster.TaskTicket(big)
	if err != nil {
		t.Fatal(err)
	}
	if _, rows, err := readAll(ctx, cl, tk); err != nil || len(rows) != 200000 || rows[199999][0] != "199999" {
		t.Fatalf("the waiting result, read: %d rows, %v", len(rows), err)
	}
}

// A result's spool that finds its disk full (other spools' files, another
// executor's or DuckDB's on the same disk) waits for its reader to read
// what its file holds and, once the file is read, goes on in memory, at
// most spoolBacklog ahead of the reader, its thread given up meanwhile: a
// client reading endpoints one at a time failed "the disk of the spool
// directory has no room left" after 1.9M of 6M rows (a tester's, a 48 MB
// spool disk shared by two executors).
func TestResultOnAFullDiskWaitsForItsReader(t *testing.T) {
	ctx := context.Background()
	const size = 1 << 20
	store := newSpoolStore(t.TempDir(), 2*size, 1<<30)
	var full atomic.Bool
	store.writeAt = func(f *os.File, b []byte, off int64) (int, error) {
		if full.Load() {
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return f.WriteAt(b, off)
	}
	sp := newSpool(store, 1)
	defer sp.release()
	var yielded atomic.Int32
	sp.yield = func() func(context.Context) error {
		yielded.Add(1)
		return func(context.Context) error { return nil }
	}
	const frames = 40
	written := make(chan error, 1)
	var added atomic.Int32
	go func() {
		for i := range frames {
			if i == 4 { // two in memory, two in the file: then the disk is full
				full.Store(true)
			}
			if err := sp.add(ctx, frame{header: []byte{byte(i)}, body: make([]byte, size-1)}); err != nil {
				sp.finish(err)
				written <- err
				return
			}
			added.Add(1)
		}
		sp.finish(nil)
		written <- nil
	}()
	r := sp.take()
	read := func(want int) {
		t.Helper()
		f, err := r.read(ctx)
		if err != nil || f.header[0] != byte(want) {
			t.Fatalf("frame %d: %v, %v (%d written)", want, f.header, err, added.Load())
		}
		r.sent(f)
	}
	for i := range 4 {
		read(i)
	}
	// The file read to its end, the frames go on in memory until
	// spoolBacklog of them wait for the reader.
	deadline := time.Now().Add(10 * time.Second)
	for added.Load() < 4+spoolBacklog/size && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	sp.mu.Lock()
	ahead := sp.afterHeld
	sp.mu.Unlock()
	if n := added.Load(); n < 4+spoolBacklog/size || ahead > spoolBacklog {
		t.Fatalf("%d frames written, %d bytes in memory ahead of the reader: want them to wait at %d", n, ahead, spoolBacklog)
	}
	for i := 4; i < frames; i++ {
		read(i)
	}
	if err := <-written; err != nil {
		t.Fatalf("the writer on a full disk: %v", err)
	}
	if _, err := r.read(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v", err)
	}
	r.done()
	if yielded.Load() == 0 {
		t.Error("the writer kept its thread while it waited for its reader")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.mem != 0 || store.disk != 0 || store.sending != 0 {
		t.Fatalf("after the read: memory %d, disk %d, sending %d", store.mem, store.disk, store.sending)
	}
}

// The spools' disk budget is --spool-disk-gb, but no more than the spool
// directory's disk has free less the room the spools being read may take
// past it (spoolBacklog a thread and one more, at most half the free).
func TestSpoolDiskBudgetFitsTheDisk(t *testing.T) {
	for _, c := range []struct {
		asked, free int64
		threads     int
		want        int64
	}{
		{16 << 30, 100 << 30, 2, 16 << 30},
		{16 << 30, 10 << 30, 2, 10<<30 - 3*spoolBacklog},
		{16 << 30, 48 << 20, 1, 24 << 20},
		{16 << 30, 0, 1, 0},
	} {
		if got := spoolDiskBudget(c.asked, c.free, c.threads); got != c.want {
			t.Errorf("asked %d, %d free, %d threads: %d, want %d", c.asked, c.free, c.threads, got, c.want)
		}
	}
}
