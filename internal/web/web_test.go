package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/metrics"
)

// selfSigned is a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "skein"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// An executor's listener over TLS: metrics over HTTPS (labelled ones
// beside plain ones), a plain index, no status API; Close stops it.
func TestMetricsOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "skein_test_total", Help: "A test counter."})
	reg.MustRegister(c)
	c.Add(3)
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Role: "executor",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Metrics: prometheus.Gatherers{reg,
			metrics.Labelled(reg, "executor", "e1")}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %s", s.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	read := func(path string) (int, string) {
		resp, err := client.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := read("/"); code != http.StatusOK || !strings.Contains(body, "skein executor") {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, body := read("/metrics"); code != http.StatusOK || !strings.Contains(body, "skein_test_total 3\n") ||
		!strings.Contains(body, `skein_test_total{executor="e1"} 3`) {
		t.Errorf("GET /metrics: %d %q", code, body)
	}
	if code, _ := read("/api/cluster"); code != http.StatusNotFound {
		t.Errorf("GET /api/cluster on an executor: %d", code)
	}
	if resp, err := client.Post(s.URL()+"/metrics", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %v %v", resp, err)
	}
	s.Close()
	if _, err := client.Get(s.URL() + "/metrics"); err == nil {
		t.Error("the listener still serves after Close")
	}
}

// Basic auth: no or wrong credentials are 401 with a challenge, a login
// in backoff is 429 with Retry-After; /metrics needs none.
func TestGuard(t *testing.T) {
	reg := prometheus.NewRegistry()
	var lastAddr string
	var checks atomic.Int64
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Metrics: reg, Status: emptyStatus{},
		Login: func(addr, user, password string) (bool, bool, time.Duration) {
			lastAddr = addr
			checks.Add(1)
			switch {
			case user == "slow":
				return false, false, 2500 * time.Millisecond
			case user == "ann" && password == "pw":
				return true, false, 0
			}
			return false, false, 0
		}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	do := func(path, user, password string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := do("/api/queries", "", ""); r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %s", r.Status)
	}
	if r := do("/api/queries", "ann", "no"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %s", r.Status)
	}
	if lastAddr != "127.0.0.1" {
		t.Errorf("login saw address %q, want the client's host", lastAddr)
	}
	if r := do("/api/queries", "slow", "x"); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") != "3" {
		t.Errorf("in backoff: %s, Retry-After %q", r.Status, r.Header.Get("Retry-After"))
	}
	if r := do("/api/queries?limit=x", "ann", "pw"); r.StatusCode != http.StatusBadRequest {
		t.Errorf("bad limit: %s", r.Status)
	}
	if r := do("/api/queries", "ann", "pw"); r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("logged in: %s", r.Status)
	}
	if r := do("/metrics", "", ""); r.StatusCode != http.StatusOK {
		t.Errorf("metrics: %s", r.Status)
	}
	// A login that succeeded is not checked again for a while (each
	// check is a bcrypt: 80 ms of CPU a request, and a reader's loops of
	// requests took both cores; a tester's); a wrong password always is.
	before := checks.Load()
	for range 5 {
		if r := do("/api/queries", "ann", "pw"); r.StatusCode != http.StatusOK {
			t.Errorf("logged in again: %s", r.Status)
		}
	}
	if n := checks.Load() - before; n != 0 {
		t.Errorf("5 requests of a user logged in checked the password %d times, want 0", n)
	}
	for range 3 {
		if r := do("/api/queries", "ann", "no"); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("wrong password after a login: %s", r.Status)
		}
	}
	if n := checks.Load() - before; n != 3 {
		t.Errorf("3 wrong passwords checked %d times, want 3", n)
	}
}

type emptyStatus struct{}

func (emptyStatus) Cluster() Cluster                         { return Cluster{} }
func (emptyStatus) Queries(Viewer, int) []Query              { return []Query{} }
func (emptyStatus) Query(Viewer, string) (QueryDetail, bool) { return QueryDetail{}, false }
