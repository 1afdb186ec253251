package coordinator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/executor"
	skeinsql "github.com/skeindb/skein/flightsql"
	"github.com/skeindb/skein/internal/cluster"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A local file named without wildcards is matched by a stat, without a
// query (a nil connection would panic); wildcards and missing files
// are still DuckDB's to match.
func TestGlobOfAFileAsksNoQuery(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parquet(t, dir, 2, 10)
	one := filepath.Join(dir, "f0.parquet")
	got, err := glob(ctx, nil, one)
	if err != nil || !slices.Equal(got, []string{one}) {
		t.Fatalf("glob(%s) = %v, %v", one, got, err)
	}
	conn := ducktest.Open(t, dir)
	for pattern, want := range map[string][]string{
		filepath.Join(dir, "f*.parquet"):      {one, filepath.Join(dir, "f1.parquet")},
		filepath.Join(dir, "missing.parquet"): nil,
		filepath.Join(dir, "f[0].parquet"):    {one},
	} {
		got, err := glob(ctx, conn, pattern)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("glob(%s) = %v, %v; want %v", pattern, got, err, want)
		}
	}
}

// One planning lists an input's files once: asked again, it answers from
// its listings even after the file is gone; a new planning sees the change.
func TestPlanningListsFilesOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parquet(t, dir, 1, 5000)
	path := filepath.Join(dir, "f0.parquet")
	conn := ducktest.Open(t, dir)
	d := &dist{footers: newLRU(16, 1<<20, func(k string, v footer) int64 { return v.cost(k) })}
	seen := newListings()
	first, err := d.filesOnce(ctx, conn, seen, []string{path})
	if err != nil || len(first) != 1 || totalRows(first) != 5000 {
		t.Fatalf("files %v, %v", first, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	again, err := d.filesOnce(ctx, conn, seen, []string{path})
	if err != nil || totalRows(again) != 5000 {
		t.Fatalf("the planning listed its files again: %v, %v", again, err)
	}
	// The statistics of a column and the memo of inputs stat the files
	// through the same listings.
	if st, err := seen.stat(ctx, conn, []string{path}); err != nil || len(st) != 1 {
		t.Fatalf("the planning stat the file again: %v, %v", st, err)
	}
	if _, err := d.filesOnce(ctx, conn, newListings(), []string{path}); err == nil {
		t.Fatal("a new planning did not see the file removed")
	}
}

// A pattern of one directory is matched again from what it matched while
// the directory keeps its modification time (a nil connection would
// panic: no query), is matched by DuckDB again once a file is added, and
// is not kept while the directory changed within racyListing.
func TestGlobOfOneDirectoryKeptWhileItIsUnchanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	parquet(t, dir, 2, 10)
	conn := ducktest.Open(t, dir)
	globs := newLRU(16, 1<<20, dirGlobCost)
	pattern := filepath.Join(dir, "f*.parquet")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "f0.parquet"), filepath.Join(dir, "f1.parquet")}
	for _, c := range []*duck.Conn{conn, nil} {
		if got, err := globDir(ctx, c, globs, pattern); err != nil || !slices.Equal(got, want) {
			t.Fatalf("globDir = %v, %v; want %v", got, err, want)
		}
	}
	parquet(t, dir, 3, 10) // f2 added: the directory's time is now
	want = append(want, filepath.Join(dir, "f2.parquet"))
	for range 2 {
		if got, err := globDir(ctx, conn, globs, pattern); err != nil || !slices.Equal(got, want) {
			t.Fatalf("after a file was added: %v, %v; want %v", got, err, want)
		}
	}
	if g, ok := globs.get(pattern); !ok || len(g.matched) != 2 {
		t.Errorf("a listing of a directory changed just now was kept: %v", g.matched)
	}
	// A file added, the directory's modification time set back after (tar
	// -x, touch -r, cp -a): its status change time moved, and the file is
	// matched (a listing kept by the modification time alone missed it in
	// every later query; a tester's).
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	if got, err := globDir(ctx, conn, globs, pattern); err != nil || len(got) != 3 {
		t.Fatalf("listed again: %v, %v", got, err)
	}
	parquet(t, dir, 4, 10) // f3
	if err := os.Chtimes(dir, old, old); err != nil {
		t.Fatal(err)
	}
	want = append(want, filepath.Join(dir, "f3.parquet"))
	if got, err := globDir(ctx, conn, globs, pattern); err != nil || !slices.Equal(got, want) {
		t.Fatalf("after a file was added and the directory's time set back: %v, %v; want %v", got, err, want)
	}
	for pattern, want := range map[string]bool{
		"/a/b/*.parquet": true, "/a/b/f[0-3].parquet": true, "/a/*/x.parquet": false, "/a/**/*.parquet": false,
		"/a/b/**": false, "s3://b/k/*.parquet": false, "*.parquet": false, "~/x/*.parquet": false, "/a/b/f.parquet": false,
	} {
		if _, got := oneDir(pattern); got != want {
			t.Errorf("oneDir(%q) = %v, want %v", pattern, got, want)
		}
	}
}

