package coordinator

import (
	"fmt"
	"sync"

	"github.com/skeindb/skein/flightsql"
)

// work counts what is running in the dist layer: calls into it and the
// goroutines they leave behind (streams, early task starts). Shutdown
// closes it, which refuses new work and waits for the running to return,
// and only then closes the connections and databases they use.
type work struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

var errShuttingDown = fmt.Errorf("%w: the coordinator is shutting down", flightsql.ErrBusy)

// enter starts a unit of work, or refuses once shutdown began.
func (w *work) enter() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errShuttingDown
	}
	w.wg.Add(1)
	return nil
}

func (w *work) leave() { w.wg.Done() }

// spawn runs f in a goroutine counted as work. Only a caller inside work
// (between enter and leave, or in another spawned f) may spawn: the count
// is then above zero, so close cannot have finished waiting.
func (w *work) spawn(f func()) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		f()
	}()
}

// close refuses new work and waits for the running.
func (w *work) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.wg.Wait()
}
