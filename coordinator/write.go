package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// Distributed writes. COPY (query) TO 'dir/' (FORMAT parquet) writes a
// directory of files: where the query distributes, every task of its
// gather stage writes its own file, so the query's answer never passes
// through one node. The statement is recognised only in DuckDB's own
// directory form (PER_THREAD_OUTPUT) or where DuckDB alone would fail (a
// target ending in '/' or naming an existing directory); a target naming a
// file is one file, written by DuckDB on the coordinator as always.
//
// Every task writes into a hidden directory beside its files-to-be,
// <dir>/.skein-<query>/, and only when every task has succeeded are the
// files moved into <dir>: a failed write leaves no file behind (the
// hidden directory is removed, and <dir> too if the write created it).
// The coordinator moves the files, so the executors and the coordinator
// must see the directory at the same path (one machine, or a shared
// mount), as they must see the files they read.

// tempPrefix starts the name of a write's hidden directory.
const tempPrefix = ".skein-"

// copyPlan is a COPY to a directory, as Skein runs it.
type copyPlan struct {
	query string // the query whose rows are written
	dir   string // absolute target directory
	// mode is what happens to files already in dir: "" (an error if there
	// are any), "overwrite" (replaced) or "append" (kept beside).
	mode string
	opts []string // the options each part's COPY passes to DuckDB
}

// compressions are the Parquet codecs a distributed COPY passes on.
var compressions = map[string]bool{"uncompressed": true, "snappy": true, "gzip": true, "zstd": true,
	"lz4": true, "lz4_raw": true, "brotli": true}

// readCopy recognises a COPY that writes a directory of Parquet files with
// options Skein passes on; false leaves the statement to DuckDB.
func readCopy(sql string) (copyPlan, bool) {
	c, ok := duck.ParseCopy(sql)
	if !ok || strings.HasPrefix(c.Target, "~") || strings.Contains(c.Target, "://") {
		return copyPlan{}, false
	}
	dir, err := filepath.Abs(c.Target)
	if err != nil {
		return copyPlan{}, false
	}
	p := copyPlan{query: c.Query, dir: dir}
	isDir := strings.HasSuffix(c.Target, "/")
	parquet := false
	for _, o := range c.Options {
		switch o.Name {
		case "format":
			if parquet = strings.EqualFold(o.Value, "parquet"); !parquet {
				return copyPlan{}, false
			}
			p.opts = append(p.opts, "FORMAT parquet")
		case "compression":
			v := strings.ToLower(o.Value)
			if !compressions[v] {
				return copyPlan{}, false
			}
			p.opts = append(p.opts, "COMPRESSION "+v)
		case "compression_level", "row_group_size", "row_group_size_bytes":
			n, err := strconv.ParseInt(o.Value, 10, 64)
			if o.Kind != 'w' || err != nil || n < 0 {
				return copyPlan{}, false
			}
			p.opts = append(p.opts, fmt.Sprintf("%s %d", strings.ToUpper(o.Name), n))
		case "per_thread_output", "overwrite", "overwrite_or_ignore", "append":
			on, ok := boolOption(o)
			if !ok {
				return copyPlan{}, false
			}
			switch {
			case !on:
			case o.Name == "per_thread_output":
				isDir = true
			case o.Name == "overwrite":
				p.mode = "overwrite"
			case p.mode == "":
				// The parts' names are new, so keeping what has another
				// name (OVERWRITE_OR_IGNORE) is appending.
				p.mode = "append"
			}
		default:
			return copyPlan{}, false
		}
	}
	if !isDir {
		fi, err := os.Stat(dir)
		isDir = err == nil && fi.IsDir()
	}
	return p, isDir && parquet
}

func boolOption(o duck.CopyOption) (on, ok bool) {
	switch {
	case o.Kind == 0:
		return true, true
	case o.Kind == 'w' && (o.Value == "true" || o.Value == "1"):
		return true, true
	case o.Kind == 'w' && (o.Value == "false" || o.Value == "0"):
		return false, true
	}
	return false, false
}

func partName(query string, part int) string { return fmt.Sprintf("part-%s-%05d.parquet", query, part) }

// isPart says whether name, in a write's hidden directory, is a part
// (partName), not the file of a run still writing one (duck.FileRun).
func isPart(name string) bool {
	return strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".parquet")
}

