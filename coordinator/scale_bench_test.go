package coordinator

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flighttest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// The environment of the fake executors' process (TestFakeExecutors).
const (
	fakeCount  = "SKEIN_FAKE_EXECUTORS"
	fakeCoord  = "SKEIN_FAKE_COORDINATOR"
	fakeSecret = "SKEIN_FAKE_SECRET"
)

// BenchmarkThousandExecutors measures what membership costs the
// coordinator with many executors, and how long GetFlightInfo takes among
// them. The executors (SKEIN_BENCH_EXECUTORS, 1000) are test doubles in a
// process of their own (so their CPU is not the coordinator's): each
// registers and sends heartbeats over its own Flight connection with the
// real protocol (signed membership, the coordinator's replies obeyed),
// and one Flight listener they share accepts the tasks started there. It
// reports the coordinator process's CPU (getrusage) over a window of
// SKEIN_BENCH_WINDOW (10s) while the cluster is idle, as a percentage of
// one core, and GetFlightInfo of a split scan (ns/op, planned over 64
// Parquet files, one task each).
//
//	go test -tags duckdb_arrow -run '^$' -bench ThousandExecutors -benchtime 50x ./coordinator/
func BenchmarkThousandExecutors(b *testing.B) {
	n := envInt("SKEIN_BENCH_EXECUTORS", 1000)
	window := time.Duration(envInt("SKEIN_BENCH_WINDOW", 10)) * time.Second
	dir := b.TempDir()
	secretPath := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretPath, []byte("a-benchmark-cluster-secret-of-some-length"), 0o600); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		b.Fatal(err)
	}
	glob := parquet(b, data, 64, 1000)
	c, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", DataDir: b.TempDir(), AllowDirs: []string{data},
		ClusterSecretFile: secretPath, HeartbeatTimeout: 5 * time.Second, EndpointExpiry: time.Hour,
		ShutdownGrace: 5 * time.Second}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Shutdown() }()

	child := exec.Command(os.Args[0], "-test.run=^TestFakeExecutors$", "-test.v", "-test.timeout=0")
	child.Env = append(os.Environ(), fakeCount+"="+strconv.Itoa(n), fakeCoord+"="+c.URI(), fakeSecret+"="+secretPath)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	go func() { // the child's output, for a failure
		s := bufio.NewScanner(out)
		for s.Scan() {
			if strings.HasPrefix(s.Text(), "FAIL") || strings.Contains(s.Text(), "Error") {
				fmt.Fprintln(os.Stderr, "fake executors:", s.Text())
			}
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for len(c.reg.live()) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d executors registered", len(c.reg.live()), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // registration done, heartbeats steady

	if path := os.Getenv("SKEIN_BENCH_IDLE_PROFILE"); path != "" { // the window's CPU profile
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	before, start := flighttest.ProcessCPU(b), time.Now()
	time.Sleep(window)
	used, took := flighttest.ProcessCPU(b)-before, time.Since(start)
	pprof.StopCPUProfile()
	if live := len(c.reg.live()); live != n {
		b.Fatalf("%d of %d executors alive after the window", live, n)
	}
	idleCore := 100 * used.Seconds() / took.Seconds()

	cl := dialClient(b, c)
	query := fmt.Sprintf("SELECT id, g FROM read_parquet('%s')", glob)
	if _, err := cl.Execute(context.Background(), query); err != nil { // the file footers cached
		b.Fatal(err)
	}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		info, err := cl.Execute(context.Background(), query)
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(t0))
		if len(info.Endpoint) != 64 {
			b.Fatalf("%d endpoints", len(info.Endpoint))
		}
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds()), "µs-p50-GetFlightInfo")
	b.ReportMetric(idleCore, "%core-idle") // after ResetTimer, which forgets metrics
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestFakeExecutors is the benchmark's process of executor doubles; it
// does nothing unless BenchmarkThousandExecutors started it. Each double
// registers and sends heartbeats as an executor does, each over its own
// connection, at the interval the coordinator asks for (if it asks), and
// every one of them serves from one Flight listener that accepts task
// starts and cancels without running anything.
func TestFakeExecutors(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(fakeCount))
	if n == 0 {
		t.Skip("run by BenchmarkThousandExecutors")
	}
	secret, err := cluster.ReadSecret(os.Getenv(fakeSecret))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	flight.RegisterFlightServiceServer(g, &fakeExecutor{})
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()
	addr := strings.TrimPrefix(os.Getenv(fakeCoord), "grpc://")
	zone := time.Local.String()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := flight.NewClientWithMiddleware(addr, nil, nil, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			m := cluster.Member{ID: fmt.Sprintf("fake-%04d", i), Location: "grpc://" + lis.Addr().String(), Threads: 8}
			action, every := cluster.ActionRegister, time.Second
			// Spread the first heartbeats over a second, as executors
			// started at different times are.
			time.Sleep(time.Duration(i) * time.Second / time.Duration(n))
			for {
				if m.Zone == "" {
					m.Zone = fakeZone(t, c, secret, m, zone)
				}
				body, err := secret.SignMember(m)
				if err != nil {
					t.Error(err)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				ctx = metadata.AppendToOutgoingContext(ctx, cluster.MemberHeader, string(body))
				reply, err := cluster.DoReply(ctx, c, &flight.Action{Type: action, Body: body})
				cancel()
				if err != nil {
					action = cluster.ActionRegister
				} else {
					action = cluster.ActionHeartbeat
					if d := cluster.ParseAck(reply).Every; d > 0 {
						every = d
					}
				}
				time.Sleep(every)
			}
		}()
	}
	wg.Wait()
}

// fakeZone finds the coordinator's time zone: it refuses executors of
// another, saying its own.
func fakeZone(t *testing.T, c flight.Client, secret cluster.Secret, m cluster.Member, guess string) string {
	m.Zone = guess
	body, _ := secret.SignMember(m)
	ctx := metadata.AppendToOutgoingContext(context.Background(), cluster.MemberHeader, string(body))
	err := cluster.Do(ctx, c, &flight.Action{Type: cluster.ActionRegister, Body: body})
	if err == nil {
		return guess
	}
	if _, rest, ok := strings.Cut(err.Error(), "start it with --timezone \""); ok {
		return strings.TrimSuffix(strings.TrimSpace(rest), "\"")
	}
	t.Fatalf("registering: %v", err)
	return ""
}

// fakeExecutor accepts task starts, cancels and pings, and runs nothing.
type fakeExecutor struct{ flight.BaseFlightServer }

func (fakeExecutor) DoAction(_ *flight.Action, s flight.FlightService_DoActionServer) error {
	return s.Send(&flight.Result{Body: []byte("ok")})
}
