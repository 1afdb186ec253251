package flightsql

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

const (
	authHeader    = "authorization"
	sessionCookie = "arrow_flight_session_id"
	bearerKind    = "bearer"
)

// bearerClaims name the user and the session a token belongs to.
type bearerClaims struct {
	User    string `json:"u"`
	Session string `json:"s"`
}

// identity is who is calling, attached to each request's context by the
// auth interceptors. session is filled lazily: a request that needs server
// state gets a session, and the client gets a token naming it.
type identity struct {
	user    string
	session string
	member  bool // an executor, by its signed membership
}

type identityKey struct{}

func identityFrom(ctx context.Context) *identity {
	id, _ := ctx.Value(identityKey{}).(*identity)
	if id == nil {
		return &identity{user: "anonymous"}
	}
	return id
}

// checkPassword reports whether user and password are the configured ones.
func (s *Server) checkPassword(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.User))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(s.cfg.Password))
	return u&p == 1
}

func (s *Server) authRequired() bool { return s.cfg.User != "" }

// authenticate resolves the caller of an RPC from its headers.
func (s *Server) authenticate(ctx context.Context, method string) (*identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	scheme, cred := "", ""
	if v := md.Get(authHeader); len(v) > 0 {
		scheme, cred, _ = strings.Cut(strings.TrimSpace(v[0]), " ")
		cred = strings.TrimSpace(cred)
	}
	handshake := strings.HasSuffix(method, "/Handshake")
	if v := md.Get(cluster.MemberHeader); len(v) > 0 && s.cfg.Cluster != nil {
		id, ok := s.cfg.Cluster.Member(v[0])
		if !ok {
			return nil, fmt.Errorf("%w: invalid cluster membership", ErrUnauthenticated)
		}
		return &identity{user: "executor:" + id, member: true}, nil
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
		if s.authRequired() && !s.checkPassword(user, password) {
			return nil, fmt.Errorf("%w: invalid user or password", ErrUnauthenticated)
		}
		return &identity{user: user}, nil
	case strings.EqualFold(scheme, "bearer"):
		var c bearerClaims
		if err := s.signer.Verify(bearerKind, cred, &c); err != nil {
			if s.authRequired() {
				return nil, fmt.Errorf("%w: bearer token: %w", ErrUnauthenticated, err)
			}
			break // without auth a stale token just starts a new session
		}
		return &identity{user: c.User, session: c.Session}, nil
	}
	// A session cookie carries the same signed token.
	for _, h := range md.Get("cookie") {
		for _, part := range strings.Split(h, ";") {
			name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if name != sessionCookie {
				continue
			}
			var c bearerClaims
			if err := s.signer.Verify(bearerKind, val, &c); err == nil {
				return &identity{user: c.User, session: c.Session}, nil
			}
		}
	}
	if s.authRequired() {
		return nil, fmt.Errorf("%w: no credentials: authenticate with Basic auth on Handshake, then send the bearer token", ErrUnauthenticated)
	}
	return &identity{user: "anonymous"}, nil
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	id, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return h(context.WithValue(ctx, identityKey{}, id), req)
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w identityStream) Context() context.Context { return w.ctx }

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	id, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return h(srv, identityStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), identityKey{}, id)})
}

// issue signs a bearer token for the caller's session.
func (s *Server) issue(id *identity) (string, error) {
	return s.signer.Sign(bearerKind, bearerClaims{User: id.user, Session: id.session}, time.Now().Add(s.cfg.TokenTTL))
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
// session and a bearer token naming it.
func (s *Server) handshake(stream flight.FlightService_HandshakeServer) error {
	ctx := stream.Context()
	id := identityFrom(ctx)
	sess, err := s.sessionFor(ctx, id)
	if err != nil {
		return err
	}
	tok, err := s.issue(&identity{user: id.user, session: sess.id})
	if err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.Pairs(authHeader, "Bearer "+tok,
		"set-cookie", sessionCookie+"="+tok+"; Path=/; HttpOnly")); err != nil {
		return err
	}
	return stream.Send(&flight.HandshakeResponse{Payload: []byte(tok)})
}

// sessionFor returns the caller's session, opening one (and telling the
// client its token) when the caller has none or its session has ended.
func (s *Server) sessionFor(ctx context.Context, id *identity) (*session, error) {
	if id.session != "" {
		if sess := s.sessions.get(id.session); sess != nil {
			if sess.user != id.user {
				return nil, fmt.Errorf("%w: session belongs to another user", ErrDenied)
			}
			return sess, nil
		}
	}
	sess, err := s.sessions.create(ctx, id.user)
	if err != nil {
		return nil, err
	}
	id.session = sess.id
	if !strings.HasSuffix(methodOf(ctx), "/Handshake") {
		if err := s.sendToken(ctx, id); err != nil {
			s.log.Debug().Err(err).Msg("could not send session token")
		}
	}
	return sess, nil
}

func methodOf(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m
}
