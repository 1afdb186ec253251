package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// Distributed CREATE TABLE ... AS. Where the query distributes, the
// executors compute it as they would answer it, and the coordinator
// appends the answer into the new table as it streams in, all in one
// transaction of the session's connection: the table is created empty
// first (DuckDB's own CREATE TABLE ... AS ... WITH NO DATA, so its columns
// and types are exactly DuckDB's) and committed only when every task has
// succeeded and every row is in. A failure rolls it all back: no table,
// or, for CREATE OR REPLACE, the old one. IF NOT EXISTS over a table that
// exists does nothing and runs no task, as in DuckDB. TEMP tables, WITH
// NO DATA, tables named as a TEMP table or view of the session is, and
// queries that do not distribute are DuckDB's, on the coordinator, as any
// statement.

// createAs runs a CREATE TABLE ... AS across the cluster if it is one that
// distributes; ok is false to leave the statement to DuckDB.
func (d *dist) createAs(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string) (n int64, ok bool, err error) {
	c, ok := duck.ParseCreateAs(query)
	if !ok || c.Temporary || c.NoData || flightsql.RoleFrom(ctx).ReadOnly() {
		return 0, false, nil
	}
	ready := d.reg.ready()
	if len(ready) == 0 || d.sharesCores(ready) {
		return 0, false, nil
	}
	if inTxn, err := conn.InTransaction(ctx); err != nil || inTxn {
		return 0, err != nil, err // a transaction's statement runs in it, here
	}
	// The answer is appended into the table by its name as given, which
	// DuckDB binds to a TEMP table of that name first: the rows went into
	// the session's TEMP table, the new table left empty (a tester's).
	if shadowed, err := conn.Shadowed(ctx, c.Name); err != nil || shadowed {
		return 0, err != nil, err
	}
	if err := d.work.enter(); err != nil {
		return 0, true, err
	}
	defer d.work.leave()
	w, ok, err := writable(ctx, conn, query, c.Query)
	if !ok || err != nil {
		return 0, ok, err
	}
	log := flightsql.QueryLog(d.log, tag.ID, tag.Trace)
	p, err := d.plan(ctx, conn, c.Query, w.schema)
	if errors.Is(err, partition.ErrLocal) {
		log.Debug().Str("reason", err.Error()).Msg("create table as runs local")
		return 0, false, nil
	}
	if err != nil {
		return 0, true, err
	}
	if p.mode == partition.ScatterMerge && w.lossy {
		// The merge's answer, made here, would reach the table through
		// DuckDB's Arrow export, which does not give such a column
		// back (a BIT's bytes become its bits): DuckDB makes it.
		log.Debug().Msg("create table as runs local: a merged column of a type Arrow does not give back")
		return 0, false, nil
	}
	var deadline time.Time
	if d.limits.QueryTimeout > 0 {
		deadline = time.Now().Add(d.limits.QueryTimeout)
	}
	qid := tag.ID
	role := flightsql.RoleFrom(ctx)
	// The coordinator reads the results, as in proxy mode, into a table:
	// as a merge's, they carry the types Arrow would not give back as
	// their text or marked (a BIT's bytes were appended as its bits).
	all, execs, err := d.sign(p, cluster.Task{Query: qid, Trace: tag.Trace, User: user, Role: role, Deadline: deadline, Merged: true},
		d.codecsFor(ctx, ready, false))
	if err != nil {
		return 0, true, err
	}
	if execs == nil {
		return 0, false, nil
	}
	if _, err := conn.Exec(ctx, "BEGIN TRANSACTION"); err != nil {
		return 0, true, err
	}
	committed := false
	defer func() {
		if !committed {
			_, rbErr := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
			err = errors.Join(err, rbErr)
		}
	}()
	// The update count is the rows appended, as DuckDB's for the
	// statement (the Count of its result) when it runs here.
	if _, err := conn.Exec(ctx, c.Empty(w.local)); err != nil {
		var de *duck.Error
		if c.IfNotExists && errors.As(err, &de) && de.Kind == duck.KindAlreadyExists {
			return 0, true, nil // nothing to do, as in DuckDB
		}
		return 0, true, err
	}
	n, err = d.appendAnswer(ctx, conn, tag, user, query, c.Table, p, all, execs, deadline, func() error {
		_, err := conn.Exec(ctx, "COMMIT")
		committed = err == nil
		return err
	})
	if err != nil {
		return 0, true, err
	}
	return n, true, nil
}

// appendAnswer runs a planned query's tasks and appends its answer, read
// as one stream (its gather stage's results one after the other, or the
// merge of them), into table; then commit ends the transaction.
func (d *dist) appendAnswer(req context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query, table string,
	p *planned, all []string, allExecs [][2]string, deadline time.Time, commit func() error) (n int64, err error) {
	qid, log := tag.ID, flightsql.QueryLog(d.log, tag.ID, tag.Trace)
	// Read here as a stream is: a draining coordinator waits for it (it
	// stopped serving under one, its executors then dead to it, and the
	// CREATE TABLE failed; a tester's).
	d.streams.Add(1)
	defer d.streams.Add(-1)
	explained := p.explain(allExecs[len(allExecs)-len(p.tasks):])
	explained.ResultMode, explained.Endpoints = flightsql.ResultSingle, 1
	meta, err := json.Marshal(explained)
	if err != nil {
		return 0, err
	}
	final := p.final(len(all))
	// The query ends (its tasks cancelled everywhere, what they hold
	// dropped) when its answer is read, or at its first failure.
	d.track(qid, all[0], final)
	d.hist.started(tag, user, query, "write "+p.modeName(), len(all), true, false)
	d.hist.describe(qid, flightsql.ResultSingle, &explained, allExecs, len(meta))
	d.hist.merging(qid) // read here at once: never abandoned unread
	tasks, stages := p.jobOf(all, allExecs)
	d.sched.add(qid, user, tasks, stages)
	ctx, cancel := d.queryContext(req, qid, deadline)
	defer cancel()
	defer func() {
		err = d.limits.Expired(ctx, qid, err)
		d.hist.finished(qid, n, 0, err)
		d.read(qid, -1, err)
		log.Info().Int("tasks", len(all)).Int64("rows", n).Err(err).Msg("distributed create table as")
	}()
	handles := all[len(all)-len(p.tasks):]
	var rdr array.RecordReader
	if p.mode == partition.ScatterMerge {
		m := merge{Query: qid, Trace: tag.Trace, User: user, Role: flightsql.RoleFrom(req), Tasks: handles,
			Deadline: deadline, SQL: p.merge, Rounds: p.rounds, Now: p.instant}
		answer, done, err := d.mergeAnswer(ctx, m)
		if err != nil {
			return 0, err
		}
		defer done()
		answer.Retain() // released by done, and by the relabeling below
		rdr = answer
	} else {
		c, err := d.concatenate(ctx, handles)
		if err != nil {
			return 0, err
		}
		rdr = c
	}
	answer := relabel(rdr, flightsql.ResultSchema(rdr.Schema()))
	defer answer.Release()
	// A merge's answer, made here: a column Arrow does not give back (a
	// UHUGEINT of 2^127 or more, negative as a decimal) is marked, to be
	// cast back as it is appended; the tasks' results come marked
	// (cluster.Task.Merged).
	answer.schema = duck.KeepTypes(rdr, answer.schema)
	if n, err = conn.Append(ctx, table, answer); err != nil {
		return 0, fmt.Errorf("query %s: %w", qid, err)
	}
	if err := commit(); err != nil {
		return 0, err
	}
	return n, nil
}