// Write implements flightsql.Cluster.
func (d *dist) Write(ctx context.Context, conn *duck.Conn, tag flightsql.QueryTag, user, query string) (int64, bool, error) {
	if n, ok, err := d.createAs(ctx, conn, tag, user, query); ok {
		return n, true, err
	}
	c, ok := readCopy(query)
	if !ok {
		return 0, false, nil
	}
	if inTxn, err := conn.InTransaction(ctx); err != nil || inTxn {
		return 0, err != nil, err // a transaction's statement runs in it, here
	}
	if err := d.work.enter(); err != nil {
		return 0, true, err
	}
	defer d.work.leave()
	role := flightsql.RoleFrom(ctx)
	if role.ReadOnly() {
		return 0, true, fmt.Errorf("%w: user %s has role %s, which may not run COPY", flightsql.ErrDenied, user, role)
	}
	w, ok, err := writable(ctx, conn, query, c.query)
	if !ok || err != nil {
		return 0, ok, err
	}
	created, err := c.prepareDir()
	if err != nil {
		return 0, true, err
	}
	qid := tag.ID
	tmp := filepath.Join(c.dir, tempPrefix+qid)
	if err := d.journal.begin(qid, tmp, created); err != nil {
		c.abandon("", created)
		return 0, true, err
	}
	if created, err = c.makeTemp(tmp, created); err != nil {
		d.journal.end(qid)
		c.abandon("", created)
		return 0, true, fmt.Errorf("COPY: %w", err)
	}
	n, parts, err := d.writeParts(ctx, conn, c, user, query, tag, tmp, w.local, w.schema)
	if err == nil {
		err = c.publish(d.journal, qid, tmp, parts)
	}
	if errors.Is(err, errHalfPublished) {
		return 0, true, err // its journal entry stays, for the next start
	}
	if err != nil {
		c.abandon(tmp, created)
	}
	d.journal.end(qid)
	if err != nil {
		return 0, true, err
	}
	return n, true, nil
}

// errHalfPublished is a committed write whose publication failed midway
// (a rename, a removal): its journal entry stays, and the coordinator's
// next start finishes it.
var errHalfPublished = fmt.Errorf("%w: COPY: every part was written, and moving them into the target failed midway; the coordinator's next start finishes it", flightsql.ErrUnavailable)

// writeJournal names, a file each, the writes in progress: a coordinator
// killed mid-COPY left its hidden directory in the target with the parts
// written so far, never removed, and read_parquet('dir/**') read its
// 75,325 rows beside the next COPY's (found 2026-12-05). An entry names
// the write's hidden directory until the write publishes; the next start
// then removes the directory. Once every part is written, the entry
// becomes the write's commit (a journalEntry with Publish): where the
// parts go and where OVERWRITE set the target's files aside, which the
// next start finishes; an entry not yet committed is undone. A coordinator killed as it published an OVERWRITE over
// 20,000 files had removed 279 of them and moved in no part, and the
// start after removed the parts: the directory held neither the old rows
// nor the new (a tester's, 2026-12-06).
type writeJournal struct{ dir string }

// journalEntry is a write's entry once it publishes: as OVERWRITE sets the
// target's files aside, then as it commits (Publish). An entry of a write
// still writing is its hidden directory's path alone.
type journalEntry struct {
	Publish bool   `json:"publish"`
	Tmp     string `json:"tmp"` // the write's hidden directory, its parts in it
	Dir     string `json:"dir"` // the target directory
	// Aside is the hidden directory the files OVERWRITE replaces are
	// moved into, before the write commits: moved back if it does not
	// (undo), removed once it has (finish). An entry that cannot be moved
	// (a mount point) fails the write with the directory as it was,
	// where removing the files one by one had removed some before one
	// failed (a tester's).
	Aside string `json:"aside,omitempty"`
	// Created says the write made Dir: undone, it removes Dir if empty,
	// as a failed write does (a coordinator killed mid-COPY left the
	// empty target its write had made; a tester's, 2026-12-06).
	Created bool `json:"created,omitempty"`
}

