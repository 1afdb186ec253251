package flightwire

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/flighttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// plainServer streams its records through arrow-go's flight.Writer.
type plainServer struct {
	flight.BaseFlightServer
	recs []arrow.RecordBatch
}

func (s *plainServer) DoGet(_ *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	w := flight.NewRecordWriter(stream, ipc.WithSchema(s.recs[0].Schema()))
	defer w.Close()
	for _, r := range s.recs {
		if err := w.Write(r); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkStream streams 80 record batches of 128Ki rows x 3 int64
// columns (240 MiB) over loopback gRPC: arrow-go's writer and client
// codec against flightwire's writer, with arrow-go's client codec and
// with flightwire's.
func BenchmarkStream(b *testing.B) {
	sc := arrow.NewSchema([]arrow.Field{{Name: "a", Type: arrow.PrimitiveTypes.Int64},
		{Name: "b", Type: arrow.PrimitiveTypes.Int64}, {Name: "c", Type: arrow.PrimitiveTypes.Int64}}, nil)
	bld := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer bld.Release()
	const rows = 128 << 10
	for i := range 3 {
		f := bld.Field(i).(*array.Int64Builder)
		for r := range rows {
			f.Append(int64(r * (i + 1)))
		}
	}
	rec := bld.NewRecordBatch()
	defer rec.Release()
	recs := make([]arrow.RecordBatch, 80)
	for i := range recs {
		recs[i] = rec
	}
	for _, c := range []struct {
		name   string
		srv    flight.FlightServer
		client []grpc.DialOption
	}{
		{"arrow-go", &plainServer{recs: recs}, nil},
		{"flightwire", &server{recs: recs}, nil},
		{"flightwire+client", &server{recs: recs}, []grpc.DialOption{DialOption()}},
	} {
		b.Run(c.name, func(b *testing.B) {
			lis, g := listen(b)
			flight.RegisterFlightServiceServer(g, c.srv)
			go func() { _ = g.Serve(lis) }()
			defer g.Stop()
			cl, err := flight.NewClientWithMiddleware(lis.Addr().String(), nil, nil,
				append(c.client, grpc.WithTransportCredentials(insecure.NewCredentials()),
					grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			b.SetBytes(int64(len(recs)) * rows * 3 * 8)
			cpu0 := flighttest.ProcessCPU(b)
			for b.Loop() {
				rdr := read(b, cl)
				n := 0
				for rdr.Next() {
					n++
				}
				rdr.Release()
				if n != len(recs) {
					b.Fatalf("%d records", n)
				}
			}
			b.ReportMetric(float64((flighttest.ProcessCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}
