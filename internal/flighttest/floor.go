package flighttest

import (
	"context"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Floor is the least a Flight SQL server can do for a query: arrow-go's
// server answering every statement from memory with a one-row batch it
// made once. Its round trip is what the protocol (two RPCs), gRPC and
// arrow-go cost on a machine, whatever the server behind them does
// (integration's BenchmarkSelect1 and bench/floor serve it).
type Floor struct {
	flightsql.BaseServer
	schema *arrow.Schema
	rec    arrow.RecordBatch
}

// NewFloor makes a Floor answering SELECT 1's one Int32 row. Release
// frees its batch.
func NewFloor() *Floor {
	schema := arrow.NewSchema([]arrow.Field{{Name: "1", Type: arrow.PrimitiveTypes.Int32}}, nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer bld.Release()
	bld.Field(0).(*array.Int32Builder).Append(1)
	return &Floor{schema: schema, rec: bld.NewRecordBatch()}
}

// Release frees the floor's batch.
func (f *Floor) Release() { f.rec.Release() }

func (f *Floor) GetFlightInfoStatement(_ context.Context, cmd flightsql.StatementQuery, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	ticket, err := flightsql.CreateStatementQueryTicket([]byte(cmd.GetQuery()))
	if err != nil {
		return nil, err
	}
	return &flight.FlightInfo{Schema: flight.SerializeSchema(f.schema, memory.DefaultAllocator), FlightDescriptor: desc,
		Endpoint: []*flight.FlightEndpoint{{Ticket: &flight.Ticket{Ticket: ticket}}}, TotalRecords: -1, TotalBytes: -1}, nil
}

func (f *Floor) DoGetStatement(context.Context, flightsql.StatementQueryTicket) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	ch := make(chan flight.StreamChunk, 1)
	f.rec.Retain()
	ch <- flight.StreamChunk{Data: f.rec}
	close(ch)
	return f.schema, ch, nil
}
