package integration

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// The skein binary the process tests run: $SKEIN_BIN if set, else built
// once from this checkout.
var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

func skeinBinary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("SKEIN_BIN"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skein-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "skein")
		out, err := exec.Command("go", "build", "-tags", "duckdb_arrow", "-o", builtBin, "../cmd/skein").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is one skein process; it is stopped with SIGTERM when the test ends
// and must exit cleanly, unless the test killed it.
type proc struct {
	cmd    *exec.Cmd
	uri    string
	name   string
	done   chan struct{} // closed once the process has exited
	err    error         // how it exited, once done is closed
	killed atomic.Bool
}

func startProc(t testing.TB, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, args...)
}

// startProcEnv is startProc with env added to the test's environment, so
// that a test giving its processes credentials may run in parallel (t.Setenv
// may not).
func startProcEnv(t testing.TB, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(skeinBinary(t), args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stderr = &testLog{t: t, name: args[0]}
	// A pipe of our own rather than StdoutPipe: Wait runs as soon as the
	// process starts (a kill must be noticed), and it would close
	// StdoutPipe's reader under the scanner.
	stdout, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	exited, err := startTied(cmd)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	p := &proc{cmd: cmd, name: args[0], done: make(chan struct{})}
	go func() {
		p.err = <-exited
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.killed.Load() {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("%s exited: %v", args[0], p.err)
			}
		case <-time.After(45 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop on SIGTERM", args[0])
		}
	})
	ready := make(chan string, 1)
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if uri, ok := strings.CutPrefix(sc.Text(), "skein ready: "); ok {
				ready <- uri
			}
		}
		close(ready)
	}()
	select {
	case uri, ok := <-ready:
		if !ok {
			t.Fatalf("%s exited before it was ready", args[0])
		}
		p.uri = uri
	case <-time.After(60 * time.Second):
		t.Fatalf("%s not ready after 60s", args[0])
	}
	return p
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill() {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
	<-p.done
}

// exited reports whether the process has ended (by itself, if not killed).
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// logged returns the first of the process's log lines (of the first
// maxLogLines) that contains every one of parts.
func (p *proc) logged(parts ...string) string {
	l := p.cmd.Stderr.(*testLog)
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for _, line := range l.all {
		for _, s := range parts {
			if !strings.Contains(line, s) {
				continue next
			}
		}
		return line
	}
	return ""
}

// testLog passes a process's log lines to the test log (shown on failure).
// A write is what the pipe held: part of a line, or several.
type testLog struct {
	t       testing.TB
	name    string
	mu      sync.Mutex
	all     []string // up to maxLogLines, for tests that search the whole log
	partial string   // the start of a line whose end is yet to come
}

const maxLogLines = 200_000

// output is every line the process has logged so far; it fails the test
// if there were more than it keeps.
func (p *proc) output(t testing.TB) string {
	t.Helper()
	l := p.cmd.Stderr.(*testLog)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) >= maxLogLines {
		t.Fatalf("%s logged more than %d lines", l.name, maxLogLines)
	}
	return strings.Join(append(l.all, l.partial), "\n")
}

func (l *testLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(l.partial+string(b), "\n")
	l.partial = lines[len(lines)-1]
	for _, line := range lines[:len(lines)-1] {
		if len(l.all) < maxLogLines {
			l.all = append(l.all, line)
		}
		l.t.Logf("%s: %s", l.name, line)
	}
	return len(b), nil
}

// startProcessCluster runs a coordinator and n executors as separate
// processes, each DuckDB with one thread, and returns the coordinator's
// URI once a split query's plan names all n executors.
func startProcessCluster(t testing.TB, ctx context.Context, n int, taskRows int64, probe string, dirs ...string) string {
	t.Helper()
	pc := newProcCluster(t, dirs...)
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), "--task-rows", fmt.Sprint(taskRows))
	for range n {
		pc.executor(coord.uri)
	}
	waitExecutors(t, ctx, dial(t, coord.uri), n, probe)
	return coord.uri
}

// waitExecutors waits until the plan of the split query probe names n
// executors. It reads every probe's answer: a query left unread would
// hold a draining coordinator until its grace ends.
func waitExecutors(t testing.TB, ctx context.Context, cl *flightsql.Client, n int, probe string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := cl.Execute(ctx, probe)
		if err == nil {
			for _, ep := range info.Endpoint {
				var fp fingerprint
				if _, err = readStream(ctx, cl.Client, ep.Ticket, &fp, func() {}); err != nil {
					break
				}
			}
		}
		if err == nil && executorsIn(info) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("executors did not register: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// executorsIn counts the distinct executors a FlightInfo's plan names.
func executorsIn(info interface{ GetAppMetadata() []byte }) int {
	var e struct {
		Plan []struct{ Executor string } `json:"plan"`
	}
	_ = json.Unmarshal(info.GetAppMetadata(), &e)
	seen := map[string]bool{}
	for _, p := range e.Plan {
		seen[p.Executor] = true
	}
	return len(seen)
}

// dial opens a Flight SQL client to uri that accepts large messages; it is
// closed when the test ends.
func dial(t testing.TB, uri string, opts ...grpc.DialOption) *flightsql.Client {
	t.Helper()
	cl, err := flightsql.NewClient(strings.TrimPrefix(uri, "grpc://"), nil, nil,
		append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
