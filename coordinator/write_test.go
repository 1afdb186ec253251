package coordinator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// entries lists a directory's names (none if it does not exist).
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// sameRows fails unless the Parquet files in dir hold the query's rows, as
// a multiset, by DuckDB's answer to the query.
func sameRows(t *testing.T, data, dir, query string) {
	t.Helper()
	conn := ducktest.Open(t, data)
	var diff, n int64
	rows, err := conn.QueryRows(context.Background(), fmt.Sprintf(`WITH f AS (FROM read_parquet('%s/*.parquet')), q AS (%s)
SELECT (SELECT count(*) FROM (FROM f EXCEPT ALL FROM q)) + (SELECT count(*) FROM (FROM q EXCEPT ALL FROM f)), (SELECT count(*) FROM f)`, dir, query))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if !rows.Next() {
		t.Fatal("no row")
	}
	if err := rows.Scan(&diff, &n); err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Errorf("%s: %d rows differ from DuckDB's answer (%d rows written)", query, diff, n)
	}
}

// wroteOn waits until the history shows the last write's tasks (executors
// report them with their heartbeats) on want executors.
func wroteOn(t *testing.T, cl *flightsql.Client, want int64) {
	t.Helper()
	ctx := context.Background()
	id := queryString(t, ctx, cl, `SELECT query_id FROM skein.queries WHERE mode LIKE 'write%' ORDER BY started_at DESC LIMIT 1`)
	eventually(t, 5*time.Second, func() (bool, string) {
		n := queryInt(t, cl, fmt.Sprintf(`SELECT count(DISTINCT executor) FROM skein.tasks WHERE query_id = '%s' AND executor <> 'coordinator'`, id))
		return n == want, fmt.Sprintf("write %s ran on %d executors, want %d", id, n, want)
	})
}

func TestDistributedCopy(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	for i, q := range []string{
		fmt.Sprintf(`SELECT id, g, id * 2 AS twice FROM read_parquet('%s') WHERE g <> 3`, glob),
		// An aggregate finished on executors after a shuffle by key.
		fmt.Sprintf(`SELECT id %% 1000 AS k, count(*) AS n, sum(id) AS s FROM read_parquet('%s') GROUP BY k`, glob),
	} {
		out := filepath.Join(data, fmt.Sprintf("out%d", i))
		n, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet, COMPRESSION zstd)`, q, out))
		if err != nil {
			t.Fatal(err)
		}
		if want := queryInt(t, cl, "SELECT count(*) FROM ("+q+")"); n != want {
			t.Errorf("%s: COPY answered %d rows, the query has %d", q, n, want)
		}
		files := entries(t, out)
		if len(files) < 2 {
			t.Errorf("%s: %d files written (%v): the tasks did not write in parallel", q, len(files), files)
		}
		for _, f := range files {
			if !strings.HasPrefix(f, "part-") || !strings.HasSuffix(f, ".parquet") {
				t.Errorf("%s: unexpected entry %s in the target", q, f)
			}
		}
		wroteOn(t, cl, 2)
		sameRows(t, data, out, q)
	}
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
}

// A query that does not distribute (its answer is merged on one node) is
// written as one part there, with the same rules.
func TestCopyOfAMergedQueryIsOnePart(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	q := fmt.Sprintf(`SELECT id FROM read_parquet('%s') ORDER BY id DESC LIMIT 7`, glob)
	out := filepath.Join(data, "top")
	n, err := cl.ExecuteUpdate(context.Background(), fmt.Sprintf(`COPY (%s) TO '%s' (FORMAT 'parquet', PER_THREAD_OUTPUT)`, q, out))
	if err != nil {
		t.Fatal(err)
	}
	if files := entries(t, out); n != 7 || len(files) != 1 {
		t.Fatalf("%d rows in %v", n, files)
	}
	sameRows(t, data, out, q)
}

// The target's existing files: an error unless OVERWRITE or APPEND says
// what to do with them, as DuckDB's COPY to a directory.
func TestCopyIntoAnExistingDirectory(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	out := filepath.Join(data, "existing")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "old.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf(`SELECT id FROM read_parquet('%s')`, glob)
	copyTo := func(opts string) error {
		_, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (%s) TO '%s' (FORMAT parquet%s)`, q, out, opts))
		return err
	}
	if err := copyTo(""); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("COPY into a directory holding a file: %v", err)
	}
	if got := entries(t, out); len(got) != 1 {
		t.Fatalf("the refused COPY left %v", got)
	}
	if err := copyTo(", APPEND"); err != nil {
		t.Fatal(err)
	}
	appended := entries(t, out)
	if len(appended) < 3 {
		t.Fatalf("APPEND: %v", appended)
	}
	if err := copyTo(", OVERWRITE"); err != nil {
		t.Fatal(err)
	}
	// Only the new run's parts (how many: one a task, which the load
	// may change), none of the files before it.
	got := entries(t, out)
	if len(got) == 0 {
		t.Fatal("OVERWRITE left nothing")
	}
	for _, f := range got {
		if !strings.HasPrefix(f, "part-") || slices.Contains(appended, f) {
			t.Fatalf("OVERWRITE kept %s of %v", f, appended)
		}
	}
	sameRows(t, data, out, q)
}