// begin records that query qid writes its parts in tmp, in a target
// directory the write made if created.
func (j writeJournal) begin(qid, tmp string, created bool) error {
	if err := os.MkdirAll(j.dir, 0o700); err != nil {
		return fmt.Errorf("COPY: the write journal: %w", err)
	}
	return j.record(qid, journalEntry{Tmp: tmp, Dir: filepath.Dir(tmp), Created: created})
}

// commit records that query qid's write publishes as e says: from now on
// a start finishes it rather than undoing it.
func (j writeJournal) commit(qid string, e journalEntry) error {
	e.Publish = true
	return j.record(qid, e)
}

// record replaces qid's entry with e.
func (j writeJournal) record(qid string, e journalEntry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("COPY: the write journal: %w", err)
	}
	return j.write(qid, b)
}

// write replaces qid's entry with b whole (written aside, synced, renamed
// over it): a crash leaves the entry before or after, never half of it.
func (j writeJournal) write(qid string, b []byte) error {
	path := filepath.Join(j.dir, qid)
	f, err := os.CreateTemp(j.dir, "."+qid+"-")
	if err == nil {
		_, err = f.Write(b)
		if serr := f.Sync(); err == nil {
			err = serr
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}
	if err != nil {
		return fmt.Errorf("COPY: the write journal: %w", err)
	}
	return nil
}

// end forgets qid's write, its hidden directory published or removed.
func (j writeJournal) end(qid string) { _ = os.Remove(filepath.Join(j.dir, qid)) }

// recover finishes the writes a previous run committed (finish), removes
// the hidden directories of those it left writing, and forgets them.
func (j writeJournal) recover(log zerolog.Logger) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return // none yet
	}
	for _, e := range entries {
		entry := filepath.Join(j.dir, e.Name())
		if strings.HasPrefix(e.Name(), ".") { // an entry being replaced
			_ = os.Remove(entry)
			continue
		}
		b, err := os.ReadFile(entry)
		if err != nil {
			continue
		}
		var pub journalEntry
		if json.Unmarshal(b, &pub) == nil && pub.Tmp != "" {
			switch {
			case !pub.hidden(pub.Tmp) || pub.Aside != "" && !pub.hidden(pub.Aside):
				log.Warn().Str("entry", entry).Msg("a write journal entry that names no write's hidden directory: ignored")
			case pub.Publish:
				if err := pub.finish(); err != nil {
					log.Warn().Err(err).Str("dir", pub.Dir).Msg("finishing the publication of a write a previous run committed")
					continue
				}
				log.Info().Str("dir", pub.Dir).Msg("finished publishing a write a previous run committed")
			default:
				if err := pub.undo(); err != nil {
					log.Warn().Err(err).Str("dir", pub.Dir).Msg("putting back the files a write a previous run left unfinished had set aside")
					continue
				}
				log.Info().Str("dir", pub.Dir).Msg("undid a write a previous run left unfinished")
			}
			_ = os.Remove(entry)
			continue
		}
		if tmp := string(b); strings.HasPrefix(filepath.Base(tmp), tempPrefix) {
			if err := os.RemoveAll(tmp); err != nil {
				log.Warn().Err(err).Str("dir", tmp).Msg("removing the parts of a write a previous run left")
				continue
			}
			log.Info().Str("dir", tmp).Msg("removed the parts of a write a previous run left unfinished")
		}
		_ = os.Remove(entry)
	}
}

// hidden says whether path is a write's hidden directory in e's target.
func (e journalEntry) hidden(path string) bool {
	return strings.HasPrefix(filepath.Base(path), tempPrefix) && filepath.Dir(path) == filepath.Clean(e.Dir)
}

// finish publishes a committed write: moves its parts from its hidden
// directory into the target, then removes that directory and the files
// it replaced (Aside). Each step may have been done before (a crash
// between them, or during this one): what was moved is no longer where
// it was, and what is gone stays gone.
func (e journalEntry) finish() error {
	if err := moveAll(e.Tmp, e.Dir, isPart); err != nil {
		return err
	}
	if e.Aside != "" {
		if err := os.RemoveAll(e.Aside); err != nil {
			return fmt.Errorf("COPY OVERWRITE: %w", err)
		}
	}
	return os.RemoveAll(e.Tmp)
}

