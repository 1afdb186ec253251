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

// KeepaliveServer lets a node's peers ping it as KeepaliveDial does (by
// default gRPC closes a connection pinged more often than every 5
// minutes).
func KeepaliveServer() grpc.ServerOption {
	return grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: PingEvery / 2, PermitWithoutStream: true})
}
