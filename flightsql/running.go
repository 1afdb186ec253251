package flightsql

import (
	"fmt"
	"sync"
)

// running bounds the calls of one user that run SQL at once (planning or
// running a statement, streaming a result, loading data), so that one user
// cannot take every DuckDB thread from the others. max 0 is no bound.
type running struct {
	max    int
	mu     sync.Mutex
	byUser map[string]int
}

// sqlMethods are the calls that run SQL.
var sqlMethods = map[string]bool{
	flightMethod + "GetFlightInfo":  true,
	flightMethod + "PollFlightInfo": true,
	flightMethod + "DoGet":          true,
	flightMethod + "DoPut":          true,
	flightMethod + "DoExchange":     true,
}

func (r *running) acquire(id *identity, method string) (release func(), err error) {
	if !sqlMethods[method] {
		return func() {}, nil
	}
	return r.take(id)
}

// take counts a call of id's that runs SQL, an action that prepares a
// statement too (CreatePreparedStatement): DuckDB's prepare binds and
// plans it, which can take as long as running some queries, and a
// tester found prepares uncounted.
func (r *running) take(id *identity) (release func(), err error) {
	if r.max <= 0 || id.member {
		return func() {}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.byUser[id.user] >= r.max {
		return nil, fmt.Errorf("%w: user %s has %d queries running, the limit (--max-queries-per-user)", ErrBusy, id.user, r.max)
	}
	r.byUser[id.user]++
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.byUser[id.user]--; r.byUser[id.user] == 0 {
			delete(r.byUser, id.user)
		}
	}, nil
}