// A write whose query fails in one slice leaves nothing: no part, no
// hidden directory.
func TestFailedCopyLeavesNothing(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	_, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	for _, made := range []bool{true, false} {
		out := filepath.Join(data, fmt.Sprintf("failed-%v", made))
		if made {
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		// Row 25000 is in the last file: its slice fails after others wrote.
		_, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (SELECT id, CASE WHEN id = 25000 THEN 'x' ELSE id::VARCHAR END::BIGINT AS v
FROM read_parquet('%s')) TO '%s/' (FORMAT parquet)`, glob, out))
		if err == nil || !strings.Contains(err.Error(), "Conversion") {
			t.Fatalf("COPY of a failing query: %v", err)
		}
		wroteOn(t, cl, 2)
		for range 2 {
			got := entries(t, out)
			if _, statErr := os.Stat(out); made == os.IsNotExist(statErr) || len(got) > 0 {
				t.Fatalf("after a failed write, %s (existed before: %v) holds %v (%v)", out, made, got, statErr)
			}
			time.Sleep(300 * time.Millisecond) // tasks being cancelled write nothing later either
		}
	}
}

// usersFile writes a --users-file of the users name:role, each with its
// name as its password.
func usersFile(t *testing.T, users ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	var b strings.Builder
	for _, u := range users {
		name, role, _ := strings.Cut(u, ":")
		h, err := bcrypt.GenerateFromPassword([]byte(name), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s:%s\n", name, role, h)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The target must be under the allowed directories, as for any COPY, and
// readers may not write.
func TestCopyIsChecked(t *testing.T) {
	users := usersFile(t, "wri:writer", "rea:reader")
	_, cl, glob := startCluster(t, 2, "", func(c *Config) { c.UsersFile = users })
	data := filepath.Dir(glob)
	outside := t.TempDir()
	wri, err := cl.Client.AuthenticateBasicToken(context.Background(), "wri", "wri")
	if err != nil {
		t.Fatal(err)
	}
	rea, err := cl.Client.AuthenticateBasicToken(context.Background(), "rea", "rea")
	if err != nil {
		t.Fatal(err)
	}
	q := fmt.Sprintf(`SELECT id FROM read_parquet('%s')`, glob)
	for _, tc := range []struct {
		ctx    context.Context
		target string
	}{{wri, outside + "/out/"}, {wri, data + "/../escape/"}, {rea, data + "/mine/"}} {
		sql := fmt.Sprintf(`COPY (%s) TO '%s' (FORMAT parquet)`, q, tc.target)
		_, err := cl.ExecuteUpdate(tc.ctx, sql)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("update %s: %v", tc.target, err)
		}
		_, err = cl.Execute(tc.ctx, sql)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("query %s: %v", tc.target, err)
		}
	}
	for _, d := range []string{filepath.Join(outside, "out"), filepath.Join(filepath.Dir(data), "escape"), filepath.Join(data, "mine")} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s exists after a refused COPY", d)
		}
	}
	// A directory whose parent is not there: NotFound, as DuckDB's COPY to
	// a file in it (it was Internal), and nothing made.
	_, err = cl.ExecuteUpdate(wri, fmt.Sprintf(`COPY (%s) TO '%s/nope/sub/' (FORMAT parquet)`, q, data))
	if status.Code(err) != codes.NotFound {
		t.Errorf("a COPY to a directory whose parent is not there: %v, want NotFound", err)
	}
	if _, err := os.Stat(filepath.Join(data, "nope")); !os.IsNotExist(err) {
		t.Errorf("a failed COPY made its parent: %v", err)
	}
	// A directory under a file: InvalidArgument, as DuckDB's "Not a
	// directory" (it was Internal).
	if err := os.WriteFile(filepath.Join(data, "afile"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = cl.ExecuteUpdate(wri, fmt.Sprintf(`COPY (%s) TO '%s/afile/sub/' (FORMAT parquet)`, q, data))
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("a COPY to a directory under a file: %v, want InvalidArgument", err)
	}
	// Through a query (as ADBC sends it), the write distributes too.
	out := filepath.Join(data, "viaquery")
	if _, err := cl.Execute(wri, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet)`, q, out)); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, out); len(got) < 2 {
		t.Errorf("COPY sent as a query wrote %v", got)
	}
}

