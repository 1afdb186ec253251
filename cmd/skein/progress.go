package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/mattn/go-isatty"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// isTerminal reports whether w is a terminal: a progress bar is drawn
// there, never into a pipe or a file.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// pollEvery is how often a query's progress is asked for.
const pollEvery = 100 * time.Millisecond

// plan gets a query's FlightInfo. With a progress writer it plans with
// PollFlightInfo and draws a bar there while the query's tasks run, until
// the FlightInfo is complete; a server without PollFlightInfo is asked
// with GetFlightInfo.
func (cn *conn) plan(ctx context.Context, query string) (*flight.FlightInfo, error) {
	if cn.progress == nil {
		return cn.c.Execute(ctx, query)
	}
	poll, err := cn.c.ExecutePoll(ctx, query, nil)
	if status.Code(err) == codes.Unimplemented {
		return cn.c.Execute(ctx, query)
	}
	drawn := false
	defer func() {
		if drawn {
			fmt.Fprint(cn.progress, "\r\x1b[K") // the bar goes: the answer follows
		}
	}()
	for err == nil && poll.GetFlightDescriptor() != nil {
		t := time.NewTimer(pollEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			cn.cancel(ctx, poll.GetInfo())
			return nil, ctx.Err()
		case <-t.C:
		}
		drawn = true
		fmt.Fprint(cn.progress, "\r\x1b[K"+progressBar(poll))
		retry := poll.GetFlightDescriptor()
		if poll, err = cn.c.ExecutePoll(ctx, "", retry); err != nil && ctx.Err() != nil {
			cn.cancel(ctx, poll.GetInfo())
		}
	}
	if err != nil {
		return nil, err
	}
	return poll.GetInfo(), nil
}

// progressBar is one line: a bar of the tasks done, their count, and the
// rows the finished ones gave.
func progressBar(poll *flight.PollInfo) string {
	var meta struct {
		Progress struct {
			Tasks     int   `json:"tasks"`
			TasksDone int   `json:"tasks_done"`
			Rows      int64 `json:"rows"`
		} `json:"progress"`
	}
	_ = json.Unmarshal(poll.GetInfo().GetAppMetadata(), &meta)
	const width = 30
	frac := min(max(poll.GetProgress(), 0), 1)
	done := int(frac * width)
	p := meta.Progress
	return fmt.Sprintf("[%s%s] %3.0f%%  %d/%d tasks  %d rows", strings.Repeat("#", done), strings.Repeat(" ", width-done),
		frac*100, p.TasksDone, p.Tasks, p.Rows)
}
