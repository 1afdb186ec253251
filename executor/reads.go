package executor

import (
	"strings"
	"sync"

	"github.com/skeindb/skein/internal/cluster"
)

// reads follows clients' reads of task results here, for the heartbeats:
// the coordinator keeps a query alive while its endpoints are read, and
// cancels it everywhere when a reader drops its stream (see
// cluster.Member.Reads).
type reads struct {
	mu    sync.Mutex
	open  map[readKey]int // streams open by task
	ended []cluster.Read  // since the last heartbeat
}

type readKey struct {
	query string
	task  int
}

// maxEnded bounds the reads kept for a coordinator that cannot be reached.
const maxEnded = 10000

// begin counts a stream of task t's result as open; end says how it
// ended: read to its end (err nil), dropped by its reader (gone), or
// failed with err.
func (r *reads) begin(t cluster.Task) (end func(err error, gone bool)) {
	k := readKey{t.Query, t.Task}
	r.mu.Lock()
	if r.open == nil {
		r.open = map[readKey]int{}
	}
	r.open[k]++
	r.mu.Unlock()
	return func(err error, gone bool) {
		rd := cluster.Read{Query: k.query, Task: k.task, State: cluster.ReadDone}
		switch {
		case gone:
			rd.State = cluster.ReadDropped
		case err != nil:
			rd.State, rd.Error = cluster.ReadFailed, clipError(err.Error())
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.open[k]--; r.open[k] <= 0 {
			delete(r.open, k)
		}
		if len(r.ended) < maxEnded {
			r.ended = append(r.ended, rd)
		}
	}
}

// clipError bounds an error's text in a heartbeat (of up to maxEnded
// reads).
func clipError(s string) string {
	const most = 2 << 10
	if len(s) <= most {
		return s
	}
	return strings.ToValidUTF8(s[:most], "") + "…"
}

// take gives the reads to report: those ended since the last report, and
// one for each stream still open.
func (r *reads) take() []cluster.Read {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.ended
	r.ended = nil
	for k := range r.open {
		out = append(out, cluster.Read{Query: k.query, Task: k.task, State: cluster.ReadOpen})
	}
	return out
}

// hasEnded reports whether reads have ended since the last report.
func (r *reads) hasEnded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ended) > 0
}

// putBack keeps ended reads a heartbeat could not deliver for the next.
func (r *reads) putBack(rs []cluster.Read) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rd := range rs {
		if rd.State != cluster.ReadOpen && len(r.ended) < maxEnded {
			r.ended = append(r.ended, rd)
		}
	}
}
