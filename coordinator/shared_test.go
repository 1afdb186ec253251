package coordinator

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
)

// With --in-process-plan local (skein serve's default), executors that
// share the coordinator's process add no cores: a query that would split
// runs whole on the coordinator, says why, is recorded as local and gives
// the same answer; an executor of another process brings cores of its
// own, and while it is registered the same query is split again.
func TestInProcessExecutorsRunLocal(t *testing.T) {
	t.Parallel()
	secretFile, secret := newSecretFile(t)
	c, cl, glob := startCluster(t, 2, "", func(cfg *Config) {
		cfg.InProcessPlan, cfg.ClusterSecretFile = PlanLocal, secretFile
	})
	ctx := context.Background()
	q := fmt.Sprintf("SELECT sum(id) FROM read_parquet('%s') WHERE g <> 3", glob)
	run := func() (explanation, string) {
		t.Helper()
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		plan := planOf(t, info)
		return plan, fmt.Sprint(queryValue(t, ctx, cl, q))
	}
	plan, got := run()
	if plan.Mode != "local" || !strings.Contains(plan.Reason, "share its cores") || plan.Tasks != 0 {
		t.Fatalf("with in-process executors only: %+v", plan)
	}
	want := got
	if mode := queryString(t, ctx, cl, fmt.Sprintf("SELECT mode FROM skein.queries WHERE query_id = '%s'", plan.QueryID)); mode != "local" {
		t.Errorf("recorded mode %q, want local", mode)
	}

	e, err := executor.Start(ctx, executor.Config{Addr: "127.0.0.1:0", Coordinator: c.URI(), Secret: secret,
		AllowDirs: c.cfg.AllowDirs, Threads: 1, Heartbeat: 100 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		return len(c.reg.ready()) == 3, fmt.Sprintf("%d executors ready", len(c.reg.ready()))
	})
	if plan, got = run(); plan.Mode == "local" || plan.Tasks < 2 || got != want {
		t.Errorf("with an executor of another process: %+v, answer %s, want split and %s", plan, got, want)
	}
	e.Shutdown() // deregisters
	eventually(t, 10*time.Second, func() (bool, string) {
		return len(c.reg.ready()) == 2, fmt.Sprintf("%d executors ready", len(c.reg.ready()))
	})
	if plan, got = run(); plan.Mode != "local" || got != want {
		t.Errorf("after the other executor left: %+v, answer %s, want local and %s", plan, got, want)
	}
}

// --in-process-plan distribute (and the Go API's zero value) splits across
// in-process executors as across processes: the tests of distribution
// run on such clusters.
func TestInProcessPlanDistribute(t *testing.T) {
	for _, mode := range []string{"", PlanDistribute} {
		_, cl, glob := startCluster(t, 2, "", func(cfg *Config) { cfg.InProcessPlan = mode })
		info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT sum(id) FROM read_parquet('%s')", glob))
		if err != nil {
			t.Fatal(err)
		}
		if plan := planOf(t, info); plan.Mode == "local" {
			t.Errorf("--in-process-plan %q: %+v", mode, plan)
		}
	}
	bad := Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), InProcessPlan: "sometimes"}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "--in-process-plan") {
		t.Errorf("validate: %v", err)
	}
}

// A coordinator bound to one address (not every address) is reached there
// by its in-process executors, which register and take tasks: skein serve
// --addr 10.0.0.5:31337 starts. 127.0.0.2 is such an address on any Linux
// machine (loopback answers the whole of 127/8), yet not the 127.0.0.1 the
// executors once dialled.
func TestServeOnOneAddress(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "", func(cfg *Config) { cfg.Addr = "127.0.0.2:0" })
	info, err := cl.Execute(context.Background(), fmt.Sprintf("SELECT id FROM read_parquet('%s')", glob))
	if err != nil {
		t.Fatal(err)
	}
	if plan := planOf(t, info); plan.Mode == "local" || len(info.Endpoint) < 2 {
		t.Fatalf("plan %+v with %d endpoints, want the scan split across the executors", plan, len(info.Endpoint))
	}
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != 30000 || sum != 30000*29999/2 {
		t.Fatalf("%d rows summing to %d, want 30000 summing to %d", rows, sum, 30000*29999/2)
	}
}
