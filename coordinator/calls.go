package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flightwire"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Calls the coordinator makes to executors over the client pool: dialing
// one, starting tasks there (skein.start, answered as each task ends) and
// dropping a straggler's other run.

// dial makes the pool's client for an executor location.
func (d *dist) dial(loc string) (flight.Client, error) {
	addr, creds, err := d.tls.Dial(loc)
	if err != nil {
		return nil, err
	}
	return cluster.NewClient(addr, creds, cluster.KeepaliveDial(), d.secret.CallsDialOption(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
		grpc.WithInitialWindowSize(relayWindow), grpc.WithInitialConnWindowSize(16<<20), flightwire.DialOption())
}

// relayWindow is the flow-control window of each stream the coordinator
// reads from an executor: what an executor may send ahead of the
// coordinator's reading. A relayed stream whose client stops reading holds
// it (gRPC keeps what arrived until it is read), so it is what many
// stalled clients cost here, with the batch being written and the one
// waiting; a window well above the link's bandwidth-delay product adds
// nothing to a stream being read (8 MiB cost 7 MiB a stalled stream).
const relayWindow = 1 << 20

// runAt runs tasks at the executor at loc (skein.start) and says as each
// ends, until the last has or the call fails.
func (d *dist) runAt(ctx context.Context, loc string, handles []string, ended func(i int, rows int64, err error)) error {
	c, lease, err := d.clients.get(loc)
	if err != nil {
		return err
	}
	defer lease()
	if ctx, err = d.secret.WithCall(ctx); err != nil {
		return err
	}
	stream, err := c.DoAction(ctx, &flight.Action{Type: cluster.ActionStart, Body: []byte(strings.Join(handles, "\n"))})
	if err != nil {
		return lostCall(ctx, err)
	}
	for {
		res, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return lostCall(ctx, err)
		}
		var st cluster.Started
		if err := json.Unmarshal(res.GetBody(), &st); err != nil || st.I < 0 || st.I >= len(handles) {
			return fmt.Errorf("%w: an executor answered %q to a start", flightsql.ErrInvalid, res.GetBody())
		}
		var terr error
		switch {
		case st.Code != 0:
			terr = status.Error(codes.Code(st.Code), st.Error)
		case st.Error != "":
			terr = errors.New(st.Error)
		}
		rows := int64(-1)
		if st.Rows != nil {
			rows = *st.Rows
		}
		ended(st.I, rows, terr)
	}
}

// lostCall marks a start call's error errRunBroken when it is neither an
// answer of the executor's (one that stops says ResourceExhausted) nor a
// connection that could not be made (gRPC's "Error while dialing": the
// executor was gone already), but a connection lost: the executor died,
// perhaps of the tasks it ran, or of the same tasks run a moment before
// for a reader.
//
// A call whose connection was closed under it (cluster.ErrClosedUnder:
// its executor stopped answering, and was taken for lost) is not: the
// executor was not seen to die of it.
func lostCall(ctx context.Context, err error) error {
	if status.Code(err) == codes.Unavailable && ctx.Err() == nil && !strings.Contains(err.Error(), "Error while dialing") &&
		!errors.Is(err, cluster.ErrClosedUnder) {
		return fmt.Errorf("%w: %w", errRunBroken, err)
	}
	return err
}

// dropAt stops a task's other run at loc (a straggler's).
func (d *dist) dropAt(loc, handle string) {
	ctx, cancel := context.WithTimeout(d.life, 10*time.Second)
	defer cancel()
	c, lease, err := d.clients.get(loc)
	if err == nil {
		defer lease()
		err = d.callAt(ctx, c, cluster.ActionDrop, handle)
	}
	if err != nil && ctx.Err() == nil {
		d.log.Debug().Err(err).Str("location", loc).Msg("dropping a task's other run failed; it goes when its ticket expires")
	}
}

// callAt makes a coordinator's call (ActionDrop, ActionCancel) at an
// executor, with the header that says it is the coordinator's.
func (d *dist) callAt(ctx context.Context, c flight.Client, typ, body string) error {
	ctx, err := d.secret.WithCall(ctx)
	if err != nil {
		return err
	}
	return cluster.Do(ctx, c, &flight.Action{Type: typ, Body: []byte(body)})
}
