// Package flighttest holds what the tests and benchmarks of several
// packages need to look at Flight streams from outside, and the floor
// server they compare Skein's round trips with: it is imported by tests
// and bench/floor only.
package flighttest

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// CountingStream counts the body bytes of a DoGet stream's messages: what
// the record batches took on the wire, compressed or not. Read it with
// flight.NewRecordReader.
type CountingStream struct {
	flight.FlightService_DoGetClient
	Body int64
}

func (c *CountingStream) Recv() (*flight.FlightData, error) {
	d, err := c.FlightService_DoGetClient.Recv()
	if d != nil {
		c.Body += int64(len(d.DataBody))
	}
	return d, err
}

// ProcessCPU is the user and system CPU time this process has used: what
// the fetch benchmarks report per operation, client and server (and
// DuckDB's threads) alike, since on a shared machine it moves less with
// other work than the elapsed time does.
func ProcessCPU(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())
}

// AppendMessage appends an IPC message (a flatbuffer header and its body,
// as a Flight data message carries them) to an IPC stream, framed as the
// stream format frames it: continuation marker, padded header length,
// header, padding, body.
func AppendMessage(stream *bytes.Buffer, header, body []byte) {
	padded := (len(header) + 7) &^ 7
	stream.Write(binary.LittleEndian.AppendUint32(nil, 0xFFFFFFFF))
	stream.Write(binary.LittleEndian.AppendUint32(nil, uint32(padded)))
	stream.Write(header)
	stream.Write(make([]byte, padded-len(header)))
	stream.Write(body)
}

// CheckSecond reads an IPC stream of two record batches and checks the
// second is want.
func CheckSecond(t testing.TB, stream io.Reader, alloc memory.Allocator, want arrow.RecordBatch) {
	t.Helper()
	r, err := ipc.NewReader(stream, ipc.WithAllocator(alloc))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	n := 0
	for ; r.Next(); n++ {
		if n == 1 && !array.RecordEqual(r.RecordBatch(), want) {
			t.Errorf("read\n%v\nwant\n%v", r.RecordBatch(), want)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("read %d record batches, want 2", n)
	}
}

// CountingAllocator counts the allocations made through it.
type CountingAllocator struct {
	memory.Allocator
	N atomic.Int64
}

func (a *CountingAllocator) Allocate(size int) []byte {
	a.N.Add(1)
	return a.Allocator.Allocate(size)
}
