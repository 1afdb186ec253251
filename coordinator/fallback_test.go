package coordinator

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
)

// heldTasks makes the executors hold every task of an odd number, once
// armed, until they shut down: the even ones run and are read, then the
// test stops every executor, so the odd ones have nowhere to run but the
// coordinator.
func heldTasks(armed *atomic.Bool) func(*Config) {
	return func(c *Config) {
		c.Executor = func(e *executor.Config) {
			e.Test = &executor.TestHooks{Before: func(ctx context.Context, t cluster.Task) error {
				if armed.Load() && t.Task%2 == 1 {
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}
		}
	}
}

// stopExecutors shuts every executor of c down at once.
func stopExecutors(c *Coordinator) {
	var wg sync.WaitGroup
	for _, e := range c.Executors() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.Shutdown()
		}()
	}
	wg.Wait()
}

// A task that no executor can run any more runs on the coordinator, its
// last resort. Its result must be the executors' to the byte of its
// schema: Flight SQL column metadata (a DECIMAL's precision and scale)
// included, or a merge of partials from both fails with arrow's
// "mismatch schema", and a client comparing an endpoint's stream with the
// FlightInfo sees two schemas. The executors run the even tasks, which the
// coordinator reads; then every executor stops, and the odd tasks, held
// until then, run on the coordinator. The answer is DuckDB's, with the
// FlightInfo's schema, and the history says where the tasks ran.
func TestTaskOnTheCoordinatorKeepsTheSchema(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, mode, sql string }{
		{"scatter-merge", "proxy", "SELECT count(*) AS n, sum(x) AS s, min(c) AS c FROM fact"},
		// Partials of types Arrow would not give back: a HUGEINT sum,
		// named in its field; a UUID, sent as its text.
		{"scatter-merge of types Arrow loses", "proxy", "SELECT sum(k) AS s, max(md5(c)::UUID) AS u, count(*) AS n FROM fact"},
		{"scatter in one stream", "single", "SELECT k, x, c FROM fact WHERE d = 3"},
		{"scatter by proxy", "proxy", "SELECT k, x, c FROM fact WHERE d = 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var armed atomic.Bool
			co, cl, ref := stagedCluster(t, c.mode, heldTasks(&armed))
			want := duckRows(t, ref, c.sql)
			ctx := context.Background()
			armed.Store(true)
			info, err := cl.Execute(ctx, c.sql)
			if err != nil {
				t.Fatal(err)
			}
			p := planOf(t, info)
			if p.Mode == "local" || len(p.Plan) < 2 {
				t.Fatalf("plan %s with %d tasks, want one split in several", p.Mode, len(p.Plan))
			}
			promised, err := flight.DeserializeSchema(info.Schema, nil)
			if err != nil {
				t.Fatal(err)
			}
			even := (len(p.Plan) + 1) / 2
			eventually(t, 20*time.Second, func() (bool, string) {
				n := executorState(t, co, "skein_executor_tasks_total", "status", "ok")
				return n >= float64(even), fmt.Sprintf("%v of the %d even tasks ran", n, even)
			})
			type answer struct {
				rows []string
				err  error
			}
			got := make(chan answer, 1)
			var read atomic.Bool // a record has come
			go func() {
				var a answer
				defer func() { got <- a }()
				for _, ep := range info.Endpoint {
					r, err := cl.DoGet(ctx, ep.Ticket)
					if err != nil {
						a.err = err
						return
					}
					if !r.Schema().Equal(promised) {
						a.err = fmt.Errorf("endpoint schema %s, the FlightInfo's %s", r.Schema(), promised)
					}
					for r.Next() {
						read.Store(true)
						rec := r.RecordBatch()
						for i := range int(rec.NumRows()) {
							row := make([]string, rec.NumCols())
							for j, col := range rec.Columns() {
								row[j] = col.ValueStr(i)
							}
							a.rows = append(a.rows, strings.Join(row, "|"))
						}
					}
					if err := r.Err(); err != nil && a.err == nil {
						a.err = err
					}
					r.Release()
					if a.err != nil {
						return
					}
				}
			}()
			// The even tasks' results are read (a merge reads them all
			// first), or, for endpoints read one after another, the first
			// is; the odd ones wait.
			eventually(t, 20*time.Second, func() (bool, string) {
				u := spooled(co)
				return read.Load() || u.Memory == 0 && u.Disk == 0, fmt.Sprintf("the executors still spool %+v", u)
			})
			stopExecutors(co)
			var a answer
			select {
			case a = <-got:
			case <-time.After(60 * time.Second):
				t.Fatal("no answer a minute after the executors stopped")
			}
			if a.err != nil {
				t.Fatal(a.err)
			}
			slices.Sort(a.rows)
			if !slices.Equal(a.rows, want) {
				t.Fatalf("%d rows, want DuckDB's %d; first %q, want %q", len(a.rows), len(want), first(a.rows), first(want))
			}
			if queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks
WHERE query_id = '%s' AND executor = 'coordinator' AND status = 'ok'`, p.QueryID)) == 0 {
				t.Fatal("no task ran on the coordinator")
			}
		})
	}
}

// A stage's task never runs on the coordinator: it reads or feeds
// exchanges between executors. When every executor stops in the middle of
// a staged query (its first stage partly run), the query fails, with the
// executors' errors, rather than hangs or mixes schemas; no task of it is
// recorded on the coordinator.
func TestStagedQueryWithoutExecutorsFails(t *testing.T) {
	var armed atomic.Bool
	co, cl, _ := stagedCluster(t, "proxy", heldTasks(&armed))
	ctx := context.Background()
	q := "SELECT d, count(*) AS n, sum(x) AS s FROM fact GROUP BY d"
	armed.Store(true)
	info := staged(t, cl, q)
	p := planOf(t, info)
	eventually(t, 20*time.Second, func() (bool, string) {
		n := executorState(t, co, "skein_executor_tasks_total", "status", "ok")
		return n >= 1, "no task ran"
	})
	errs := readInBackground(ctx, cl, info.Endpoint[0].Ticket)
	stopExecutors(co)
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("the query gave an answer with no executor to run its stages")
		}
		if strings.Contains(err.Error(), "mismatch schema") {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no answer a minute after the executors stopped")
	}
	if n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks
WHERE query_id = '%s' AND executor = 'coordinator'`, p.QueryID)); n != 0 {
		t.Fatalf("%d tasks of a staged query ran on the coordinator", n)
	}
}
