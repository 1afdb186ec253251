package objstore

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// upstream is an S3 stand-in that records what reaches it.
type upstream struct {
	mu   sync.Mutex
	seen []*http.Request
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Clone(r.Context()))
	u.mu.Unlock()
	w.Header().Set("ETag", `"abc"`)
	if r.Header.Get("Range") != "" {
		w.WriteHeader(http.StatusPartialContent)
	}
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, "object bytes")
	}
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

func mustPrefixes(t *testing.T, urls ...string) Prefixes {
	t.Helper()
	var ps Prefixes
	for _, u := range urls {
		if err := ps.Set(u); err != nil {
			t.Fatal(err)
		}
	}
	return ps
}

// startGate runs a gate in front of srv and returns a client that sends
// every request through it, as DuckDB does.
func startGate(t *testing.T, srv *httptest.Server, cfg Config) (*Gate, *http.Client, string) {
	t.Helper()
	endpoint := strings.TrimPrefix(strings.TrimPrefix(srv.URL, "http://"), "https://")
	cfg.Endpoint = endpoint
	g, err := StartGate(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	proxy, _ := url.Parse("http://" + g.Addr())
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxy), DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)
	return g, client, endpoint
}

func TestGateForwardsAllowedReadsAsSigned(t *testing.T) {
	up := &upstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	_, client, endpoint := startGate(t, srv, Config{URLStyle: "path", Prefixes: mustPrefixes(t, "s3://bkt/data/")})

	// A key DuckDB percent-encodes: the signature covers the encoded path,
	// which must reach S3 byte for byte.
	req, _ := http.NewRequest(http.MethodGet, "http://"+endpoint+"/bkt/data/a%3Db%20c.parquet", nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/...")
	req.Header.Set("X-Amz-Security-Token", "token")
	req.Header.Set("Range", "bytes=0-9")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "object bytes" || resp.Header.Get("ETag") != `"abc"` {
		t.Fatalf("status %d, body %q, etag %q", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	seen := up.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	r := seen[0]
	if r.RequestURI != "/bkt/data/a%3Db%20c.parquet" || r.Host != endpoint {
		t.Errorf("upstream got %s with Host %s", r.RequestURI, r.Host)
	}
	if r.Header.Get("Authorization") != req.Header.Get("Authorization") || r.Header.Get("X-Amz-Security-Token") != "token" ||
		r.Header.Get("Range") != "bytes=0-9" || r.Header.Get("Accept-Encoding") != "" {
		t.Errorf("upstream headers %v", r.Header)
	}

	// HEAD, and a listing within the prefix.
	for _, u := range []string{"/bkt/data/x", "/bkt/?list-type=2&prefix=data%2Fsub%2F&encoding-type=url&continuation-token=abc"} {
		method := http.MethodGet
		if u == "/bkt/data/x" {
			method = http.MethodHead
		}
		req, _ := http.NewRequest(method, "http://"+endpoint+u, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: status %d", method, u, resp.StatusCode)
		}
	}
	if n := len(up.requests()); n != 3 {
		t.Errorf("upstream saw %d requests, want 3", n)
	}
}

func TestGateRefuses(t *testing.T) {
	up := &upstream{}
	srv := httptest.NewServer(up)
	defer srv.Close()
	_, client, endpoint := startGate(t, srv, Config{URLStyle: "path", Prefixes: mustPrefixes(t, "s3://bkt/data/", "s3://whole-bucket")})
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, "http://" + endpoint + "/bkt/other/x"},
		{http.MethodGet, "http://" + endpoint + "/bkt/database/x"},                   // a prefix of the name is not the directory
		{http.MethodGet, "http://" + endpoint + "/other-bucket/data/x"},              // another bucket
		{http.MethodGet, "http://" + endpoint + "/bkt/data/../other/x"},              // what curl or a server collapses
		{http.MethodGet, "http://" + endpoint + "/bkt/data/%2e%2e/other/x"},          // encoded
		{http.MethodGet, "http://" + endpoint + "/bkt/data/./x"},                     // any dot segment
		{http.MethodGet, "http://" + endpoint + "/bkt/data/x?versionId=1"},           // an object read with parameters
		{http.MethodGet, "http://" + endpoint + "/bkt/?list-type=2&prefix=other%2F"}, // a listing outside
		{http.MethodGet, "http://" + endpoint + "/bkt/?list-type=2&prefix="},
		{http.MethodGet, "http://" + endpoint + "/bkt/?list-type=2&prefix=data%2F&acl="},
		{http.MethodGet, "http://" + endpoint + "/bkt/?list-type=2&prefix=data%2F..%2Fother"},
		{http.MethodGet, "http://" + endpoint + "/bkt/"},
		{http.MethodGet, "http://127.0.0.2:1/bkt/data/x"}, // another host (s3_endpoint in a path)
		{http.MethodGet, "http://169.254.169.254/bkt/data/x"},
		{http.MethodPut, "http://" + endpoint + "/bkt/data/x"},
		{http.MethodPost, "http://" + endpoint + "/bkt/data/x?uploads="},
		{http.MethodDelete, "http://" + endpoint + "/bkt/data/x"},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader(""))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>AccessDenied</Code>") {
			t.Errorf("%s %s: status %d, body %s", c.method, c.url, resp.StatusCode, body)
		}
	}
	// A TLS tunnel (s3_use_ssl=true in a path) is refused too.
	if _, err := client.Get("https://" + endpoint + "/bkt/data/x"); err == nil {
		t.Error("CONNECT through the gate succeeded")
	}
	// A whole bucket is allowed.
	resp, err := client.Get("http://" + endpoint + "/whole-bucket/any/key")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("whole bucket: status %d", resp.StatusCode)
	}
	if n := len(up.requests()); n != 1 {
		t.Errorf("upstream saw %d requests, want only the allowed one", n)
	}
}

