package flightsql_test

import (
	"context"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testServer is a real coordinator on 127.0.0.1:0 whose Arrow buffers come
// from a checked allocator: when the test ends, the server is shut down and
// every buffer it allocated must have been released.
type testServer struct {
	addr    string
	dataDir string
	mem     *memory.CheckedAllocator
	c       *coordinator.Coordinator
}

func startServer(t testing.TB, mutate ...func(*coordinator.Config)) *testServer {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	cfg := coordinator.Config{
		Addr:          "127.0.0.1:0",
		DataDir:       t.TempDir(),
		Threads:       2,
		ShutdownGrace: 10 * time.Second,
		Alloc:         mem,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := coordinator.Start(context.Background(), cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	_, hostPort, _ := strings.Cut(c.URI(), "://")
	ts := &testServer{addr: hostPort, dataDir: cfg.DataDir, mem: mem, c: c}
	t.Cleanup(func() {
		if err := c.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		mem.AssertSize(t, 0)
	})
	return ts
}

// client connects a Flight SQL client that keeps the session cookie, as the
// JDBC driver does. Without users, its session is opened by a unary call
// that holds nothing (GetSchema): arrow-go's cookie middleware (v18.8.0)
// can drop the cookie of a streaming call such as Prepare's or
// BeginTransaction's DoAction when the stream's context ends before its
// EOF is read (the middleware's watcher then finishes the call as
// cancelled and skips its headers), and the calls after it would land in
// another session.
func (ts *testServer) client(t testing.TB) *flightsql.Client {
	t.Helper()
	c, err := flightsql.NewClient(ts.addr, nil, []flight.ClientMiddleware{flight.NewClientCookieMiddleware()},
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	// A server with users opens sessions at Handshake, named by tokens.
	if _, err := c.GetExecuteSchema(context.Background(), "SELECT 1"); err != nil && status.Code(err) != codes.Unauthenticated {
		t.Fatal(err)
	}
	return c
}

// readErr runs sql and reads its first endpoint to its end, for the error
// the server ends it with (nil if none).
func readErr(t *testing.T, ctx context.Context, c *flightsql.Client, sql string) error {
	t.Helper()
	info, err := c.Execute(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	return readToEnd(ctx, c, info)
}

// readToEnd reads info's first endpoint to its end, for the error the
// server ends it with (nil if none).
func readToEnd(ctx context.Context, c *flightsql.Client, info *flight.FlightInfo) error {
	rdr, err := c.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		for rdr.Next() {
		}
		err = rdr.Err()
		rdr.Release()
	}
	return err
}

// fetch reads every endpoint of info, checking each stream's schema against
// the FlightInfo's, and returns the records (released at test end).
func fetch(t *testing.T, ctx context.Context, c *flightsql.Client, info *flight.FlightInfo) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Endpoint) == 0 {
		t.Fatal("FlightInfo without endpoints")
	}
	var recs []arrow.RecordBatch
	for _, ep := range info.Endpoint {
		rdr, err := c.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatalf("DoGet: %v", err)
		}
		if !rdr.Schema().Equal(schema) {
			t.Fatalf("stream schema\n%s\ndiffers from FlightInfo schema\n%s", rdr.Schema(), schema)
		}
		for rdr.Next() {
			rec := rdr.RecordBatch()
			rec.Retain()
			recs = append(recs, rec)
		}
		if err := rdr.Err(); err != nil && err != io.EOF {
			rdr.Release()
			t.Fatalf("stream: %v", err)
		}
		rdr.Release()
	}
	t.Cleanup(func() {
		for _, r := range recs {
			r.Release()
		}
	})
	return schema, recs
}

// query runs SQL and returns its schema and records.
func query(t *testing.T, ctx context.Context, c *flightsql.Client, sql string) (*arrow.Schema, []arrow.RecordBatch) {
	t.Helper()
	info, err := c.Execute(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return fetch(t, ctx, c, info)
}

// table flattens records into one table for comparison.
func table(t *testing.T, schema *arrow.Schema, recs []arrow.RecordBatch) arrow.Table {
	t.Helper()
	tbl := array.NewTableFromRecords(schema, recs)
	t.Cleanup(tbl.Release)
	return tbl
}

func rowCount(recs []arrow.RecordBatch) int64 {
	var n int64
	for _, r := range recs {
		n += r.NumRows()
	}
	return n
}

// wantCode fails unless err is a gRPC status with the given code.
func wantCode(t *testing.T, err error, code codes.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s, got success", code)
	}
	if got := status.Code(err); got != code {
		t.Fatalf("want %s, got %s: %v", code, got, err)
	}
}

// int64Param is one row of one BIGINT column (a parameter), name = v,
// released when the test ends.
func int64Param(t testing.TB, name string, v int64) arrow.RecordBatch {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: name, Type: arrow.PrimitiveTypes.Int64}}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(v)
	rec := b.NewRecordBatch()
	t.Cleanup(rec.Release)
	return rec
}
