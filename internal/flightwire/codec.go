package flightwire

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	protov2 "google.golang.org/protobuf/proto"
)

// FlightData's field numbers (Flight.proto).
const (
	fieldDescriptor  = 1
	fieldHeader      = 2
	fieldAppMetadata = 3
	fieldBody        = 1000
)

var protoCodec = encoding.GetCodecV2(proto.Name)

// Codec is gRPC's proto codec, but for a Message, which it encodes
// without copying its body, and a FlightData, which it decodes with one
// copy of the received bytes, its fields pointing into it.
type Codec struct{}

// Name is the proto codec's: the content type does not change.
func (Codec) Name() string { return proto.Name }

// Marshal encodes v.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*Message); ok {
		return m.marshal()
	}
	return protoCodec.Marshal(v)
}

// Unmarshal decodes data into v.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if fd, ok := v.(*flight.FlightData); ok {
		return unmarshalData(data.Materialize(), fd)
	}
	return protoCodec.Unmarshal(data, v)
}

// ServerOption installs Codec on a gRPC server: its handlers may then
// send Messages.
func ServerOption() grpc.ServerOption { return grpc.ForceServerCodecV2(Codec{}) }

// DialOption installs Codec on a client's calls.
func DialOption() grpc.DialOption {
	return grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}))
}

// unmarshalData decodes FlightData's protobuf encoding b into fd, its
// byte fields sharing b's memory (which the caller gives up).
func unmarshalData(b []byte, fd *flight.FlightData) error {
	protov2.Reset(fd)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("flightwire: decoding FlightData: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType || (num != fieldDescriptor && num != fieldHeader && num != fieldAppMetadata && num != fieldBody) {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return fmt.Errorf("flightwire: decoding FlightData field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return fmt.Errorf("flightwire: decoding FlightData field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldDescriptor: // a message field given twice merges, as protobuf has it
			if fd.FlightDescriptor == nil {
				fd.FlightDescriptor = &flight.FlightDescriptor{}
			}
			if err := (protov2.UnmarshalOptions{Merge: true}).Unmarshal(v, fd.FlightDescriptor); err != nil {
				return fmt.Errorf("flightwire: decoding FlightData's descriptor: %w", err)
			}
		case fieldHeader:
			fd.DataHeader = v
		case fieldAppMetadata:
			fd.AppMetadata = v
		case fieldBody:
			fd.DataBody = v
		}
	}
	return nil
}
