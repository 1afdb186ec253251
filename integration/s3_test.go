package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestObjectStorageTPCH uploads the TPC-H files to a real S3 server (moto,
// checking every request's SigV4 signature against an IAM user's key) and
// runs the 22 queries over views of s3:// paths on a coordinator and two
// executors, separate processes with their own flags and credentials from
// the AWS environment variables. No process may read local data: every
// answer comes from object storage, and each equals DuckDB's over the local
// copies.
func TestObjectStorageTPCH(t *testing.T) {
	t.Parallel() // beside the process tests, after the others (make test's time)
	ctx := context.Background()
	dir := t.TempDir()
	views := tpchData(t, ctx, dir)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	files, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no TPC-H files: %v", err)
	}
	const bucket, prefix = "skein-tpch", "tpch/"
	s3 := startS3(t, iamSetupRequests+1+len(files))
	user := s3.newUser(t, "skein")
	s3.put(t, bucket, "", nil)
	for _, f := range files {
		s3.putFile(t, bucket, prefix+filepath.Base(f), f)
	}
	// From here on, moto serves only requests signed with the user's key.
	if resp, err := http.Get(s3.url + "/" + bucket + "/" + prefix + filepath.Base(files[0])); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode == http.StatusOK {
		t.Fatal("moto serves unsigned requests: the signatures would go unchecked")
	}
	s3flags := []string{"--allow-prefix", "s3://" + bucket + "/" + prefix, "--s3-endpoint", s3.endpoint,
		"--s3-use-ssl=false", "--s3-region", "us-east-1", "--extension-dir", extensionDir(t)}

	pc := newProcCluster(t) // no --allow-dir: nothing local to read
	pc.env = []string{"AWS_ACCESS_KEY_ID=" + user.keyID, "AWS_SECRET_ACCESS_KEY=" + user.secret, "AWS_SESSION_TOKEN="}
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), append([]string{"--task-rows", "1500"}, s3flags...)...)
	pc.executor(coord.uri, s3flags...)
	pc.executor(coord.uri, s3flags...)
	admin := dial(t, coord.uri)
	for _, v := range views {
		mustUpdate(t, ctx, admin, strings.ReplaceAll(v, dir+string(filepath.Separator), "s3://"+bucket+"/"+prefix))
	}
	waitExecutors(t, ctx, admin, 2, "SELECT count(*) FROM lineitem")

	for i, q := range tpchQueries {
		want := runDuck(ctx, ref, q)
		if want.err != nil {
			t.Fatalf("reference Q%d: %v", i+1, want.err)
		}
		got := runFlight(ctx, admin, q)
		if got.err != nil {
			t.Errorf("Q%d over s3://: %v", i+1, got.err)
			continue
		}
		if !slices.Equal(got.rows, want.rows) {
			t.Errorf("Q%d over s3://: %d rows differ from DuckDB's %d over the local files", i+1, len(got.rows), len(want.rows))
		}
		var meta struct {
			Mode string
			Plan []struct{ Slice string }
		}
		_ = json.Unmarshal([]byte(got.info), &meta)
		if meta.Mode == "local" || meta.Mode == "" {
			t.Errorf("Q%d over s3:// runs local: %s", i+1, got.info)
		}
		if i == 5 {
			// Q6 scans lineitem alone: its tasks are row-group ranges of
			// the objects, read from their footers in object storage.
			ranged := 0
			for _, p := range meta.Plan {
				if strings.HasPrefix(p.Slice, "s3://"+bucket+"/"+prefix+"lineitem-") && strings.Contains(p.Slice, "..") {
					ranged++
				}
			}
			if ranged <= 3 {
				t.Errorf("Q6 over s3:// has %d row-range tasks over 3 files: %s", ranged, got.info)
			}
		}
	}
}

