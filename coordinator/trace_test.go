package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	skeinsql "github.com/skeindb/skein/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Every query gets an id, told to its client in the response headers and
// the FlightInfo's app_metadata; a client's W3C traceparent is kept beside
// it (its trace id in the headers, the app_metadata and skein.queries) for
// queries that run here, are split across executors, or write.
func TestQueryTags(t *testing.T) {
	t.Parallel()
	_, cl, glob := startCluster(t, 1, "direct")
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	traced := metadata.AppendToOutgoingContext(context.Background(), "traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
	cases := []struct {
		name, sql string
		ctx       context.Context
		trace     string
		update    bool
	}{
		{"local", "SELECT 42 AS answer", traced, trace, false},
		{"distributed", fmt.Sprintf("SELECT g, count(*) FROM read_parquet('%s') GROUP BY g", glob), traced, trace, false},
		{"scatter", fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE id %% 1000 = 0", glob), traced, trace, false},
		{"update", "CREATE TABLE tagged AS SELECT 1 AS i", traced, trace, true},
		{"untraced", "SELECT 43", context.Background(), "", false},
		// A traceparent that is not one (upper-case hex, a zero trace id)
		// is ignored.
		{"malformed", "SELECT 44", metadata.AppendToOutgoingContext(context.Background(), "traceparent",
			"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), "", false},
		{"zero", "SELECT 45", metadata.AppendToOutgoingContext(context.Background(), "traceparent",
			"00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "", false},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		var md metadata.MD
		var meta []byte
		if c.update {
			md = doPutUpdate(t, c.ctx, cl, c.sql)
		} else {
			info, err := cl.Execute(c.ctx, c.sql, grpc.Header(&md))
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, ep := range info.Endpoint {
				r, err := cl.DoGet(c.ctx, ep.Ticket)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				for r.Next() {
				}
				if err := r.Err(); err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				r.Release()
			}
			meta = info.AppMetadata
		}
		id := first(md.Get(skeinsql.QueryIDHeader))
		if id == "" || seen[id] {
			t.Fatalf("%s: query id %q in the headers (%v), want a new one", c.name, id, md)
		}
		seen[id] = true
		if got := first(md.Get(skeinsql.TraceIDHeader)); got != c.trace {
			t.Fatalf("%s: trace id %q in the headers, want %q", c.name, got, c.trace)
		}
		if !c.update {
			var plan explanation
			if err := json.Unmarshal(meta, &plan); err != nil || plan.QueryID != id || plan.TraceID != c.trace {
				t.Fatalf("%s: app_metadata %s (%v), want query_id %s and trace_id %q", c.name, meta, err, id, c.trace)
			}
		}
		eventually(t, 10*time.Second, func() (bool, string) {
			got := queryString(t, context.Background(), cl, fmt.Sprintf(
				`SELECT coalesce(trace_id, '-') || ' ' || status FROM skein.queries WHERE query_id = '%s'`, id))
			want := c.trace
			if want == "" {
				want = "-"
			}
			return got == want+" ok", fmt.Sprintf("%s: skein.queries says %q, want %q", c.name, got, want+" ok")
		})
	}
}

// doPutUpdate runs an update as ExecuteUpdate does (DoPut of a
// CommandStatementUpdate), reading the stream to its end, and returns the
// response headers (which ExecuteUpdate does not give).
func doPutUpdate(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string) metadata.MD {
	t.Helper()
	var cmd anypb.Any
	if err := cmd.MarshalFrom(&pb.CommandStatementUpdate{Query: sql}); err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&cmd)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := cl.Client.DoPut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&flight.FlightData{FlightDescriptor: &flight.FlightDescriptor{Type: flight.DescriptorCMD, Cmd: b}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := stream.Recv(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	md, err := stream.Header()
	if err != nil {
		t.Fatal(err)
	}
	return md
}
