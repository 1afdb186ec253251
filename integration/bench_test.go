package integration

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/flighttest"
	"github.com/skeindb/skein/internal/flightwire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// The benchmarks put Skein beside DuckDB's own in-process Arrow export, in
// one run and on the same data: the same table built by the same SQL in the
// server's database and in an in-process one.
const (
	fetchRows  = 10_000_000
	buildTable = "CREATE TABLE t AS SELECT range AS a, range * 0.5 AS b, range % 1000 AS c FROM range(10000000)"
	fetchQuery = "SELECT a, b, c FROM t"
)

func startServer(b *testing.B, batchRows int64) (*coordinator.Coordinator, *flightsql.Client) {
	b.Helper()
	c, err := coordinator.Start(context.Background(), coordinator.Config{
		Addr: "127.0.0.1:0", DataDir: b.TempDir(), BatchRows: batchRows, ShutdownGrace: time.Second,
	}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Shutdown() })
	return c, dial(b, c.URI())
}

func inProcess(b *testing.B, setup string) *duck.Conn {
	b.Helper()
	ctx := context.Background()
	// A database file, like the server's: DuckDB reads persisted tables
	// through its compressed storage, in-memory ones without it.
	dir := b.TempDir()
	db, err := duck.Open(ctx, duck.Config{Path: filepath.Join(dir, "bench.duckdb"), AllowedDirs: []string{dir}})
	if err != nil {
		b.Fatal(err)
	}
	conn, err := db.Connect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = conn.Close(); _ = db.Close() })
	if setup != "" {
		if _, err := conn.Exec(ctx, setup); err != nil {
			b.Fatal(err)
		}
	}
	return conn
}

// fetchServer reads every row of query through Flight SQL; it returns rows
// and bytes received.
func fetchServer(b *testing.B, cl *flightsql.Client, query string) (int64, int64) {
	info, err := cl.Execute(context.Background(), query)
	if err != nil {
		b.Fatal(err)
	}
	return readInfo(b, cl, info)
}

// readInfo reads every endpoint of info through the client; it returns
// rows and bytes received.
func readInfo(b *testing.B, cl *flightsql.Client, info *flight.FlightInfo) (int64, int64) {
	ctx := context.Background()
	var rows, bytes int64
	for _, ep := range info.Endpoint {
		rdr, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			b.Fatal(err)
		}
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rows += rec.NumRows()
			bytes += size(rec)
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
	}
	return rows, bytes
}

