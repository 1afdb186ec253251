package cluster

import (
	"container/list"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/skeindb/skein/internal/health"
	"google.golang.org/grpc/stats"
)

// Every connection a node accepts costs it before anything on it is
// checked: a descriptor, gRPC's buffers and goroutines, and whatever the
// TLS and HTTP/2 handshakes hold, for as long as the client keeps it
// open. Without a bound, one client's thousands of idle connections
// take the process to its open-file limit (after which DuckDB opens no
// file and no executor reaches it) or past its memory. A node therefore
// keeps at most --max-connections open at once.
//
// A bound alone hands the node to whoever fills it first: a client
// opening connections and sending nothing on them kept every other
// client, and the cluster's own calls, out (a tester's). So a
// connection is proven once one of its calls passes the node's
// credential check (Prove), and a connection accepted at the bound takes
// the place of an unproven one, which is closed (evictable): one with no
// call in progress, of the address holding the most unproven
// connections. A client flooding the node with connections from one
// address, or from many, then closes its own, not those of other
// addresses whose login is being checked (closing the oldest of all, a
// flood of a few thousand connections a second closed most of the other
// clients' before their login was checked, a tester's).
// Only when every open connection is proven is the new one closed as it
// is accepted: its client sees the connection closed (Unavailable), and
// the clients already connected are served as before.

// DefaultMaxConns is a node's bound on its open connections when
// --max-connections is 0: a quarter of its open-file limit, at most
// 2,048 and at least 64. The other descriptors are the files DuckDB and
// the spool hold open (--max-open-files is half the limit).
func DefaultMaxConns() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 2048
	}
	return int(min(max(lim.Cur/4, 64), 2048))
}

// ConnLimit is a listener whose connections open at once are bounded. It
// is also the gRPC stats handler (grpc.StatsHandler) that lets a call's
// context find its connection, for Prove.
type ConnLimit struct {
	net.Listener
	max int64
	log zerolog.Logger

	mu sync.Mutex
	// byAddr finds a connection from its addresses (connKey) when gRPC
	// tags it; unproven holds those not yet proven by the host they come
	// from, oldest first.
	byAddr   map[string]*limitedConn
	unproven map[string]*list.List

	open, refused, evicted atomic.Int64
}

// LimitConns bounds lis to max connections open at once (0:
// DefaultMaxConns; negative: no bound), logging on log the first
// connection closed for the bound, then one in a thousand.
func LimitConns(lis net.Listener, max int, log zerolog.Logger) *ConnLimit {
	switch {
	case max == 0:
		max = DefaultMaxConns()
	case max < 0:
		max = -1
	}
	return &ConnLimit{Listener: lis, max: int64(max), log: log, byAddr: map[string]*limitedConn{}, unproven: map[string]*list.List{}}
}

func connKey(local, remote net.Addr) string {
	if local == nil || remote == nil {
		return ""
	}
	return local.String() + " " + remote.String()
}

// Accept returns the next connection, closing an unproven one to make
// room at the bound (evictable), or the new one if every open connection
// is proven.
func (l *ConnLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, l: l, key: connKey(c.LocalAddr(), c.RemoteAddr()), host: hostOf(c.RemoteAddr())}
		l.mu.Lock()
		var victim *limitedConn
		if l.max >= 0 && l.open.Load() >= l.max {
			if victim = l.evictable(); victim == nil {
				l.mu.Unlock()
				_ = c.Close()
				l.logClosed(l.refused.Add(1), "a connection was closed as it was accepted: --max-connections are open, "+
					"every one of them having made an authenticated call (raise the bound, or the open-file limit it defaults from)")
				continue
			}
			l.drop(victim)
		}
		l.open.Add(1)
		waiting := l.unproven[lc.host]
		if waiting == nil {
			waiting = list.New()
			l.unproven[lc.host] = waiting
		}
		lc.elem = waiting.PushBack(lc)
		if lc.key != "" {
			l.byAddr[lc.key] = lc
		}
		l.mu.Unlock()
		if victim != nil {
			_ = victim.Conn.Close()
			l.logClosed(l.evicted.Add(1), "a connection that had made no authenticated call was closed to make room for a new one: "+
				"--max-connections are open (a client holding connections it does not use, or one still connecting, at the address holding the most)")
		}
		return lc, nil
	}
}

