package coordinator

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// A query's plan is kept by its SQL text while nothing it was planned from
// can have changed, and a query of the same text then takes it whole: no
// AST decoded, no analysis, no task templates, no pruning, no plan cache
// key. What the plan follows from, and how each is checked:
//   - the text: the key;
//   - the catalog as the session sees it (views and their definitions,
//     tables, the session's TEMP objects, its search path and settings):
//     its catalog version (duck.CatalogVersion) is in the key. Any
//     statement but a SELECT, on any session, moves every session's
//     version on, and a session that ran one has a version of its own, so
//     a view replaced by another session, or a TEMP view of the same name
//     in another session, is another key;
//   - the files: only a text that reads nothing but files named by
//     constants, directly, through views or through its WITHs
//     (partition.TextReads), is kept,
//     and each of its patterns is listed again at every query (the path,
//     size and modification time of every file it matches) and compared
//     with the listing the plan was made from: a file added, removed or
//     rewritten under a glob plans the text again;
//   - the cluster: how many executor threads the tasks are cut for
//     (slots), whether one executor runs it whole (whole.go), and whether
//     executors are measured unequal (adapt.go), in the key;
//   - the result schema the front door bound, in the key.
// Settings of the coordinator (--task-rows, --split-min-rows, exchanges)
// are the process's. What is left to do for each query is the listing,
// the executors' assignment and the tickets (Plan). A plan is kept from
// its text's second planning on: a text planned once only (a lookup with
// a new key, whose plan the plan cache reuses by shape) pays nothing for
// this, not even the key.

// Bounds of the kept plans: by count and bytes (a plan costs its text,
// its SQL and slices, and its listing).
const (
	maxTextPlans     = 1024
	maxTextPlanBytes = 32 << 20
)

// textKey is what a kept plan is looked up by.
type textKey struct {
	query   string
	catalog duck.CatalogVersion
	schema  string
	slots   int
	one     bool // one executor ready (wholeReason)
	unequal bool // executors measured unequal (d.slices)
}

// schemaKey is what the result schema of a kept plan is looked up by
// before the text is prepared (PlanKept): the schema follows from the
// text, the catalog as the connection sees it and the files, which
// PlanKept lists again.
type schemaKey struct {
	query   string
	catalog duck.CatalogVersion
}

// keptSchema is a text's result schema as prepared between two listings
// of the same files, and the kept plan whose hit that was: PlanKept gives
// the schema with that plan alone, while its files stay as listed.
type keptSchema struct {
	schema *arrow.Schema
	p      *planned
}

// textPlan is a kept plan and the listing of every pattern its planning
// read, by pattern.
type textPlan struct {
	p     *planned
	files map[string][]fileStat
}

func textPlanCost(k textKey, v textPlan) int64 {
	n := int64(len(k.query)+len(k.schema)+len(v.p.merge)+len(v.p.finalHere)) + 256
	sqls := map[string]bool{}
	count := func(tasks []plannedTask) {
		for _, t := range tasks {
			n += 64 + int64(len(t.slice.File))
			for _, f := range t.slice.Files {
				n += int64(len(f))
			}
			for _, l := range t.literals {
				n += int64(len(l))
			}
			if !sqls[t.sql] {
				sqls[t.sql] = true
				n += int64(len(t.sql))
			}
		}
	}
	count(v.p.tasks)
	for _, s := range v.p.stages {
		count(s.tasks)
		n += 128 + int64(len(s.stage.What))
	}
	for p, fs := range v.files {
		n += int64(len(p))
		for _, f := range fs {
			n += int64(len(f.path)) + 16
		}
	}
	return n
}

// textKeyOf is the key of the query's plan now.
func (d *dist) textKeyOf(conn *duck.Conn, query string, schema *arrow.Schema) textKey {
	return textKey{query: query, catalog: conn.CatalogVersion(), schema: schema.String(), slots: d.slots(),
		one: d.planSlots == 0 && len(d.reg.ready()) == 1, unequal: d.sched.unequal(d.readyIDs())}
}

