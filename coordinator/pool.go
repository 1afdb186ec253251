package coordinator

import (
	"fmt"
	"sort"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
)

// pool holds one Flight client per executor location. Connections of
// locations no live executor serves (dead, or re-registered elsewhere) are
// closed as soon as no call uses them, and at most max idle ones are kept.
type pool struct {
	dial func(loc string) (flight.Client, error)
	live func() map[string]bool // locations of live executors
	max  int

	mu     sync.Mutex
	conns  map[string]*pooled
	clock  int64 // orders uses, for evicting the least recently used
	closed bool
}

type pooled struct {
	c     flight.Client
	users int
	used  int64
}

func newPool(max int, dial func(string) (flight.Client, error), live func() map[string]bool) *pool {
	return &pool{dial: dial, live: live, max: max, conns: map[string]*pooled{}}
}

var errPoolClosed = fmt.Errorf("%w: executor connections are closed", errShuttingDown)

// get leases the client for loc; release ends the lease.
func (p *pool) get(loc string) (flight.Client, func(), error) {
	live := p.live()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, nil, errPoolClosed
	}
	p.clock++
	pc, ok := p.conns[loc]
	if !ok {
		c, err := p.dial(loc)
		if err != nil {
			return nil, nil, err
		}
		pc = &pooled{c: c}
		p.conns[loc] = pc
	}
	pc.users++
	pc.used = p.clock
	p.prune(live)
	var once sync.Once
	return pc.c, func() {
		once.Do(func() {
			live := p.live()
			p.mu.Lock()
			defer p.mu.Unlock()
			pc.users--
			if !p.closed {
				p.prune(live)
			}
		})
	}, nil
}

// prune closes idle connections to locations no live executor serves,
// then the least recently used idle ones beyond max. p.mu is held.
func (p *pool) prune(live map[string]bool) {
	var idle []string
	for loc, pc := range p.conns {
		if pc.users > 0 {
			continue
		}
		if !live[loc] {
			p.drop(loc)
			continue
		}
		idle = append(idle, loc)
	}
	if len(p.conns) <= p.max {
		return
	}
	sort.Slice(idle, func(i, j int) bool { return p.conns[idle[i]].used < p.conns[idle[j]].used })
	for _, loc := range idle {
		if len(p.conns) <= p.max {
			break
		}
		p.drop(loc)
	}
}

func (p *pool) drop(loc string) {
	_ = p.conns[loc].c.Close()
	delete(p.conns, loc)
}

// sever closes the connections to locations no live executor serves,
// those in use too: their calls fail at once, and their callers go to
// another executor (open, taskStream.resume) instead of waiting for
// gRPC's keepalive to give up on a host that vanished without closing
// them (powered off, partitioned, stopped): 15 s a call, and a staged
// query's retried task met it again at its inputs.
func (p *pool) sever() {
	live := p.live()
	p.mu.Lock()
	defer p.mu.Unlock()
	for loc := range p.conns {
		if !live[loc] {
			p.drop(loc)
		}
	}
}

// size is how many connections are open.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// close closes every connection; the callers are gone (see work).
func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for loc := range p.conns {
		p.drop(loc)
	}
}