// evictable is the unproven connection to close for a new one (nil if
// none), with l.mu held: the oldest with no call in progress of the host
// holding the most unproven connections among those that have one. A
// connection whose login is being checked is kept while any connection
// waits with no call: a flood from 200 addresses, one idle connection
// each, closed every login of a bcrypt users file (a tester's). Only
// when every unproven connection has a call in progress is the oldest of
// the host holding the most closed.
func (l *ConnLimit) evictable() *limitedConn {
	var most, busiest *list.List
	var idle *limitedConn
	for _, waiting := range l.unproven {
		if busiest == nil || waiting.Len() > busiest.Len() {
			busiest = waiting
		}
		if most != nil && waiting.Len() <= most.Len() {
			continue
		}
		for e := waiting.Front(); e != nil; e = e.Next() {
			if c := e.Value.(*limitedConn); c.calls.Load() == 0 {
				most, idle = waiting, c
				break
			}
		}
	}
	switch {
	case idle != nil:
		return idle
	case busiest != nil:
		return busiest.Front().Value.(*limitedConn)
	}
	return nil
}

// hostOf is the host of a connection's remote address, whose unproven
// connections are counted together: its IPv4 address, or its IPv6
// address's /64 prefix, as one host is given a /64 and may send from
// any address in it.
func hostOf(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	switch {
	case !ok:
		return "" // not TCP: one host
	case t.IP.To4() == nil && len(t.IP) == net.IPv6len:
		return t.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return t.IP.String()
}

func (l *ConnLimit) logClosed(n int64, msg string) {
	if n == 1 || n%1000 == 0 {
		l.log.Warn().Int64("count", n).Msg(msg)
	}
}

// drop forgets c, with l.mu held, once.
func (l *ConnLimit) drop(c *limitedConn) {
	if c.dropped {
		return
	}
	c.dropped = true
	l.unlist(c)
	if l.byAddr[c.key] == c {
		delete(l.byAddr, c.key)
	}
	l.open.Add(-1)
}

// unlist takes c from the unproven, with l.mu held.
func (l *ConnLimit) unlist(c *limitedConn) {
	if c.elem == nil {
		return
	}
	waiting := l.unproven[c.host]
	waiting.Remove(c.elem)
	c.elem = nil
	if waiting.Len() == 0 {
		delete(l.unproven, c.host)
	}
}

type provenKey struct{}

// Prove marks the connection of the call ctx belongs to as proven: it
// keeps its place at the bound. A node calls it once a call has passed
// its credential check. For a context that is no call of a ConnLimit's
// server it does nothing.
func Prove(ctx context.Context) {
	c, _ := ctx.Value(provenKey{}).(*limitedConn)
	if c == nil || c.proven.Load() {
		return
	}
	c.l.mu.Lock()
	defer c.l.mu.Unlock()
	c.l.unlist(c)
	c.proven.Store(true)
}

// TagConn gives the connection's context its limitedConn, for Prove.
func (l *ConnLimit) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	key := connKey(info.LocalAddr, info.RemoteAddr)
	l.mu.Lock()
	c := l.byAddr[key]
	l.mu.Unlock()
	if c == nil {
		return ctx
	}
	return context.WithValue(ctx, provenKey{}, c)
}

func (l *ConnLimit) HandleConn(context.Context, stats.ConnStats) {}

type callKey struct{}

// call is a call on a limitedConn, counted in progress from its Begin to
// its End (gRPC reports neither for a call of an unknown method, which it
// answers at once).
type call struct {
	c       *limitedConn
	counted bool // Begin and End come one after the other, on the call's goroutine
}

// TagRPC marks a call to be counted on its connection while it is
// unproven (a proven one is never closed for the bound), but a health
// probe's, which a client without credentials may keep open.
func (l *ConnLimit) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	c, _ := ctx.Value(provenKey{}).(*limitedConn)
	if c == nil || c.proven.Load() || strings.HasPrefix(info.FullMethodName, health.MethodPrefix) {
		return ctx
	}
	return context.WithValue(ctx, callKey{}, &call{c: c})
}

func (l *ConnLimit) HandleRPC(ctx context.Context, s stats.RPCStats) {
	k, _ := ctx.Value(callKey{}).(*call)
	if k == nil {
		return
	}
	switch s.(type) {
	case *stats.Begin:
		k.counted = true
		k.c.calls.Add(1)
	case *stats.End:
		if k.counted {
			k.counted = false
			k.c.calls.Add(-1)
		}
	}
}

// Open is how many of its connections are open.
func (l *ConnLimit) Open() int64 { return l.open.Load() }

// Refused is how many connections it closed as it accepted them, every
// open one being proven.
func (l *ConnLimit) Refused() int64 { return l.refused.Load() }

// Evicted is how many unproven connections it closed to make room for
// new ones.
func (l *ConnLimit) Evicted() int64 { return l.evicted.Load() }

// Max is its bound, -1 for none.
func (l *ConnLimit) Max() int64 { return l.max }

type limitedConn struct {
	net.Conn
	l      *ConnLimit
	key    string
	host   string
	calls  atomic.Int64 // in progress, but health probes
	proven atomic.Bool  // set with l.mu held
	// With l.mu held: its place among its host's unproven (nil once
	// proven or dropped), and whether it was dropped.
	elem    *list.Element
	dropped bool
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.drop(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
