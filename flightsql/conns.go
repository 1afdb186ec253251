package flightsql

import (
	"context"
	"sync/atomic"

	"google.golang.org/grpc/stats"
)

// connTracker is a gRPC stats handler that knows, for any call, whether
// the client connection it came on is still open. A draining server waits
// for the queries planned on connections still open, not for those whose
// client has hung up without reading them (a client that plans a query
// and goes has abandoned it; only its tickets' expiry would end the wait).
type connTracker struct{}

type connKey struct{}

type clientConn struct{ closed atomic.Bool }

func (connTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &clientConn{})
}

func (connTracker) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, end := s.(*stats.ConnEnd); end {
		if c, ok := ctx.Value(connKey{}).(*clientConn); ok {
			c.closed.Store(true)
		}
	}
}

func (connTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (connTracker) HandleRPC(context.Context, stats.RPCStats) {}

// ConnOpen returns, for the call ctx belongs to, a function that says
// whether the client's connection is still open (always, for a context
// that is no call's).
func ConnOpen(ctx context.Context) func() bool {
	c, ok := ctx.Value(connKey{}).(*clientConn)
	if !ok {
		return func() bool { return true }
	}
	return func() bool { return !c.closed.Load() }
}
