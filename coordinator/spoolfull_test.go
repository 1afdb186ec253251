package coordinator

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/executor"
)

// A join whose shuffle is larger than the executors' spools (memory and
// disk together) cannot wait for room to be freed: its consumers start
// only once its producers have ended. The producers give up waiting
// (executor.Config.SpoolStall), and the consumers run them for their own
// partitions as they read them, as they do with any producer that failed:
// the answer is DuckDB's, long before the tickets expire (the producers
// waited for them, ten minutes, and the client got "token expired"), and
// the spools are empty after it.
func TestShuffleOverTheSpoolBudget(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for _, mode := range []string{"proxy", "direct"} {
		t.Run(mode, func(t *testing.T) {
			c, cl, ref := stagedCluster(t, mode, func(c *Config) {
				c.Executor = func(e *executor.Config) { e.SpoolMemory, e.SpoolDisk, e.SpoolStall = 8<<10, 64<<10, time.Second }
			})
			q := "SELECT f.k, f.x, f.c, o.od FROM fact f JOIN ord o ON f.o = o.o"
			want := duckRows(t, ref, q)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			info, err := cl.Execute(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ep := range info.Endpoint {
				var r *flight.Reader
				if locs := ep.GetLocation(); len(locs) > 0 {
					r = readerAt(t, ctx, locs[0].GetUri(), ep.Ticket)
				} else if r, err = cl.DoGet(ctx, ep.Ticket); err != nil {
					t.Fatal(err)
				}
				got = append(got, rowStrings(t, r)...)
				r.Release()
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(got), len(want), first(got), first(want))
			}
			noShuffleData(t, c, q)
		})
	}
}
