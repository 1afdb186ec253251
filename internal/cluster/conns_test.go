package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// An IPv6 host's addresses, one /64 given to it, count as one host.
func TestHostOf(t *testing.T) {
	for _, tc := range []struct{ addr, host string }{
		{"127.0.0.1:5000", "127.0.0.1"},
		{"[::ffff:10.1.2.3]:5000", "10.1.2.3"},
		{"[2001:db8:1:2:aaaa::1]:5000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:bbbb::9]:6000", "2001:db8:1:2::/64"},
		{"[2001:db8:1:3::1]:5000", "2001:db8:1:3::/64"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostOf(a); got != tc.host {
			t.Errorf("%s: %s, want %s", tc.addr, got, tc.host)
		}
	}
}

// A connection whose call is in progress (a login being checked) keeps
// its place while connections from other addresses wait idle: a flood
// from many addresses, one connection each, closes those.
func TestCallsInProgressKeepTheirPlace(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := LimitConns(tcp, 3, zerolog.Nop())
	entered, left := make(chan struct{}, 1), make(chan struct{}, 1)
	srv := grpc.NewServer(grpc.StatsHandler(lis), grpc.UnknownServiceHandler(func(_ any, s grpc.ServerStream) error {
		entered <- struct{}{}
		<-s.Context().Done()
		left <- struct{}{}
		return s.Context().Err()
	}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(tcp.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/login/Check"); err != nil {
		t.Fatal(err)
	}
	<-entered
	for i := range 20 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(i+1))}}
		c, err := d.Dial("tcp", tcp.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	// Past the bound, each of the flood closed one of the flood.
	for deadline := time.Now().Add(10 * time.Second); lis.Evicted() < 18; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d evicted, want 18", lis.Evicted())
		}
	}
	select {
	case <-left:
		t.Fatal("the call in progress was closed for the flood")
	case <-time.After(200 * time.Millisecond):
	}
}
