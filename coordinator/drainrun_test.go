package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// A draining coordinator waits for the distributed queries it has: those
// whose tasks still run (later stages need its scheduling, their
// executors its registry) and those it streams to their clients. It
// waited only for endpoints not yet redeemed, then stopped serving while
// such queries ran, its executors' heartbeats refused: each failed at the
// end of the grace, "received prior goaway" (a tester's).
func TestDrainWaitsForRunningQueries(t *testing.T) {
	drain := func(t *testing.T, c *Coordinator) <-chan struct{} {
		drained := make(chan struct{})
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c.Drain(ctx)
			close(drained)
		}()
		select {
		case <-drained:
			t.Fatal("the drain ended with a query running")
		case <-time.After(500 * time.Millisecond):
		}
		return drained
	}
	ended := func(t *testing.T, drained <-chan struct{}) {
		select {
		case <-drained:
		case <-time.After(10 * time.Second):
			t.Fatal("the drain did not end once the query had")
		}
	}
	// A write done within its call (a COPY or CREATE TABLE AS run as it is
	// planned) is waited for while the call runs: registered for its
	// DoGet only as the call ends, it was not pending meanwhile, the
	// drain ended, and its client was told a write that was done had
	// failed (a tester's).
	t.Run("call running", func(t *testing.T) {
		c, cl, _ := startCluster(t, 1, "direct")
		done := make(chan error, 1)
		go func() {
			_, err := cl.ExecuteUpdate(context.Background(),
				"CREATE TABLE slow AS SELECT count(*) AS n FROM range(12000) a, range(12000) b WHERE a.range + b.range < 0")
			done <- err
		}()
		time.Sleep(200 * time.Millisecond)
		drained := drain(t, c)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("the write: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("the write did not end")
		}
		ended(t, drained)
	})
	t.Run("tasks running", func(t *testing.T) {
		slow := newHolder(firstOnly())
		c, cl, glob := startCluster(t, 1, "direct", withHooks(slow.hooks()))
		info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
		if err != nil {
			t.Fatal(err)
		}
		waitHeld(t, slow)
		drained := drain(t, c)
		close(slow.release)
		if rows, sum := readDirect(t, cl, info.Endpoint); rows != total || sum != total*(total-1)/2 {
			t.Fatalf("rows %d sum %d", rows, sum)
		}
		ended(t, drained)
	})
	t.Run("streamed", func(t *testing.T) {
		c, cl, glob := startCluster(t, 1, "proxy", func(c *Config) { c.BatchRows, c.WireCompression, c.TaskRows = 256, CompressionOff, 1<<20 })
		// A task a file, of 10 MB each, read with a window of 64 KiB (not
		// grown as gRPC grows one by default): a stream cannot have been
		// sent whole into buffers.
		slow, err := flightsql.NewClient(strings.TrimPrefix(c.URI(), "grpc://"), nil, nil,
			grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Close()
		ctx := context.Background()
		info, err := slow.Execute(ctx, fmt.Sprintf("SELECT id, repeat(id::VARCHAR || '-', 200) AS pad FROM read_parquet('%s')", glob))
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		if plan.Mode == "local" {
			t.Fatalf("ran local: %+v", plan)
		}
		// Every endpoint but the first read, the first's stream open.
		var rows int64
		read := func(r *flight.Reader) {
			for r.Next() {
				rows += r.RecordBatch().NumRows()
			}
			if err := r.Err(); err != nil {
				t.Fatal(err)
			}
			r.Release()
		}
		for _, ep := range info.Endpoint[1:] {
			r, err := slow.DoGet(ctx, ep.Ticket)
			if err != nil {
				t.Fatal(err)
			}
			read(r)
		}
		r, err := slow.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Next() {
			t.Fatal(r.Err())
		}
		rows += r.RecordBatch().NumRows()
		runs(t, cl, plan.QueryID, len(plan.Plan)) // every task ended: only the stream is left
		drained := drain(t, c)
		read(r)
		if rows != total {
			t.Fatalf("read %d rows, want %d", rows, total)
		}
		ended(t, drained)
	})
}

// A call still running when the drain's grace runs out ends with a status
// that says so (Unavailable): the server cut its connection, and the
// client saw a bare EOF, "possible causes: server crashed" (a tester's).
func TestGraceOverSaysSo(t *testing.T) {
	c, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), ShutdownGrace: 300 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	cl := dialClient(t, c)
	ctx := context.Background()
	info, err := cl.Execute(ctx, "SELECT sum(a.range * b.range) FROM range(200000) a, range(200000) b")
	if err != nil {
		t.Fatal(err)
	}
	errs := readInBackground(ctx, cl, info.Endpoint[0].Ticket)
	eventually(t, 10*time.Second, func() (bool, string) {
		return c.fs.Pending() > 0 && c.fs.Stats().Queued == 0, "the query is not being read yet"
	})
	dctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	c.Drain(dctx)
	_ = c.Shutdown()
	select {
	case err := <-errs:
		if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "grace (--shutdown-grace) ran out") {
			t.Fatalf("the read at the grace's end: %v, want Unavailable saying the grace ran out", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the read did not end")
	}
}

// A coordinator that stops cancels, on the executors that outlive it,
// the queries it would have served itself (proxied, merged): what they
// hold there no client can read any more. A drain whose grace ran out
// left them in the executors' spools until their tickets expired, ten
// minutes (a tester's: 1.2 GB). A direct query's results stay, for its
// client to read at the executor.
func TestStopDropsWhatOnlyItServed(t *testing.T) {
	secretFile, secret := newSecretFile(t)
	c, cl, glob := startCluster(t, 0, "proxy", func(cfg *Config) {
		cfg.ClusterSecretFile, cfg.ShutdownGrace = secretFile, 300*time.Millisecond
	})
	e, err := executor.Start(context.Background(), executor.Config{Addr: "127.0.0.1:0", Coordinator: c.URI(), Secret: secret,
		AllowDirs: c.cfg.AllowDirs, Threads: 1, Heartbeat: 100 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	eventually(t, 10*time.Second, func() (bool, string) {
		return len(c.reg.ready()) == 1, fmt.Sprintf("%d executors ready", len(c.reg.ready()))
	})
	plan := func(mode string) explanation {
		info, err := cl.Execute(withResultMode(context.Background(), mode), fmt.Sprintf("SELECT id, g FROM read_parquet('%s')", glob))
		if err != nil {
			t.Fatal(err)
		}
		p := planOf(t, info)
		if p.Mode == "local" {
			t.Fatalf("%s: ran local: %+v", mode, p)
		}
		runs(t, cl, p.QueryID, len(p.Plan))
		return p
	}
	held := func() int64 { u := e.Spooled(); return u.Memory + u.Disk }
	plan("direct")
	direct := held()
	plan("proxy")
	if direct == 0 || held() <= direct {
		t.Fatalf("spooled %d bytes for the direct query, %d with the proxied one: the test shows nothing", direct, held())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	c.Drain(ctx)
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		return held() == direct, fmt.Sprintf("the executor spools %d bytes, the direct query's %d", held(), direct)
	})
}
