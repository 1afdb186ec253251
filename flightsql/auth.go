package flightsql

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/health"
	"github.com/skeindb/skein/internal/token"
	"github.com/skeindb/skein/internal/users"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/tap"
)

const (
	authHeader    = "authorization"
	sessionCookie = "arrow_flight_session_id"
	bearerKind    = "bearer"
)

// bearerClaims name the user, their role and the session a token belongs to.
type bearerClaims struct {
	User    string     `json:"u"`
	Role    users.Role `json:"r,omitempty"`
	Session string     `json:"s"`
}

// identity is who is calling, attached to each request's context by the
// auth tap and interceptors. session is filled lazily: a request that needs
// server state gets a session, and the client gets a token naming it.
type identity struct {
	user    string
	role    users.Role
	session string
	member  bool // an executor, by its signed membership
	// expires is when the bearer token the call came with expires (zero:
	// none): a token issued for it expires no later (issue).
	expires time.Time
	// header and verified: an executor's membership header and what the
	// cluster made of it (see Cluster.Member).
	header   string
	verified any

	basic *basicLogin // Basic credentials the interceptor still has to check
}

type basicLogin struct{ user, password string }

type identityKey struct{}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	if id == nil {
		return &identity{user: "anonymous", role: users.Admin}
	}
	return id
}

// RoleFrom is the role of the caller of the request ctx belongs to, for
// the capabilities the coordinator signs on its behalf (task tickets).
func RoleFrom(ctx context.Context) users.Role { return identityFrom(ctx).role }

func (s *Server) authRequired() bool { return s.cfg.Users != nil }

// Login throttling: an address may fail a few times, a user name (tried
// from many addresses) a few more, before each further attempt waits.
const (
	freeFailuresPerAddress = 5
	freeFailuresPerUser    = 20
)

// verify reads the caller's credentials from the headers of a call to
// method. It does only cheap checks (HMACs), so that the tap can run it
// before the call's messages are read; Basic credentials are left in the
// identity for the interceptor to check (bcrypt is slow).
func (s *Server) verify(method string, md metadata.MD) (*identity, error) {
	scheme, cred := "", ""
	if v := md.Get(authHeader); len(v) > 0 {
		scheme, cred, _ = strings.Cut(strings.TrimSpace(v[0]), " ")
		cred = strings.TrimSpace(cred)
	}
	if strings.HasPrefix(method, health.MethodPrefix) {
		// Probes (Kubernetes, load balancers) have no credentials, and
		// the health service tells them only whether the server is ready.
		return &identity{user: "health-probe", role: users.Reader}, nil
	}
	handshake := method == flightMethod+"Handshake"
	if v := md.Get(cluster.MemberHeader); len(v) > 0 {
		// An executor's membership proves it is part of the cluster, not
		// that a user sent it: it is good for the cluster actions only
		// (which DoAction checks by their type).
		if method != flightMethod+"DoAction" || s.cfg.Cluster == nil {
			return nil, fmt.Errorf("%w: cluster membership is accepted on cluster actions only", ErrUnauthenticated)
		}
		id, verified, ok := s.cfg.Cluster.Member(v[0])
		if !ok {
			return nil, fmt.Errorf("%w: invalid cluster membership", ErrUnauthenticated)
		}
		return &identity{user: "executor:" + id, member: true, header: v[0], verified: verified}, nil
	}
	switch {
	case strings.EqualFold(scheme, "basic"):
		if !handshake {
			return nil, fmt.Errorf("%w: Basic credentials are accepted on Handshake only; send the bearer token it returns", ErrUnauthenticated)
		}
		raw, err := base64.StdEncoding.DecodeString(cred)
		if err != nil {
			if raw, err = base64.RawStdEncoding.DecodeString(cred); err != nil {
				return nil, fmt.Errorf("%w: malformed Basic credentials", ErrUnauthenticated)
			}
		}
		user, password, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, fmt.Errorf("%w: malformed Basic credentials", ErrUnauthenticated)
		}
		if !s.authRequired() {
			return &identity{user: user, role: users.Admin}, nil
		}
		return &identity{basic: &basicLogin{user: user, password: password}}, nil
	case strings.EqualFold(scheme, "bearer"):
		id, err := s.bearers.verify(s.signer, cred)
		if err != nil {
			// Without auth too: a token names its session, and one given a
			// new session in its place lost its transaction, temporary
			// tables and settings without a word (a tester's: after a
			// restart the rest of a transaction's writes were committed
			// alone, each on its own).
			if errors.Is(err, token.ErrSignature) {
				// The key is the process's own: a token of a server
				// restarted since reads as one not issued here.
				return nil, fmt.Errorf("%w: bearer token: %w (not issued by this server, or issued before it restarted): %s", ErrUnauthenticated, err, s.again())
			}
			return nil, fmt.Errorf("%w: bearer token: %w: %s", ErrUnauthenticated, err, s.again())
		}
		return id, nil
	}
	// A session cookie carries the same signed token.
	var stale error
	for _, h := range md.Get("cookie") {
		for _, part := range strings.Split(h, ";") {
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != sessionCookie {
				continue
			}
			id, err := s.bearers.verify(s.signer, val)
			if err == nil {
				return id, nil
			}
			if stale == nil {
				stale = err
			}
		}
	}
	if stale != nil {
		// Refused as a bearer token is, with auth or without: given a
		// new session in its place, a JDBC client's transaction was lost
		// after a restart and its later writes committed one by one (a
		// tester's).
		if errors.Is(stale, token.ErrSignature) {
			return nil, fmt.Errorf("%w: session cookie: %w (not issued by this server, or issued before it restarted): %s", ErrUnauthenticated, stale, s.again())
		}
		return nil, fmt.Errorf("%w: session cookie: %w: %s", ErrUnauthenticated, stale, s.again())
	}
	if s.authRequired() {
		return nil, fmt.Errorf("%w: no credentials: authenticate with Basic auth on Handshake, then send the bearer token", ErrUnauthenticated)
	}
	return &identity{user: "anonymous", role: users.Admin}, nil
}

