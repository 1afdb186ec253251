package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// bridge forwards TCP connections to an executor and can cut them as a
// SIGKILL would: once the executor has sent limit bytes through it since
// it was armed, every connection is closed where it stands (the limit
// falling inside a message) and later ones are refused.
type bridge struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	armed  bool
	left   int64 // bytes the executor may still send
	dead   bool
	conns  []net.Conn
}

func newBridge(t *testing.T, target string) *bridge {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{lis: lis, target: target}
	t.Cleanup(func() {
		_ = lis.Close()
		b.kill()
	})
	go b.serve()
	return b
}

func (b *bridge) uri() string { return "grpc://" + b.lis.Addr().String() }

// arm lets the executor send limit more bytes.
func (b *bridge) arm(limit int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.armed, b.left = true, limit
}

func (b *bridge) isDead() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dead
}

func (b *bridge) kill() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dead = true
	for _, c := range b.conns {
		_ = c.Close()
	}
}

func (b *bridge) serve() {
	for {
		client, err := b.lis.Accept()
		if err != nil {
			return
		}
		server, err := net.Dial("tcp", b.target)
		b.mu.Lock()
		if err != nil || b.dead {
			b.mu.Unlock()
			_ = client.Close()
			if server != nil {
				_ = server.Close()
			}
			continue
		}
		b.conns = append(b.conns, client, server)
		b.mu.Unlock()
		go func() { _, _ = io.Copy(server, client) }()
		go b.fromExecutor(client, server)
	}
}

// fromExecutor copies the executor's bytes to the coordinator, up to the
// armed limit.
func (b *bridge) fromExecutor(client, server net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := server.Read(buf)
		if n > 0 {
			b.mu.Lock()
			send, cut := n, false
			if b.armed && int64(n) >= b.left {
				send, cut = int(b.left), true
			}
			b.left -= int64(send)
			b.mu.Unlock()
			if _, werr := client.Write(buf[:send]); werr != nil {
				return
			}
			if cut {
				b.kill()
				return
			}
		}
		if err != nil {
			_ = client.Close()
			return
		}
	}
}

// bridgedCluster is a coordinator in proxy mode with executors of small
// batches (DuckDB's chunks, up to 2048 rows, gathered to at least the
// batch's rows): one behind a bridge (the victim) and others reached
// directly. A task reads one of three files of 10,000 rows.
func bridgedCluster(t *testing.T, others int) (*flightsql.Client, string, *bridge) {
	t.Helper()
	dir := t.TempDir()
	glob := parquet(t, dir, 3, 10000)
	// Read back as the coordinator reads it (trimmed, so as text).
	secretFile, secret := newSecretFile(t)
	// Every buffer of a broken, resumed or sliced stream is released (the
	// check sees the coordinator's own runs: buffers read from Flight
	// wrap the received messages).
	mem := memory.NewCheckedAllocator(memory.DefaultAllocator)
	t.Cleanup(func() { mem.AssertSize(t, 0) })
	c, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), AllowDirs: []string{dir},
		// The classic plans (one scan split, merges here): what is resumed.
		NoExchanges:       true,
		ClusterSecretFile: secretFile, TaskRows: 10000, BatchRows: 5000, ResultMode: "proxy", Threads: 1,
		ShutdownGrace: 5 * time.Second, HeartbeatTimeout: 3 * time.Second, Alloc: mem}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	// (Cleanups run last first: this before the shutdown.)
	t.Cleanup(func() {
		eventually(t, 5*time.Second, func() (bool, string) {
			n := c.dist.held.Load()
			return n == 0, fmt.Sprintf("streams still count %d bytes held back", n)
		})
	})
	start := func(addr, advertise string, batch int64) {
		e, err := executor.Start(context.Background(), executor.Config{Addr: addr, Advertise: advertise,
			Coordinator: c.URI(), Secret: secret, AllowDirs: []string{dir}, Threads: 1,
			Batch: duck.BatchSize{Rows: batch, Bytes: duck.DefaultBatchSize.Bytes}, Heartbeat: 200 * time.Millisecond}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown)
	}
	// The victim listens on a port picked here, so that its bridge, which
	// it advertises, knows where to forward.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	b := newBridge(t, addr)
	// Batches of another size at the others and the coordinator: a
	// resumed stream starts inside a batch.
	start(addr, b.uri(), 2000)
	for range others {
		start("127.0.0.1:0", "", 5000)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		n := len(c.reg.live())
		return n == 1+others, fmt.Sprintf("%d executors registered", n)
	})
	return dialClient(t, c), glob, b
}

