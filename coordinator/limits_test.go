package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// run plans a query and reads every endpoint through the coordinator,
// returning the first error.
func run(ctx context.Context, cl *flightsql.Client, q string) error {
	info, err := cl.Execute(ctx, q)
	if err != nil {
		return err
	}
	for _, ep := range info.Endpoint {
		r, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			return err
		}
		for r.Next() {
		}
		err = r.Err()
		r.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// slowJoin joins every row with a million others: minutes of work a task.
const slowJoin = "read_parquet('%s') p, range(1000000) r WHERE p.id + r.range < 0"

func TestQueryTimeout(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "proxy", func(c *Config) { c.QueryTimeout = 2 * time.Second })
	ctx := context.Background()
	for name, q := range map[string]string{
		"local":   "SELECT count(*) FROM range(200000) a, range(200000) b WHERE a.range + b.range < 0",
		"scatter": "SELECT p.id FROM " + fmt.Sprintf(slowJoin, glob),
		"merge":   "SELECT p.g, count(*) FROM " + fmt.Sprintf(slowJoin, glob) + " GROUP BY p.g",
		"single":  "SELECT p.id FROM " + fmt.Sprintf(slowJoin, glob),
	} {
		qctx := ctx
		if name == "single" {
			qctx = withResultMode(ctx, "single")
		}
		if info, err := cl.Execute(qctx, q); err != nil {
			t.Fatal(err)
		} else if want := map[string]string{"local": "", "scatter": `"mode":"stages"`, "merge": `"mode":"stages"`,
			"single": `"result_mode":"single"`}[name]; !strings.Contains(string(info.AppMetadata), want) {
			t.Fatalf("%s: planned %s", name, info.AppMetadata)
		}
		start := time.Now()
		err := run(qctx, cl, q)
		if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") {
			t.Fatalf("%s: %v, want DeadlineExceeded naming --query-timeout", name, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%s: failed after %s", name, took)
		}
	}
	// A write to a directory of a query that does not distribute, made
	// here as one part: it ran on past the timeout (a tester's: 13 s
	// under 3 s), and leaves nothing.
	out := filepath.Join(filepath.Dir(glob), "slow")
	if _, err := cl.ExecuteUpdate(ctx, "CREATE TABLE m AS SELECT range AS k FROM range(200000)"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := cl.ExecuteUpdate(ctx, "COPY (SELECT m.k FROM m, range(40000) b WHERE m.k + b.range < 0) TO '"+out+"/' (FORMAT parquet)")
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") {
		t.Fatalf("a write made here: %v, want DeadlineExceeded naming --query-timeout", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a write made here: failed after %s", took)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a write that timed out left %s: %v", out, err)
	}
	// The tasks stopped on the executors too (each would run for minutes).
	eventually(t, 5*time.Second, func() (bool, string) {
		running := 0
		for _, m := range c.reg.live() {
			running += m.Running
		}
		return running == 0, fmt.Sprintf("%d tasks still running on executors", running)
	})
	if err := run(ctx, cl, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)); err != nil {
		t.Fatalf("a quick query: %v", err)
	}
}

func TestMaxResultBytes(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "proxy", func(c *Config) { c.MaxResultBytes = 100_000 })
	ctx := context.Background()
	// Every task's result is within the limit, their sum is not: proxy
	// mode streams each alone, a single endpoint all of them.
	ids := fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob)
	for name, q := range map[string]string{
		"local":   "SELECT range FROM range(1000000)",
		"proxied": fmt.Sprintf("SELECT id, repeat('x', 100) AS pad FROM read_parquet('%s')", glob),
		"merged":  fmt.Sprintf("SELECT id, count(*) FROM read_parquet('%s') GROUP BY id", glob),
		"single":  ids,
	} {
		qctx := ctx
		if name == "single" {
			qctx = withResultMode(ctx, "single")
		}
		err := run(qctx, cl, q)
		if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "--max-result-bytes") {
			t.Fatalf("%s: %v, want ResourceExhausted naming --max-result-bytes", name, err)
		}
	}
	for _, q := range []string{"SELECT range FROM range(1000)", fmt.Sprintf("SELECT g, count(*) FROM read_parquet('%s') GROUP BY g", glob), ids} {
		if err := run(ctx, cl, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// A query read through the coordinator (proxy) whose read fails, as its
// client was told, is recorded failed with that error: it stayed
// running until its endpoints expired, then was recorded cancelled, its
// client having gone (a tester's, whose executors had stopped).
func TestProxiedFailureIsRecorded(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "proxy", func(c *Config) { c.MaxResultBytes = 100_000 })
	ctx := context.Background()
	info, err := cl.Execute(ctx, fmt.Sprintf("SELECT id, repeat('x', 100) AS pad FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range info.Endpoint {
		if err = readEndpoint(ctx, cl, ep); err != nil {
			break
		}
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("reading: %v, want ResourceExhausted", err)
	}
	qid := planOf(t, info).QueryID
	eventually(t, 5*time.Second, func() (bool, string) {
		got := recorded(t, ctx, cl, qid)
		return strings.HasPrefix(got, "failed") && strings.HasSuffix(got, "error"), fmt.Sprintf("skein.queries: %q", got)
	})
}

// Past --shutdown-grace, Shutdown cancels what runs and waits for it:
// merges and proxies stalled on clients that stopped reading, and queries
// being planned as it starts. It must neither panic nor race (run with
// -race), and nothing of the dist layer may outlive it.
func TestShutdownPastGrace(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "proxy", func(c *Config) { c.ShutdownGrace = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	big := fmt.Sprintf("SELECT id, repeat('x', 2000) AS pad FROM read_parquet('%s')", glob)
	bigMerge := fmt.Sprintf("SELECT id, any_value(repeat('x', 2000)) AS pad FROM read_parquet('%s') GROUP BY id", glob)
	var stalled sync.WaitGroup
	for _, q := range []string{big, bigMerge} {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		r, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Next() {
			t.Fatalf("%s: no first batch: %v", q, r.Err())
		}
		stalled.Add(1)
		go func() { // reads nothing more until the server goes
			defer stalled.Done()
			<-ctx.Done()
			r.Release()
		}()
	}
	// Clients keep planning and reading while the server shuts down.
	var busy sync.WaitGroup
	for range 4 {
		busy.Add(1)
		go func() {
			defer busy.Done()
			qc, err := flightsql.NewClient(strings.TrimPrefix(c.URI(), "grpc://"), nil, nil,
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				return
			}
			defer qc.Close()
			for ctx.Err() == nil {
				if run(ctx, qc, fmt.Sprintf("SELECT g, count(*) FROM read_parquet('%s') GROUP BY g", glob)) != nil &&
					run(ctx, qc, "SELECT 1") != nil {
					return // the server is gone
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- c.Shutdown() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("shutdown hangs")
	}
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, f := range []string{"coordinator.(*dist)", "flightsql.(*Server).DoGetStatement"} {
		if strings.Contains(stacks, f) {
			t.Errorf("a goroutine in %s outlived Shutdown:\n%s", f, stacks)
		}
	}
	cancel()
	stalled.Wait()
	busy.Wait()
	if _, err := cl.Execute(context.Background(), "SELECT 1"); err == nil {
		t.Fatal("the coordinator answers after Shutdown")
	}
}
