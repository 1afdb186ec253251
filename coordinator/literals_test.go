package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// planCount is the plan cache's lookups so far with result (hit, miss).
func planCount(t *testing.T, c *Coordinator, result string) float64 {
	t.Helper()
	return counted(t, c.dist.planLookups, result)
}

// TestPlanReusedForOtherConstants plans point lookups, ranges and IN
// lists one after the other with other constants: a query of the shape of
// one planned before (its WHERE's comparisons of a column with constants
// of the same types) reuses its checked plan, pruned for its own
// constants, which keep other slices, one for an empty answer, or all.
// A constant of another type (BIGINT, VARCHAR for INTEGER), a LIMIT or a
// constant outside the WHERE's comparisons is another plan. Every answer
// is DuckDB's.
func TestPlanReusedForOtherConstants(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	dir := t.TempDir()
	views := append(pruneData(t, dir), pruneDateData(t, dir)...)
	c, cl := pruneCoordinator(t, dir, views)
	pk := func(f int) string { return filepath.Join(dir, fmt.Sprintf("pk-%d.parquet", f)) }
	pd := func(f int) string { return filepath.Join(dir, fmt.Sprintf("pd-%d.parquet", f)) }
	var wholeK, wholeD []string
	for f := range 4 {
		wholeK = append(wholeK, pk(f)+"[0..6143]")
	}
	for f := range 3 {
		wholeD = append(wholeD, pd(f)+"[0..6143]")
	}
	cases := []struct {
		q      string
		hit    bool
		slices []string // nil: every file whole
	}{
		{"SELECT r AS v FROM pk WHERE k = 104098", false, []string{pk(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k = 204098", true, []string{pk(2) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k = 104095", true, []string{pk(0) + "[0..2047]"}}, // the empty answer
		{"SELECT r AS v FROM pk WHERE k = 999999", true, []string{pk(0) + "[0..2047]"}},
		{"SELECT r AS v FROM pk WHERE k = -8", true, []string{pk(0) + "[0..2047]"}},
		{"SELECT r AS v FROM pk WHERE k = 204098", true, []string{pk(2) + "[2048..4095]"}},   // the constants it was written with
		{"SELECT r AS v FROM pk WHERE k = 5000000000", false, []string{pk(0) + "[0..2047]"}}, // a BIGINT constant
		{"SELECT r AS v FROM pk WHERE k = 6000000000", true, []string{pk(0) + "[0..2047]"}},
		{"SELECT r AS v FROM pk WHERE k = '104098'", false, nil}, // a VARCHAR: nothing pruned
		{"SELECT r AS v FROM pk WHERE k = '4'", true, nil},
		{"SELECT r AS v FROM pk WHERE k < '4' AND k > '-1'", false, nil}, // strings cast to the column's type
		{"SELECT r AS v FROM pk WHERE k < '104100' AND k > '104000'", true, nil},
		{"SELECT r AS v FROM pk WHERE k = 104098.5", false, nil}, // a DECIMAL
		{"SELECT r AS v FROM pk WHERE k = 104098.0", true, nil},
		{"SELECT r AS v FROM pk WHERE r > -0.5", false, nil},
		{"SELECT r AS v FROM pk WHERE r > 0.5", true, nil},
		{"SELECT r AS v FROM pk WHERE k = 4 AND r = 2", false, []string{pk(0) + "[0..2047]"}},
		{"SELECT r AS v FROM pk WHERE k = 104098 AND r = 8193", true, []string{pk(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k = 104098 AND r = 8194", true, []string{pk(1) + "[2048..4095]"}}, // the empty answer
		{"SELECT r AS v FROM pk WHERE k <> 4 AND i > 304000", false, []string{pk(3) + "[2048..6143]"}},
		{"SELECT r AS v FROM pk WHERE k <> 104100 AND i > 100000", true, []string{pk(1) + "[0..6143]", pk(2) + "[0..6143]", pk(3) + "[2048..6143]"}},
		{"SELECT r AS v FROM pk WHERE k BETWEEN 4090 AND 4100", false, []string{pk(0) + "[0..4095]"}},
		{"SELECT r AS v FROM pk WHERE k BETWEEN 204000 AND 204100", true, []string{pk(2) + "[0..4095]"}},
		{"SELECT r AS v FROM pk WHERE k IN (5, 304100)", false, []string{pk(0) + "[0..2047]", pk(3) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k IN (104098, 8)", true, []string{pk(0) + "[0..2047]", pk(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k IN (104098, 8, 9)", false, []string{pk(0) + "[0..2047]", pk(1) + "[2048..4095]"}}, // a longer list
		// A constant in the select list, or under a function, is the plan's.
		{"SELECT r + 1 AS v FROM pk WHERE k = 104098", false, []string{pk(1) + "[2048..4095]"}},
		{"SELECT r + 2 AS v FROM pk WHERE k = 104098", false, []string{pk(1) + "[2048..4095]"}},
		{"SELECT r AS v FROM pk WHERE k = abs(104098)", false, nil},
		{"SELECT r AS v FROM pk WHERE k = abs(204098)", false, nil},
		// An aggregate's merge.
		{"SELECT count(*) AS v FROM pk WHERE k >= 304000", false, []string{pk(3) + "[2048..6143]"}},
		{"SELECT count(*) AS v FROM pk WHERE k >= 4", true, []string{pk(0) + "[0..6143]", pk(1) + "[0..6143]", pk(2) + "[0..6143]", pk(3) + "[2048..6143]"}},
		// DATE and TIMESTAMP constants: the string cast is the constant.
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-12-20'", false, []string{pd(1) + "[4096..6143]"}},
		{"SELECT r AS v FROM pd WHERE d = DATE '1969-06-03'", true, []string{pd(0) + "[0..2047]"}},
		{"SELECT r AS v FROM pd WHERE ts < TIMESTAMP '1969-12-31 12:00:00.25'", false, []string{pd(0) + "[0..2047]"}}, // the empty answer
		{"SELECT r AS v FROM pd WHERE ts < TIMESTAMP '1970-01-02 00:00:00'", true, []string{pd(0) + "[0..2047]"}},
	}
	for _, q := range cases {
		t.Run(q.q, func(t *testing.T) {
			// A text planned before is taken whole from the plans kept
			// by text (textplan.go): a hit too.
			hits, misses := planCount(t, c, "hit")+keptHits(t, c), planCount(t, c, "miss")
			want := q.slices
			whole := wholeK
			if strings.Contains(q.q, "FROM pd") {
				whole = wholeD
			}
			checkPruned(t, cl, dir, views, q.q, want, whole)
			dh, dm := planCount(t, c, "hit")+keptHits(t, c)-hits, planCount(t, c, "miss")-misses
			if q.hit && (dh != 1 || dm != 0) || !q.hit && (dh != 0 || dm != 1) {
				t.Errorf("plan cache hits %v, misses %v; want a hit: %v", dh, dm, q.hit)
			}
		})
	}
}

// TestPlanNotReusedPastLimit plans one filter under LIMITs: the limit is
// the plan's, another filter constant is not, and every answer is
// DuckDB's.
func TestPlanNotReusedPastLimit(t *testing.T) {
	dir := t.TempDir()
	views := pruneData(t, dir)
	c, cl := pruneCoordinator(t, dir, views)
	cases := []struct {
		q   string
		hit bool
	}{
		{"SELECT r AS v FROM pk WHERE k >= 100000 ORDER BY r LIMIT 3", false},
		{"SELECT r AS v FROM pk WHERE k >= 100000 ORDER BY r LIMIT 4", false},
		{"SELECT r AS v FROM pk WHERE k >= 200000 ORDER BY r LIMIT 4", true},
		{"SELECT r AS v FROM pk WHERE k >= 200000 ORDER BY r LIMIT 4 OFFSET 2", false},
	}
	for _, q := range cases {
		t.Run(q.q, func(t *testing.T) {
			hits, misses := planCount(t, c, "hit"), planCount(t, c, "miss")
			info, err := cl.Execute(context.Background(), q.q)
			if err != nil {
				t.Fatal(err)
			}
			sameAsDuckDB(t, cl, dir, views, q.q, info)
			dh, dm := planCount(t, c, "hit")-hits, planCount(t, c, "miss")-misses
			if q.hit && dh < 1 || !q.hit && dh != 0 || !q.hit && dm < 1 {
				t.Errorf("plan cache hits %v, misses %v; want a hit: %v", dh, dm, q.hit)
			}
		})
	}
}

// TestPlanLiteralsAsParameters explains a point lookup: its task SQL
// takes the key as a parameter cast to the constant's type, after the
// slice's, and the task carries the key's text.
func TestPlanLiteralsAsParameters(t *testing.T) {
	dir := t.TempDir()
	views := pruneData(t, dir)
	cl := pruneCluster(t, dir, views)
	for _, q := range []string{"SELECT r AS v FROM pk WHERE k = 104098", "SELECT r AS v FROM pk WHERE k = 204098"} {
		info, e := explained(t, cl, q)
		if !strings.HasSuffix(e.TaskSQL, "WHERE (k = CAST($4 AS INTEGER))") || strings.Contains(e.TaskSQL, "4098") {
			t.Errorf("task SQL %s: want the key as parameter $4", e.TaskSQL)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
}

// TestPlanReusedWhole plans lookups that run whole as one task (inputs
// under --split-min-rows): one of the shape of a lookup planned before
// reuses its plan, its SQL taking the constants as parameters, whatever
// rows they find; a constant of another type or a LIMIT is another
// plan. The first query of a shape that joins plans its stages too, once
// (whether they are one stage gathered, splitGathers): a miss more. Every
// answer is DuckDB's.
func TestPlanReusedWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	views := pruneData(t, dir)
	c, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.SplitMinRows = 1 << 40
	})
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		q   string
		hit bool
	}{
		{"SELECT r AS v FROM pk WHERE k = 104098", false},
		{"SELECT r AS v FROM pk WHERE k = 204098", true},
		{"SELECT r AS v FROM pk WHERE k = 104095", true}, // the empty answer
		{"SELECT r AS v FROM pk WHERE k = 5000000000", false},
		{"SELECT r AS v FROM pk WHERE k = '104098'", false},
		{"SELECT r AS v FROM pk WHERE k = '4'", true},
		{"SELECT r AS v FROM pk WHERE k IN (4, 104098) AND r < 9000", false},
		{"SELECT r AS v FROM pk WHERE k IN (8, 204098) AND r < 20000", true},
		{"SELECT r AS v FROM pk WHERE k > 4 ORDER BY r LIMIT 3", false},
		{"SELECT r AS v FROM pk WHERE k > 4 ORDER BY r LIMIT 4", false},
		{"SELECT r AS v FROM pk WHERE k > 8 ORDER BY r LIMIT 4", true},
		// A lookup written as a WITH: its CTE's constants too.
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 104098) SELECT r AS v FROM w", false},
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 204098) SELECT r AS v FROM w", true},
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 104095) SELECT r AS v FROM w", true},
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 104098) SELECT r AS v FROM w WHERE r < 9000", false},
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 4) SELECT r AS v FROM w WHERE r < 20000", true},
		{"WITH w AS (SELECT r, k FROM pk WHERE k IN (4, 104098)) SELECT a.r AS v FROM w a JOIN w b USING (k)", false},
		{"WITH w AS (SELECT r, k FROM pk WHERE k IN (8, 204098)) SELECT a.r AS v FROM w a JOIN w b USING (k)", true},
		{"WITH w AS (SELECT r, k FROM pk WHERE k = 5000000000) SELECT r AS v FROM w", false},
	}
	for _, q := range cases {
		t.Run(q.q, func(t *testing.T) {
			hits, misses := planCount(t, c, "hit"), planCount(t, c, "miss")
			info, e := explained(t, cl, q.q)
			if wholeWhat(t, e) == "" {
				t.Fatalf("planned %s, %d tasks: want one task of the whole query", e.Mode, e.Tasks)
			}
			if q.hit && !strings.Contains(e.Plan[0].SQL+e.TaskSQL+fmt.Sprint(e.Stages), "$1") {
				t.Errorf("the task's SQL takes no parameter: %+v", e.Stages)
			}
			sameAsDuckDB(t, cl, dir, views, q.q, info)
			dh, dm := planCount(t, c, "hit")-hits, planCount(t, c, "miss")-misses
			staged := 0.0
			if strings.Contains(q.q, " JOIN ") {
				staged = 1 // a miss of its plan in stages, when not a hit
			}
			if q.hit && (dh != 1 || dm != 0) || !q.hit && (dh != 0 || dm != 1+staged) {
				t.Errorf("plan cache hits %v, misses %v; want a hit: %v", dh, dm, q.hit)
			}
		})
	}
}
