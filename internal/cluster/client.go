package cluster

import (
	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
)

// NewClient is a Flight client of another node at addr, whose Close
// closes its connection and nothing else. The coordinator and each
// executor close a client still in use when its node is lost (so that
// its calls fail at once rather than wait for keepalive): a call begun
// after that fails, as a closing connection's calls do. arrow-go's own
// client, whose Close sets its service client to nil, panicked instead
// (a nil dereference in DoAction took the coordinator down while
// executors were judged dead under memory pressure).
func NewClient(addr string, opts ...grpc.DialOption) (flight.Client, error) {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	return &nodeClient{Client: flight.NewClientFromConn(conn, nil), conn: conn}, nil
}

type nodeClient struct {
	flight.Client
	conn *grpc.ClientConn
}

func (c *nodeClient) Close() error { return c.conn.Close() }
