package web

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/net/netutil"
)

// Config is what the listener serves.
type Config struct {
	// Addr is where to listen; port 0 picks a free port (Server.Addr says
	// which).
	Addr string
	// TLS, when set, serves HTTPS.
	TLS *tls.Config
	// Metrics is what /metrics exposes.
	Metrics prometheus.Gatherer
	// Status, when set, serves the status page and the API (the
	// coordinator's); without it only /metrics is served (an executor's).
	Status Status
	// Login, when set, guards the page and the API with HTTP Basic: it
	// checks a user name and password from a client address, and says
	// whether the user is an admin (sees every user's queries); a
	// positive retry means too many failures, try again after it. Without
	// it every reader sees every query.
	Login func(addr, user, password string) (ok, admin bool, retry time.Duration)
	// Role names the process in the plain index of a listener without a
	// status page ("executor").
	Role string
}

// Server is a running HTTP listener.
type Server struct {
	srv    *http.Server
	lis    net.Listener
	tls    bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    zerolog.Logger
}

//go:embed static
var static embed.FS

// Start listens on cfg.Addr and serves until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config, log zerolog.Logger) (*Server, error) {
	if cfg.Metrics == nil {
		return nil, errors.New("web: no metrics to serve")
	}
	lis, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on --http-addr %s: %w", cfg.Addr, err)
	}
	// Connections past maxConns wait in the kernel's backlog: 20,000 idle
	// connections of unauthenticated clients took every descriptor of
	// the coordinator, and its Flight clients were refused (a tester's).
	lis = limitPerAddr(netutil.LimitListener(lis, maxConns), maxConnsPerAddr)
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{lis: lis, tls: cfg.TLS != nil, cancel: cancel, log: log}
	s.srv = &http.Server{
		Handler:           s.routes(cfg),
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		var err error
		if s.tls {
			err = s.srv.ServeTLS(lis, "", "")
		} else {
			err = s.srv.Serve(lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("http listener stopped")
		}
	}()
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := s.srv.Shutdown(sctx); err != nil {
			_ = s.srv.Close()
		}
	}()
	log.Info().Str("http_addr", lis.Addr().String()).Str("url", s.URL()).Msg("http serving")
	return s, nil
}

// maxConns is how many connections the listener serves at once: browsers
// and scrapers need a few each.
const maxConns = 256

// maxConnsPerAddr is how many of them one address may hold.
const maxConnsPerAddr = 64

// Addr is the address listened on, with the real port.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is the listener's base URL (http://HOST:PORT, or https).
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.Addr()
	}
	return "http://" + s.Addr()
}

// Close stops the listener, lets requests in flight finish for a few
// seconds, and waits for its goroutines.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Server) routes(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Metrics, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError, ErrorLog: promLog{s.log}}))
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "read /metrics with GET", http.StatusMethodNotAllowed)
	})
	page := http.NewServeMux()
	if cfg.Status != nil {
		files, _ := fs.Sub(static, "static")
		index := func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, "index.html")
		}
		page.HandleFunc("GET /{$}", index)
		page.HandleFunc("GET /queries/{id}", index)
		page.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
		api := api{cfg.Status}
		page.HandleFunc("GET /api/cluster", api.cluster)
		page.HandleFunc("GET /api/queries", api.queries)
		page.HandleFunc("GET /api/queries/{id}", api.query)
	} else {
		page.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "skein %s: Prometheus metrics at /metrics\n", cfg.Role)
		})
	}
	mux.Handle("/", guard(cfg.Login, page))
	return headers(mux)
}

// headers sets what every answer carries: nothing of it may be framed,
// sniffed into another type, or load anything from elsewhere.
func headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
		h.ServeHTTP(w, r)
	})
}

// guard asks for HTTP Basic credentials that login accepts; a nil login
// lets everyone in (a server without auth, on loopback or by the
// operator's --insecure-no-auth).
func guard(login func(addr, user, password string) (ok, admin bool, retry time.Duration), h http.Handler) http.Handler {
	if login == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, Viewer{All: true})))
		})
	}
	known := &logins{at: map[[sha256.Size]byte]seen{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, given := r.BasicAuth()
		if given {
			addr := r.RemoteAddr
			if host, _, err := net.SplitHostPort(addr); err == nil {
				addr = host
			}
			ok, admin, retry := known.check(addr, user, password, login)
			if ok {
				h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), viewerKey{}, Viewer{User: user, All: admin})))
				return
			}
			if retry > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
				http.Error(w, "too many failed logins for this user or from this address", http.StatusTooManyRequests)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="skein", charset="UTF-8"`)
		http.Error(w, "log in with your Skein user and password", http.StatusUnauthorized)
	})
}

// logins remembers the logins that succeeded, by a hash of the user name
// and password, for loginFor: each request ran bcrypt, 80 ms of CPU (a
// status page polls two endpoints every 2 s), and a reader's 8 loops of
// requests took both cores from every other client (a tester's). The
// users are read once at start, so nothing remembered goes stale. A
// failed login is checked every time (and throttled).
type logins struct {
	mu sync.Mutex
	at map[[sha256.Size]byte]seen
}

type seen struct {
	admin bool
	until time.Time
}

const (
	loginFor  = time.Minute
	maxLogins = 1024
)

func (l *logins) check(addr, user, password string, check func(addr, user, password string) (ok, admin bool, retry time.Duration)) (bool, bool, time.Duration) {
	key := sha256.Sum256([]byte(strconv.Itoa(len(user)) + ":" + user + password)) // one name and password a key
	now := time.Now()
	l.mu.Lock()
	got, ok := l.at[key]
	l.mu.Unlock()
	if ok && now.Before(got.until) {
		return true, got.admin, 0
	}
	ok, admin, retry := check(addr, user, password)
	if ok {
		l.mu.Lock()
		if len(l.at) >= maxLogins {
			clear(l.at)
		}
		l.at[key] = seen{admin: admin, until: now.Add(loginFor)}
		l.mu.Unlock()
	}
	return ok, admin, retry
}

// viewerKey keys a request's Viewer in its context (guard).
type viewerKey struct{}

// viewer is who guard let in: a request it did not pass sees nothing.
func viewer(r *http.Request) Viewer {
	v, _ := r.Context().Value(viewerKey{}).(Viewer)
	return v
}

type api struct{ st Status }

func (a api) cluster(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.st.Cluster())
}

func (a api) queries(w http.ResponseWriter, r *http.Request) {
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: want a positive integer"})
			return
		}
		limit = min(n, 10000)
	}
	writeJSON(w, http.StatusOK, a.st.Queries(viewer(r), limit))
}

func (a api) query(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	q, ok := a.st.Query(viewer(r), id)
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no query " + strconv.Quote(id) + " in the history"})
		return
	}
	writeJSON(w, http.StatusOK, q)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// promLog sends the metrics handler's errors (a collector that failed) to
// the log.
type promLog struct{ log zerolog.Logger }

func (p promLog) Println(v ...any) { p.log.Warn().Msg(fmt.Sprint(v...)) }