// plan is the query's plan for this run: at its instant (planned.at),
// taken before it is planned, as DuckDB takes it at the statement's
// start (see instant).
func (d *dist) plan(ctx context.Context, conn *duck.Conn, query string, schema *arrow.Schema) (*planned, error) {
	now := time.Now()
	p, err := d.keptPlan(ctx, conn, query, schema)
	if err != nil {
		return nil, failedInTransaction(ctx, conn, err)
	}
	if !p.ticketsFit() {
		return nil, errTicketsTooLarge
	}
	if now, err = instant(ctx, conn, p, now); err != nil {
		return nil, err
	}
	return p.at(now), nil
}

// failedInTransaction is err, a planning's failure, unless a statement of
// the planning failed with a DuckDB error inside the session's open
// transaction, which DuckDB then aborted: the query would then run local
// and meet only "Current transaction is aborted" (a glob matching a file
// that is not Parquet, a tester's), so the client gets that statement's
// error, as DuckDB alone gives the query's own.
func failedInTransaction(ctx context.Context, conn *duck.Conn, err error) error {
	var de *duck.Error
	if !errors.Is(err, partition.ErrLocal) || !errors.As(err, &de) {
		return err
	}
	var ae *duck.Error
	if _, aerr := scalar[int32](ctx, conn, "SELECT 1"); errors.As(aerr, &ae) && ae.Kind == duck.KindConflict {
		return de
	}
	return err
}

// instant is the query's now() for plan p, run from time start: the start
// of the session's open transaction, as DuckDB's now() is in one (a client
// of ADBC's default, autocommit off, has one open from its connect: its
// split queries took the time each was planned, seconds after its
// unsplit SELECT now()); else start. It asks the session's DuckDB only
// when p takes the instant: now() there is its transaction's start, or,
// in autocommit, later than start.
func instant(ctx context.Context, conn *duck.Conn, p *planned, start time.Time) (time.Time, error) {
	if !p.now {
		return start, nil
	}
	t, err := scalar[time.Time](ctx, conn, "SELECT now()") // its transaction's start, in one
	if err != nil {
		return start, err
	}
	if t.Before(start) {
		return t, nil
	}
	return start, nil
}

// keptPlan is the query's plan: the one kept for its text when nothing it
// was planned from changed, else planned (planText) and kept when it may
// be.
func (d *dist) keptPlan(ctx context.Context, conn *duck.Conn, query string, schema *arrow.Schema) (*planned, error) {
	seen := d.newListings()
	if p, ok := d.parsed.get(query); !ok || p.bound {
		// Never planned (a lookup's new key, mostly): nothing is kept.
		p, _, err := d.planText(ctx, conn, query, schema, seen)
		return p, err
	}
	key := d.textKeyOf(conn, query, schema)
	kept, ok := d.textPlans.get(key)
	if ok {
		if d.unchanged(ctx, conn, seen, kept.files) {
			d.textLookups.WithLabelValues("hit").Inc()
			// The front door prepared the text for schema after the
			// plan's listing and before this one, which finds the same
			// files, at the same catalog version: the schema of these
			// files, which PlanKept may give while they stay (a schema
			// kept at the planning, from a prepare before its listing,
			// could be of files changed in between).
			d.textSchemas.put(schemaKey{query: query, catalog: key.catalog}, keptSchema{schema: schema, p: kept.p})
			return kept.p, nil
		}
		d.textLookups.WithLabelValues("stale").Inc()
	} else {
		d.textLookups.WithLabelValues("miss").Inc()
	}
	p, keep, err := d.planText(ctx, conn, query, schema, seen)
	if err == nil && keep {
		d.textPlans.put(key, textPlan{p: p, files: maps.Clone(seen.stats)})
	}
	return p, err
}

// unchanged lists every pattern of a kept plan again, into seen (which a
// planning of the text again then uses), and says whether each matches
// the files it did, each of the same size and modification time.
func (d *dist) unchanged(ctx context.Context, conn *duck.Conn, seen listings, files map[string][]fileStat) bool {
	same := true
	for p, was := range files {
		now, err := seen.stat(ctx, conn, []string{p})
		if err != nil {
			return false
		}
		same = same && slices.Equal(now, was)
	}
	return same
}