// again says what a client whose token names no session of this server
// does: log in again, or, without auth, connect again (a new connection
// gets a new session; there is no login).
func (s *Server) again() string {
	if s.authRequired() {
		return "log in again"
	}
	return "connect again (a new connection gets a new session)"
}

// bearerCache keeps the claims of bearer tokens verified lately, until
// each expires: a client sends its token with every call (two or three
// to a query), and verifying one (an HMAC and a JSON decode) was 3% of
// the server's CPU on SELECT 1 through ADBC. A token is looked up by its
// whole text, signature included, so only a token that verified is found.
type bearerCache struct {
	mu sync.Mutex
	m  map[string]bearerEntry
}

type bearerEntry struct {
	claims bearerClaims
	until  time.Time
}

// maxBearers bounds the cache; full, it starts over (tokens are issued
// per session, and sessions are bounded well below this).
const maxBearers = 4096

func (bc *bearerCache) verify(signer *token.Signer, tok string) (*identity, error) {
	now := time.Now()
	bc.mu.Lock()
	e, ok := bc.m[tok]
	bc.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.claims.identity(e.until), nil
	}
	var c bearerClaims
	until, err := signer.VerifyUntil(bearerKind, tok, &c)
	if err != nil {
		return nil, err
	}
	bc.mu.Lock()
	if bc.m == nil || len(bc.m) >= maxBearers {
		bc.m = make(map[string]bearerEntry)
	}
	bc.m[tok] = bearerEntry{claims: c, until: until}
	bc.mu.Unlock()
	return c.identity(until), nil
}

func (c bearerClaims) identity(expires time.Time) *identity {
	role := c.Role
	if role == "" {
		role = users.Admin
	}
	return &identity{user: c.User, role: role, session: c.Session, expires: expires}
}

const flightMethod = "/arrow.flight.protocol.FlightService/"