// TestObjectStorageSandbox runs skein serve (two in-process executors)
// over an S3 server, and checks what SQL may and may not reach: the allowed
// prefix reads and splits (Parquet by row groups, CSV and JSON by file)
// with footers cached until an object changes; other buckets and prefixes,
// paths that escape the prefix, endpoints named in a path, other URLs and
// secrets are PermissionDenied, and no request leaves for another host.
// The credentials never show in the logs, plans, skein.queries, errors,
// duckdb_settings() or duckdb_secrets().
func TestObjectStorageSandbox(t *testing.T) {
	ctx := context.Background()
	s3 := startS3(t, 0)
	// Requests reach moto through a recorder that notes their credentials.
	rec := &recorder{keyIDs: map[string]bool{}, tokens: map[string]bool{}}
	front := s3.front(t, rec.note)
	// A host that SQL names in a path, which must never be reached.
	trap, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trap.Close()
	var trapped atomic.Int64
	go func() {
		for {
			c, err := trap.Accept()
			if err != nil {
				return
			}
			trapped.Add(1)
			_ = c.Close()
		}
	}()

	// The data: allowed, a prefix beside it, another bucket.
	local := t.TempDir()
	conn := ducktest.Open(t, local)
	write := func(name, q string, rowGroup int) string {
		path := filepath.Join(local, name)
		ducktest.Exec(t, conn, fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE %d)", q, path, rowGroup))
		return path
	}
	s3.put(t, "skein-data", "", nil)
	s3.put(t, "skein-other", "", nil)
	for i := range 3 {
		s3.putFile(t, "skein-data", fmt.Sprintf("data/part-%d.parquet", i),
			write(fmt.Sprintf("p%d.parquet", i), fmt.Sprintf("SELECT range AS x, range %% 7 AS g FROM range(%d, %d)", i*5000, (i+1)*5000), 1000))
		s3.put(t, "skein-data", fmt.Sprintf("data/part-%d.csv", i), []byte(fmt.Sprintf("x\n%d\n%d\n", i, i*10)))
		s3.put(t, "skein-data", fmt.Sprintf("data/part-%d.json", i), []byte(fmt.Sprintf("{\"x\": %d}\n{\"x\": %d}\n", i, i*100)))
	}
	private := write("private.parquet", "SELECT 42 AS secret_answer", 1000)
	s3.putFile(t, "skein-data", "private/p.parquet", private)
	s3.putFile(t, "skein-other", "data/o.parquet", private)

	const keyID, secretKey, token = "AKIASKEINTESTKEYID01", "skein/test+Secret/Value0123456789abcdefgh", "SKEINTESTSESSIONTOKENvalue0123456789"
	t.Setenv("AWS_ACCESS_KEY_ID", keyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretKey)
	t.Setenv("AWS_SESSION_TOKEN", token)
	t.Setenv("SKEIN_EXTENSION_DIR", extensionDir(t))
	// DuckDB's HTTP client would skip the gate for these hosts, the
	// endpoint's and the trap's among them, if Skein left NO_PROXY be.
	t.Setenv("NO_PROXY", "127.0.0.1,localhost")
	t.Setenv("no_proxy", "127.0.0.1,localhost")
	srvProc := startProc(t, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"),
		"--executors", "2", "--in-process-plan", "distribute", "--split-min-rows", "0", "--local-max-rows", "0", "--threads", "1", "--task-rows", "2000", "--log-level", "debug",
		"--allow-prefix", "s3://skein-data/data/", "--s3-endpoint", front, "--s3-use-ssl=false")
	cl := dial(t, srvProc.uri)
	var seen []string // every plan and error a client saw
	query := func(q string) result {
		r := runFlight(ctx, cl, q)
		seen = append(seen, r.info)
		if r.err != nil {
			seen = append(seen, r.err.Error())
		}
		return r
	}
	answer := func(q string, want ...string) result {
		t.Helper()
		r := query(q)
		if r.err != nil {
			t.Fatalf("%s: %v", q, r.err)
		}
		if !slices.Equal(r.rows, want) {
			t.Fatalf("%s: %v, want %v", q, r.rows, want)
		}
		return r
	}

	r := answer("SELECT count(*), sum(x), max(g) FROM read_parquet('s3://skein-data/data/*.parquet')", "15000|112492500|6")
	if n := executorsIn(stringInfo(r.info)); n != 2 {
		t.Errorf("the Parquet scan ran on %d executors, want both: %s", n, r.info)
	}
	answer("SELECT count(*), sum(x) FROM read_csv('s3://skein-data/data/*.csv', columns = {'x': 'BIGINT'}, auto_detect = false, header = true)", "6|33")
	answer("SELECT count(*), sum(x) FROM read_json('s3://skein-data/data/*.json', columns = {'x': 'BIGINT'}, auto_detect = false, format = 'newline_delimited')", "6|303")

	// Footers are cached by path, size and Last-Modified: a replaced object
	// is split by its new row groups.
	s3.putFile(t, "skein-data", "data/v/v.parquet", write("v1.parquet", "SELECT range AS x FROM range(10000)", 1000))
	v := "SELECT count(*), sum(x) FROM read_parquet('s3://skein-data/data/v/v.parquet')"
	answer(v, "10000|49995000")
	answer(v, "10000|49995000")
	s3.putFile(t, "skein-data", "data/v/v.parquet", write("v2.parquet", "SELECT range AS x FROM range(25000)", 3000))
	answer(v, "25000|312487500")

	// Refused, whatever the role: PermissionDenied, nothing sent elsewhere.
	trapHost := trap.Addr().String()
	for _, q := range []string{
		"SELECT * FROM read_parquet('s3://skein-data/private/p.parquet')",
		"SELECT * FROM read_parquet('s3://skein-other/data/o.parquet')",
		"SELECT * FROM read_parquet('s3://skein-data/*/p.parquet')",
		"SELECT * FROM read_parquet('s3://skein-data/data/../private/p.parquet')",
		"SELECT * FROM read_parquet('s3://skein-data/data/part-0.parquet?s3_endpoint=" + trapHost + "')",
		"SELECT * FROM read_parquet('s3://skein-data/data/part-0.parquet?s3_use_ssl=true')",
		"SELECT * FROM read_parquet('s3://skein-data/data/part-0.parquet?s3_url_style=vhost')",
		"SET VARIABLE p = 's3://skein-data/data/part-0.parquet?s3_' || 'endpoint=" + trapHost + "'; SELECT * FROM read_parquet(getvariable('p'))",
		"SELECT * FROM read_text('http://" + trapHost + "/x')",
		"SELECT * FROM read_text('s3a://skein-data/data/part-0.csv')",
		"SELECT * FROM read_blob('s3://skein-data/private/p.parquet')",
		"SELECT * FROM glob('s3://skein-data/private/*')",
		"COPY (SELECT 1 AS x) TO 's3://skein-data/data/out.parquet'",
		"CREATE SECRET mine (TYPE s3, KEY_ID 'k', SECRET 's', ENDPOINT '" + trapHost + "')",
		"CREATE OR REPLACE SECRET skein_s3 (TYPE s3, KEY_ID 'k', SECRET 's')",
		"CREATE PERSISTENT SECRET mine (TYPE s3)",
		"DROP SECRET skein_s3",
		"DROP TEMPORARY SECRET IF EXISTS skein_s3",
		"SELECT * FROM duckdb_secrets()",
		"SELECT * FROM which_secret('s3://skein-data/data/part-0.parquet', 's3')",
		"SET s3_endpoint = '" + trapHost + "'",
		"SET GLOBAL s3_access_key_id = 'k'",
		"RESET s3_secret_access_key",
		"SET http_proxy = ''",
		"SET httpfs_client_implementation = 'curl'",
		"LOAD httpfs",
		"INSTALL httpfs",
	} {
		r := query(q)
		if code := status.Code(r.err); code != codes.PermissionDenied {
			t.Errorf("%s: %v (%s), want PermissionDenied", q, r.err, code)
		}
	}
	if n := trapped.Load(); n != 0 {
		t.Errorf("a path named another host and %d connections reached it", n)
	}
	// The secret is intact and still the one in use.
	answer("SELECT count(*) FROM read_parquet('s3://skein-data/data/part-1.parquet')", "5000")

	// Credentials went to the endpoint, and nowhere else.
	rec.mu.Lock()
	if !rec.keyIDs[keyID] || len(rec.keyIDs) != 1 || !rec.tokens[token] || len(rec.tokens) != 1 {
		t.Errorf("requests carried key ids %v and tokens %v", rec.keyIDs, rec.tokens)
	}
	rec.mu.Unlock()
	settings := answerRows(t, query("SELECT name, value FROM duckdb_settings()"))
	for _, s := range []string{"s3_access_key_id", "s3_secret_access_key", "s3_session_token"} {
		if r := query("SELECT current_setting('" + s + "')"); r.err != nil || len(r.rows) != 1 || (r.rows[0] != "" && r.rows[0] != "NULL") {
			t.Errorf("%s: %v %v", s, r.rows, r.err)
		}
	}
	history := answerRows(t, query("SELECT * FROM skein.queries")) + answerRows(t, query("SELECT * FROM skein.tasks"))
	if !strings.Contains(history, "read_parquet('s3://skein-data/data/") {
		t.Fatalf("skein.queries misses the refused queries: %.500s", history)
	}
	for place, text := range map[string]string{
		"the log": srvProc.output(t), "plans and errors": strings.Join(seen, "\n"),
		"duckdb_settings()": settings, "skein.queries and skein.tasks": history,
	} {
		for _, cred := range []string{keyID, secretKey, token, url.QueryEscape(secretKey)} {
			if strings.Contains(text, cred) {
				t.Errorf("%s shows a credential: %s", place, excerpt(text, cred))
			}
		}
	}
}

