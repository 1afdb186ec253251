// Package flighttest holds what the tests and benchmarks of several
// packages need to look at Flight streams from outside, and the floor
// server they compare Skein's round trips with: it is imported by tests
// and bench/floor only.
package flighttest

import "github.com/apache/arrow-go/v18/arrow/flight"

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