// undo puts back the files of the target a write that did not commit set
// aside, and removes its hidden directory, and the target if the write
// made it and it is empty.
func (e journalEntry) undo() error {
	if e.Aside != "" {
		if err := moveAll(e.Aside, e.Dir, func(string) bool { return true }); err != nil {
			return err
		}
		if err := os.Remove(e.Aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("COPY: %w", err)
		}
	}
	if err := os.RemoveAll(e.Tmp); err != nil {
		return err
	}
	if e.Created {
		_ = os.Remove(e.Dir) // not when something else was put there meanwhile
	}
	return nil
}

// moveAll moves the entries of from that move says to into to (none if
// from is gone).
func moveAll(from, to string, move func(name string) bool) error {
	entries, err := os.ReadDir(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	for _, f := range entries {
		if !move(f.Name()) {
			continue // a run's file, not moved to its part (duck.FileRun)
		}
		if err := os.Rename(filepath.Join(from, f.Name()), filepath.Join(to, f.Name())); err != nil {
			return fmt.Errorf("COPY: %w", err)
		}
	}
	return nil
}

// writable prepares a statement that writes a query's rows, and the
// query: DuckDB prepares the statement as given (the guard checks what it
// reads and writes; a statement DuckDB refuses is left to fail as it
// always did), then the query, which must give rows without parameters.
// It returns the query's schema and its SQL from its AST, and whether a
// column's values would not come back from DuckDB's Arrow export as
// themselves (duck.Stmt.ExchangeTypes: a BIT, a TIME WITH TIME ZONE); ok
// is false to leave the statement to DuckDB.
func writable(ctx context.Context, conn *duck.Conn, stmt, query string) (w written, ok bool, err error) {
	st, err := conn.Describe(ctx, stmt)
	if err != nil {
		return w, false, nil
	}
	_ = st.Close()
	inner, err := conn.Describe(ctx, query)
	if err != nil {
		return w, false, nil
	}
	usable := inner.ReturnsRows && inner.Resolved && inner.Params.NumFields() == 0
	w.schema = inner.Schema
	texts, _ := inner.ExchangeTypes()
	w.lossy = len(texts) > 0
	_ = inner.Close()
	if !usable {
		return w, false, nil
	}
	ast, err := serialize(ctx, conn, query)
	if errors.Is(err, partition.ErrLocal) {
		return w, false, nil // too large to plan: DuckDB runs the statement
	}
	if err != nil {
		return w, true, err
	}
	w.local, err = deserialize(ctx, conn, []byte(ast))
	if err != nil || w.local == "" {
		return w, false, nil // not a query the AST serializes: DuckDB runs the statement
	}
	return w, true, nil
}

// written is what writable says of a write's query.
type written struct {
	schema *arrow.Schema
	local  string // its SQL from its AST
	lossy  bool   // a column Arrow does not give back as itself
}

// writeParts runs the write's tasks, across executors where the query
// distributes, else as one part here, and returns the rows written and
// how many parts.
func (d *dist) writeParts(ctx context.Context, conn *duck.Conn, c copyPlan, user, query string, tag flightsql.QueryTag,
	tmp, local string, schema *arrow.Schema) (int64, int, error) {
	qid, log := tag.ID, flightsql.QueryLog(d.log, tag.ID, tag.Trace)
	var p *planned
	if len(d.reg.ready()) > 0 {
		var err error
		p, err = d.plan(ctx, conn, c.query, schema)
		if err != nil && !errors.Is(err, partition.ErrLocal) {
			return 0, 0, err
		}
		if err != nil || p.mode != partition.Scatter {
			// Its answer is made on one node (a merge): written there.
			log.Debug().Msg("write runs local: its query does not distribute without a merge")
			p = nil
		}
	}
	if p != nil {
		// Each task writes a part of its own: SQL of this query's, in a
		// copy, since a plan may be kept for its text (textplan.go).
		tasks := slices.Clone(p.tasks)
		for i := range tasks {
			tasks[i].write = &cluster.PartWrite{Path: filepath.Join(tmp, partName(qid, i)), Options: c.opts}
		}
		p = p.withGather(tasks)
		var deadline time.Time
		if d.limits.QueryTimeout > 0 {
			deadline = time.Now().Add(d.limits.QueryTimeout)
		}
		handles, execs, err := d.sign(p, cluster.Task{Query: qid, Trace: tag.Trace, User: user, Role: flightsql.RoleFrom(ctx), Deadline: deadline}, codecs{})
		if err != nil {
			return 0, 0, err
		}
		if execs != nil {
			d.hist.started(tag, user, query, "write "+p.modeName(), len(handles), true, false)
			// A part written twice would be written over: no second runs.
			tasks, stages := p.jobOf(handles, execs)
			for i := range stages {
				stages[i].spec = false
			}
			d.sched.add(qid, user, tasks, stages)
			n, err := d.gatherCounts(ctx, qid, handles[len(handles)-len(p.tasks):], deadline)
			d.hist.finished(qid, n, 0, err)
			log.Info().Int("tasks", len(handles)).Int64("rows", n).Err(err).Msg("distributed write")
			return n, len(p.tasks), err
		}
	}
	// Bounded by --query-timeout as every write is: this one ran on past
	// it (a tester's: 13 s under a 3 s timeout).
	var deadline time.Time
	if d.limits.QueryTimeout > 0 {
		deadline = time.Now().Add(d.limits.QueryTimeout)
	}
	qctx, cancel := d.queryContext(ctx, qid, deadline)
	defer cancel()
	done := d.Local(tag, user, query)
	n, err := conn.Exec(qctx, duck.CopySQL(local, filepath.Join(tmp, partName(qid, 0)), c.opts))
	if err != nil {
		err = d.limits.Expired(qctx, qid, err)
	}
	done(n, err)
	return n, 1, err
}

// gatherCounts runs the write tasks of the gather stage, all at once, and
// sums the rows each wrote. The first failure cancels the others, and the
// call returns only when every one has stopped.
func (d *dist) gatherCounts(req context.Context, qid string, handles []string, deadline time.Time) (int64, error) {
	ctx, cancel := d.queryContext(req, qid, deadline)
	defer cancel()
	var total, held atomic.Int64
	errs := make([]error, len(handles))
	var wg sync.WaitGroup
	for i, h := range handles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			recs, _, err := d.fetchTask(ctx, []byte(h), -1, qid, &held)
			for _, r := range recs {
				if err == nil {
					err = addCount(&total, r)
				}
				r.Release()
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		if req.Err() == nil && ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// Tasks stopped because one failed: report that one.
			for _, e := range errs {
				if e != nil && !errors.Is(e, context.Canceled) && status.Code(e) != codes.Canceled {
					return 0, fmt.Errorf("query %s: %w", qid, e)
				}
			}
		}
		return 0, d.limits.Expired(ctx, qid, fmt.Errorf("query %s: %w", qid, err))
	}
	return total.Load(), nil
}