func TestGateVirtualHosts(t *testing.T) {
	cfg := Config{Region: "eu-west-1", UseSSL: true, Prefixes: mustPrefixes(t, "s3://bkt/data/")}
	if cfg.HostPort() != "s3.eu-west-1.amazonaws.com" || cfg.Style() != "vhost" {
		t.Fatalf("AWS defaults: %s %s", cfg.HostPort(), cfg.Style())
	}
	g, err := StartGate(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for u, ok := range map[string]bool{
		"http://bkt.s3.eu-west-1.amazonaws.com/data/x":                      true,
		"http://bkt.s3.eu-west-1.amazonaws.com/?list-type=2&prefix=data%2F": true,
		"http://bkt.s3.eu-west-1.amazonaws.com/other/x":                     false,
		"http://other.s3.eu-west-1.amazonaws.com/data/x":                    false,
		"http://s3.eu-west-1.amazonaws.com/bkt/data/x":                      false, // path style is not the configured one
		"http://bkt.s3.us-east-1.amazonaws.com/data/x":                      false,
		"http://bkt.evil.example/data/x":                                    false,
	} {
		req := httptest.NewRequest(http.MethodGet, u, nil)
		if err := g.check(req); (err == nil) != ok {
			t.Errorf("%s: %v, want allowed %v", u, err, ok)
		}
	}
}

func TestGateTLSUpstream(t *testing.T) {
	up := &upstream{}
	srv := httptest.NewTLSServer(up)
	defer srv.Close()
	g, client, endpoint := startGate(t, srv, Config{URLStyle: "path", UseSSL: true, Prefixes: mustPrefixes(t, "s3://bkt/")})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	g.proxy.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: pool}
	// DuckDB speaks plain HTTP to the gate; the gate speaks TLS onward.
	resp, err := client.Get("http://" + endpoint + "/bkt/k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	seen := up.requests()
	if resp.StatusCode != http.StatusOK || len(seen) != 1 || seen[0].TLS == nil {
		t.Fatalf("status %d, %d requests upstream", resp.StatusCode, len(seen))
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"s3://bkt/data/":  "s3://bkt/data/",
		"s3://bkt/data":   "s3://bkt/data/",
		"s3://bkt":        "s3://bkt/",
		"s3://bkt/":       "s3://bkt/",
		"s3://my.bkt/a/b": "s3://my.bkt/a/b/",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.URL() != want {
			t.Errorf("%s: %v %v, want %s", in, p.URL(), err, want)
		}
	}
	for _, bad := range []string{"bkt/data", "s3a://bkt/data", "gs://bkt/", "s3://Bkt/", "s3://b/", "s3:///data",
		"s3://bkt/a/../b", "s3://bkt/./a", "s3://bkt/a*/", "s3://bkt/a?b", "s3://bkt//a", "s3://bkt/a'b/", "http://bkt/"} {
		if p, err := ParsePrefix(bad); err == nil {
			t.Errorf("%s: accepted as %s", bad, p.URL())
		}
	}
}

func TestConfig(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "sekrit", "AWS_DEFAULT_REGION": "eu-north-1"}
	var c Config
	c.LoadEnv(func(k string) string { return env[k] })
	if c.Region != "eu-north-1" || !c.Credentials.Present() {
		t.Fatalf("%+v", c)
	}
	for _, s := range []string{fmtAll(c), fmtAll(c.Credentials)} {
		if strings.Contains(s, "AKID") || strings.Contains(s, "sekrit") {
			t.Errorf("credentials printed: %s", s)
		}
	}
	if err := (&Config{Endpoint: "minio:9000"}).Validate(); err == nil {
		t.Error("an endpoint without --allow-prefix is accepted")
	}
	ps := mustPrefixes(t, "s3://bkt/")
	if err := (&Config{Endpoint: "http://minio:9000", Prefixes: ps}).Validate(); err == nil {
		t.Error("an endpoint with a scheme is accepted")
	}
	if err := (&Config{URLStyle: "virtual", Prefixes: ps}).Validate(); err == nil {
		t.Error("a bad URL style is accepted")
	}
	if err := (&Config{Prefixes: ps, Credentials: Credentials{KeyID: "k"}}).Validate(); err == nil {
		t.Error("a key id without a secret is accepted")
	}
	if _, err := (&Config{Prefixes: ps, ExtensionDir: t.TempDir()}).Extension(); err == nil || !strings.Contains(err.Error(), "--extension-dir") {
		t.Errorf("a missing extension: %v", err)
	}
}

