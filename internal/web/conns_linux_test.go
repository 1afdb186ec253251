package web

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// The listener serves at most maxConns connections at once; more wait in
// the kernel's backlog, holding none of the process's descriptors: 20,000
// idle connections of unauthenticated clients took every descriptor of
// the coordinator, and its Flight clients were refused (a tester's).
func TestConnectionsPastTheLimitHoldNoDescriptor(t *testing.T) {
	s, err := Start(context.Background(), Config{Addr: "127.0.0.1:0", Metrics: prometheus.NewRegistry()}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	before := fds()
	const n = maxConns + 200
	for range n {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	time.Sleep(200 * time.Millisecond) // the server accepts what it will
	if held := fds() - before - n; held > maxConns+10 {
		t.Fatalf("%d idle connections hold %d of the server's descriptors, want at most %d", n, held, maxConns)
	}
}
