package coordinator

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/executor"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/web"

	dto "github.com/prometheus/client_model/go"
)

// scrape reads the Prometheus text at url/metrics.
type scraped map[string]*dto.MetricFamily

func scrape(t *testing.T, base string) scraped {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// value sums the samples of a metric whose labels include want (a
// histogram's: its count). A metric not exposed at all fails the test.
func (s scraped) value(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := s[name]
	if !ok {
		t.Fatalf("metric %s is not exposed", name)
	}
	sum := 0.0
next:
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func labels(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func withHTTP(c *Config) { c.HTTPAddr = "127.0.0.1:0" }

// The coordinator's /metrics, scraped around queries that really ran on
// two in-process executors: the counters of each query move by exactly
// that query, tasks are counted on both sides, the spool gauges rise
// while results wait and fall once read, and an executor that stops is
// seen dead.
func TestMetricsFollowQueries(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "direct", withHTTP, func(c *Config) {
		c.Executor = func(e *executor.Config) { e.SpoolMemory = 64 << 20 }
	})
	base := c.HTTPURL()
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasSuffix(base, ":0") {
		t.Fatalf("HTTP URL %q", base)
	}
	before := scrape(t, base)
	for _, e := range c.Executors() {
		if v := before.value(t, "skein_executor_spool_memory_limit_bytes", labels("executor", e.ID())); v != 64<<20 {
			t.Errorf("executor %s spool memory limit %v", e.ID(), v)
		}
		if v := before.value(t, "skein_cluster_executor_up", labels("executor", e.ID())); v != 1 {
			t.Errorf("executor %s up = %v", e.ID(), v)
		}
	}
	if v := before.value(t, "skein_cluster_executors", labels("state", "live")); v != 2 {
		t.Errorf("live executors %v", v)
	}
	scatter := labels("mode", "scatter", "result_mode", "direct", "status", "ok")
	local := labels("mode", "local", "result_mode", "local", "status", "ok")
	merge := labels("mode", "scatter-merge", "result_mode", "proxy", "status", "ok")
	for _, l := range []map[string]string{scatter, local, merge} {
		if _, ok := before["skein_queries_total"]; ok && before.value(t, "skein_queries_total", l) != 0 {
			t.Fatalf("queries counted before any ran: %v", l)
		}
	}

	// A scatter query started and not read yet: running while its tasks
	// run (it ends when they have: executors report finished tasks at
	// once), its results waiting in the executors' spools.
	info, plan := execute(t, cl, slowScan(glob, 100), "scatter")
	if v := scrape(t, base).value(t, "skein_queries_running", nil); v != 1 {
		t.Errorf("running queries %v, want the scatter query", v)
	}
	eventually(t, 10*time.Second, func() (bool, string) {
		v := scrape(t, base).value(t, "skein_executor_spool_memory_bytes", nil)
		return v > 0, fmt.Sprintf("spooled %v bytes", v)
	})
	rows, _ := readEndpoints(t, cl, info.Endpoint)
	if rows != 30000 {
		t.Fatalf("read %d rows", rows)
	}
	// A merge through the coordinator, and a query that runs local.
	minfo, mplan := execute(t, cl, "SELECT count(*), sum(id) FROM read_parquet('"+glob+"')", "scatter-merge")
	readEndpointsAny(context.Background(), t, cl, minfo.Endpoint)
	linfo, err := cl.Execute(context.Background(), "SELECT 42")
	if err != nil {
		t.Fatal(err)
	}
	if v := scrape(t, base).value(t, "skein_queries_queued", nil); v != 1 {
		t.Errorf("queued queries %v, want the local one whose ticket is not redeemed", v)
	}
	readEndpointsAny(context.Background(), t, cl, linfo.Endpoint)

	// A scatter query ends when its executors have reported every task
	// (with their next heartbeat).
	var after scraped
	eventually(t, 10*time.Second, func() (bool, string) {
		after = scrape(t, base)
		_, ok := after["skein_queries_total"]
		return ok && after.value(t, "skein_queries_total", scatter) == 1, "the scatter query not counted yet"
	})
	for name, want := range map[string]float64{"local": 1, "scatter-merge": 1} {
		l := local
		if name == "scatter-merge" {
			l = merge
		}
		if v := after.value(t, "skein_queries_total", l); v != want {
			t.Errorf("%s queries %v, want %v", name, v, want)
		}
	}
	if v := after.value(t, "skein_query_rows_total", labels("mode", "scatter")); v != 30000 {
		t.Errorf("scatter rows %v", v)
	}
	if v := after.value(t, "skein_query_rows_total", labels("mode", "scatter-merge")); v != 1 {
		t.Errorf("scatter-merge rows %v", v)
	}
	if v := after.value(t, "skein_query_duration_seconds", labels("mode", "scatter")); v != 1 {
		t.Errorf("scatter latency observations %v", v)
	}
	if v := after.value(t, "skein_query_bytes_total", labels("mode", "scatter")); v < 30000*8 {
		t.Errorf("scatter bytes %v", v)
	}
	// Every task of both distributed queries, on the coordinator's side
	// (as reported) and on the executors' (as run); a straggler run again
	// (sched.go, under a loaded machine's timing) and ended first counts
	// once more on both, no more than the scheduler started.
	tasks := float64(plan.Tasks + mplan.Tasks)
	var reported float64
	eventually(t, 10*time.Second, func() (bool, string) {
		s := scrape(t, base)
		var ran float64
		reported, ran = s.value(t, "skein_tasks_total", labels("status", "ok")), s.value(t, "skein_executor_tasks_total", labels("status", "ok"))
		started := s.value(t, "skein_scheduler_tasks_started_total", nil)
		return reported == ran && reported >= tasks && reported <= started,
			fmt.Sprintf("tasks reported %v, run %v, want %v (%v started)", reported, ran, tasks, started)
	})
	after = scrape(t, base)
	if v := after.value(t, "skein_task_rows_total", nil); v < 30000 {
		t.Errorf("task rows %v", v)
	}
	if v := after.value(t, "skein_task_duration_seconds", labels("status", "ok")); v != reported {
		t.Errorf("task latency observations %v, want one a task reported (%v)", v, reported)
	}
	// A straggler's other run, ended too, is dropped from its spool by a
	// call the scheduler makes after the first run ends.
	eventually(t, 10*time.Second, func() (bool, string) {
		v := scrape(t, base).value(t, "skein_executor_spool_memory_bytes", nil)
		return v == 0, fmt.Sprintf("spools hold %v bytes after every result was read", v)
	})
	if v := after.value(t, "skein_queries_running", nil) + after.value(t, "skein_queries_queued", nil); v != 0 {
		t.Errorf("%v queries still running or queued", v)
	}
	// gRPC calls on both sides: the client's, and the executors' DoGets.
	if v := after.value(t, "skein_grpc_server_handled_total", labels("grpc_method", "GetFlightInfo", "grpc_code", "OK")); v < 3 {
		t.Errorf("GetFlightInfo calls %v", v)
	}
	id := c.Executors()[0].ID()
	if v := after.value(t, "skein_grpc_server_handled_total", labels("grpc_method", "DoGet", "executor", id)); v < 1 {
		t.Errorf("DoGet calls at executor %s: %v", id, v)
	}
	if v := after.value(t, "skein_grpc_server_handling_seconds", labels("grpc_method", "DoAction", "grpc_service", "arrow.flight.protocol.FlightService")); v < 2 {
		t.Errorf("DoAction (heartbeats) timed %v times", v)
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	// An executor that stops is dead once its heartbeats are missed.
	c.Executors()[1].Shutdown()
	gone := c.Executors()[1].ID()
	eventually(t, 10*time.Second, func() (bool, string) {
		s := scrape(t, base)
		up, dead := s.value(t, "skein_cluster_executor_up", labels("executor", gone)), s.value(t, "skein_cluster_executors", labels("state", "dead"))
		return up == 0 && dead == 1, fmt.Sprintf("stopped executor up %v, dead executors %v", up, dead)
	})
}

// readEndpointsAny reads every endpoint through the coordinator, whatever
// its columns.
func readEndpointsAny(ctx context.Context, t *testing.T, cl *flightsql.Client, eps []*flight.FlightEndpoint) {
	t.Helper()
	for _, ep := range eps {
		r, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			t.Fatal(err)
		}
		for r.Next() {
		}
		err = r.Err()
		r.Release()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func get(t *testing.T, url, user, password string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// A user's status page lists its own queries, an admin's every user's,
// as skein.queries does: another user's SQL may hold what it would not
// show.
func TestStatusPageShowsEachUserItsOwn(t *testing.T) {
	users := usersFile(t, "ann:writer", "bob:reader", "root:admin")
	c, cl, glob := startCluster(t, 1, "proxy", withHTTP, func(c *Config) { c.UsersFile = users })
	base := c.HTTPURL()
	ids := map[string]string{}
	for _, u := range []string{"ann", "bob"} {
		ctx, err := cl.Client.AuthenticateBasicToken(context.Background(), u, u)
		if err != nil {
			t.Fatal(err)
		}
		info, err := cl.Execute(ctx, "SELECT count(*) FROM read_parquet('"+glob+"') WHERE id > 7 -- "+u)
		if err != nil {
			t.Fatal(err)
		}
		readEndpointsAny(ctx, t, cl, info.Endpoint)
		var plan explanation
		if err := json.Unmarshal(info.AppMetadata, &plan); err != nil {
			t.Fatal(err)
		}
		ids[u] = plan.QueryID
	}
	for _, c := range []struct{ user, want string }{{"ann", "ann"}, {"bob", "bob"}, {"root", "ann bob"}} {
		var queries []web.Query
		resp, body := get(t, base+"/api/queries", c.user, c.user)
		if err := json.Unmarshal([]byte(body), &queries); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/queries as %s: %s %s", c.user, resp.Status, body)
		}
		var seen []string
		for _, q := range queries {
			seen = append(seen, q.User)
		}
		slices.Sort(seen)
		if got := strings.Join(seen, " "); got != c.want {
			t.Errorf("%s reads the queries of %q, want %q", c.user, got, c.want)
		}
		for _, u := range []string{"ann", "bob"} {
			resp, _ := get(t, base+"/api/queries/"+ids[u], c.user, c.user)
			if want := map[bool]int{true: http.StatusOK, false: http.StatusNotFound}[strings.Contains(c.want, u)]; resp.StatusCode != want {
				t.Errorf("%s reads %s's query: %s, want %d", c.user, u, resp.Status, want)
			}
		}
	}
}

// With auth on, the status page and its API take the Flight users'
// credentials (401 with a Basic challenge otherwise); /metrics is open.
// The API lists both executors and a query just run, with its tasks.
func TestStatusPageNeedsCredentials(t *testing.T) {
	c, _, glob := startCluster(t, 2, "proxy", withHTTP, func(c *Config) { c.User, c.Password = "ann", "s3cret" })
	base := c.HTTPURL()
	for _, path := range []string{"/", "/api/cluster", "/api/queries", "/queries/x", "/static/app.js"} {
		resp, _ := get(t, base+path, "", "")
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("GET %s without credentials: %s %q", path, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// A wrong password counts against Flight's login throttle (five free
	// failures from an address).
	for _, path := range []string{"/", "/api/queries"} {
		if resp, _ := get(t, base+path, "ann", "wrong"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong password: %s", path, resp.Status)
		}
	}
	if resp, body := get(t, base+"/metrics", "", ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "skein_sessions") {
		t.Errorf("GET /metrics without credentials: %s", resp.Status)
	}
	resp, body := get(t, base+"/", "ann", "s3cret")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "/static/app.js") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET / with credentials: %s %q", resp.Status, body)
	}

	// A staged query, read through the coordinator.
	cl := dialClient(t, c)
	ctx, err := cl.Client.AuthenticateBasicToken(context.Background(), "ann", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cl.Execute(ctx, "SELECT a.g, count(*) FROM read_parquet('"+glob+"') a JOIN read_parquet('"+glob+"') b ON a.id = b.id GROUP BY a.g")
	if err != nil {
		t.Fatal(err)
	}
	var plan explanation
	if err := json.Unmarshal(info.AppMetadata, &plan); err != nil || plan.Mode != "stages" {
		t.Fatalf("plan %s (%v)", info.AppMetadata, err)
	}
	readEndpointsAny(ctx, t, cl, info.Endpoint)

	var cluster web.Cluster
	resp, body = get(t, base+"/api/cluster", "ann", "s3cret")
	if err := json.Unmarshal([]byte(body), &cluster); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/api/cluster: %s %s", resp.Status, body)
	}
	if len(cluster.Executors) != 2 || cluster.Executors[0].State != "live" || cluster.Executors[0].Threads != 1 ||
		cluster.Executors[0].Spool == nil || cluster.Coordinator.URI != c.URI() {
		t.Errorf("cluster %s", body)
	}
	var queries []web.Query
	_, body = get(t, base+"/api/queries", "ann", "s3cret")
	if err := json.Unmarshal([]byte(body), &queries); err != nil || len(queries) == 0 || queries[0].ID != plan.QueryID ||
		queries[0].User != "ann" || queries[0].Mode != "stages" {
		t.Fatalf("/api/queries: %s (%v)", body, err)
	}
	var q web.QueryDetail
	eventually(t, 10*time.Second, func() (bool, string) {
		_, body = get(t, base+"/api/queries/"+plan.QueryID, "ann", "s3cret")
		q = web.QueryDetail{}
		if err := json.Unmarshal([]byte(body), &q); err != nil {
			return false, err.Error()
		}
		ok := 0
		for _, task := range q.Attempts {
			if task.Status == "ok" {
				ok++
			}
		}
		return q.Status == "ok" && ok >= plan.Tasks, fmt.Sprintf("query %s, %d of %d tasks ok", q.Status, ok, plan.Tasks)
	})
	stages := map[int]bool{}
	executors := map[string]bool{}
	for _, task := range q.Attempts {
		stages[task.Stage] = true
		executors[task.Executor] = true
		if task.Location == "" || task.Started == nil || task.Finished == nil {
			t.Errorf("task %+v", task)
		}
	}
	if len(stages) != len(plan.Stages) || len(executors) != 2 || q.Plan == nil || q.ResultMode != "proxy" {
		t.Errorf("detail: stages %v of %d, executors %v, result mode %q: %s", stages, len(plan.Stages), executors, q.ResultMode, body)
	}
	if resp, _ := get(t, base+"/api/queries/nope", "ann", "s3cret"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown query: %s", resp.Status)
	}
}

// A coordinator refuses to serve its status page beyond loopback without
// auth, as it refuses Flight.
func TestStatusPageBeyondLoopbackNeedsAuth(t *testing.T) {
	cfg := Config{Addr: "127.0.0.1:0", HTTPAddr: "0.0.0.0:0", DataDir: t.TempDir()}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "without auth") {
		t.Fatalf("validate: %v", err)
	}
	cfg.User, cfg.Password = "ann", "pw"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// A separate executor serves its own /metrics: registered, its threads,
// its spools, its gRPC calls.
func TestExecutorServesMetrics(t *testing.T) {
	secretFile, secret := newSecretFile(t)
	c := coordinatorForExecutors(t, secretFile)
	if c.HTTPURL() != "" {
		t.Fatalf("a listener without --http-addr: %s", c.HTTPURL())
	}
	e := joinExecutor(t, c, secret, zerolog.Nop(), func(e *executor.Config) { e.HTTPAddr, e.Threads, e.SpoolDisk = "127.0.0.1:0", 2, 1<<30 })
	eventually(t, 10*time.Second, func() (bool, string) {
		s := scrape(t, e.HTTPURL())
		v := s.value(t, "skein_executor_registered", nil)
		return v == 1, fmt.Sprintf("registered %v", v)
	})
	s := scrape(t, e.HTTPURL())
	for name, want := range map[string]float64{"skein_executor_threads": 2, "skein_executor_spool_disk_limit_bytes": 1 << 30,
		"skein_executor_tasks_running": 0, "skein_executor_tasks_queued": 0, "skein_executor_spool_disk_bytes": 0} {
		if v := s.value(t, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if _, ok := s["process_start_time_seconds"]; !ok {
		t.Error("no process metrics")
	}
	resp, body := get(t, e.HTTPURL()+"/", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "executor") {
		t.Errorf("GET /: %s %q", resp.Status, body)
	}
	if resp, _ := get(t, e.HTTPURL()+"/api/cluster", "", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an executor serves no status API: %s", resp.Status)
	}
}

// newSecretFile writes a new cluster secret to a file of the test's.
func newSecretFile(t *testing.T) (string, cluster.Secret) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte(hex.EncodeToString(cluster.NewSecret())), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := cluster.ReadSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, secret
}
