package web

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// One address holds at most maxConnsPerAddr of the listener's connections
// and the listener at most maxConns: the others hold none of the process's
// descriptors (20,000 idle connections of unauthenticated clients took
// every descriptor of the coordinator, and its Flight clients were
// refused), and another address is served meanwhile (256 connections of
// one client held every slot, an admin's request waiting 9 s; testers').
func TestConnectionsOfOneAddressAreBounded(t *testing.T) {
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
	other := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	resp, err := other.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatalf("another address, while one holds %d idle connections: %v", n, err)
	}
	resp.Body.Close()
	if held := fds() - before - n; held > maxConnsPerAddr+10 {
		t.Fatalf("%d idle connections of one address hold %d of the server's descriptors, want at most %d", n, held, maxConnsPerAddr)
	}
}