// stringInfo lets executorsIn read a FlightInfo's app_metadata kept as text.
type stringInfo string

func (s stringInfo) GetAppMetadata() []byte { return []byte(s) }

func answerRows(t *testing.T, r result) string {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return strings.Join(r.rows, "\n")
}

// excerpt is text around the first occurrence of s.
func excerpt(text, s string) string {
	i := strings.Index(text, s)
	return regexp.MustCompile(`\s+`).ReplaceAllString(text[max(0, i-200):min(len(text), i+len(s)+50)], " ")
}

// TestObjectOverwrittenWhileQueried replaces an object between the
// planning of a query over it and its task's reading of it: the plan's
// row ranges are the old object's, and read from the new one they gave a
// sum of neither, without an error. The task finds the object changed
// (its size and Last-Modified, asked once it has read it) and the query
// fails Aborted; run again, it reads the new object whole. The
// executors reach the store through a gate that holds their first
// request for the object until it has been replaced; the coordinator,
// which plans, reaches it directly.
func TestObjectOverwrittenWhileQueried(t *testing.T) {
	ctx := context.Background()
	s3 := startS3(t, 0)
	local := t.TempDir()
	conn := ducktest.Open(t, local)
	write := func(name, q string) string {
		path := filepath.Join(local, name)
		ducktest.Exec(t, conn, fmt.Sprintf("COPY (%s) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1000)", q, path))
		return path
	}
	s3.put(t, "skein-data", "", nil)
	for i := range 3 {
		s3.putFile(t, "skein-data", fmt.Sprintf("data/part-%d.parquet", i),
			write(fmt.Sprintf("p%d.parquet", i), fmt.Sprintf("SELECT range AS x FROM range(%d, %d)", i*5000, (i+1)*5000)))
	}
	// More rows of other values: the old plan's ranges fall inside it.
	replacement := write("new.parquet", "SELECT 1000000 + range AS x FROM range(8000)")

	var armed atomic.Bool
	held, release := make(chan struct{}), make(chan struct{})
	front := s3.front(t, func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/part-1.parquet") && armed.CompareAndSwap(true, false) {
			close(held)
			<-release
		}
	})

	s3flags := func(endpoint string) []string {
		return []string{"--allow-prefix", "s3://skein-data/data/", "--s3-endpoint", endpoint,
			"--s3-use-ssl=false", "--extension-dir", extensionDir(t)}
	}
	pc := newProcCluster(t)
	pc.env = []string{"AWS_ACCESS_KEY_ID=skeintest", "AWS_SECRET_ACCESS_KEY=skeintest", "AWS_SESSION_TOKEN="}
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"), append([]string{"--task-rows", "1000"}, s3flags(s3.endpoint)...)...)
	pc.executor(coord.uri, s3flags(front)...)
	pc.executor(coord.uri, s3flags(front)...)
	cl := dial(t, coord.uri)
	waitExecutors(t, ctx, cl, 2, "SELECT count(*) FROM read_parquet('s3://skein-data/data/part-0.parquet')")

	const q = "SELECT count(*), sum(x) FROM read_parquet('s3://skein-data/data/*.parquet')"
	armed.Store(true)
	done := make(chan result, 1)
	go func() { done <- runFlight(ctx, cl, q) }()
	select {
	case <-held:
	case r := <-done:
		t.Fatalf("the query ended (%v, %v) without an executor asking for part-1: %s", r.rows, r.err, r.info)
	case <-time.After(60 * time.Second):
		t.Fatal("no executor asked for part-1 in 60 s")
	}
	s3.putFile(t, "skein-data", "data/part-1.parquet", replacement)
	close(release)
	r := <-done
	if status.Code(r.err) != codes.Aborted || !strings.Contains(r.err.Error(), "part-1.parquet changed while the query read it") {
		t.Fatalf("%s with part-1 replaced as it ran: %v, %v; want Aborted, the object changed (plan %s)", q, r.rows, r.err, r.info)
	}
	// Run again, it reads the new object: the old objects' 10,000 rows
	// and the new one's 8,000.
	want := fmt.Sprintf("18000|%d", 4999*5000/2+(10000+14999)*5000/2+(1000000+1007999)*8000/2)
	if r := runFlight(ctx, cl, q); r.err != nil || !slices.Equal(r.rows, []string{want}) {
		t.Fatalf("%s run again: %v, %v; want %s", q, r.rows, r.err, want)
	}
}