// addCount adds the Count a task's COPY answered.
func addCount(total *atomic.Int64, r arrow.RecordBatch) error {
	if r.NumCols() != 1 {
		return fmt.Errorf("a write task answered %d columns, not its count", r.NumCols())
	}
	counts, ok := r.Column(0).(*array.Int64)
	if !ok {
		return fmt.Errorf("a write task answered %s, not its count", r.Column(0).DataType())
	}
	for i := range counts.Len() {
		total.Add(counts.Value(i))
	}
	return nil
}

// prepareDir makes the target directory ready for the parts: it creates
// it (its parent must exist, as for DuckDB) or checks that it may be
// written, as DuckDB's COPY to a directory does: files there are an error
// unless OVERWRITE or APPEND (or OVERWRITE_OR_IGNORE) says what to do.
func (c copyPlan) prepareDir() (created bool, err error) {
	err = os.Mkdir(c.dir, 0o755)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		// As DuckDB's COPY to a file in a directory that is not there
		// (it was Internal).
		return false, fmt.Errorf("%w: COPY: the directory %s does not exist, to make %s in", flightsql.ErrNotFound, filepath.Dir(c.dir), filepath.Base(c.dir))
	case errors.Is(err, syscall.ENOTDIR):
		// As DuckDB's "Not a directory" (it was Internal).
		return false, fmt.Errorf("%w: COPY: %s is under a file, not a directory", flightsql.ErrInvalid, c.dir)
	case !errors.Is(err, fs.ErrExist):
		return false, fmt.Errorf("COPY: %w", err)
	}
	return false, c.mayWrite()
}

