package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc"
)

// rowStrings renders a stream's rows as text, one string a row.
func rowStrings(t *testing.T, rdr array.RecordReader) []string {
	t.Helper()
	var out []string
	for rdr.Next() {
		out = append(out, recordRows(rdr.RecordBatch())...)
	}
	if err := rdr.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// A cluster started with --timezone computes in that zone on every node:
// date_trunc, strftime and casts of TIMESTAMPTZ give what one DuckDB of
// that zone gives, and executors' streams carry the FlightInfo's zone.
func TestTimeZoneAppliesOnEveryNode(t *testing.T) {
	const zone = "Asia/Kathmandu" // +05:45: a zone no test machine has
	c, cl, _ := startCluster(t, 2, "direct", func(c *Config) { c.TimeZone = zone })
	dir := c.cfg.AllowDirs[0]
	conn := ducktest.Open(t, dir)
	for f := range 3 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::BIGINT AS id,
  TIMESTAMPTZ '2024-03-30 12:00:00+00' + (range + %d) * INTERVAL 7 MINUTE AS ts FROM range(5000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1024)`, f*5000, filepath.Join(dir, fmt.Sprintf("ts%d.parquet", f))))
	}
	glob := filepath.Join(dir, "ts*.parquet")
	ctx := context.Background()
	want := zoneReference(t, zone, dir)
	queries := map[string]string{
		"scatter": `SELECT id, ts, date_trunc('day', ts) AS d, strftime(ts, '%Y-%m-%d %H:%M') AS s, ts::DATE AS day,
  ts::VARCHAR AS v FROM read_parquet('` + glob + `')`,
		"merge": `SELECT date_trunc('day', ts) AS d, strftime(ts, '%H') AS h, count(*) AS n, min(ts) AS first
FROM read_parquet('` + glob + `') GROUP BY date_trunc('day', ts), strftime(ts, '%H')`,
	}
	for name, q := range queries {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var e explanation
		if err := json.Unmarshal(info.AppMetadata, &e); err != nil || e.Mode == "local" {
			t.Fatalf("%s: not distributed: %s %v", name, info.AppMetadata, err)
		}
		schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ep := range info.Endpoint {
			rdr := fetchDirect(t, cl, ep)
			if !rdr.Schema().Equal(schema) {
				t.Errorf("%s: stream schema %v, FlightInfo's %v", name, rdr.Schema(), schema)
			}
			got = append(got, rowStrings(t, rdr)...)
			rdr.Release()
		}
		slices.Sort(got)
		if w := want(q); !slices.Equal(got, w) {
			t.Errorf("%s: %d rows differ from one DuckDB in %s; first %q, want %q", name, len(got), zone, first(got), first(w))
		}
	}
}

func first(rows []string) string {
	if len(rows) == 0 {
		return ""
	}
	return rows[0]
}

// fetchDirect reads an endpoint where a client would: at its first
// location (an executor) when it has one, else at the coordinator.
func fetchDirect(t *testing.T, cl interface {
	DoGet(context.Context, *flight.Ticket, ...grpc.CallOption) (*flight.Reader, error)
}, ep *flight.FlightEndpoint) *flight.Reader {
	t.Helper()
	ctx := context.Background()
	if locs := ep.GetLocation(); len(locs) > 0 && strings.HasPrefix(locs[0].GetUri(), "grpc://") {
		return readerAt(t, ctx, locs[0].GetUri(), ep.Ticket)
	}
	rdr, err := cl.DoGet(ctx, ep.Ticket)
	if err != nil {
		t.Fatal(err)
	}
	return rdr
}

func TestSameZone(t *testing.T) {
	ts := func(zone string) arrow.DataType { return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: zone} }
	ok := arrow.NewSchema([]arrow.Field{{Name: "a", Type: ts("Asia/Kathmandu")}, {Name: "b", Type: ts("")}}, nil)
	if err := sameZone(ok, "Asia/Kathmandu"); err != nil {
		t.Fatal(err)
	}
	nested := arrow.NewSchema([]arrow.Field{{Name: "l", Type: arrow.ListOf(arrow.StructOf(arrow.Field{Name: "x", Type: ts("UTC")}))}}, nil)
	if err := sameZone(nested, "Asia/Kathmandu"); !errors.Is(err, errZone) {
		t.Fatalf("nested TIMESTAMPTZ in another zone: %v", err)
	}
}
