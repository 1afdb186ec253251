package objstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrRefused is a request the gate does not forward.
var ErrRefused = errors.New("objstore: refused")

// Gate is the loopback HTTP proxy every request of a process's DuckDB
// instances goes through (see the package comment).
type Gate struct {
	cfg      Config
	endpoint string // host[:port] requests must name, lower case
	vhost    bool
	scheme   string // to the endpoint: http or https
	lis      net.Listener
	srv      *http.Server
	proxy    *httputil.ReverseProxy
	log      zerolog.Logger

	// An endpoint that does not answer a request's headers within
	// headerTimeout is taken for down for downFor: requests meanwhile
	// fail at once (504), DuckDB's retries of the one that timed out
	// included. Each retry waited the whole timeout, so a stalled store
	// held a query (or a task, past --task-kill-timeout, which ended
	// its executor) four times over: 2 minutes (a tester's).
	transport   *http.Transport
	downFor     time.Duration
	mu          sync.Mutex
	downUntil   time.Time
	downBecause string
}

// Defaults of the gate's wait for an endpoint's answer, and of how long
// an endpoint that did not answer is taken for down.
const (
	// headerTimeout is under DuckDB's own http_timeout (30 s): at 30 s
	// too, DuckDB gave up on the request first in one of two executors,
	// the gate saw it cancelled (not timed out, the endpoint not taken
	// for down), DuckDB asked again and waited 30 s more (a tester's: a
	// query over a store stopped mid-query failed in 63 s).
	headerTimeout = 25 * time.Second
	// downFor covers DuckDB's retries of a request (after 0.1, 0.4 and
	// 1.6 s), and makes a store that answers again wait no longer.
	downFor = 3 * time.Second
)

// listParams are the query parameters of a ListObjectsV2 request, the one
// request with a query that reads.
var listParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "encoding-type": true,
	"continuation-token": true, "max-keys": true, "start-after": true, "fetch-owner": true,
}

// StartGate listens on a loopback port and forwards allowed reads to the
// configured endpoint until Close.
func StartGate(cfg Config, log zerolog.Logger) (*Gate, error) {
	if !cfg.Enabled() {
		return nil, errors.New("objstore: no prefix is allowed")
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("objstore: gate: %w", err)
	}
	g := &Gate{cfg: cfg, endpoint: cfg.HostPort(), vhost: cfg.Style() == "vhost", scheme: "http", lis: lis,
		log: log.With().Str("component", "objstore").Logger()}
	if cfg.UseSSL {
		g.scheme = "https"
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Forward bytes as S3 sends them: Go would otherwise ask for gzip and
	// inflate it, changing what a range request returns.
	transport.DisableCompression = true
	transport.MaxIdleConnsPerHost = 64
	// The gate bounds the wait for an answer, and answers at once while
	// the endpoint is taken for down: a stalled store held a query 2
	// minutes a try (DuckDB tries 3 times).
	transport.ResponseHeaderTimeout = headerTimeout
	g.transport, g.downFor = transport, downFor
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = g.scheme
			pr.Out.Host = pr.In.Host // the host DuckDB signed
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if !errors.Is(err, context.Canceled) {
				g.log.Warn().Err(err).Str("method", r.Method).Str("url", r.URL.Redacted()).Msg("object storage request failed")
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				g.down(err)
				writeError(w, http.StatusGatewayTimeout, "GatewayTimeout", unreachable+"did not answer: "+err.Error())
				return
			}
			writeError(w, http.StatusBadGateway, "BadGateway", unreachable+"did not answer: "+err.Error())
		},
	}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 30 * time.Second}
	go func() { _ = g.srv.Serve(lis) }()
	return g, nil
}

// Addr is the gate's host:port, DuckDB's http_proxy.
func (g *Gate) Addr() string { return g.lis.Addr().String() }

// Close stops the gate and the requests it is forwarding.
func (g *Gate) Close() error { return g.srv.Close() }

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := g.check(r); err != nil {
		g.log.Warn().Err(err).Str("method", r.Method).Str("url", r.URL.Redacted()).Msg("object storage request refused")
		writeError(w, http.StatusForbidden, "AccessDenied", "skein: "+err.Error())
		return
	}
	if why := g.isDown(); why != "" {
		writeError(w, http.StatusGatewayTimeout, "GatewayTimeout", why)
		return
	}
	g.proxy.ServeHTTP(w, r)
}

