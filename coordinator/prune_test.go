package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/skeindb/skein/internal/ducktest"
)

// pruneData writes pk: four files of three row groups of 2,048 rows each,
// sorted by k (BIGINT, even numbers: row group g of file f holds
// f*100000+4096g .. f*100000+4096g+4094), i an INTEGER equal to k, r the
// row's number, and in the last file k NULL in its first row group and
// every tenth row.
func pruneData(t *testing.T, dir string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	for f := range 4 {
		k := fmt.Sprintf("(%d * 100000 + range * 2)", f)
		if f == 3 {
			k = fmt.Sprintf("CASE WHEN range < 2048 OR range %% 10 = 0 THEN NULL ELSE %s END", k)
		}
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (%[1]s)::BIGINT AS k, (%[1]s)::INTEGER AS i, (%[2]d * 6144 + range)::BIGINT AS r
FROM range(6144)) TO '%[3]s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, k, f, filepath.Join(dir, fmt.Sprintf("pk-%d.parquet", f))))
	}
	return []string{fmt.Sprintf("CREATE VIEW pk AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "pk-*.parquet"))}
}

// TestPruneByKeyBounds plans filters on a sorted key over files of three
// row groups, one slice a file (--task-rows 6,144): the row groups whose
// statistics prove no row passes are not read, a slice narrowed to those
// left; with none left one task still answers, with the query's schema.
// Every answer is DuckDB's, for keys in a row group, between two, outside
// all, NULL, and after a plan for another constant (the plan cache).
func TestPruneByKeyBounds(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	dir := t.TempDir()
	views := pruneData(t, dir)
	cl := pruneCluster(t, dir, views)
	pk := func(f int) string { return filepath.Join(dir, fmt.Sprintf("pk-%d.parquet", f)) }
	cases := []struct {
		q string
		// slices: the slices planned, "" for every file whole (nothing
		// pruned).
		slices []string
	}{
		{"SELECT r AS v FROM pk WHERE k = 104098", []string{pk(1) + "[2048..4095]"}},
		// A string cast to an integer: a bound parameter, as PlanBound writes it.
		{"SELECT r AS v FROM pk WHERE k = CAST('104098' AS BIGINT)", []string{pk(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE i <= CAST('-3' AS INTEGER)", []string{pk(0) + "[0..2047]"}}, // below all
		{"SELECT r AS v FROM pk WHERE k >= CAST('308192' AS INTEGER)", []string{pk(3) + "[4096..6143]"}},
		{"SELECT r AS v FROM pk WHERE k >= CAST('308192' AS UBIGINT)", nil},                                       // no int64 type: not taken
		{"SELECT r AS v FROM pk WHERE k = CAST('104_098' AS BIGINT)", nil},                                        // another form of the text: not taken
		{"SELECT r AS v FROM pk WHERE k = 204098", []string{pk(2) + "[2048..4095]"}},                              // the same plan, another constant
		{"SELECT r AS v FROM pk WHERE k = 104099", []string{pk(1) + "[2048..4095]"}},                              // within a row group's bounds, no row
		{"SELECT r AS v FROM pk WHERE k = 104095", []string{pk(0) + "[0..2047]"}},                                 // between two row groups: the empty answer
		{"SELECT r AS v FROM pk WHERE k = -5", []string{pk(0) + "[0..2047]"}},                                     // below all
		{"SELECT r AS v FROM pk WHERE pk.k = 999999", []string{pk(0) + "[0..2047]"}},                              // above all
		{"SELECT r AS v FROM pk WHERE 100100 > k AND r >= 0", []string{pk(0) + "[0..6143]", pk(1) + "[0..2047]"}}, // flipped, ANDed
		{"SELECT r AS v FROM pk WHERE k BETWEEN 4090 AND 4100", []string{pk(0) + "[0..4095]"}},
		{"SELECT r AS v FROM pk WHERE k IN (5, 304100)", []string{pk(0) + "[0..2047]", pk(3) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k >= 308192", []string{pk(3) + "[4096..6143]"}},
		{"SELECT r AS v FROM pk WHERE k IS NULL", []string{pk(3) + "[0..6143]"}},
		{"SELECT r AS v FROM pk WHERE k < 300100", []string{pk(0) + "[0..6143]", pk(1) + "[0..6143]", pk(2) + "[0..6143]"}}, // a row group of only NULLs
		{"SELECT r AS v FROM pk WHERE i = 3000000000", []string{pk(0) + "[0..2047]"}},                                       // an INTEGER against a BIGINT constant
		{"SELECT count(*) AS v FROM pk WHERE k = 999999", []string{pk(0) + "[0..2047]"}},                                    // an aggregate of no rows
		{"SELECT r AS v FROM (SELECT * FROM pk WHERE k < 1000) WHERE i >= 0", []string{pk(0) + "[0..2047]"}},                // a filter in a subquery
		// Each branch of a UNION ALL pruned by its own filter.
		{"SELECT r AS v FROM pk WHERE k = 104098 UNION ALL SELECT r FROM pk WHERE k = 4", []string{pk(1) + "[2048..4095]", pk(0) + "[0..2047]"}},
		// A window planned in stages: its scan stage pruned alike.
		{"SELECT r * 10 + row_number() OVER (ORDER BY r) AS v FROM pk WHERE k BETWEEN 204000 AND 204100", []string{pk(2) + "[0..4095]"}},
		// Nothing proven: every file read.
		{"SELECT r AS v FROM pk WHERE k = 104098.5", nil},                // a DECIMAL
		{"SELECT r AS v FROM pk WHERE CAST(k AS INTEGER) = 104098", nil}, // a cast column
		{"SELECT r AS v FROM pk WHERE k = 104098 OR r = 5", nil},         // OR
		{"SELECT r AS v FROM pk WHERE k = NULL", nil},
		{"SELECT r AS v FROM pk WHERE k = '104098'", nil},                                // a string
		{"SELECT r AS v FROM pk WHERE k = 170141183460469231731687303715884105727", nil}, // a HUGEINT
	}
	var whole []string
	for f := range 4 {
		whole = append(whole, pk(f)+"[0..6143]")
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) { checkPruned(t, cl, dir, views, c.q, c.slices, whole) })
	}
}

// TestPruneUnderHivePaths: a path holding column=value (a hive partition,
// which DuckDB detects in any listed path, whatever the pattern) still
// prunes by the statistics of the file's own columns, but a column the
// path gives is never pruned by the file's statistics, even where the file
// holds a column of that name: DuckDB answers with the path's value.
func TestPruneUnderHivePaths(t *testing.T) {
	dir := t.TempDir()
	year, kdir := filepath.Join(dir, "year=2024"), filepath.Join(dir, "k=5")
	for _, d := range []string{year, kdir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	views := pruneData(t, year)
	pruneData(t, kdir)
	// The pattern names no partition; the files' paths do.
	views = append(views, fmt.Sprintf("CREATE VIEW hk AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "k*", "pk-*.parquet")))
	cl := pruneCluster(t, dir, views)
	wholeOf := func(d string) []string {
		var out []string
		for f := range 4 {
			out = append(out, filepath.Join(d, fmt.Sprintf("pk-%d.parquet", f))+"[0..6143]")
		}
		return out
	}
	cases := []struct {
		q, dir string
		slices []string
	}{
		{"SELECT r AS v FROM pk WHERE k = 104098", year, []string{filepath.Join(year, "pk-1.parquet") + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE year = 2024", year, nil},
		{"SELECT r AS v FROM pk WHERE year = 2024 AND k < 4000", year, []string{filepath.Join(year, "pk-0.parquet") + "[0..2047]"}},
		{"SELECT r AS v FROM hk WHERE k = 5", kdir, nil},      // every row: k is 5 by the path
		{"SELECT r AS v FROM hk WHERE k = 104098", kdir, nil}, // no row, though the file's k has it
		{"SELECT r AS v FROM hk WHERE i = 104098", kdir, []string{filepath.Join(kdir, "pk-1.parquet") + "[2048..4095]"}},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) { checkPruned(t, cl, dir, views, c.q, c.slices, wholeOf(c.dir)) })
	}
}

// pruneCluster starts a cluster of two executors reading dir, one slice
// a file of 6,144 rows, with the views.
func pruneCluster(t *testing.T, dir string, views []string) *flightsql.Client {
	t.Helper()
	_, cl := pruneCoordinator(t, dir, views)
	return cl
}

// pruneCoordinator is pruneCluster, and its coordinator.
func pruneCoordinator(t *testing.T, dir string, views []string) (*Coordinator, *flightsql.Client) {
	t.Helper()
	c, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.TaskRows = 6144
	})
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	return c, cl
}

// checkPruned plans q and checks its slices are want (nil: every file
// whole, whole, and nothing explained as pruned), that it has an endpoint
// and the schema of one column v, and that its answer is DuckDB's.
func checkPruned(t *testing.T, cl *flightsql.Client, dir string, views []string, q string, want, whole []string) {
	t.Helper()
	info, e := explained(t, cl, q)
	var got []string
	for _, p := range e.Plan {
		got = append(got, p.Slice)
	}
	pruned := want != nil
	if len(e.Stages) > 0 {
		// The one slice left: the window runs in the task that
		// scans it (fused), rather than over four files' tasks.
		got, want = []string{fmt.Sprint(len(e.Stages), " ", e.Stages[0].Tasks)}, []string{"1 1"}
	} else {
		got = joinRanges(t, got)
	}
	if want == nil {
		want = whole
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("slices %v, want %v (pruned %q)", got, want, e.Pruned)
	}
	if !pruned != (len(e.Pruned) == 0) {
		t.Errorf("explained as pruned %q", e.Pruned)
	}
	if len(info.Endpoint) == 0 {
		t.Fatal("no endpoint")
	}
	if s, err := flight.DeserializeSchema(info.Schema, nil); err != nil || s.NumFields() != 1 || s.Field(0).Name != "v" {
		t.Fatalf("schema %v (%v)", s, err)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// explained plans q: its FlightInfo and how it was split.
func explained(t *testing.T, cl *flightsql.Client, q string) (*flight.FlightInfo, explanation) {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var e explanation
	if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
		t.Fatal(err)
	}
	return info, e
}

// joinRanges joins slices of adjacent row ranges of a file into one (the
// scheduler may cut a scan's last rows finer, see tailRows).
func joinRanges(t *testing.T, sl []string) []string {
	t.Helper()
	var out []string
	var file string
	var lo, hi int64
	for _, s := range sl {
		f, r, ok := strings.Cut(s, "[")
		var a, b int64
		if _, err := fmt.Sscanf(r, "%d..%d]", &a, &b); !ok || err != nil {
			t.Fatalf("slice %q", s)
		}
		if f == file && a == hi+1 {
			hi = b
			out[len(out)-1] = fmt.Sprintf("%s[%d..%d]", f, lo, hi)
			continue
		}
		file, lo, hi = f, a, b
		out = append(out, s)
	}
	return out
}

// pruneDateData writes pd: three files of three row groups of 2,048 rows
// each, sorted by d (DATE) and ts (TIMESTAMP), across 1970-01-01. Row n
// (r) is in row group G = n / 2048 of them all; d is 1969-06-01 plus
// 40G + (n % 2048) / 64 days (row group 5 holds 1969-12-18 .. 1970-01-18,
// gaps of 8 days between row groups), ts 1969-12-31 12:00:00.25 plus
// 3000G + n % 2048 minutes (row group 8 ends at 1970-01-18 14:07:00.25),
// tz is ts as a TIMESTAMPTZ, and in the last file d is NULL in its first
// row group and every tenth row.
func pruneDateData(t *testing.T, dir string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	for f := range 3 {
		d := "DATE '1969-06-01' + (n // 2048 * 40 + n % 2048 // 64)::INTEGER"
		if f == 2 {
			d = "CASE WHEN n < 14336 OR n % 10 = 0 THEN NULL ELSE " + d + " END"
		}
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT %[1]s AS d, TIMESTAMP '1969-12-31 12:00:00.25' + to_minutes(n // 2048 * 3000 + n %% 2048) AS ts,
  (TIMESTAMP '1969-12-31 12:00:00.25' + to_minutes(n // 2048 * 3000 + n %% 2048))::TIMESTAMPTZ AS tz, n AS r
FROM (SELECT %[2]d * 6144 + range AS n FROM range(6144))) TO '%[3]s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, d, f, filepath.Join(dir, fmt.Sprintf("pd-%d.parquet", f))))
	}
	return []string{fmt.Sprintf("CREATE VIEW pd AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "pd-*.parquet"))}
}

// TestPruneByDateBounds is TestPruneByKeyBounds for DATE and TIMESTAMP
// columns compared with constants of their type: the row groups their
// statistics rule out (dates before 1970 included, µs exact) are not
// read; a TIMESTAMPTZ, a cast column, a constant of another type or a
// string keep every slice. Every answer is DuckDB's.
func TestPruneByDateBounds(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	dir := t.TempDir()
	views := pruneDateData(t, dir)
	cl := pruneCluster(t, dir, views)
	pd := func(f int) string { return filepath.Join(dir, fmt.Sprintf("pd-%d.parquet", f)) }
	empty := []string{pd(0) + "[0..2047]"}
	cases := []struct {
		q      string
		slices []string // nil: every file whole
	}{
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-12-31'", []string{pd(1) + "[4096..6143]"}},
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-07-05'", empty},                                   // between two row groups
		{"SELECT r AS v FROM pd WHERE d < DATE '1969-06-01'", empty},                                   // below all
		{"SELECT r AS v FROM pd WHERE d > DATE '1970-05-18'", empty},                                   // above all
		{"SELECT r AS v FROM pd WHERE d >= DATE '1970-05-18'", []string{pd(2) + "[4096..6143]"}},       // the greatest
		{"SELECT r AS v FROM pd WHERE d <= DATE '1969-06-01'", []string{pd(0) + "[0..2047]"}},          // the least
		{"SELECT r AS v FROM pd WHERE d >= DATE '1970-01-20'", []string{pd(2) + "[2048..6143]"}},       // a row group of only NULLs
		{"SELECT r AS v FROM pd WHERE d IS NULL", []string{pd(2) + "[0..6143]"}},                       // NULLs
		{"SELECT r AS v FROM pd WHERE CAST('1969-07-15' AS DATE) >= d", []string{pd(0) + "[0..4095]"}}, // CAST, flipped
		{"SELECT r AS v FROM pd WHERE d BETWEEN DATE '1969-12-01' AND '1970-01-01'::DATE", []string{pd(1) + "[2048..6143]"}},
		{"SELECT r AS v FROM pd WHERE d IN (DATE '1969-06-05', DATE '1970-04-20', DATE '1971-01-01')", []string{pd(0) + "[0..2047]", pd(2) + "[4096..6143]"}},
		{"SELECT r AS v FROM pd WHERE ts = TIMESTAMP '1970-01-08 20:05:00.25'", []string{pd(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pd WHERE ts BETWEEN TIMESTAMP '1970-01-05' AND TIMESTAMP '1970-01-07'", []string{pd(0) + "[4096..6143]", pd(1) + "[0..2047]"}},
		{"SELECT r AS v FROM pd WHERE ts < TIMESTAMP '1969-12-31 12:00:00.25'", empty},                                 // below the least by 0 µs
		{"SELECT r AS v FROM pd WHERE ts > TIMESTAMP '1970-01-18 14:07:00.25'", empty},                                 // above the greatest
		{"SELECT r AS v FROM pd WHERE ts >= TIMESTAMP '1970-01-18 14:07:00.250000'", []string{pd(2) + "[4096..6143]"}}, // the greatest
		{"SELECT r AS v FROM pd WHERE ts > TIMESTAMP '1970-01-18 14:07:00.249999'", []string{pd(2) + "[4096..6143]"}},  // 1 µs below it
		{"SELECT r AS v FROM pd WHERE ts IN (TIMESTAMP '1970-01-01 00:00:00.25', TIMESTAMP '1970-01-10 22:00:00.25')", []string{pd(0) + "[0..2047]", pd(1) + "[4096..6143]"}},
		{"SELECT r AS v FROM pd WHERE ts = TIMESTAMP '1970-01-02 13:00:00'", empty}, // between two row groups
		// Nothing proven: every file read.
		{"SELECT r AS v FROM pd WHERE tz >= TIMESTAMPTZ '1970-01-18 00:00:00+00'", nil},    // a TIMESTAMPTZ
		{"SELECT r AS v FROM pd WHERE CAST(d AS TIMESTAMP) = TIMESTAMP '1969-12-31'", nil}, // a cast column
		{"SELECT r AS v FROM pd WHERE d = TIMESTAMP '1969-12-31 00:00:00'", nil},           // a DATE against a TIMESTAMP: the column cast
		{"SELECT r AS v FROM pd WHERE ts <= DATE '1970-01-18'", nil},                       // a TIMESTAMP against a DATE
		{"SELECT r AS v FROM pd WHERE d = '1969-12-31'", nil},                              // a string
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-12-31 (BC)'", nil},                    // a date's text not taken
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-12-31' OR r = 5", nil},                // OR
	}
	var whole []string
	for f := range 3 {
		whole = append(whole, pd(f)+"[0..6143]")
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) { checkPruned(t, cl, dir, views, c.q, c.slices, whole) })
	}
}

// pruneMixedData writes, for each of a few types, two files of three row
// groups of 2,048 rows: pm<name>-0.parquet of k BIGINT (100000 + 2n,
// sorted) and pm<name>-1.parquet of k of that type (from n, sorted), r the
// row's number; the view pm<name> reads both as one scan, whose k is the
// first file's BIGINT (the second file's values cast).
func pruneMixedData(t *testing.T, dir string, types map[string]string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	var views []string
	for name, k := range types {
		for f, k := range []string{"(100000 + range * 2)::BIGINT", k} {
			ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT %s AS k, (%d * 6144 + range)::BIGINT AS r FROM range(6144))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`, k, f, filepath.Join(dir, fmt.Sprintf("pm%s-%d.parquet", name, f))))
		}
		views = append(views, fmt.Sprintf("CREATE VIEW pm%s AS SELECT * FROM read_parquet('%s')", name, filepath.Join(dir, "pm"+name+"-*.parquet")))
	}
	return views
}

// TestPruneChecksIntegerStorage: integer statistics prune only files whose
// column is stored as a signed integer. A file of the same column stored
// as a string (whose bounds are the least and greatest text: '0' and '999'
// for 0..2047), an unsigned integer or a DECIMAL, which the scan casts to
// the first file's BIGINT, keeps every slice; a signed INTEGER prunes as a
// BIGINT does. Every answer is DuckDB's.
func TestPruneChecksIntegerStorage(t *testing.T) {
	dir := t.TempDir()
	views := pruneMixedData(t, dir, map[string]string{"str": "range::VARCHAR", "u": "range::UBIGINT",
		"dec": "(range / 4)::DECIMAL(18,2)", "int": "range::INTEGER"})
	cl := pruneCluster(t, dir, views)
	pm := func(name string, f int) string { return filepath.Join(dir, fmt.Sprintf("pm%s-%d.parquet", name, f)) }
	for _, c := range []struct {
		view, q string
		slices  []string // nil: every file whole
	}{
		{"str", "SELECT r AS v FROM pmstr WHERE k = 1500", nil}, // in the first row group, past its text bounds
		{"u", "SELECT r AS v FROM pmu WHERE k = 1500", nil},
		{"dec", "SELECT r AS v FROM pmdec WHERE k = 1500", nil},
		{"int", "SELECT r AS v FROM pmint WHERE k = 1500", []string{pm("int", 1) + "[0..2047]"}},
	} {
		t.Run(c.q, func(t *testing.T) {
			checkPruned(t, cl, dir, views, c.q, c.slices, []string{pm(c.view, 0) + "[0..6143]", pm(c.view, 1) + "[0..6143]"})
		})
	}
}

// A point lookup prepared with a parameter (what JDBC programs and BI
// tools send) prunes as the query written with the constant: PlanBound
// writes the value as a cast of its text, which pruning once took for no
// constant, every file read (a tester's, 2026-12-05).
func TestPruneByBoundParameter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	views := pruneData(t, dir)
	cl := pruneCluster(t, dir, views)
	ctx := context.Background()
	for _, key := range []int64{104098, 204098} { // the second after the plan of the first
		p, err := cl.Prepare(ctx, "SELECT r AS v FROM pk WHERE k = ?")
		if err != nil {
			t.Fatal(err)
		}
		rec := paramRecord(t, key)
		p.SetParameters(rec)
		rec.Release()
		info, err := p.Execute(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var e explanation
		if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
			t.Fatal(err)
		}
		f := key / 100000
		if len(e.Plan) != 1 || e.Plan[0].Slice != filepath.Join(dir, fmt.Sprintf("pk-%d.parquet", f))+"[2048..4095]" || len(e.Pruned) == 0 {
			t.Errorf("k = %d bound: slices %+v, pruned %q; want one row group of pk-%d", key, e.Plan, e.Pruned, f)
		}
		_ = p.Close(ctx)
	}
}