// Files whose names DuckDB would match as patterns (*, ? and [ in them)
// are read once each, as DuckDB reads them: the query stays on the
// coordinator and says why. Split, a task naming q?.parquet read
// qa.parquet too and one naming x[1].parquet read x1.parquet: the answer
// counted some files three times and missed others.
func TestFileNamesThatArePatterns(t *testing.T) {
	c, cl, _ := startCluster(t, 2, "direct")
	dir := c.cfg.AllowDirs[0]
	if err := os.Mkdir(filepath.Join(dir, "odd"), 0o755); err != nil {
		t.Fatal(err)
	}
	conn := ducktest.Open(t, dir)
	for i, name := range []string{"x[1]", "x1", "q?", "qa", "qb", "st*r", "stXr"} {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS v FROM range(10000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, i*10000, filepath.Join(dir, "odd", name+".parquet")))
	}
	for _, q := range []string{
		fmt.Sprintf("SELECT v FROM read_parquet('%s')", filepath.Join(dir, "odd", "*.parquet")),
		fmt.Sprintf("SELECT (count(*) + sum(v))::BIGINT AS v FROM read_parquet('%s')", filepath.Join(dir, "odd", "q*.parquet")),
	} {
		info, err := cl.Execute(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if e := planOf(t, info); e.Mode != "local" || !strings.Contains(e.Reason, "as a pattern") {
			t.Fatalf("%s: planned %s (%s), want local for the names", q, e.Mode, e.Reason)
		}
		sameAsDuckDB(t, cl, dir, nil, q, info)
	}
}

// A file renamed over one a split query reads, between its planning and
// its tasks' runs, fails the tasks still to run (Aborted: run it again),
// and the query run again reads the new file. Its tasks had read the
// plan's row ranges out of the new file: an answer of neither file.
func TestFileReplacedWhileReadIsRefused(t *testing.T) {
	var hold atomic.Bool
	release := make(chan struct{})
	c, cl, _ := startCluster(t, 2, "proxy", heldUntil(&hold, release))
	dir := c.cfg.AllowDirs[0]
	file := filepath.Join(dir, "f0.parquet")
	q := fmt.Sprintf("SELECT id AS v FROM read_parquet('%s')", file)
	ctx := context.Background()
	hold.Store(true)
	info, err := cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode == "local" || len(info.Endpoint) < 2 {
		t.Fatalf("planned %s, %d endpoints: want the file split", e.Mode, len(info.Endpoint))
	}
	// The new file: other rows, other row groups, renamed over the old.
	conn := ducktest.Open(t, dir)
	tmp := filepath.Join(dir, "new.tmp")
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range * 7)::BIGINT AS id, 0 AS g FROM range(25000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 3000)`, tmp))
	renamedOverThenRead(t, cl, info, tmp, file, &hold, release)
	info, err = cl.Execute(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	sameAsDuckDB(t, cl, dir, nil, q, info)
}

// heldUntil has the in-process executors hold each task before it reads
// while hold is set, until release is closed.
func heldUntil(hold *atomic.Bool, release chan struct{}) func(*Config) {
	return func(cfg *Config) {
		cfg.Executor = func(e *executor.Config) {
			e.Test = &executor.TestHooks{Before: func(ctx context.Context, _ cluster.Task) error {
				if hold.Load() {
					select {
					case <-release:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				return nil
			}}
		}
	}
}

// A small join input every task of a split query reads itself, renamed
// over between the query's planning and its tasks' runs, fails the tasks
// (Aborted: run it again): tasks that read it before and after joined
// with two versions of it, an answer of neither (a tester's, 2026-12-06).
func TestInPlaceInputReplacedWhileReadIsRefused(t *testing.T) {
	h := planHeldJoin(t, filepath.Join("dim", "dim.parquet"), func(conn *duck.Conn, path string) {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::BIGINT AS g FROM range(5)) TO '%s' (FORMAT parquet)`, path))
	})
	tmp := filepath.Join(filepath.Dir(h.dim), "dim.tmp")
	ducktest.Exec(t, h.conn, fmt.Sprintf(`COPY (SELECT 0::BIGINT AS g) TO '%s' (FORMAT parquet)`, tmp))
	renamedOverThenRead(t, h.cl, h.info, tmp, h.dim, h.hold, h.release)
}

