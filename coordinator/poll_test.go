package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// slowScan is a split scan whose every row costs tens of microseconds
// (the length depends on id, so nothing folds to a constant): its tasks
// run long enough to be seen running.
func slowScan(glob string, width int) string {
	return fmt.Sprintf("SELECT id, levenshtein(repeat('a', %d + id %% 2), repeat('b', %d)) AS d FROM read_parquet('%s')", width, width, glob)
}

// PollFlightInfo from arrow-go's Flight SQL client, polled to completion:
// its progress never goes back and reaches 1, endpoints are only ever
// appended, the app_metadata counts tasks and rows, the last PollInfo has
// no descriptor and the whole FlightInfo, and reading it gives the answer.
func TestPollFlightInfoProgress(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	for _, mode := range []string{"direct", "proxy", "single"} {
		t.Run(mode, func(t *testing.T) {
			_, cl, glob := startCluster(t, 2, mode)
			ctx := context.Background()
			poll, err := cl.ExecutePoll(ctx, slowScan(glob, 120), nil)
			if err != nil {
				t.Fatal(err)
			}
			var seen []float64
			var endpoints []*flight.FlightEndpoint
			for polls := 0; ; polls++ {
				p := poll.GetProgress()
				if len(seen) > 0 && p < seen[len(seen)-1] {
					t.Fatalf("progress went back: %v then %v", seen, p)
				}
				seen = append(seen, p)
				eps := poll.GetInfo().GetEndpoint()
				if len(eps) < len(endpoints) {
					t.Fatalf("poll %d: %d endpoints after %d", polls, len(eps), len(endpoints))
				}
				for i, ep := range endpoints {
					if string(eps[i].GetTicket().GetTicket()) != string(ep.GetTicket().GetTicket()) {
						t.Fatalf("poll %d: endpoint %d changed", polls, i)
					}
				}
				for _, ep := range eps {
					if ep.GetExpirationTime() == nil || !ep.GetExpirationTime().AsTime().After(time.Now()) {
						t.Fatalf("poll %d: endpoint expiration %v is not in the future", polls, ep.GetExpirationTime())
					}
				}
				endpoints = eps
				var meta struct {
					Mode     string `json:"mode"`
					Tasks    int    `json:"tasks"`
					Progress struct {
						Tasks     int   `json:"tasks"`
						TasksDone int   `json:"tasks_done"`
						Rows      int64 `json:"rows"`
					} `json:"progress"`
				}
				if err := json.Unmarshal(poll.GetInfo().GetAppMetadata(), &meta); err != nil {
					t.Fatal(err)
				}
				if meta.Mode != "scatter" || meta.Progress.Tasks != meta.Tasks || meta.Progress.Tasks < 4 {
					t.Fatalf("poll %d: app_metadata %s", polls, poll.GetInfo().GetAppMetadata())
				}
				if got := float64(meta.Progress.TasksDone) / float64(meta.Progress.Tasks); got != p {
					t.Fatalf("poll %d: progress %v, app_metadata says %d of %d tasks", polls, p, meta.Progress.TasksDone, meta.Progress.Tasks)
				}
				if poll.GetFlightDescriptor() == nil {
					if p != 1 || meta.Progress.Rows != 30000 {
						t.Fatalf("final poll: progress %v, rows %d", p, meta.Progress.Rows)
					}
					break
				}
				time.Sleep(50 * time.Millisecond)
				if poll, err = cl.ExecutePoll(ctx, "", poll.GetFlightDescriptor()); err != nil {
					t.Fatal(err)
				}
			}
			if seen[0] >= 1 || len(seen) < 2 {
				t.Fatalf("progress %v: want it seen below 1 first", seen)
			}
			info := poll.GetInfo()
			want := len(planOf(t, info).Plan)
			if mode == "single" {
				want = 1
			}
			if len(info.Endpoint) != want || info.FlightDescriptor == nil {
				t.Fatalf("final FlightInfo: %d endpoints (want %d), descriptor %v", len(info.Endpoint), want, info.FlightDescriptor)
			}
			var rows, sum int64
			for _, ep := range info.Endpoint {
				r, err := cl.DoGet(ctx, ep.Ticket)
				if err != nil {
					t.Fatal(err)
				}
				n, s := readAll(t, r)
				rows, sum = rows+n, sum+s
			}
			if rows != 30000 || sum != 30000*29999/2 {
				t.Fatalf("read %d rows summing to %d", rows, sum)
			}
			t.Logf("progress seen: %v", seen)
		})
	}
}

