package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
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
