// Package flightwire moves Arrow Flight's data messages between Arrow
// buffers and gRPC with fewer copies than gRPC's proto codec makes.
//
// Sent through arrow-go's flight.Writer, a record batch's body is copied
// three times before gRPC's transport copies it into its write buffer:
// into the writer's bytes.Buffer, into the protobuf encoding, and (for
// bodies over gRPC's pooled sizes) into a freshly zeroed buffer. A
// received one is copied twice: gathered from the HTTP/2 frames into one
// buffer, then into the FlightData's DataBody by protobuf. Codec, a gRPC
// CodecV2, encodes a Message by handing the body's bytes to the transport
// as they are (the record's own buffers, held until gRPC is done with
// them) and decodes a FlightData by gathering the frames once and
// pointing its fields into that copy. The bytes on the wire are
// FlightData's protobuf encoding, so any Flight client or server reads
// them; every other message goes through gRPC's proto codec unchanged.
//
// A batch of DuckDB's chunks (a joined.Record) is sent from the chunks
// as one record batch message, never joined: its body is the chunks'
// value buffers side by side, with validity bitmaps and string offsets
// rewritten (parts.go); a Joiner copies it once into a spool.
//
// A server that installs ServerOption streams results with NewWriter; a
// client that dials with DialOption reads them with arrow-go's
// flight.NewRecordReader as before.
package flightwire