// A query's planning runs within --query-timeout: it reads the footers of
// the objects the query names, and over 1,500 of them a planning took a
// minute past a timeout of 10 s, the client answered at its end (a
// tester's); and a planning the timeout interrupted as it read the
// footers ran the query here, as if it could not be split. So does
// DuckDB's binding of the query, which reads the first file's metadata:
// over a store answering in 23 s, a query was answered 59 s past a 10 s
// timeout (a tester's). Here every request to the store is answered 2 s
// late while the query is planned: binding alone would take 6 s, and the
// call fails at the timeout, 3 s, and the request then in flight. Run
// again with the store answering at once, the query answers.
func TestPlanningWithinTheQueryTimeout(t *testing.T) {
	ctx := context.Background()
	s3 := startS3(t, 0)
	local := t.TempDir()
	conn := ducktest.Open(t, local)
	s3.put(t, "skein-data", "", nil)
	const objects = 30
	for i := range objects {
		path := filepath.Join(local, fmt.Sprintf("p%d.parquet", i))
		ducktest.Exec(t, conn, fmt.Sprintf("COPY (SELECT range AS x FROM range(%d, %d)) TO '%s' (FORMAT parquet)", i*100, (i+1)*100, path))
		s3.putFile(t, "skein-data", fmt.Sprintf("data/p%d.parquet", i), path)
	}
	var slow atomic.Bool
	front := s3.front(t, func(*http.Request) {
		if slow.Load() {
			time.Sleep(2 * time.Second)
		}
	})
	s3flags := []string{"--allow-prefix", "s3://skein-data/data/", "--s3-endpoint", front,
		"--s3-use-ssl=false", "--extension-dir", extensionDir(t)}
	pc := newProcCluster(t)
	pc.env = []string{"AWS_ACCESS_KEY_ID=skeintest", "AWS_SECRET_ACCESS_KEY=skeintest", "AWS_SESSION_TOKEN="}
	coord := pc.coordinator(filepath.Join(t.TempDir(), "data"),
		append([]string{"--query-timeout", "3s"}, s3flags...)...)
	pc.executor(coord.uri, s3flags...)
	cl := dial(t, coord.uri)
	waitExecutors(t, ctx, cl, 1, "SELECT count(*) FROM read_parquet('s3://skein-data/data/p0.parquet')")

	const q = "SELECT count(*), sum(x) FROM read_parquet('s3://skein-data/data/*.parquet')"
	slow.Store(true)
	start := time.Now()
	_, err := cl.Execute(ctx, q)
	took := time.Since(start)
	slow.Store(false)

	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--query-timeout") || took > 7500*time.Millisecond {
		t.Fatalf("planned over a slow store: %v after %s; want DeadlineExceeded at the 3 s timeout", err, took)
	}
	want := fmt.Sprintf("%d|%d", objects*100, (objects*100-1)*objects*100/2)
	if r := runFlight(ctx, cl, q); r.err != nil || !slices.Equal(r.rows, []string{want}) {
		t.Fatalf("%s with the store answering: %v, %v; want %s", q, r.rows, r.err, want)
	}
}
