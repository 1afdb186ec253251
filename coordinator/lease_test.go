package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// executorState sums an executor gauge or counter over the coordinator's
// in-process executors, over the series that have the label pairs given
// (name, value, ...).
func executorState(t *testing.T, c *Coordinator, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	for _, e := range c.Executors() {
		mfs, err := e.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.GetMetric() {
				have := map[string]string{}
				for _, l := range m.GetLabel() {
					have[l.GetName()] = l.GetValue()
				}
				match := true
				for i := 0; i+1 < len(labels); i += 2 {
					match = match && have[labels[i]] == labels[i+1]
				}
				if match {
					sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// idle waits until no executor runs or queues a task of any query or
// holds a spooled result, and the query is recorded cancelled with why.
func idle(t *testing.T, c *Coordinator, cl *flightsql.Client, qid, why string) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 60*time.Second, func() (bool, string) {
		running := executorState(t, c, "skein_executor_tasks_running")
		queued := executorState(t, c, "skein_executor_tasks_queued")
		spooled := executorState(t, c, "skein_executor_spool_memory_bytes") + executorState(t, c, "skein_executor_spool_disk_bytes")
		got := queryString(t, ctx, cl, fmt.Sprintf(`SELECT concat_ws(' ', status, error) FROM skein.queries WHERE query_id = '%s'`, qid))
		return running == 0 && queued == 0 && spooled == 0 && strings.HasPrefix(got, "cancelled") && strings.Contains(got, why),
			fmt.Sprintf("%d tasks running, %d queued, %v bytes spooled; query %q", int(running), int(queued), spooled, got)
	})
}

// busy waits until some executor runs a task.
func busy(t *testing.T, c *Coordinator) {
	t.Helper()
	eventually(t, 30*time.Second, func() (bool, string) {
		return executorState(t, c, "skein_executor_tasks_running") > 0, "no task runs"
	})
}

func withExpiry(d time.Duration) func(*Config) {
	return func(c *Config) { c.EndpointExpiry = d }
}

// A FlightInfo whose endpoints nobody reads, polls or renews is abandoned
// once they expire: its running and queued tasks stop on every executor
// and their spools are emptied, long before the tickets expire.
func TestUnreadFlightInfoIsAbandoned(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for _, mode := range []string{"direct", "proxy", "single"} {
		t.Run(mode, func(t *testing.T) {
			c, cl, glob := startCluster(t, 2, mode, withExpiry(time.Second))
			// Long enough to outlast the expiry and its grace on a loaded
			// machine: executors report finished tasks at once, and a
			// query whose tasks all end first is recorded ok.
			info, err := cl.Execute(context.Background(), slowScan(glob, 600))
			if err != nil {
				t.Fatal(err)
			}
			exp := info.Endpoint[0].GetExpirationTime()
			if exp == nil || exp.AsTime().After(time.Now().Add(2*time.Second)) {
				t.Fatalf("expiration_time %v: want about a second from now", exp)
			}
			busy(t, c)
			idle(t, c, cl, planOf(t, info).QueryID, "neither read, polled nor renewed")
		})
	}
}

// A client reading endpoints one at a time, slower than the expiry, keeps
// its query: an open stream is a sign of it. So does one renewing its
// endpoints before it reads them.
func TestSlowReaderKeepsItsQuery(t *testing.T) {
	for _, renew := range []bool{false, true} {
		t.Run(fmt.Sprint("renew=", renew), func(t *testing.T) {
			_, cl, glob := startCluster(t, 2, "direct", withExpiry(time.Second))
			ctx := context.Background()
			info, err := cl.Execute(ctx, slowScan(glob, 20))
			if err != nil {
				t.Fatal(err)
			}
			if renew {
				// Renewed for three expiries before anything is read.
				for range 12 {
					ep, err := cl.RenewFlightEndpoint(ctx, &flight.RenewFlightEndpointRequest{Endpoint: info.Endpoint[len(info.Endpoint)-1]})
					if err != nil {
						t.Fatal(err)
					}
					if !ep.GetExpirationTime().AsTime().After(time.Now()) {
						t.Fatalf("renewed to %v", ep.GetExpirationTime().AsTime())
					}
					time.Sleep(250 * time.Millisecond)
				}
			}
			var rows, sum int64
			for i, ep := range info.Endpoint {
				r, err := cl.DoGet(ctx, ep.Ticket)
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					// The first stream stays open, a batch read, for three
					// expiries.
					if !r.Next() {
						t.Fatalf("endpoint 0: %v", r.Err())
					}
					time.Sleep(3 * time.Second)
					rows += r.RecordBatch().NumRows()
					for _, v := range r.RecordBatch().Column(0).(*array.Int64).Int64Values() {
						sum += v
					}
				}
				n, s := readAll(t, r)
				rows, sum = rows+n, sum+s
			}
			if rows != 30000 || sum != 30000*29999/2 {
				t.Fatalf("read %d rows summing to %d", rows, sum)
			}
			qid := planOf(t, info).QueryID
			if got := recorded(t, ctx, cl, qid); got != "ok 30000" {
				t.Fatalf("query recorded %q", got)
			}
		})
	}
}

// A client that drops a stream before its end, and does not come back,
// abandons the query, read at an executor (direct) or through the
// coordinator (proxy): every executor stops it. (One that reads the
// endpoint again elsewhere keeps it: TestHistoryOfARetriedTask.)
func TestDroppedStreamCancelsQuery(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for _, mode := range []string{"direct", "proxy"} {
		t.Run(mode, func(t *testing.T) {
			c, cl, glob := startCluster(t, 2, mode)
			// Long enough to outlast the 3 s a dropped stream leaves for a
			// read elsewhere (dropGrace) on a loaded machine: a query whose
			// tasks all end first is recorded ok, not cancelled.
			info, err := cl.Execute(context.Background(), slowScan(glob, 600))
			if err != nil {
				t.Fatal(err)
			}
			qid := planOf(t, info).QueryID
			busy(t, c)
			reader := cl.Client
			if ep := info.Endpoint[0]; mode == "direct" {
				addr := strings.TrimPrefix(ep.Location[0].Uri, "grpc://")
				if reader, err = flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
					t.Fatal(err)
				}
				defer reader.Close()
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := reader.DoGet(ctx, info.Endpoint[0].Ticket); err != nil {
				t.Fatal(err)
			}
			// Once the stream is seen open, the client drops it.
			eventually(t, 30*time.Second, func() (bool, string) {
				return c.dist.leases.isOpen(qid), "the stream is not seen open"
			})
			cancel()
			idle(t, c, cl, qid, "dropped a stream")
		})
	}
}

// Closing the session that planned a query abandons it, once the
// executors had time to report reads ended before the close (dropGrace).
func TestClosedSessionCancelsQuery(t *testing.T) {
	c, _, glob := startCluster(t, 2, "direct")
	cl := sessionClient(t, c)
	ctx := context.Background()
	// Long enough to outlast that grace on a loaded machine: a query whose
	// tasks all end first is recorded ok, not cancelled.
	info, err := cl.Execute(ctx, slowScan(glob, 600))
	if err != nil {
		t.Fatal(err)
	}
	busy(t, c)
	if res, err := cl.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil || res.GetStatus() != flight.CloseSessionResultClosed {
		t.Fatalf("CloseSession: %v %v", res, err)
	}
	idle(t, c, dialClient(t, c), planOf(t, info).QueryID, "session was closed")
}

// isOpen reports whether a stream of the query is seen open, here or at an
// executor.
func (l *leases) isOpen(qid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ls := l.q[qid]
	return ls != nil && (ls.open > 0 || len(ls.reported) > 0)
}

// A query read whole at the executors, its session closed right after
// (ADBC and JDBC close theirs once they have read a result), is recorded
// ok, not abandoned: the executors report the reads with their next
// heartbeat, which comes after the close.
func TestSessionClosedAfterItsReadsKeepsQuery(t *testing.T) {
	c, _, glob := startCluster(t, 2, "direct")
	cl := sessionClient(t, c)
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	qid := planOf(t, info).QueryID
	var rows int64
	for _, ep := range info.Endpoint {
		n, _ := readAll(t, readerAt(t, ctx, ep.Location[0].Uri, ep.Ticket))
		rows += n
	}
	if len(info.Endpoint) < 2 || rows != 30000 {
		t.Fatalf("%d endpoints, %d rows", len(info.Endpoint), rows)
	}
	if res, err := cl.CloseSession(ctx, &flight.CloseSessionRequest{}); err != nil || res.GetStatus() != flight.CloseSessionResultClosed {
		t.Fatalf("CloseSession: %v %v", res, err)
	}
	other := dialClient(t, c)
	var got string
	eventually(t, 30*time.Second, func() (bool, string) {
		got = queryString(t, ctx, other, fmt.Sprintf(`SELECT concat_ws(' ', status, error) FROM skein.queries WHERE query_id = '%s'`, qid))
		return got != "running", got
	})
	if got != "ok" {
		t.Fatalf("query read whole, then its session closed: %q", got)
	}
}

// sessionClient is a client of c keeping its session in a cookie, the
// session opened by a unary call that holds nothing (arrow-go's cookie
// middleware can miss the cookie of a streaming one); closed when the test
// ends.
func sessionClient(t *testing.T, c *Coordinator) *flightsql.Client {
	t.Helper()
	cl, err := flightsql.NewClient(strings.TrimPrefix(c.URI(), "grpc://"), nil,
		[]flight.ClientMiddleware{flight.NewClientCookieMiddleware()},
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	if _, err := cl.GetExecuteSchema(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return cl
}

// A session's distributed queries not yet read count against
// --max-statements-per-session as its local ones do: uncounted, one
// session planned 17,000 in a minute and read none, 2,850 running at
// once, and another session's query waited 30 s (a tester's). One read
// to its end gives its room back; another session is not refused.
func TestUnreadDistributedQueriesCountPerSession(t *testing.T) {
	c, _, glob := startCluster(t, 2, "direct", func(cfg *Config) { cfg.MaxStatementsPerSession = 3 })
	ctx := context.Background()
	cl := sessionClient(t, c)
	sql := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	var infos []*flight.FlightInfo
	for range 3 {
		info, err := cl.Execute(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		if len(info.Endpoint) < 2 {
			t.Fatalf("%d endpoints: the query did not split", len(info.Endpoint))
		}
		infos = append(infos, info)
	}
	if _, err := cl.Execute(ctx, sql); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a fourth unread query in a session of 3: %v, want refused", err)
	}
	if _, err := sessionClient(t, c).Execute(ctx, sql); err != nil {
		t.Fatalf("another session: %v", err)
	}
	readDirect(t, cl, infos[0].Endpoint)
	eventually(t, 10*time.Second, func() (bool, string) {
		info, err := cl.Execute(ctx, sql)
		if err == nil {
			readDirect(t, cl, info.Endpoint)
		}
		return err == nil, fmt.Sprintf("after one was read: %v", err)
	})
}
