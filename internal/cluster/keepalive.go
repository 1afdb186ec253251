package cluster

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// A node that stops answering without closing its connections (a process
// stopped with SIGSTOP or swapped out, a host that froze: the kernel
// still acknowledges TCP) left every call to it waiting: a SIGSTOPped
// executor hung queries past their client's 150 s deadline, in proxy and
// direct mode alike, although the coordinator had counted it dead (found
// by a fault test, 2026-12-04). Connections between nodes are therefore
// pinged (HTTP/2 PING): one unanswered for PingTimeout is closed, and its
// calls fail over as for a lost executor, within PingEvery and
// PingTimeout. gRPC pings no more often than every 10 s.
const (
	PingEvery   = 10 * time.Second
	PingTimeout = 5 * time.Second
)

// KeepaliveDial is the dial option of a node's client of another node.
func KeepaliveDial() grpc.DialOption {
	return grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: PingEvery, Timeout: PingTimeout, PermitWithoutStream: true})
}

// DefaultClientPing is how long a node lets a client connection stay
// silent before it pings it, and then waits for the answer
// (--client-ping).
const DefaultClientPing = 30 * time.Second

// KeepaliveServer lets a node's peers ping it as KeepaliveDial does (by
// default gRPC closes a connection pinged more often than every 5
// minutes), and pings its own clients: a connection silent for
// clientPing is pinged, and closed when the ping goes unanswered as long
// again (0: never pinged). A client process stopped (SIGSTOP, a frozen
// host: the kernel still acknowledges TCP) had held its bulk ingest, its
// session's transaction and an executor's spooled result it was reading
// for as long as it stayed stopped (found 2026-12-06); every gRPC client
// answers pings in its transport, whatever its program does.
func KeepaliveServer(clientPing time.Duration) []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: PingEvery / 2, PermitWithoutStream: true})}
	if clientPing > 0 {
		opts = append(opts, grpc.KeepaliveParams(keepalive.ServerParameters{Time: clientPing, Timeout: clientPing}))
	}
	return opts
}