// fmtAll formats v every way a log line or an error might.
func fmtAll(v any) string {
	b, _ := json.Marshal(v)
	return fmt.Sprintf("%v %+v %#v %s", v, v, v, b)
}

// An endpoint that does not answer a request's headers in time is taken
// for down a while: requests meanwhile, DuckDB's retries included, fail
// at once (504) saying why, and go through again after. Each retry waited
// the whole timeout: a stalled store held a query 2 minutes, and a task
// past --task-kill-timeout, which ended its executor (a tester's).
func TestGateFailsFastWhileTheEndpointIsDown(t *testing.T) {
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/slow") {
			select {
			case <-stalled:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	defer close(stalled)
	g, client, endpoint := startGate(t, srv, Config{URLStyle: "path", Prefixes: mustPrefixes(t, "s3://bkt/data/")})
	g.transport.ResponseHeaderTimeout, g.downFor = 200*time.Millisecond, 5*time.Second
	get := func(key string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + endpoint + "/bkt/data/" + key)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("fast"); code != http.StatusOK {
		t.Fatalf("before: %d", code)
	}
	start := time.Now()
	code, body := get("slow")
	if code != http.StatusGatewayTimeout {
		t.Fatalf("the stalled request: %d, want 504", code)
	}
	// Both answers are known for the store's, wherever a task's error
	// carries them (a DuckDB error, a gRPC status): tasks failing so are
	// not run again elsewhere (cluster.FailsAnywhere).
	if err := fmt.Errorf("rpc error: code = Unavailable desc = HTTP Error: %s", body); !Unreachable(err) {
		t.Errorf("the stalled request's answer %q is not known for the store's", body)
	}
	code, body = get("fast")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer a request within 200ms") {
		t.Fatalf("while down: %d %q, want 504 saying why", code, body)
	}
	if err := fmt.Errorf("HTTP Error: %s", body); !Unreachable(err) {
		t.Errorf("the answer while down %q is not known for the store's", body)
	}
	// A HEAD's answer has no body: DuckDB's error says its status alone.
	if !Unreachable(errors.New("HTTP Error: Request returned HTTP 504 for HTTP HEAD to 'http://x/bkt/data/k'")) {
		t.Error("a HEAD the gate answered 504 is not known for the store's")
	}
	for _, own := range []string{"HTTP Error: HTTP GET error reading 'http://x/bkt/data/k' (HTTP 503 Service Unavailable)",
		"HTTP Error: Request returned HTTP 503 for HTTP HEAD to 'http://x/bkt/data/k'"} {
		if Unreachable(errors.New(own)) {
			t.Errorf("the store's own answer taken for the gate's that it did not answer: %s", own)
		}
	}
	time.Sleep(time.Until(start.Add(5500 * time.Millisecond)))
	if code, _ := get("fast"); code != http.StatusOK {
		t.Fatalf("after: %d, want 200", code)
	}
}
