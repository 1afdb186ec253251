package flightsql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/skeindb/skein/internal/flightwire"
	"google.golang.org/grpc/metadata"
)

// Compression of result streams: Arrow IPC body compression (each buffer
// of a record batch compressed on its own, the schema and the message
// headers left plain), which every Arrow reader that links the codec
// decodes by itself. It pays where the link is slower than the codec:
// between machines, not on loopback. A client asks for it per call with
// CompressionHeader; the Flight SQL JDBC driver (18.3.0) cannot decode
// it, so nothing is compressed for a client that did not ask.
const (
	// CompressionHeader is the gRPC request header with which a client
	// asks for its results compressed: zstd, lz4 or none. It is read on
	// GetFlightInfo (for the endpoints at executors, whose tasks encode
	// their results as they run) and on DoGet (for results streamed by
	// the coordinator), so a client sends it on every call (ADBC's
	// adbc.flight.sql.rpc.call_header.skein-compression does).
	CompressionHeader = "skein-compression"
	// CodecZstd is Zstandard; CodecLZ4 is LZ4 frame, faster and larger.
	CodecZstd = "zstd"
	CodecLZ4  = "lz4"
	codecNone = "none"
)

// Codecs are the codec names a client may ask for.
var Codecs = []string{CodecZstd, CodecLZ4, codecNone}

// ParseCodec is s as a codec, in any case: "" (none) for "none" or an
// empty s; ok is false if s names no codec.
func ParseCodec(s string) (codec string, ok bool) {
	c := strings.ToLower(strings.TrimSpace(s))
	switch c {
	case "", codecNone:
		return "", true
	}
	return c, slices.Contains(Codecs, c)
}

// minSavings is the share of a buffer compression must save for the
// compressed form to be sent: below it the buffer goes plain (the IPC
// format marks each buffer), so random or tiny columns cost no decoding.
const minSavings = 0.1

// IPCOptions are the IPC writer options that compress with codec ("":
// none).
func IPCOptions(codec string) []ipc.Option {
	switch codec {
	case CodecZstd:
		return []ipc.Option{ipc.WithZstd(), ipc.WithMinSpaceSavings(minSavings)}
	case CodecLZ4:
		return []ipc.Option{ipc.WithLZ4(), ipc.WithMinSpaceSavings(minSavings)}
	}
	return nil
}

// RequestCodec is the codec a call's CompressionHeader asks for ("" when
// it has none or asks for none); a header naming no codec, or given twice
// with different codecs, is an error.
func RequestCodec(ctx context.Context) (string, error) {
	codec, seen := "", false
	for _, v := range metadata.ValueFromIncomingContext(ctx, CompressionHeader) { // not the whole header copied
		c, ok := ParseCodec(v)
		if !ok {
			return "", fmt.Errorf("%w: header %s: %q is no codec: want one of %s", ErrInvalid, CompressionHeader, v,
				strings.Join(Codecs, ", "))
		}
		if seen && c != codec {
			return "", fmt.Errorf("%w: header %s is given twice, as %q and %q", ErrInvalid, CompressionHeader, codec, c)
		}
		codec, seen = c, true
	}
	return codec, nil
}

// DoGet streams a statement's result (a query run here, or one the
// coordinator proxies or merges) through flightwire, compressed when the
// call asks for it (and the server allows it); anything else, metadata
// included, goes through arrow-go's Flight SQL routing.
func (f *service) DoGet(t *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	codec, err := RequestCodec(stream.Context())
	if err != nil {
		return err
	}
	if f.s.cfg.NoCompression {
		codec = ""
	}
	cmd, err := flightsql.GetStatementQueryTicket(t)
	if err != nil { // another command: a catalog's few rows
		return f.FlightServer.DoGet(t, stream)
	}
	return f.doGetStatement(cmd, stream, codec)
}

// doGetStatement streams a statement ticket's result, compressed with
// codec, as arrow-go's Flight SQL server streams it, but with the
// records' buffers handed to gRPC as they are (flightwire.Writer) rather
// than copied into each message.
func (f *service) doGetStatement(cmd flightsql.StatementQueryTicket, stream flight.FlightService_DoGetServer, codec string) error {
	ctx := stream.Context()
	schema, chunks, err := f.s.DoGetStatement(ctx, cmd)
	if err != nil {
		return err
	}
	defer func() { // what the stream did not take
		for c := range chunks {
			if c.Data != nil {
				c.Data.Release()
			}
		}
	}()
	w := flightwire.NewWriter(stream, append(IPCOptions(codec), ipc.WithSchema(schema), ipc.WithAllocator(f.s.mem))...)
	w.Compressed = codec != ""
	defer w.Close()
	for {
		// The next record is taken once gRPC has sent the last: a client
		// that stops reading holds one record here, not two.
		if err := w.Sent(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c, ok := <-chunks:
			if !ok {
				return nil
			}
			if c.Err != nil {
				return c.Err
			}
			w.SetFlightDescriptor(c.Desc)
			err := w.WriteWithAppMetadata(c.Data, c.AppMetadata)
			c.Data.Release()
			if err != nil {
				return err
			}
		}
	}
}
