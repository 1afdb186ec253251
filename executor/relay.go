package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/flight"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/flightwire"
	"google.golang.org/grpc/metadata"
)

// redirect serves a task ticket this executor was named for but does not
// hold: the coordinator's scheduler gave the task to another executor (an
// idle one stole it), so its rows are fetched from there and passed on as
// they come, Flight messages unchanged. That is the hop a stolen task
// costs a client reading the location it was given. relayed is false when
// the task is to be served here after all: the ticket was relayed to this
// executor already, the task runs (or ran) here, or the coordinator does
// not know it or says no executor holds it (asked again each time the
// executor it named gave nothing: unreachable, or its run failed there):
// the task then runs here again, its files have not changed, and a task
// that fails here too fails with its own error.
func (e *Executor) redirect(stream flight.FlightService_DoGetServer, t cluster.Task, handle string, ticket []byte) (relayed bool, err error) {
	ctx := stream.Context()
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get(cluster.HopHeader)) > 0 {
		return false, nil
	}
	e.mu.Lock()
	_, here := e.started[runKey(t)]
	e.mu.Unlock()
	if here {
		return false, nil
	}
	// A location that sent nothing is named to the coordinator when this
	// asks again: its answer then waits until the scheduler has seen that
	// run end. An executor that died running the task may have died of
	// it (DuckDB crashing on the query's input), and the scheduler, not
	// its readers, decides where it runs next, or fails it: running it
	// here at once ended every executor in turn.
	failedAt := ""
	for range maxWheres {
		loc, err := e.coord.where(ctx, []byte(handle), failedAt)
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case cluster.FailsAnywhere(err):
			return true, err // its run failed on its own SQL, or the scheduler gave up on it
		case err != nil:
			e.log.Debug().Err(err).Msg("asking the coordinator where a task runs failed; running it here")
			return false, nil
		case loc == "" || loc == e.uri || loc == failedAt:
			// Nobody holds it, or it is this one's, or it ended at the
			// executor that gave nothing (gone with its result): it runs
			// here, from its ticket.
			return false, nil
		}
		sent, err := e.relayFrom(ctx, stream, loc, ticket)
		if sent || ctx.Err() != nil || cluster.FailsAnywhere(err) {
			// Its own SQL failed there: it fails alike here.
			return true, err
		}
		// Nothing was sent (its executor is gone, or its run was
		// stopped): ask again.
		failedAt = loc
	}
	return true, fmt.Errorf("%w: task %s/%d could not be read from any of the executors the coordinator named", skeinsql.ErrUnavailable, t.Query, t.Task)
}

// maxWheres is how many times a redirect asks the coordinator where a
// task is (each after the last location sent nothing).
const maxWheres = 5

// relayFrom passes the task's stream at loc on to stream, reporting
// whether anything was sent.
func (e *Executor) relayFrom(ctx context.Context, stream flight.FlightService_DoGetServer, loc string, ticket []byte) (sent bool, err error) {
	c, release, err := e.peers.get(loc)
	if err != nil {
		return false, err
	}
	defer release()
	rctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, cluster.HopHeader, e.id))
	defer cancel()
	from, err := c.DoGet(rctx, &flight.Ticket{Ticket: ticket})
	var first *flight.FlightData
	if err == nil {
		first, err = from.Recv()
	}
	if err != nil {
		return false, err
	}
	for fd := first; ; {
		// fd, decoded by flightwire.Codec, is only this loop's.
		m := flightwire.Message{Descriptor: fd.FlightDescriptor, Header: fd.DataHeader, AppMetadata: fd.AppMetadata, Body: fd.DataBody}
		if err := stream.SendMsg(&m); err != nil {
			return true, err
		}
		if fd, err = from.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return true, nil
			}
			return true, err
		}
	}
}

// coordClient is this executor's client of the coordinator for the calls
// its DoGets make (where a task runs), apart from the report loop's. It
// is closed when the executor stops and its last call has ended: arrow-go's
// client may not be closed while a call uses it.
type coordClient struct {
	e *Executor

	mu     sync.Mutex
	c      flight.Client
	closed bool
	users  int // calls using c
}

// acquire gives the client for one call; release ends the call.
func (cc *coordClient) acquire() (c flight.Client, release func(), err error) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.closed {
		return nil, nil, errClosing
	}
	if cc.c == nil {
		if cc.c, err = cc.e.dialCoordinator(); err != nil {
			return nil, nil, err
		}
	}
	cc.users++
	return cc.c, func() {
		cc.mu.Lock()
		defer cc.mu.Unlock()
		cc.users--
		cc.closeIdle()
	}, nil
}

// where asks the coordinator where the task of handle runs, waiting
// until it has been given to an executor.
func (cc *coordClient) where(ctx context.Context, handle []byte, failedAt string) (string, error) {
	c, release, err := cc.acquire()
	if err != nil {
		return "", err
	}
	defer release()
	e := cc.e
	member, err := e.cfg.Secret.SignMember(cluster.Member{ID: e.id, Location: e.uri, Threads: cap(e.slots), Zone: e.zone})
	if err != nil {
		return "", err
	}
	actx := metadata.AppendToOutgoingContext(ctx, cluster.MemberHeader, string(member))
	if failedAt != "" {
		actx = metadata.AppendToOutgoingContext(actx, cluster.FailedAtHeader, failedAt)
	}
	stream, err := c.DoAction(actx, &flight.Action{Type: cluster.ActionWhere, Body: handle})
	if err != nil {
		return "", err
	}
	res, err := stream.Recv()
	if err != nil {
		return "", err
	}
	return string(res.GetBody()), nil
}

// close takes no new calls, and closes the client once none uses it.
func (cc *coordClient) close() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cc.closed = true
	cc.closeIdle()
}

// closeIdle closes the client of a closed coordClient that no call uses.
// Called with cc.mu held.
func (cc *coordClient) closeIdle() {
	if cc.closed && cc.users == 0 && cc.c != nil {
		_ = cc.c.Close()
		cc.c = nil
	}
}