// fetchInProcess reads every row of query through DuckDB's Arrow export, in
// DuckDB's own 2048-row chunks.
func fetchInProcess(b *testing.B, conn *duck.Conn, query string) (int64, int64) {
	ctx := context.Background()
	st, err := conn.Prepare(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.BatchSize{Rows: 1, Bytes: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer rdr.Release()
	var rows, bytes int64
	for rdr.Next() {
		rec := rdr.RecordBatch()
		rows += rec.NumRows()
		bytes += size(rec)
	}
	if err := rdr.Err(); err != nil {
		b.Fatal(err)
	}
	return rows, bytes
}

func size(rec arrow.RecordBatch) int64 {
	var n int64
	for _, c := range rec.Columns() {
		for _, buf := range c.Data().Buffers() {
			if buf != nil {
				n += int64(buf.Len())
			}
		}
	}
	return n
}

// BenchmarkFetch compares fetching 10M rows x 3 columns through the server
// (at several batch sizes) with DuckDB's in-process Arrow export.
func BenchmarkFetch(b *testing.B) {
	// cpu-ms/op: flighttest.ProcessCPU per fetch.
	report := func(b *testing.B, rows, bytes int64, cpu0 time.Duration) {
		if rows != fetchRows {
			b.Fatalf("fetched %d rows, want %d", rows, fetchRows)
		}
		b.ReportMetric(float64(bytes)*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds()/1e6, "Mrows/s")
		b.ReportMetric(float64((flighttest.ProcessCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
	// timed times read, which fetches the table once.
	timed := func(b *testing.B, read func() (rows, bytes int64)) {
		b.ResetTimer()
		cpu0 := flighttest.ProcessCPU(b)
		stop := flighttest.PerfWindow(b)
		var rows, bytes int64
		for range b.N {
			rows, bytes = read()
		}
		stop()
		report(b, rows, bytes, cpu0)
	}
	// fetch builds the table through cl and times reading it.
	fetch := func(b *testing.B, cl *flightsql.Client) {
		if _, err := cl.ExecuteUpdate(context.Background(), buildTable); err != nil {
			b.Fatal(err)
		}
		timed(b, func() (int64, int64) { return fetchServer(b, cl, fetchQuery) })
	}
	b.Run("in-process", func(b *testing.B) {
		conn := inProcess(b, buildTable)
		timed(b, func() (int64, int64) { return fetchInProcess(b, conn, fetchQuery) })
	})
	for _, batch := range []int64{2048, 16 * 1024, duck.DefaultBatchSize.Rows} {
		b.Run(fmt.Sprintf("server/batch=%d", batch), func(b *testing.B) {
			_, cl := startServer(b, batch)
			fetch(b, cl)
		})
	}
	// A Go client as Skein's own (the coordinator reading executors):
	// flightwire's codec, one copy fewer per message, and large
	// flow-control windows.
	b.Run("server/client=skein", func(b *testing.B) {
		c, _ := startServer(b, 0)
		fetch(b, dial(b, c.URI(), flightwire.DialOption(), grpc.WithInitialWindowSize(8<<20), grpc.WithInitialConnWindowSize(16<<20)))
	})
	// Compressed as a client may ask (skein-compression): on loopback the
	// codec's CPU is all cost; wire-MB is what a slower link would carry.
	for _, codec := range []string{"none", skeinsql.CodecLZ4, skeinsql.CodecZstd} {
		b.Run("server/compression="+codec, func(b *testing.B) {
			_, cl := startServer(b, 0)
			if _, err := cl.ExecuteUpdate(context.Background(), buildTable); err != nil {
				b.Fatal(err)
			}
			ctx := metadata.AppendToOutgoingContext(context.Background(), skeinsql.CompressionHeader, codec)
			b.ResetTimer()
			cpu0 := flighttest.ProcessCPU(b)
			stop := flighttest.PerfWindow(b)
			var rows, bytes, wire int64
			for range b.N {
				rows, bytes, wire = fetchCounted(b, ctx, cl, fetchQuery)
			}
			stop()
			report(b, rows, bytes, cpu0)
			b.ReportMetric(float64(wire)/1e6, "wire-MB")
		})
	}
}

// fetchCounted runs query with ctx's headers and reads its endpoints
// through the client: rows, bytes of Arrow buffers, and bytes of message
// bodies on the wire.
func fetchCounted(b *testing.B, ctx context.Context, cl *flightsql.Client, query string) (rows, bytes, wire int64) {
	info, err := cl.Execute(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	for _, ep := range info.Endpoint {
		stream, err := cl.Client.DoGet(ctx, ep.Ticket)
		if err != nil {
			b.Fatal(err)
		}
		cs := &flighttest.CountingStream{FlightService_DoGetClient: stream}
		rdr, err := flight.NewRecordReader(cs)
		if err != nil {
			b.Fatal(err)
		}
		for rdr.Next() {
			rows += rdr.RecordBatch().NumRows()
			bytes += size(rdr.RecordBatch())
		}
		if err := rdr.Err(); err != nil {
			b.Fatal(err)
		}
		rdr.Release()
		wire += cs.Body
	}
	return rows, bytes, wire
}

// BenchmarkSelect1 measures the round trip of SELECT 1: prepare, execute
// and read the one row, in process and through the server. It reports the
// median, which noisy machines disturb less than the mean. Through the
// server: a client that keeps no session (arrow-go's flightsql.Client
// without cookies: a session per call), one that keeps its session as
// ADBC and JDBC do, skein serve's defaults (2 in-process executors, queries
// run on the coordinator) and 2 in-process executors that split queries
// (--in-process-plan distribute: the planning a coordinator with executors
// does for every query).
func BenchmarkSelect1(b *testing.B) {
	// roundTrips times each SELECT 1 and reports the median.
	roundTrips := func(b *testing.B, fetch func(q string) (rows, bytes int64)) {
		d := make([]time.Duration, 0, b.N)
		for range b.N {
			start := time.Now()
			if rows, _ := fetch("SELECT 1"); rows != 1 {
				b.Fatal("no row")
			}
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds()), "median-µs")
	}
	b.Run("in-process", func(b *testing.B) {
		conn := inProcess(b, "")
		roundTrips(b, func(q string) (int64, int64) { return fetchInProcess(b, conn, q) })
	})
	b.Run("server", func(b *testing.B) {
		_, cl := startServer(b, 0)
		roundTrips(b, func(q string) (int64, int64) { return fetchServer(b, cl, q) })
	})
	b.Run("flight-floor", func(b *testing.B) {
		cl := dial(b, startFloor(b))
		roundTrips(b, func(q string) (int64, int64) { return fetchServer(b, cl, q) })
	})
	for _, c := range []struct {
		name      string
		executors int
		plan      string
	}{{"server-session", 0, ""}, {"serve", 2, coordinator.PlanLocal}, {"distribute", 2, coordinator.PlanDistribute}} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := coordinator.Start(context.Background(), coordinator.Config{
				Addr: "127.0.0.1:0", DataDir: b.TempDir(), ShutdownGrace: time.Second,
				Executors: c.executors, InProcessPlan: c.plan,
			}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = srv.Shutdown() })
			cl, err := flightsql.NewClient(strings.TrimPrefix(srv.URI(), "grpc://"), nil,
				[]flight.ClientMiddleware{flight.NewClientCookieMiddleware()},
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = cl.Close() })
			roundTrips(b, func(q string) (int64, int64) { return fetchServer(b, cl, q) })
		})
	}
}

// startFloor serves a floor on loopback; it returns its URI.
func startFloor(b *testing.B) string {
	b.Helper()
	f := flighttest.NewFloor()
	srv := flight.NewServerWithMiddleware(nil)
	srv.RegisterFlightService(flightsql.NewFlightServer(f))
	if err := srv.Init("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve() }()
	b.Cleanup(func() {
		srv.Shutdown()
		f.Release()
	})
	return "grpc://" + srv.Addr().String()
}