// execute plans q, which must run in mode.
func execute(t *testing.T, cl *flightsql.Client, q, mode string) (*flight.FlightInfo, explanation) {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var plan explanation
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.Mode != mode {
		t.Fatalf("plan %+v %v, want mode %s", plan, err, mode)
	}
	return info, plan
}

// TestProxiedStreamResumesWhereItBroke: in proxy mode, an executor that
// dies in the middle of a task's stream (after the coordinator forwarded
// some of its batches) costs the client nothing: the task runs again on
// another executor, or with none left on the coordinator, and the client
// gets each row once, in order.
func TestProxiedStreamResumesWhereItBroke(t *testing.T) {
	t.Run("at another executor", func(t *testing.T) { testResume(t, 1, "proxy") })
	t.Run("at the coordinator", func(t *testing.T) { testResume(t, 0, "proxy") })
	// One endpoint streams every task (in file order: the ids ascend
	// through it).
	t.Run("single endpoint", func(t *testing.T) { testResume(t, 1, "single") })
}

func testResume(t *testing.T, others int, mode string) {
	cl, glob, b := bridgedCluster(t, others)
	ctx := withResultMode(context.Background(), mode)
	// The filter makes DuckDB's chunks about 1365 rows: batches of two
	// chunks at the victim, four elsewhere.
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id FROM read_parquet('%s') WHERE id %% 3 <> 0", glob))
	if err != nil {
		t.Fatal(err)
	}
	plan := planOf(t, info)
	if plan.Mode != "scatter" || plan.ResultMode != mode || mode == "single" && len(info.Endpoint) != 1 {
		t.Fatalf("%s in result mode %s with %d endpoints, want scatter in %s", plan.Mode, plan.ResultMode, len(info.Endpoint), mode)
	}
	// A task's result is about 53 KiB in batches of about 22 KiB: the
	// victim's first stream breaks within its second batch.
	b.arm(30 << 10)
	readCutIDs(t, ctx, cl, info, b, true)
	// The broken stream is a failed attempt, the run that resumed it
	// another attempt of the same task, and the query succeeded.
	eventually(t, 10*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'failed'
  AND task_id IN (SELECT task_id FROM skein.tasks WHERE query_id = '%[1]s' AND status = 'ok' AND attempt > 1)`, plan.QueryID))
		st := queryValue(t, ctx, cl, fmt.Sprintf(`SELECT status FROM skein.queries WHERE query_id = '%s'`, plan.QueryID))
		return n >= 1 && st == "ok", fmt.Sprintf("skein.tasks: %d failed attempts of a task that succeeded later; the query is %v", n, st)
	})
}

// readCutIDs reads every endpoint of info, whose rows are the ids not
// divisible by 3 (column 0), and fails unless b cut the victim's stream
// and every id came once; ordered: each endpoint's ids ascend, none
// missing or repeated where it is read.
func readCutIDs(t *testing.T, ctx context.Context, cl *flightsql.Client, info *flight.FlightInfo, b *bridge, ordered bool) {
	t.Helper()
	var rows, sum, wantRows, wantSum int64
	for id := range int64(total) {
		if id%3 != 0 {
			wantRows, wantSum = wantRows+1, wantSum+id
		}
	}
	for i, ep := range info.Endpoint {
		r, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
		next := int64(-1)
		for r.Next() {
			ids := r.RecordBatch().Column(0).(*array.Int64)
			for k := range ids.Len() {
				id := ids.Value(k)
				if ordered && next >= 0 && id != next {
					t.Fatalf("endpoint %d: id %d where %d was due: a row is missing or repeated", i, id, next)
				}
				next, rows, sum = id+1, rows+1, sum+id
				if next%3 == 0 {
					next++
				}
			}
		}
		err = r.Err()
		r.Release()
		if err != nil {
			t.Fatalf("endpoint %d: %v", i, err)
		}
	}
	if !b.isDead() {
		t.Fatal("the victim's stream was never cut")
	}
	if rows != wantRows || sum != wantSum {
		t.Fatalf("rows %d sum %d, want %d and %d", rows, sum, wantRows, wantSum)
	}
}

// TestMergeDropsABrokenPartial: a partial result whose stream breaks
// midway is dropped whole and its task run again, never counted in part.
func TestMergeDropsABrokenPartial(t *testing.T) {
	cl, glob, b := bridgedCluster(t, 1)
	ctx := context.Background()
	// 3000 groups of 10 rows; each task's partial result is 3000 rows
	// (96 KiB) in two batches.
	info, _ := execute(t, cl, fmt.Sprintf("SELECT id %% 3000 AS k, count(*) AS n, sum(id) AS s FROM read_parquet('%s') GROUP BY id %% 3000", glob), "scatter-merge")
	b.arm(80 << 10)
	r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release()
	groups := 0
	for r.Next() {
		rec := r.RecordBatch()
		k, n := rec.Column(0).(*array.Int64), rec.Column(1).(*array.Int64)
		for i := range k.Len() {
			if n.Value(i) != total/3000 {
				t.Fatalf("group %d has %d rows, want %d", k.Value(i), n.Value(i), total/3000)
			}
			groups++
		}
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	if !b.isDead() {
		t.Fatal("the victim's stream was never cut")
	}
	if groups != 3000 {
		t.Fatalf("%d groups, want 3000", groups)
	}
}

// TestProxiedUnorderedStreamRunsAgain: a task whose rows come in no fixed
// order (a join's) cannot be resumed by skipping the rows sent, so the
// coordinator holds such a task's rows back (up to resumeWindow) until its
// stream ends: one broken before that runs again whole elsewhere, and the
// client gets each row once.
func TestProxiedUnorderedStreamRunsAgain(t *testing.T) {
	cl, glob, b := bridgedCluster(t, 1)
	ctx := context.Background()
	src := fmt.Sprintf("read_parquet('%s')", glob)
	info, plan := execute(t, cl, fmt.Sprintf("SELECT a.id FROM %s a JOIN %[1]s b ON a.id = b.id WHERE a.id %% 3 <> 0", src), "scatter")
	if len(info.Endpoint) < 2 {
		t.Fatalf("%d endpoints, want one per task", len(info.Endpoint))
	}
	// A task's result is about 53 KiB: the victim's first stream breaks
	// within it.
	b.arm(30 << 10)
	readCutIDs(t, ctx, cl, info, b, false)
	// The broken attempt is reported with a heartbeat: under make test's
	// load (the race detector, parallel tests) 10 s once passed without it.
	eventually(t, 30*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(*) FROM skein.tasks WHERE query_id = '%s' AND status = 'failed'`, plan.QueryID))
		return n >= 1, fmt.Sprintf("skein.tasks: %d failed attempts", n)
	})
}

// A task whose rows come in no fixed order and whose stream breaks after
// the coordinator passed on more than it holds back cannot be resumed:
// the query fails Unavailable, to be run again, whatever cut the stream.
// It said Canceled where the coordinator's connection to an executor it
// had found dead closed under the stream ("grpc: the client connection
// is closing"), as if the client had cancelled (a tester's).
func TestUnresumableStreamIsUnavailable(t *testing.T) {
	for _, cut := range []error{
		status.Error(codes.Canceled, "grpc: the client connection is closing"),
		status.Error(codes.Unavailable, "connection reset by peer"),
	} {
		s := &taskStream{d: &dist{hist: &history{}}, ctx: context.Background(), t: cluster.Task{Query: "q", Task: 1},
			from: "e1", read: 100, release: func() {}}
		if s.resume(cut) {
			t.Fatalf("%v: resumed past what was held back", cut)
		}
		if !errors.Is(s.err, skeinsql.ErrUnavailable) || !strings.Contains(s.err.Error(), "run the query again") {
			t.Errorf("%v: %v, want Unavailable", cut, s.err)
		}
	}
}
