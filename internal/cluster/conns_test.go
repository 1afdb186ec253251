package cluster

import (
	"net"
	"testing"
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