// tap refuses, before a single request message is read, every call whose
// credentials do not verify: without a valid token nobody can make the
// server buffer a large command. What it learned rides in the context.
func (s *Server) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	id, err := s.verify(info.FullMethodName, info.Header)
	if err != nil {
		return nil, ToStatus(err)
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// authenticate resolves the caller of an RPC: the identity the tap
// verified, with Basic credentials checked against the users (throttled).
func (s *Server) authenticate(ctx context.Context, method string) (*identity, error) {
	id, ok := ctx.Value(identityKey{}).(*identity)
	if !ok {
		md, _ := metadata.FromIncomingContext(ctx)
		var err error
		if id, err = s.verify(method, md); err != nil {
			return nil, err
		}
	}
	if id.basic == nil {
		return id, nil
	}
	return s.login(ctx, *id.basic)
}

// login checks a user name and password, counting failures per client
// address and per user name.
func (s *Server) login(ctx context.Context, b basicLogin) (*identity, error) {
	addr := "unknown"
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		addr = p.Addr.String()
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	role, ok, wait := s.checkLogin(addr, b.user, b.password)
	switch {
	case wait > 0:
		return nil, fmt.Errorf("%w: too many failed logins, or logins at once, for this user or from this address: retry in %s",
			ErrBusy, wait.Round(100*time.Millisecond))
	case !ok:
		return nil, fmt.Errorf("%w: invalid user or password", ErrUnauthenticated)
	}
	return &identity{user: b.user, role: role}, nil
}

// Login checks a user name and password from a client address as a
// Flight login does, counting failures against the same throttle (the
// HTTP status page's Basic auth), and whether the user is an admin (every
// caller is without users). A positive retry says the address or user is
// in backoff: nothing was checked.
func (s *Server) Login(addr, user, password string) (ok, admin bool, retry time.Duration) {
	if s.cfg.Users == nil {
		return true, true, 0
	}
	role, ok, retry := s.checkLogin(addr, user, password)
	return ok, role == users.Admin, retry
}

func (s *Server) checkLogin(addr, user, password string) (users.Role, bool, time.Duration) {
	if len(user) > users.MaxName {
		// No user is so named: a failure of the address alone, the name
		// neither kept nor logged whole.
		end, wait := s.throttle.Begin(users.Key{Name: "addr:" + addr, Free: freeFailuresPerAddress})
		if wait > 0 {
			return "", false, wait
		}
		end(users.Failed)
		s.log.Info().Str("user", user[:users.MaxName]+"...").Int("user_bytes", len(user)).Str("addr", addr).Msg("failed login")
		return "", false, 0
	}
	end, wait := s.throttle.Begin(
		users.Key{Name: "addr:" + addr, Free: freeFailuresPerAddress},
		// Guesses at a user name (from anywhere) hold its logins back,
		// but not from an address the user has logged in from: they
		// would lock the user out.
		users.Key{Name: "user:" + user, Free: freeFailuresPerUser, Trust: user + "\x00" + addr})
	if wait > 0 {
		return "", false, wait
	}
	role, ok := s.cfg.Users.Check(user, password)
	if !ok {
		end(users.Failed)
		s.log.Info().Str("user", user).Str("addr", addr).Msg("failed login")
		return "", false, 0
	}
	end(users.Succeeded)
	return role, true, 0
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := s.refuseWhileDraining(info.FullMethod); err != nil {
		return nil, err
	}
	id, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	prove(ctx, info.FullMethod)
	release, err := s.running.acquire(id, info.FullMethod)
	if err != nil {
		return nil, err
	}
	defer release()
	defer s.working(info.FullMethod)()
	return h(context.WithValue(ctx, identityKey{}, id), req)
}

// prove keeps the place of a call's connection at --max-connections
// (cluster.Prove) once the call has passed authentication; a health
// probe, which needs no credential, proves nothing.
func prove(ctx context.Context, method string) {
	if !strings.HasPrefix(method, health.MethodPrefix) {
		cluster.Prove(ctx)
	}
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w identityStream) Context() context.Context { return w.ctx }

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.refuseWhileDraining(info.FullMethod); err != nil {
		return err
	}
	id, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	prove(ss.Context(), info.FullMethod)
	release, err := s.running.acquire(id, info.FullMethod)
	if err != nil {
		return err
	}
	defer release()
	defer s.working(info.FullMethod)()
	return h(srv, identityStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), identityKey{}, id)})
}

