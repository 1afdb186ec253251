package duck

import (
	"context"
	"time"
)

// DuckDB checks for an interrupt between vectors while it executes, and
// not at all while it prepares: binding and constant folding run to their
// end. A statement of a few hundred bytes can hold a core for minutes
// either way (a cast to a STRUCT type nested a thousand deep binds in
// 23 s, growing with the cube of the depth; a LIKE of four wildcards over
// an 800-byte constant folds in 100 s, growing with the fourth power of
// its length), past its query's timeout
// and its client's cancel. The process cannot end such a call; it can say
// which statement holds the core. A DB with Config.OnStuck reports a
// statement still preparing Config.StuckAfter after it began, or still
// running that long after it was interrupted, and again when it returns.

// Stuck is a report of a statement DuckDB has not let go of.
type Stuck struct {
	Label Label         // what WithLabel named (empty: the server's own statement)
	Phase string        // "preparing", or "interrupted": running on after an interrupt
	For   time.Duration // how long it has been preparing or interrupted
	Ended bool          // it has returned at last (For is then its whole time)
}

// Label names the statements run under a context in Stuck reports.
type Label struct {
	QueryID, User, SQL string
}

type labelKey struct{}

// maxLabelSQL is how much of a statement's text a Label keeps.
const maxLabelSQL = 200

// WithLabel names the statements run under ctx in Stuck reports.
func WithLabel(ctx context.Context, l Label) context.Context {
	if len(l.SQL) > maxLabelSQL {
		l.SQL = l.SQL[:maxLabelSQL]
	}
	return context.WithValue(ctx, labelKey{}, l)
}

func labelOf(ctx context.Context) Label {
	l, _ := ctx.Value(labelKey{}).(Label)
	return l
}

// watch reports the statement run under ctx as stuck in phase if stop is
// not called within the DB's StuckAfter, and again when stop is called
// after that.
func (db *DB) watch(ctx context.Context, phase string) (stop func()) {
	if db.onStuck == nil {
		return func() {}
	}
	start := time.Now()
	t := time.AfterFunc(db.stuckAfter, func() {
		db.onStuck(Stuck{Label: labelOf(ctx), Phase: phase, For: time.Since(start)})
	})
	return func() {
		if !t.Stop() {
			db.onStuck(Stuck{Label: labelOf(ctx), Phase: phase, For: time.Since(start), Ended: true})
		}
	}
}