// A write's tasks write parts of their own, in a copy of its query's
// plan: the plan kept for the query's text (textplan.go) is left as it
// was, for the next writes of it and for the query itself.
func TestCopyLeavesTheKeptPlan(t *testing.T) {
	c, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	q := fmt.Sprintf(`SELECT id, g FROM read_parquet('%s') WHERE g <> 3`, glob)
	want := queryInt(t, cl, "SELECT count(*) FROM ("+q+")")
	hits := keptHits(t, c)
	for i := range 4 {
		out := filepath.Join(data, fmt.Sprintf("kept%d", i))
		n, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet)`, q, out))
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		if n != want {
			t.Errorf("write %d: %d rows, want %d", i, n, want)
		}
		sameRows(t, data, out, q)
	}
	if keptHits(t, c) == hits {
		t.Fatal("no write took the kept plan")
	}
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := readEndpoints(t, cl, info.Endpoint); rows != want {
		t.Errorf("the query after the writes: %d rows, want %d", rows, want)
	}
}

// Two COPYs to one new directory at once: one writes it, the other fails
// as a COPY into a directory holding files does. Both checked the
// directory before either moved its parts in, both succeeded, and the
// directory held the rows twice.
func TestConcurrentCopiesToOneDirectory(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	q := fmt.Sprintf(`SELECT id FROM read_parquet('%s')`, glob)
	for round := range 3 {
		out := filepath.Join(data, fmt.Sprintf("twice%d", round))
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := cl.ExecuteUpdate(ctx, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet)`, q, out))
				errs <- err
			}()
		}
		var failed []error
		for range 2 {
			if err := <-errs; err != nil {
				failed = append(failed, err)
			}
		}
		if len(failed) != 1 || status.Code(failed[0]) != codes.InvalidArgument || !strings.Contains(failed[0].Error(), "not empty") {
			t.Fatalf("round %d: two COPYs to one directory failed with %v, want one refused as not empty", round, failed)
		}
		sameRows(t, data, out, q)
	}
}