// unreachable begins the gate's answer for a request the object storage
// endpoint did not answer (Unreachable).
const unreachable = "skein: the object storage endpoint "

// Unreachable says err carries the gate's answer that the object storage
// endpoint did not answer (or, taken for down, was not asked). Every node
// reads the same store: a task that failed so fails alike anywhere, and
// run again on each executor in turn, each run waiting for the store
// again, a query held on for many minutes while the store stalled. The
// answer to a HEAD request has no body, and DuckDB's error then says only
// its status: the gate answers a store that did not answer in time with
// 504 (Gateway Timeout), which S3 does not send of its own. A HEAD's 503
// was taken for the store's, and its task run again elsewhere while the
// store stalled (a tester's: 94 s where 30 were documented).
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, unreachable) || strings.Contains(msg, "HTTP 504")
}

// down takes the endpoint for down for g.downFor, a request having timed
// out with err.
func (g *Gate) down(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if now.After(g.downUntil) {
		g.log.Warn().Err(err).Dur("for", g.downFor).Msg("object storage endpoint taken for down: requests fail at once meanwhile")
	}
	g.downUntil = now.Add(g.downFor)
	g.downBecause = fmt.Sprintf(unreachable+"%s did not answer a request within %s at %s: requests fail at once until %s",
		g.endpoint, g.transport.ResponseHeaderTimeout, now.UTC().Format(time.RFC3339), g.downUntil.UTC().Format(time.RFC3339))
}

// isDown says why requests fail at once now ("" while the endpoint is
// taken for up).
func (g *Gate) isDown() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Now().Before(g.downUntil) {
		return g.downBecause
	}
	return ""
}

// check refuses what is not a read of an allowed key (or a listing within
// an allowed prefix) at the configured endpoint.
func (g *Gate) check(r *http.Request) error {
	if r.Method == http.MethodConnect {
		return fmt.Errorf("%w: a TLS tunnel to %s: object storage is reached as configured (--s3-endpoint, --s3-use-ssl), not as a path asks", ErrRefused, r.Host)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return fmt.Errorf("%w: %s: object storage is read-only", ErrRefused, r.Method)
	}
	u := r.URL
	if !u.IsAbs() || u.Scheme != "http" || u.User != nil {
		return fmt.Errorf("%w: not a proxy request", ErrRefused)
	}
	host := strings.ToLower(u.Host)
	var bucket, key string
	if g.vhost {
		b, ok := strings.CutSuffix(host, "."+g.endpoint)
		if !ok {
			return fmt.Errorf("%w: host %s is not the configured endpoint %s", ErrRefused, host, g.endpoint)
		}
		bucket, key = b, strings.TrimPrefix(u.Path, "/")
	} else {
		if host != g.endpoint {
			return fmt.Errorf("%w: host %s is not the configured endpoint %s", ErrRefused, host, g.endpoint)
		}
		bucket, key, _ = strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	}
	if dotSegment(key) {
		return fmt.Errorf("%w: s3://%s/%s has a '.' or '..' segment", ErrRefused, bucket, key)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: query: %w", ErrRefused, err)
	}
	if key == "" && q.Get("list-type") == "2" && r.Method == http.MethodGet {
		for name := range q {
			if !listParams[name] {
				return fmt.Errorf("%w: listing parameter %q", ErrRefused, name)
			}
		}
		key = q.Get("prefix")
		if dotSegment(key) {
			return fmt.Errorf("%w: s3://%s/%s has a '.' or '..' segment", ErrRefused, bucket, key)
		}
	} else if u.RawQuery != "" || key == "" {
		return fmt.Errorf("%w: only objects and listings are read", ErrRefused)
	}
	for _, p := range g.cfg.Prefixes {
		if p.Bucket == bucket && strings.HasPrefix(key, p.Key) {
			return nil
		}
	}
	return fmt.Errorf("%w: s3://%s/%s is not under an allowed prefix (--allow-prefix)", ErrRefused, bucket, key)
}

// writeError answers as S3 does, so that DuckDB shows the message.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>`)
	b.WriteString(code)
	b.WriteString(`</Code><Message>`)
	b.WriteString(xmlEscape(msg))
	b.WriteString(`</Message></Error>`)
	_, _ = w.Write([]byte(b.String()))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}
