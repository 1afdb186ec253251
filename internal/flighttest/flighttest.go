// Package flighttest holds what the tests and benchmarks of several
// packages need to look at Flight streams from outside, and the floor
// server they compare Skein's round trips with: it is imported by tests
// and bench/floor only.
package flighttest

import (
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
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