// A COPY to a directory prepared first (ADBC prepares every statement it
// executes, and runs an update either by ExecuteUpdate or by
// GetFlightInfo) writes across the cluster as the same text not
// prepared. It ran on the coordinator, where DuckDB takes 'dir/' as a
// file: "Cannot open file ...: Is a directory", Internal.
func TestPreparedCopyIsDistributed(t *testing.T) {
	_, cl, glob := startCluster(t, 2, "")
	data := filepath.Dir(glob)
	ctx := context.Background()
	q := fmt.Sprintf(`SELECT id, g FROM read_parquet('%s') WHERE g <> 3`, glob)
	for i, run := range []func(*flightsql.PreparedStatement) error{
		func(ps *flightsql.PreparedStatement) error { _, err := ps.ExecuteUpdate(ctx); return err },
		func(ps *flightsql.PreparedStatement) error { _, err := ps.Execute(ctx); return err },
	} {
		out := filepath.Join(data, fmt.Sprintf("prepared%d", i))
		ps, err := cl.Prepare(ctx, fmt.Sprintf(`COPY (%s) TO '%s/' (FORMAT parquet)`, q, out))
		if err != nil {
			t.Fatal(err)
		}
		if err := run(ps); err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if err := ps.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if files := entries(t, out); len(files) < 2 {
			t.Errorf("run %d: %d files written (%v): not written by the executors' tasks", i, len(files), files)
		}
		wroteOn(t, cl, 2)
		sameRows(t, data, out, q)
	}
}