// The same, the input renamed over by one of its size with the old
// modification time restored (cp -p, rsync -a): size and time are the
// old, only the content (its footer's statistics) differs. The tasks
// compare the file's tail (duck.Tail) too. Before, 146 of a tester's 247
// such answers matched neither version.
func TestInPlaceInputReplacedByOneOfItsSizeAndTimeIsRefused(t *testing.T) {
	write := func(conn *duck.Conn, path string, from int) {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS g FROM range(5)) TO '%s' (FORMAT parquet, COMPRESSION uncompressed)`, from, path))
	}
	h := planHeldJoin(t, "dim.pq", func(conn *duck.Conn, path string) { write(conn, path, 0) })
	tmp := filepath.Join(filepath.Dir(h.dim), "dim.tmp")
	write(h.conn, tmp, 1)
	sameSizeAndTime(t, tmp, h.dim)
	renamedOverThenRead(t, h.cl, h.info, tmp, h.dim, h.hold, h.release)
}

// heldJoin is a split query joining a cluster's files with a small input
// (dim) that every task reads itself, planned while its tasks are held.
type heldJoin struct {
	cl      *flightsql.Client
	conn    *duck.Conn // of the cluster's directory
	dim     string
	info    *flight.FlightInfo
	hold    *atomic.Bool
	release chan struct{}
}

// planHeldJoin writes the input at name under a 2-executor cluster's
// directory with write, plans the join with its tasks held, and checks
// that the scan splits and each task reads the input whole.
func planHeldJoin(t *testing.T, name string, write func(conn *duck.Conn, path string)) heldJoin {
	t.Helper()
	h := heldJoin{hold: new(atomic.Bool), release: make(chan struct{})}
	c, cl, glob := startCluster(t, 2, "proxy", anyBroadcast, heldUntil(h.hold, h.release))
	dir := c.cfg.AllowDirs[0]
	h.cl, h.conn, h.dim = cl, ducktest.Open(t, dir), filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(h.dim), 0o755); err != nil {
		t.Fatal(err)
	}
	write(h.conn, h.dim)
	q := fmt.Sprintf("SELECT a.id AS v FROM read_parquet('%s') a JOIN read_parquet('%s') d ON a.g = d.g", glob, h.dim)
	h.hold.Store(true)
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode == "local" || len(info.Endpoint) < 2 || !strings.Contains(e.TaskSQL, h.dim) || !strings.Contains(e.TaskSQL, "read whole by each task") && !strings.Contains(fmt.Sprint(e.Stages), "read whole by each task") {
		t.Fatalf("planned %s, %d endpoints: want the scan split, the input read by each task (%s %v)", e.Mode, len(info.Endpoint), e.TaskSQL, e.Stages)
	}
	h.info = info
	return h
}

// sameSizeAndTime checks that tmp has old's size, and gives it old's
// modification time.
func sameSizeAndTime(t *testing.T, tmp, old string) {
	t.Helper()
	was, err := os.Stat(old)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(tmp); err != nil || fi.Size() != was.Size() {
		t.Fatalf("the new file: %v, %v; want %d bytes as the old", fi, err, was.Size())
	}
	if err := os.Chtimes(tmp, was.ModTime(), was.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// A file whose slices are cut by ranges of a key (its row groups'
// statistics bound it: a GROUP BY of the column it is sorted by finishes
// in each slice) is stamped as any sliced file: renamed over while the
// tasks waited, their row ranges were read from the new file, without an
// error.
func TestKeyRangedSliceOfAFileReplacedIsRefused(t *testing.T) {
	var hold atomic.Bool
	release := make(chan struct{})
	c, cl, _ := startCluster(t, 2, "proxy", heldUntil(&hold, release))
	dir := c.cfg.AllowDirs[0]
	conn := ducktest.Open(t, dir)
	file, tmp := filepath.Join(dir, "sorted.pq"), filepath.Join(dir, "sorted.tmp")
	write := func(path string, rows int) {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range // 10)::BIGINT AS k FROM range(%d) ORDER BY k) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, rows, path))
	}
	write(file, 40000)
	q := fmt.Sprintf("SELECT k, count(*) AS n FROM read_parquet('%s') GROUP BY k", file)
	hold.Store(true)
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	if e := planOf(t, info); e.Mode == "local" || len(info.Endpoint) < 2 || !strings.Contains(fmt.Sprint(e.Stages)+e.TaskSQL, "ranges") {
		t.Fatalf("planned %s, %d endpoints: want slices cut by ranges of k (%s %v)", e.Mode, len(info.Endpoint), e.TaskSQL, e.Stages)
	}
	write(tmp, 30000)
	renamedOverThenRead(t, cl, info, tmp, file, &hold, release)
}

// renamedOverThenRead renames tmp over file while the query's tasks are
// held, releases them, reads the query's endpoints and expects Aborted.
func renamedOverThenRead(t *testing.T, cl *flightsql.Client, info *flight.FlightInfo, tmp, file string, hold *atomic.Bool, release chan struct{}) {
	t.Helper()
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	hold.Store(false)
	close(release)
	var failed error
	for _, ep := range info.Endpoint {
		if failed = readToEnd(context.Background(), cl, ep.Ticket); failed != nil {
			break
		}
	}
	if status.Code(failed) != codes.Aborted || !strings.Contains(failed.Error(), "changed while the query read it") {
		t.Fatalf("the query read %s replaced under it: %v, want Aborted", file, failed)
	}
}

// A file renamed over another of its size, its modification time set back
// to the old one's (cp -p, rsync -a), is another file: the plan of a query
// over it, cached by the file's size and time, pruned the row groups the
// old file's statistics refuted, and the query counted 0 rows of 100,000.
// A file's time is its status change time (duck.Changed), which nobody
// sets back.
func TestFileReplacedWithItsOldTimeIsAnotherFile(t *testing.T) {
	c, cl, _ := startCluster(t, 2, "direct")
	dir := c.cfg.AllowDirs[0]
	file, tmp := filepath.Join(dir, "same.parquet"), filepath.Join(dir, "same.tmp")
	conn := ducktest.Open(t, dir)
	write := func(path string, from int) {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range + %d)::BIGINT AS i FROM range(100000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 10000, COMPRESSION uncompressed)`, from, path))
	}
	write(file, 0)
	ctx := context.Background()
	q := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s') WHERE i >= 100000", file)
	for range 2 {
		if n := queryValue(t, ctx, cl, q); n != int64(0) {
			t.Fatalf("before: %v rows", n)
		}
	}
	old, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	write(tmp, 100000)
	if fi, err := os.Stat(tmp); err != nil || fi.Size() != old.Size() {
		t.Fatalf("the new file: %v, %v; want %d bytes as the old", fi, err, old.Size())
	}
	if err := os.Chtimes(tmp, old.ModTime(), old.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if n := queryValue(t, ctx, cl, q); n != int64(100000) {
		t.Fatalf("after the file was replaced: %v rows, want 100000", n)
	}
}

