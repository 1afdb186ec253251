package coordinator

import (
	"context"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flighttest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// readCounted redeems a ticket with cl: its rows, rendered, and the bytes
// of the message bodies they came in.
func readCounted(t *testing.T, ctx context.Context, cl flight.Client, ticket *flight.Ticket) ([]string, int64) {
	t.Helper()
	stream, err := cl.DoGet(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	cs := &flighttest.CountingStream{FlightService_DoGetClient: stream}
	r, err := flight.NewRecordReader(cs)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	return rowStrings(t, r), cs.Body
}

// A client's results come compressed when it asks, with the
// skein-compression header, whether the executors stream them (the
// endpoints of a split query) or the coordinator (a query run here): the
// same rows in fewer bytes. Without the header, or on a server started
// with --wire-compression off, they come plain; a header naming no codec
// is refused before anything runs.
func TestCompressionAskedByClient(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	const (
		split = "SELECT f.k, f.x, f.c, o.urgent FROM fact f JOIN ord o ON f.o = o.o"
		local = "SELECT range % 100 AS v, 'row ' || (range % 7) AS s FROM range(200000)"
	)
	for _, off := range []bool{false, true} {
		name := "auto"
		if off {
			name = "off"
		}
		t.Run(name, func(t *testing.T) {
			_, cl, ref := stagedCluster(t, "direct", func(c *Config) {
				if off {
					c.WireCompression = CompressionOff
				}
			})
			// read runs q, asking for codec, and reads every endpoint where
			// it is located (or at the coordinator).
			read := func(q, codec string) ([]string, int64) {
				ctx := context.Background()
				if codec != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, skeinsql.CompressionHeader, codec)
				}
				info, err := cl.Execute(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if q == split {
					if p := planOf(t, info); p.Mode != "stages" || len(info.Endpoint) < 2 {
						t.Fatalf("plan %s with %d endpoints, want stages gathering from several tasks", p.Mode, len(info.Endpoint))
					}
				}
				var rows []string
				var body int64
				for _, ep := range info.Endpoint {
					at := cl.Client
					if len(ep.Location) > 0 && ep.Location[0].Uri != reuseConnection {
						at = dialAt(t, ep.Location[0].Uri)
					}
					r, n := readCounted(t, ctx, at, ep.Ticket)
					rows, body = append(rows, r...), body+n
				}
				slices.Sort(rows)
				return rows, body
			}
			for _, q := range []string{split, local} {
				want := duckRows(t, ref, q)
				plainRows, plain := read(q, "")
				if !slices.Equal(plainRows, want) {
					t.Fatalf("%s: %d rows, want DuckDB's %d", q, len(plainRows), len(want))
				}
				for _, codec := range []string{skeinsql.CodecZstd, skeinsql.CodecLZ4} {
					rows, body := read(q, codec)
					if !slices.Equal(rows, want) {
						t.Fatalf("%s with %s: %d rows, want DuckDB's %d; first %q, want %q", q, codec, len(rows), len(want), first(rows), first(want))
					}
					t.Logf("%s, %s: %d bytes, %d plain", q, codec, body, plain)
					if shrank := body*10 < plain*7; shrank == off {
						t.Fatalf("%s with %s (--wire-compression %s): %d bytes against %d plain", q, codec, name, body, plain)
					}
				}
			}
			ctx := metadata.AppendToOutgoingContext(context.Background(), skeinsql.CompressionHeader, "gzip")
			if _, err := cl.Execute(ctx, split); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("a header naming gzip: %v, want InvalidArgument", err)
			}
		})
	}
}

// Between the nodes, --wire-compression auto compresses only once an
// executor is off loopback; zstd and lz4 always, off never. A client's
// endpoints at the executors follow its own header.
func TestCodecsFor(t *testing.T) {
	at := func(locs ...string) []cluster.Member {
		var ms []cluster.Member
		for _, l := range locs {
			ms = append(ms, cluster.Member{Location: l})
		}
		return ms
	}
	loop := at("grpc://127.0.0.1:7001", "grpc+tls://localhost:7002", "grpc://[::1]:7003")
	lan := at("grpc://127.0.0.1:7001", "grpc+tls://10.0.0.7:7002")
	asked := metadata.NewIncomingContext(context.Background(), metadata.Pairs(skeinsql.CompressionHeader, "zstd"))
	for _, c := range []struct {
		policy string
		ms     []cluster.Member
		ctx    context.Context
		direct bool
		want   codecs
	}{
		{CompressionAuto, loop, context.Background(), false, codecs{}},
		{CompressionAuto, lan, context.Background(), false, codecs{CompressionLZ4, CompressionLZ4}},
		{CompressionAuto, lan, context.Background(), true, codecs{CompressionLZ4, ""}},
		{CompressionAuto, loop, asked, true, codecs{"", CompressionZstd}},
		{CompressionZstd, loop, context.Background(), false, codecs{CompressionZstd, CompressionZstd}},
		{CompressionLZ4, loop, asked, true, codecs{CompressionLZ4, CompressionZstd}},
		{CompressionOff, lan, asked, true, codecs{}},
	} {
		d := &dist{compression: c.policy}
		if got := d.codecsFor(c.ctx, c.ms, c.direct); got != c.want {
			t.Errorf("%s over %v, direct %v: %+v, want %+v", c.policy, c.ms, c.direct, got, c.want)
		}
	}
}

// With compression between the nodes, a staged query's exchanges and the
// results the coordinator reads are compressed, and its answers are
// DuckDB's.
func TestCompressedExchanges(t *testing.T) {
	t.Parallel()
	for _, codec := range []string{CompressionZstd, CompressionLZ4} {
		t.Run(codec, func(t *testing.T) {
			_, cl, ref := stagedCluster(t, "proxy", func(c *Config) { c.WireCompression = codec })
			for name, q := range stagedFaultQueries {
				got := endpointRows(t, cl, staged(t, cl, q).Endpoint)
				slices.Sort(got)
				if want := duckRows(t, ref, q); !slices.Equal(got, want) {
					t.Fatalf("%s: %d rows, want DuckDB's %d; first %q, want %q", name, len(got), len(want), first(got), first(want))
				}
			}
		})
	}
}
