package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A prepared query over a file rewritten with another type in a column
// is planned again: its FlightInfo's schema and every stream's agree, or
// it is refused "prepare it again" (Aborted), as on one node. The plans
// kept by the files' names reused the checks of the old file: a
// FlightInfo said int32 and its streams utf8 (ADBC: "endpoint 0 returned
// inconsistent schema"; a tester's).
// Split (scatter and staged plans) and whole (one task, under
// --split-min-rows).
func TestPreparedQueryOverARewrittenFile(t *testing.T) {
	for _, split := range []int64{0, 1 << 30} {
		t.Run(fmt.Sprintf("split-min-rows %d", split), func(t *testing.T) { preparedOverARewrittenFile(t, split) })
	}
}

func preparedOverARewrittenFile(t *testing.T, splitMinRows int64) {
	dir := t.TempDir()
	c, _, _ := startCluster(t, 2, "direct", func(cfg *Config) { cfg.AllowDirs = append(cfg.AllowDirs, dir); cfg.SplitMinRows = splitMinRows })
	cl := sessionClient(t, c)
	ctx := context.Background()
	f := filepath.Join(dir, "r.parquet")
	conn := ducktest.Open(t, dir)
	write := func(a string) {
		t.Helper()
		tmp := f + ".tmp"
		ducktest.Exec(t, conn, fmt.Sprintf("COPY (SELECT %s AS a, (range %% 7)::INTEGER AS b FROM range(60000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)", a, tmp))
		now := time.Now().Add(time.Duration(len(a)) * time.Second) // another modification time
		if err := os.Chtimes(tmp, now, now); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
	}
	for _, sql := range []string{
		fmt.Sprintf("SELECT * FROM '%s' ORDER BY a LIMIT 2", f),
		fmt.Sprintf("SELECT b, count(*) AS n, max(a) AS m FROM '%s' GROUP BY b", f),
		fmt.Sprintf("SELECT a, b FROM '%s' WHERE b = 3", f),
	} {
		write("range::INTEGER")
		p, err := cl.Prepare(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			info, err := p.Execute(ctx)
			if err != nil {
				t.Fatalf("%s, run %d: %v", sql, round, err)
			}
			sc, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
			if err != nil {
				t.Fatal(err)
			}
			for _, ep := range info.Endpoint {
				at := cl.Client
				if len(ep.Location) > 0 && ep.Location[0].Uri != reuseConnection {
					at = dialAt(t, ep.Location[0].Uri)
				}
				stream, err := at.DoGet(ctx, ep.Ticket)
				if err == nil {
					var r *flight.Reader
					if r, err = flight.NewRecordReader(stream); err == nil {
						if !r.Schema().Equal(sc) {
							t.Errorf("%s, run %d: a stream's columns %v, the FlightInfo's %v", sql, round, r.Schema(), sc)
						}
						for r.Next() {
						}
						err = r.Err()
						r.Release()
					}
				}
				if err != nil && (round == 0 || status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), "prepare it again")) {
					t.Errorf("%s, run %d: %v", sql, round, err)
				}
			}
			write("'s' || range")
		}
		_ = p.Close(ctx)
	}
}