// An object listed within freshFor of its Last-Modified (to the second)
// is remembered by nothing: each listing of it is another identity, so
// that one written again in the same second with the same size is read
// anew (it kept the first one's footer: every later query read 4 of its
// 12 row groups; a tester's). An older object is one identity.
func TestFreshObjectIsRememberedByNothing(t *testing.T) {
	now := time.Now()
	listed := func(modified time.Time) fileStat {
		return fileStat{path: "s3://b/k.parquet", size: 6004893, modified: modified.Truncate(time.Second).UnixMicro(),
			fresh: freshness(modified.Truncate(time.Second).UnixMicro(), now)}
	}
	if a, b := listed(now), listed(now); a.identity() == b.identity() || a == b {
		t.Errorf("an object written this second, listed twice: one identity %q", a.identity())
	}
	old := now.Add(-time.Minute)
	if a, b := listed(old), listed(old); a.identity() != b.identity() || a != b {
		t.Errorf("an object written a minute ago, listed twice: %q and %q", a.identity(), b.identity())
	}
}

// A pattern that matches no file when a plan lists it (a write moved the
// files aside after DuckDB bound the query) is NotFound, as DuckDB says
// of one at its bind: it was Internal (a tester's).
func TestNoFileMatchingIsNotFound(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := duck.Open(ctx, duck.Config{AllowedDirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pattern := filepath.Join(dir, "gone", "*.parquet")
	_, err = statAll(ctx, conn, newLRU(8, 1<<20, dirGlobCost), []string{pattern})
	if code := status.Code(skeinsql.ToStatus(err)); code != codes.NotFound {
		t.Errorf("listing: %v (%s), want NotFound", err, code)
	}
	_, err = globAll(ctx, conn, []string{pattern})
	if code := status.Code(skeinsql.ToStatus(err)); code != codes.NotFound {
		t.Errorf("globbing: %v (%s), want NotFound", err, code)
	}
}