// The hidden directory of a write a killed coordinator left in progress
// is removed when the next coordinator over its data directory starts,
// with its target if the write made it; its target's other files stay,
// and a journal entry naming anything but a write's hidden directory
// removes nothing.
func TestUnfinishedWriteIsRemovedAtStart(t *testing.T) {
	dataDir, target := t.TempDir(), t.TempDir()
	j := writeJournal{dir: filepath.Join(dataDir, "writes")}
	hidden := filepath.Join(target, tempPrefix+"q1")
	for _, f := range []string{filepath.Join(hidden, "part-1.parquet"), filepath.Join(target, "kept.parquet")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.begin("q1", hidden, false); err != nil {
		t.Fatal(err)
	}
	if err := j.begin("q2", target, false); err != nil { // not a hidden directory
		t.Fatal(err)
	}
	// q3's write made its target: it goes with the write's directory.
	made := filepath.Join(t.TempDir(), "made")
	if err := os.MkdirAll(filepath.Join(made, tempPrefix+"q3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := j.begin("q3", filepath.Join(made, tempPrefix+"q3"), true); err != nil {
		t.Fatal(err)
	}
	startCluster(t, 1, "direct", func(c *Config) { c.DataDir = dataDir })
	if _, err := os.Stat(hidden); !os.IsNotExist(err) {
		t.Fatalf("the unfinished write's directory: %v, want it removed", err)
	}
	if _, err := os.Stat(made); !os.IsNotExist(err) {
		t.Fatalf("the target an unfinished write made: %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(target, "kept.parquet")); err != nil {
		t.Fatalf("the target's own file: %v", err)
	}
	if left, _ := os.ReadDir(j.dir); len(left) != 0 {
		t.Fatalf("%d journal entries left", len(left))
	}
}

// A write a killed coordinator had committed (every part written) and
// was publishing is finished when the next coordinator over its data
// directory starts: every part is in the target and the files OVERWRITE
// replaces, set aside before the commit, are gone, wherever the
// publication stopped. One killed as it set the files aside, before it
// committed, is undone: the files are put back. A coordinator killed as
// it published an OVERWRITE over 20,000 files had removed 279 and moved
// no part in, and the start after removed the parts: the directory held
// neither the old rows nor the new (a tester's).
func TestCommittedWriteIsFinishedAtStart(t *testing.T) {
	dataDir, target, other := t.TempDir(), t.TempDir(), t.TempDir()
	j := writeJournal{dir: filepath.Join(dataDir, "writes")}
	hidden, aside := filepath.Join(target, tempPrefix+"q1"), filepath.Join(target, tempPrefix+"old-q1")
	put := func(files ...string) {
		for _, f := range files {
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// q1 stopped midway: the old file set aside, part 0 moved in, part 1
	// and a run's file left. A write still writing (q2) is undone as
	// before. q3, in other, stopped as it set its target's files aside:
	// one moved, one not.
	put(filepath.Join(aside, "old-1.parquet"), filepath.Join(target, "part-q1-00000.parquet"),
		filepath.Join(hidden, "part-q1-00001.parquet"), filepath.Join(hidden, ".part-q1-00001.parquet.1a2b.tmp"),
		filepath.Join(target, tempPrefix+"q2", "part-q2-00000.parquet"),
		filepath.Join(other, tempPrefix+"old-q3", "a.parquet"), filepath.Join(other, "b.parquet"),
		filepath.Join(other, tempPrefix+"q3", "part-q3-00000.parquet"))
	for _, e := range []struct {
		qid   string
		entry journalEntry
	}{
		{"q1", journalEntry{Publish: true, Tmp: hidden, Dir: target, Aside: aside}},
		{"q3", journalEntry{Tmp: filepath.Join(other, tempPrefix+"q3"), Dir: other, Aside: filepath.Join(other, tempPrefix+"old-q3")}},
	} {
		if err := os.MkdirAll(j.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := j.record(e.qid, e.entry); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.begin("q2", filepath.Join(target, tempPrefix+"q2"), false); err != nil {
		t.Fatal(err)
	}
	startCluster(t, 1, "direct", func(c *Config) { c.DataDir = dataDir })
	for dir, want := range map[string][]string{
		target: {"part-q1-00000.parquet", "part-q1-00001.parquet"},
		other:  {"a.parquet", "b.parquet"},
	} {
		var names []string
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !slices.Equal(names, want) {
			t.Fatalf("%s holds %q, want %q", dir, names, want)
		}
	}
	if left, _ := os.ReadDir(j.dir); len(left) != 0 {
		t.Fatalf("%d journal entries left", len(left))
	}
}

// An OVERWRITE that cannot set its target's files aside fails with the
// target as it was: removed one by one, the files before one that could
// not be were gone when it failed (a tester's: a busy mount point).
func TestOverwriteThatCannotSetAsideLeavesTheTarget(t *testing.T) {
	dataDir, target := t.TempDir(), t.TempDir()
	j := writeJournal{dir: filepath.Join(dataDir, "writes")}
	tmp := filepath.Join(target, tempPrefix+"q1")
	for _, f := range []string{filepath.Join(target, "a.parquet"), filepath.Join(target, "b.parquet"), filepath.Join(tmp, "part-q1-00000.parquet")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.begin("q1", tmp, false); err != nil {
		t.Fatal(err)
	}
	// The aside directory's name is taken by a file: nothing moves there.
	if err := os.WriteFile(filepath.Join(target, tempPrefix+"old-q1"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	c := copyPlan{dir: target, mode: "overwrite"}
	if err := c.publish(j, "q1", tmp, 1); err == nil || errors.Is(err, errHalfPublished) {
		t.Fatalf("publish: %v, want a failure leaving the target", err)
	}
	for _, f := range []string{"a.parquet", "b.parquet"} {
		if _, err := os.Stat(filepath.Join(target, f)); err != nil {
			t.Fatalf("the target's %s: %v", f, err)
		}
	}
}

// A COPY to a new directory that another COPY made, and removed when it
// failed, between this one's check of the directory and the making of its
// hidden one, makes the directory again: it failed "mkdir .skein-...: no
// such file or directory" (the writes tester's F2, 2 in 100 tries).
func TestCopyBesideAFailedOneMakesItsDirectoryAgain(t *testing.T) {
	c := copyPlan{dir: filepath.Join(t.TempDir(), "out")}
	created, err := c.prepareDir()
	if err != nil || !created {
		t.Fatalf("prepareDir: %v %v", created, err)
	}
	// The other COPY made it and removed it: this one found it made.
	if err := os.Remove(c.dir); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(c.dir, tempPrefix+"q")
	created, err = c.makeTemp(tmp, false)
	if err != nil || !created {
		t.Fatalf("makeTemp: %v %v", created, err)
	}
	if st, err := os.Stat(tmp); err != nil || !st.IsDir() {
		t.Fatalf("hidden directory: %v", err)
	}
}
