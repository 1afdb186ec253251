package cluster

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"
)

// Every connection a node accepts costs it before anything on it is
// checked: a descriptor, gRPC's buffers and goroutines, and whatever the
// TLS and HTTP/2 handshakes hold, for as long as the client keeps it
// open. Without a bound, one client's thousands of idle connections
// take the process to its open-file limit (after which DuckDB opens no
// file and no executor reaches it) or past its memory. A node therefore
// keeps at most --max-connections open at once, and closes one accepted
// past that at once: its client sees the connection closed
// (Unavailable), and the clients already connected are served as before.

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

// ConnLimit is a listener whose connections open at once are bounded.
type ConnLimit struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	// onRefuse, if set, is called with the count refused so far each time
	// a connection is refused (the node logs the first, then one in a
	// thousand).
	onRefuse func(refused int64)
}

// LimitConns bounds lis to max connections open at once (0:
// DefaultMaxConns; negative: no bound).
func LimitConns(lis net.Listener, max int, onRefuse func(refused int64)) *ConnLimit {
	switch {
	case max == 0:
		max = DefaultMaxConns()
	case max < 0:
		max = -1
	}
	return &ConnLimit{Listener: lis, max: int64(max), onRefuse: onRefuse}
}

// Accept returns the next connection within the bound, closing those
// past it as they come.
func (l *ConnLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.open.Add(1); l.max < 0 || n <= l.max {
			return &limitedConn{Conn: c, l: l}, nil
		}
		l.open.Add(-1)
		_ = c.Close()
		n := l.refused.Add(1)
		if l.onRefuse != nil {
			l.onRefuse(n)
		}
	}
}

// Open is how many of its connections are open.
func (l *ConnLimit) Open() int64 { return l.open.Load() }

// Refused is how many connections it closed for the bound.
func (l *ConnLimit) Refused() int64 { return l.refused.Load() }

// Max is its bound, -1 for none.
func (l *ConnLimit) Max() int64 { return l.max }

type limitedConn struct {
	net.Conn
	l    *ConnLimit
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// LogRefused logs a connection closed for the bound: the first, then
// one in a thousand, with the count so far.
func LogRefused(log zerolog.Logger) func(refused int64) {
	return func(n int64) {
		if n == 1 || n%1000 == 0 {
			log.Warn().Int64("refused", n).Msg("a connection was closed as it was accepted: --max-connections are open " +
				"(a client holding many connections; raise the bound, or the open-file limit it defaults from)")
		}
	}
}
