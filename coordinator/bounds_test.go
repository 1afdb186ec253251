package coordinator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func TestLRUBounds(t *testing.T) {
	c := newLRU(3, 100, func(k string, v []int64) int64 { return int64(len(k) + 8*len(v)) })
	for i := range 10 {
		c.put(fmt.Sprint(i), []int64{1})
	}
	if n, _ := c.size(); n != 3 {
		t.Fatalf("%d entries, bound 3", n)
	}
	c.get("7") // now most recently used: "8" goes first
	c.put("x", make([]int64, 10))
	if _, ok := c.get("7"); !ok {
		t.Error("a recently used entry was evicted")
	}
	if _, ok := c.get("8"); ok {
		t.Error("the least recently used entry survived")
	}
	if _, cost := c.size(); cost > 100 {
		t.Errorf("cost %d, bound 100", cost)
	}
	c.put("huge", make([]int64, 100)) // costs more than the whole cache
	if _, ok := c.get("huge"); ok {
		t.Error("an entry above the cost bound was kept")
	}
}

// Footers are cached within their bound while queries over more files
// than it still get every row.
func TestFooterCacheIsBounded(t *testing.T) {
	c, cl, glob := startCluster(t, 1, "proxy")
	c.dist.footers = newLRU(2, 1<<20, func(k string, v footer) int64 { return v.cost(k) })
	for range 3 {
		if n := queryInt(t, cl, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)); n != total {
			t.Fatalf("count %d", n)
		}
	}
	if n, _ := c.dist.footers.size(); n > 2 {
		t.Fatalf("%d footers cached, bound 2", n)
	}
}

func TestPoolBound(t *testing.T) {
	dial := func(loc string) (flight.Client, error) {
		return flight.NewClientWithMiddleware(loc, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	live := map[string]bool{}
	p := newPool(2, dial, func() map[string]bool { return live })
	var leases []func()
	for i := range 5 {
		loc := fmt.Sprintf("127.0.0.1:%d", 1+i)
		live[loc] = true
		_, lease, err := p.get(loc)
		if err != nil {
			t.Fatal(err)
		}
		leases = append(leases, lease)
	}
	if p.size() != 5 {
		t.Fatalf("%d connections, want the 5 in use kept", p.size())
	}
	for _, l := range leases {
		l()
	}
	if p.size() != 2 {
		t.Fatalf("%d idle connections, bound 2", p.size())
	}
	clear(live) // their executors died
	_, lease, _ := p.get("127.0.0.1:9")
	lease()
	if p.size() != 0 {
		t.Fatalf("%d connections to dead executors kept", p.size())
	}
	p.close()
	if _, _, err := p.get("127.0.0.1:1"); err == nil {
		t.Fatal("a closed pool dialled")
	}
}

// The coordinator drops its connection to an executor that died.
func TestPoolForgetsDeadExecutors(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "proxy", func(c *Config) { c.HeartbeatTimeout = time.Second })
	q := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	readEndpoints(t, cl, mustExecute(t, cl, q).Endpoint)
	if n := c.dist.clients.size(); n != 2 {
		t.Fatalf("%d executor connections, want 2", n)
	}
	c.Executors()[1].Shutdown()
	eventually(t, 5*time.Second, func() (bool, string) {
		return len(c.reg.live()) == 1, "the stopped executor is still live"
	})
	readEndpoints(t, cl, mustExecute(t, cl, q).Endpoint)
	if n := c.dist.clients.size(); n != 1 {
		t.Fatalf("%d executor connections, want 1: the dead executor's is kept", n)
	}
}

func mustExecute(t *testing.T, cl interface {
	Execute(context.Context, string, ...grpc.CallOption) (*flight.FlightInfo, error)
}, q string) *flight.FlightInfo {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
