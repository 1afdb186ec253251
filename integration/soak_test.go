package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// The fault and load tests run a few trials on every make test and the full
// count under make soak, which sets SKEIN_SOAK=1; SKEIN_SOAK_TRIALS,
// SKEIN_SOAK_CLIENTS and SKEIN_SOAK_QUERIES override either.

// soakCount is the named count: the environment's, else soak's under
// SKEIN_SOAK=1, else ci.
func soakCount(t testing.TB, name string, ci, soak int) int {
	t.Helper()
	if v := os.Getenv("SKEIN_SOAK_" + name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("SKEIN_SOAK_%s=%q: want a positive count", name, v)
		}
		return n
	}
	if os.Getenv("SKEIN_SOAK") == "1" {
		return soak
	}
	return ci
}

// figures prints a test's figures where make soak shows them (t.Log
// output appears only with -v or on failure; the figures always matter).
func figures(t testing.TB, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: "+format, append([]any{t.Name()}, args...)...)
	t.Log(line)
	fmt.Println("FIGURES " + line)
}

// procCluster starts skein processes that share a cluster secret and
// allowed directories; any of them can be killed and started again.
type procCluster struct {
	t      testing.TB
	secret string
	allow  []string
	env    []string // added to each process's environment
}

func newProcCluster(t testing.TB, dirs ...string) *procCluster {
	t.Helper()
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(randomSecret()), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &procCluster{t: t, secret: secret}
	for _, d := range dirs {
		c.allow = append(c.allow, "--allow-dir", d)
	}
	return c
}

// coordinator starts a coordinator on a free port with DuckDB on one
// thread, splitting queries however small their inputs (the tests' files
// are); args add to or override its flags.
func (c *procCluster) coordinator(dataDir string, args ...string) *proc {
	c.t.Helper()
	base := []string{"coordinator", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--cluster-secret-file", c.secret,
		"--threads", "1", "--split-min-rows", "0", "--local-max-rows", "0", "--log-level", "warn"}
	return startProcEnv(c.t, c.env, append(append(base, c.allow...), args...)...)
}

// executor starts an executor of one DuckDB thread for the coordinator at
// uri. Its log level is info, which says its id; args add to its flags.
func (c *procCluster) executor(uri string, args ...string) *proc {
	c.t.Helper()
	base := append([]string{"executor", "--coordinator", uri, "--addr", "127.0.0.1:0",
		"--cluster-secret-file", c.secret, "--threads", "1", "--log-level", "info"}, c.allow...)
	return startProcEnv(c.t, c.env, append(base, args...)...)
}

// executorID is the id an executor started by procCluster logged (its
// log may reach the test a moment after its ready line).
func executorID(t testing.TB, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var line struct{ Executor string }
		err := json.Unmarshal([]byte(p.logged(`"executor serving"`)), &line)
		if err == nil && line.Executor != "" {
			return line.Executor
		}
		if time.Now().After(deadline) {
			t.Fatalf("no executor id in the log of %s: %v", p.uri, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fingerprint is an order-free summary of a result: its rows and the sum
// of their hashes, rows rendered as canonical renders them. Two results
// with the same fingerprint are (but for a 2^-64 chance) the same multiset.
type fingerprint struct {
	rows int64
	sum  uint64
}

func (f *fingerprint) add(r arrow.RecordBatch) {
	for _, row := range appendRows(nil, r) {
		h := fnv.New64a()
		h.Write([]byte(row))
		f.sum += h.Sum64()
		f.rows++
	}
}

func (f fingerprint) String() string { return fmt.Sprintf("%d rows, hash sum %016x", f.rows, f.sum) }

// rssSampler records a process's resident set size every interval.
type rssSampler struct {
	pid   int
	start time.Time
	mu    sync.Mutex
	curve []rssSample
}

type rssSample struct {
	at  time.Duration
	kib int64
}

func sampleRSS(ctx context.Context, pid int, every time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, start: time.Now()}
	s.sample()
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	kib, err := vmRSS(s.pid)
	if err != nil {
		return // the process is gone; the test notices that itself
	}
	s.mu.Lock()
	s.curve = append(s.curve, rssSample{at: time.Since(s.start), kib: kib})
	s.mu.Unlock()
}

// samples returns the curve so far, with one last sample taken now.
func (s *rssSampler) samples() []rssSample {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rssSample(nil), s.curve...)
}

// vmRSS reads VmRSS, in KiB, from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