// makeTemp makes tmp, the hidden directory of the parts, in the target
// directory, which prepareDir made ready (created says it made it). A
// COPY to the same new directory that made it, and failed since, removed
// it: it is made again (a valid COPY beside a failing one failed "mkdir
// .skein-...: no such file or directory"). It says whether this COPY made
// the target.
func (c copyPlan) makeTemp(tmp string, created bool) (bool, error) {
	err := os.Mkdir(tmp, 0o755)
	for try := 0; errors.Is(err, fs.ErrNotExist) && try < 3; try++ {
		var made bool
		if made, err = c.prepareDir(); err != nil {
			return created, err
		}
		created = created || made
		err = os.Mkdir(tmp, 0o755)
	}
	return created, err
}

// mayWrite checks that the target directory may take the parts: files
// there are an error unless OVERWRITE or APPEND (or OVERWRITE_OR_IGNORE)
// says what to do.
func (c copyPlan) mayWrite() error {
	entries, err := os.ReadDir(c.dir)
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("%w: COPY: %q is a file, and the COPY writes a directory of files: name a directory, or a file without the trailing '/' and PER_THREAD_OUTPUT",
			flightsql.ErrInvalid, c.dir)
	}
	if err != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	if c.mode == "" {
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), tempPrefix) {
				return fmt.Errorf(`%w: COPY: directory %q is not empty: add OVERWRITE (to replace its files), or APPEND or OVERWRITE_OR_IGNORE (to write beside them)`,
					flightsql.ErrInvalid, c.dir)
			}
		}
	}
	return nil
}

// publishing makes each write's check of its target and its moving the
// parts in one step: two COPYs to one new directory, both checked before
// either moved its parts, both succeeded, and the directory held the
// rows twice.
var publishing sync.Mutex

// publish moves the parts into the target directory, first setting aside
// what it held for OVERWRITE (but other writes' hidden directories), and
// removes the write's hidden directory. It commits the write in the
// journal first: a coordinator killed as it publishes leaves the write for
// the next start to finish (writeJournal), not the target half replaced.
func (c copyPlan) publish(j writeJournal, qid, tmp string, parts int) error {
	written, err := os.ReadDir(tmp)
	if err != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	written = slices.DeleteFunc(written, func(e fs.DirEntry) bool { return !isPart(e.Name()) })
	if len(written) != parts {
		return fmt.Errorf("COPY: %d of %d parts are in %s: do the coordinator and the executors see the target directory at the same path?",
			len(written), parts, tmp)
	}
	publishing.Lock()
	defer publishing.Unlock()
	if err := c.mayWrite(); err != nil {
		return err // another write's parts came first
	}
	e := journalEntry{Tmp: tmp, Dir: c.dir}
	if c.mode == "overwrite" {
		e.Aside = filepath.Join(c.dir, tempPrefix+"old-"+qid)
		if err := j.record(qid, e); err != nil {
			return err
		}
		if err := os.Mkdir(e.Aside, 0o755); err != nil {
			return fmt.Errorf("COPY OVERWRITE: %w", err)
		}
		err := moveAll(e.Dir, e.Aside, func(name string) bool { return !strings.HasPrefix(name, tempPrefix) })
		if err != nil {
			if uerr := e.undo(); uerr != nil {
				return fmt.Errorf("%w: %w", errHalfPublished, errors.Join(err, uerr))
			}
			return fmt.Errorf("COPY OVERWRITE: the target's files were left as they were: %w", err)
		}
	}
	if err := j.commit(qid, e); err != nil {
		if uerr := e.undo(); uerr != nil {
			return fmt.Errorf("%w: %w", errHalfPublished, errors.Join(err, uerr))
		}
		return err
	}
	if err := e.finish(); err != nil {
		return fmt.Errorf("%w: %w", errHalfPublished, err)
	}
	return nil
}

// abandon removes a failed write's hidden directory, and the target if the
// write created it. A task cancelled on an executor may still be closing
// its file as the directory goes, so the removal is tried again briefly.
func (c copyPlan) abandon(tmp string, created bool) {
	for try := 0; try < 20; try++ {
		err := error(nil)
		if tmp != "" {
			err = os.RemoveAll(tmp)
		}
		if created && err == nil {
			err = os.Remove(c.dir)
		}
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
