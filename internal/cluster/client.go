package cluster

import (
	"context"
	"errors"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// NewClient is a Flight client of another node at addr, whose Close
// closes its connection and nothing else. The coordinator and each
// executor close a client still in use when its node is lost (so that
// its calls fail at once rather than wait for keepalive): a call begun
// after that fails, as a closing connection's calls do. arrow-go's own
// client, whose Close sets its service client to nil, panicked instead
// (a nil dereference in DoAction took the coordinator down while
// executors were judged dead under memory pressure).
//
// Such a call fails Unavailable, the node's loss: gRPC says Canceled
// ("the client connection is closing"), which reached clients whose
// query's executors had stopped answering as if they had cancelled it
// (a tester's).
func NewClient(addr string, opts ...grpc.DialOption) (flight.Client, error) {
	opts = append([]grpc.DialOption{grpc.WithChainUnaryInterceptor(lostUnary), grpc.WithChainStreamInterceptor(lostStream)}, opts...)
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

// ErrClosedUnder is a call's error when its connection was closed under
// it, its node taken for lost (Unavailable): not a loss the call's own
// work caused, as a connection that breaks may be.
var ErrClosedUnder = errors.New("the connection to the node was closed, the node taken for lost")

// closedUnder is err, unless it is gRPC's "the client connection is
// closing" (Canceled) for a call whose ctx is live: ErrClosedUnder then.
// A node's own Canceled (its handler's context ended as it shut down)
// stays what it is.
func closedUnder(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil || !errors.Is(err, grpc.ErrClientConnClosing) {
		return err
	}
	return closedErr{status.Convert(err).Message()}
}

// closedErr is ErrClosedUnder, Unavailable to gRPC.
type closedErr struct{ msg string }

func (e closedErr) Error() string              { return ErrClosedUnder.Error() + ": " + e.msg }
func (e closedErr) Unwrap() error              { return ErrClosedUnder }
func (e closedErr) GRPCStatus() *status.Status { return status.New(codes.Unavailable, e.Error()) }

func lostUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return closedUnder(ctx, invoker(ctx, method, req, reply, cc, opts...))
}

func lostStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, closedUnder(ctx, err)
	}
	return lostClientStream{ClientStream: s, ctx: ctx}, nil
}

type lostClientStream struct {
	grpc.ClientStream
	ctx context.Context
}

func (s lostClientStream) RecvMsg(m any) error { return closedUnder(s.ctx, s.ClientStream.RecvMsg(m)) }
func (s lostClientStream) SendMsg(m any) error { return closedUnder(s.ctx, s.ClientStream.SendMsg(m)) }
func (s lostClientStream) Header() (metadata.MD, error) {
	md, err := s.ClientStream.Header()
	return md, closedUnder(s.ctx, err)
}