// issue signs a bearer token for the caller's session.
func (s *Server) issue(id *identity) (string, error) {
	expires := time.Now().Add(s.cfg.TokenTTL)
	if !id.expires.IsZero() && id.expires.Before(expires) {
		// A token given for a token (a Handshake with one, the JDBC
		// driver's token=) renews nothing: one that leaked, or whose
		// session was closed, was good for new sessions of 12 hours
		// each, for ever (a tester's).
		expires = id.expires
	}
	return s.signer.Sign(bearerKind, bearerClaims{User: id.user, Role: id.role, Session: id.session}, expires)
}

// sendToken tells the client its token: as a response header (which the
// JDBC driver reads; it ignores trailers once headers were sent) and as a
// session cookie for clients that keep cookies instead.
func (s *Server) sendToken(ctx context.Context, id *identity) error {
	tok, err := s.issue(id)
	if err != nil {
		return err
	}
	md := metadata.Pairs(authHeader, "Bearer "+tok,
		"set-cookie", sessionCookie+"="+tok+"; Path=/; HttpOnly")
	if err := grpc.SetHeader(ctx, md); err != nil {
		return fmt.Errorf("sending token: %w", err)
	}
	return nil
}

// handshake answers Flight's Handshake: Basic credentials (checked by the
// interceptor) or an existing bearer token (the JDBC driver's token=) get a
// new session and a bearer token naming it.
func (s *Server) handshake(stream flight.FlightService_HandshakeServer) error {
	ctx := stream.Context()
	id := identityFrom(ctx)
	sess, err := s.sessions.create(ctx, id.user, id.role, true)
	if err != nil {
		return err
	}
	if c := connOf(ctx); c != nil {
		// Used on this connection: once it and the others are closed,
		// the session may be reclaimed (reclaimDisconnected).
		sess.mu.Lock()
		sess.link(c)
		sess.mu.Unlock()
	}
	tok, err := s.issue(&identity{user: id.user, role: id.role, session: sess.id, expires: id.expires})
	if err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.Pairs(authHeader, "Bearer "+tok,
		"set-cookie", sessionCookie+"="+tok+"; Path=/; HttpOnly")); err != nil {
		return err
	}
	return stream.Send(&flight.HandshakeResponse{Payload: []byte(tok)})
}

// errSessionEnded is what a client whose token names a session that is
// gone is told: never a fresh session in its place, which would lose its
// temporary tables and transaction without a word.
var errSessionEnded = fmt.Errorf("%w: session ended (closed, idle past --session-idle-timeout, its transaction abandoned: every connection of its client closed past --abandoned-txn-timeout, or reclaimed for room: the server or its user at its session limit, and every connection of its client closed): log in again", ErrUnauthenticated)

// sessionFor returns the caller's session, opening one (and telling the
// client its token) when the caller has none yet.
func (s *Server) sessionFor(ctx context.Context, id *identity) (*session, error) {
	if id.session != "" {
		sess := s.sessions.get(id.session)
		if sess == nil {
			dropCookie(ctx)
			return nil, errSessionEnded
		}
		if sess.user != id.user {
			return nil, fmt.Errorf("%w: session belongs to another user", ErrDenied)
		}
		return sess, nil
	}
	sess, err := s.sessions.create(ctx, id.user, id.role, false)
	if err != nil {
		return nil, err
	}
	id.session = sess.id
	if err := s.sendToken(ctx, id); err != nil {
		s.log.Debug().Err(err).Msg("could not send session token")
	}
	return sess, nil
}

const expiredCookie = sessionCookie + "=; Path=/; Max-Age=0; HttpOnly"

// dropCookie tells a client whose session ended to drop its cookie, so
// that its next call starts a session: a cookie client has no login to
// repeat.
func dropCookie(ctx context.Context) {
	_ = grpc.SetHeader(ctx, metadata.Pairs("set-cookie", expiredCookie))
}

// allowWrite refuses readers the calls that write (ingest).
func allowWrite(ctx context.Context, what string) error {
	if id := identityFrom(ctx); id.role.ReadOnly() {
		return fmt.Errorf("%w: user %s has role %s, which may not %s", ErrDenied, id.user, id.role, what)
	}
	return nil
}
