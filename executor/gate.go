package executor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/skeindb/skein/internal/cluster"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// Defaults of Config.MaxAwaiting and Config.FirstMessageWait.
const (
	defaultMaxAwaiting      = 32
	defaultFirstMessageWait = 30 * time.Second
)

// errSlowFirst ends a call whose first message took too long.
var errSlowFirst = errors.New("executor: the call's first message did not arrive in time")

// gate bounds the calls whose first message has not arrived. gRPC takes a
// message's whole declared length (up to cluster.MaxMessage, 20 MiB) as
// soon as its five-byte prefix arrives, before any handler can check the
// ticket or handles in it; and the executor's port is open to the
// direct-mode clients, who hold no cluster secret. Unbounded, a caller
// with nothing had the executor hold 20 MiB a stream, 1,024 streams a
// connection, for as long as it kept them open. With the gate, a call
// waits for its first message in one of max slots, and at most wait: the
// memory such calls hold is bounded by max times the message bound, and a
// caller that sends a prefix and stops loses its slot. The coordinator's
// calls (cluster.CallHeader) take no slot: a flood of calls without
// credentials cannot keep it from starting and cancelling tasks. A call
// finding every slot taken is refused Unavailable, to be retried.
type gate struct {
	secret cluster.Secret
	slots  chan struct{}
	wait   time.Duration
}

func newGate(secret cluster.Secret, max int, wait time.Duration) *gate {
	if max <= 0 {
		max = defaultMaxAwaiting
	}
	if wait <= 0 {
		wait = defaultFirstMessageWait
	}
	return &gate{secret: secret, slots: make(chan struct{}, max), wait: wait}
}

type gateKey struct{}

// awaiting is a call holding a slot until its first message arrives, it
// ends, or its wait is over (which ends the call).
type awaiting struct {
	g     *gate
	once  sync.Once
	timer *time.Timer
}

// release gives the slot back at the call's first message or end, which
// come after tap has set timer.
func (a *awaiting) release() {
	a.timer.Stop()
	a.free()
}

func (a *awaiting) free() { a.once.Do(func() { <-a.g.slots }) }

// tap admits a call as its headers arrive, before any message of it is
// read. It runs on the connection's reader: it must not block.
func (g *gate) tap(ctx context.Context, info *tap.Info) (context.Context, error) {
	if toks := info.Header.Get(cluster.CallHeader); len(toks) == 1 && g.secret.VerifyCall(toks[0]) == nil {
		cluster.Prove(ctx)
		return ctx, nil
	}
	select {
	case g.slots <- struct{}{}:
	default:
		return nil, status.Errorf(codes.Unavailable,
			"executor: %d calls are waiting for their first message, the most it takes at once: try again", cap(g.slots))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	a := &awaiting{g: g}
	a.timer = time.AfterFunc(g.wait, func() {
		cancel(errSlowFirst)
		a.free()
	})
	return context.WithValue(ctx, gateKey{}, a), nil
}

// The gate is also a stats handler: it gives the slot back at a call's
// first message, or its end.

func (g *gate) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (g *gate) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s.(type) {
	case *stats.InPayload, *stats.End:
		if a, ok := ctx.Value(gateKey{}).(*awaiting); ok {
			a.release()
		}
	}
}

func (g *gate) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }

func (g *gate) HandleConn(context.Context, stats.ConnStats) {}
