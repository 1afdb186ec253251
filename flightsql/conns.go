package flightsql

import (
	"context"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/stats"
)

// connTracker is a gRPC stats handler that knows, for any call, whether
// the client connection it came on is still open. A draining server waits
// for the queries planned on connections still open, not for those whose
// client has hung up without reading them (a client that plans a query
// and goes has abandoned it; only its tickets' expiry would end the wait).
// A session with a transaction open whose connections have all closed is
// a client killed mid-transaction (sessions.abandonTxns).
type connTracker struct{}

type connKey struct{}

// clientConn is one client connection: closedAt is when it closed, in
// Unix nanoseconds, 0 while it is open.
type clientConn struct{ closedAt atomic.Int64 }

func (c *clientConn) closed() bool { return c.closedAt.Load() != 0 }

// connOf is the connection the call ctx belongs to, nil for a context
// that is no call's.
func connOf(ctx context.Context) *clientConn {
	c, _ := ctx.Value(connKey{}).(*clientConn)
	return c
}

func (connTracker) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connKey{}, &clientConn{})
}

func (connTracker) HandleConn(ctx context.Context, s stats.ConnStats) {
	if _, end := s.(*stats.ConnEnd); end {
		if c := connOf(ctx); c != nil {
			c.closedAt.Store(time.Now().UnixNano())
		}
	}
}

func (connTracker) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (connTracker) HandleRPC(context.Context, stats.RPCStats) {}

// ConnOpen returns, for the call ctx belongs to, a function that says
// whether the client's connection is still open (always, for a context
// that is no call's).
func ConnOpen(ctx context.Context) func() bool {
	c := connOf(ctx)
	if c == nil {
		return func() bool { return true }
	}
	return func() bool { return !c.closed() }
}