// A query that runs on the coordinator answers its first poll complete.
func TestPollFlightInfoLocal(t *testing.T) {
	_, cl, _ := startCluster(t, 1, "direct")
	poll, err := cl.ExecutePoll(context.Background(), "SELECT 42 AS x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if poll.GetFlightDescriptor() != nil || poll.GetProgress() != 1 || len(poll.GetInfo().GetEndpoint()) != 1 {
		t.Fatalf("poll of a local query: %v", poll)
	}
}

// A task ticket used after it expired says so, NotFound: the query it
// names was released. At its executor that is not a failed login
// (Unauthenticated), nor at the coordinator, where a direct ticket may be
// brought in proxy fashion, a forgery ("bad signature").
func TestExpiredTicketsSayTheyExpired(t *testing.T) {
	c, cl, _ := startCluster(t, 1, "direct")
	ctx := context.Background()
	handle, err := c.dist.tickets.Sign(cluster.KindTask, cluster.Task{Query: "q-old", SQL: "SELECT 1", User: "anonymous"},
		time.Now().Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ticket, _ := cluster.TaskTicket(handle)
	wantExpired(t, "task ticket at the coordinator", readToEnd(ctx, cl, &flight.Ticket{Ticket: ticket}))
	ec := dialAt(t, c.Executors()[0].URI())
	s, err := ec.DoGet(ctx, &flight.Ticket{Ticket: ticket})
	if err == nil {
		_, err = s.Recv()
	}
	wantExpired(t, "task ticket at its executor", err)
}

func wantExpired(t *testing.T, what string, err error) {
	t.Helper()
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "expired") {
		t.Errorf("%s: %v, want NotFound saying it expired", what, err)
	}
}

// A polled query is cancelled by the FlightInfo of a PollInfo that lists
// no endpoint yet (no task finished): it ran on, NOT_CANCELLABLE, since
// the cancel looked only at endpoints; the query its app_metadata names
// is cancelled only for the user polling it.
func TestPolledQueryCancelledBeforeAnyEndpoint(t *testing.T) {
	t.Parallel()
	_, cl, glob := startCluster(t, 2, "direct")
	ctx := context.Background()
	poll, err := cl.ExecutePoll(ctx, slowScan(glob, 400), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(poll.GetInfo().GetEndpoint()); n != 0 || poll.GetProgress() >= 1 {
		t.Fatalf("first poll: %d endpoints, progress %v: want a query still running", n, poll.GetProgress())
	}
	res, err := cl.CancelFlightInfo(ctx, &flight.CancelFlightInfoRequest{Info: poll.GetInfo()})
	if err != nil || res.Status != flight.CancelStatusCancelled {
		t.Fatalf("cancel: %v, %v", res.Status, err)
	}
	qid := planOf(t, poll.GetInfo()).QueryID
	if got := recorded(t, ctx, cl, qid); !strings.HasPrefix(got, "cancelled") {
		t.Fatalf("skein.queries: %q", got)
	}
	if why := queryString(t, ctx, cl, fmt.Sprintf("SELECT error FROM skein.queries WHERE query_id = '%s'", qid)); !strings.Contains(why, "CancelFlightInfo") {
		t.Errorf("skein.queries says %q, not who cancelled it", why)
	}
}
