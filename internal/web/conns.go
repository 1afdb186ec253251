package web

import (
	"net"
	"sync"
)

// perAddrListener accepts at most max connections at once from one
// address (host), closing the others as they come: 256 connections of one
// client that never sent their headers held every slot of the listener
// (maxConns), an admin's request waiting 9 s behind them (a tester's).
type perAddrListener struct {
	net.Listener
	max  int
	mu   sync.Mutex
	open map[string]int
}

func limitPerAddr(l net.Listener, max int) net.Listener {
	return &perAddrListener{Listener: l, max: max, open: map[string]int{}}
}

func (l *perAddrListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host, _, err := net.SplitHostPort(c.RemoteAddr().String())
		if err != nil {
			host = c.RemoteAddr().String()
		}
		l.mu.Lock()
		full := l.open[host] >= l.max
		if !full {
			l.open[host]++
		}
		l.mu.Unlock()
		if full {
			_ = c.Close()
			continue
		}
		return &addrConn{Conn: c, l: l, host: host}, nil
	}
}

// addrConn gives its address's place back when closed (once).
type addrConn struct {
	net.Conn
	l    *perAddrListener
	host string
	once sync.Once
}

func (c *addrConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.open[c.host]--; c.l.open[c.host] <= 0 {
			delete(c.l.open, c.host)
		}
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}
