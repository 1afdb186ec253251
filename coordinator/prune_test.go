package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/flight"
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
	dir := t.TempDir()
	views := pruneData(t, dir)
	_, cl, _ := startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		c.TaskRows = 6144
	})
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	pk := func(f int) string { return filepath.Join(dir, fmt.Sprintf("pk-%d.parquet", f)) }
	cases := []struct {
		q string
		// slices: the slices planned, "" for every file whole (nothing
		// pruned).
		slices []string
	}{
		{"SELECT r AS v FROM pk WHERE k = 104098", []string{pk(1) + "[2048..4095]"}},
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
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			info, err := cl.Execute(context.Background(), c.q)
			if err != nil {
				t.Fatal(err)
			}
			var e explanation
			if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range e.Plan {
				got = append(got, p.Slice)
			}
			want := c.slices
			if len(e.Stages) > 0 {
				// The one slice left: the window runs in the task that
				// scans it (fused), rather than over four files' tasks.
				got, want = []string{fmt.Sprint(len(e.Stages), " ", e.Stages[0].Tasks)}, []string{"1 1"}
			} else {
				got = joinRanges(t, got)
			}
			if want == nil {
				for f := range 4 {
					want = append(want, pk(f)+"[0..6143]")
				}
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("slices %v, want %v (pruned %q)", got, want, e.Pruned)
			}
			if (c.slices == nil) != (len(e.Pruned) == 0) {
				t.Errorf("explained as pruned %q", e.Pruned)
			}
			if len(info.Endpoint) == 0 {
				t.Fatal("no endpoint")
			}
			if s, err := flight.DeserializeSchema(info.Schema, nil); err != nil || s.NumFields() != 1 || s.Field(0).Name != "v" {
				t.Fatalf("schema %v (%v)", s, err)
			}
			sameAsDuckDB(t, cl, dir, views, c.q, info)
		})
	}
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
