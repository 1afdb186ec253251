package coordinator

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/skeindb/skein/internal/ducktest"
)

// A sort without LIMIT is range-partitioned: the FlightInfo says ordered,
// its endpoints are the partitions in order, each holds rows, and read in
// order they are DuckDB's answer in DuckDB's order, in direct and proxy
// mode (where the coordinator redeems each endpoint on its own); in
// single mode, the one endpoint streams the partitions in that order.
func TestRangeOrderedEndpoints(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	queries := []string{
		"SELECT k, x, c FROM fact ORDER BY x DESC NULLS LAST, k",
		"SELECT k, CASE WHEN k % 5 = 0 THEN NULL ELSE c END AS cn FROM fact ORDER BY cn NULLS FIRST, k",
		"SELECT k, CASE WHEN k % 5 = 0 THEN NULL ELSE d END AS dn FROM fact ORDER BY 2 DESC NULLS FIRST, 1",
		"SELECT f.k, o.od, dim.name FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d ORDER BY o.od, dim.name DESC, f.k",
	}
	dir := t.TempDir()
	views := stageData(t, dir)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	ctx := context.Background()
	for _, mode := range []string{"direct", "proxy", "single"} {
		t.Run(mode, func(t *testing.T) {
			_, cl, _ := startCluster(t, 3, mode, func(c *Config) {
				c.AllowDirs = append(c.AllowDirs, dir)
				c.TaskRows = 4000
				c.BroadcastRows = 4000
			})
			for _, v := range views {
				if _, err := cl.ExecuteUpdate(ctx, v); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range queries {
				want := duckInOrder(t, ref, q)
				info, err := cl.Execute(ctx, q)
				if err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				var e explanation
				if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
					t.Fatal(err)
				}
				endpoints := 3
				if mode == "single" {
					endpoints = 1
				}
				if !info.Ordered || e.Mode != "stages" || !e.Ordered || len(info.Endpoint) != endpoints || len(e.Plan) != 3 {
					t.Fatalf("%s: ordered %v, mode %s, %d endpoints of %d tasks; want ordered stages with %d endpoints of 3",
						q, info.Ordered, e.Mode, len(info.Endpoint), len(e.Plan), endpoints)
				}
				var got []string
				for i, ep := range info.Endpoint {
					rdr, err := cl.DoGet(ctx, ep.Ticket)
					if err != nil {
						t.Fatal(err)
					}
					rows := rowStrings(t, rdr)
					rdr.Release()
					got = append(got, rows...)
					// The sampled boundaries spread the rows.
					if len(rows) == 0 {
						t.Errorf("%s: partition %d is empty", q, i)
					}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: the endpoints in order give %d rows %.200v\nwant %d rows %.200v", q, len(got), got, len(want), want)
				}
			}
		})
	}
}

// An ORDER BY item after a star (or an unnest) is not at its place among
// the output columns: SELECT *, -k AS nk ... ORDER BY nk sorted the
// partial results by the star's second column, and the answer had other
// rows in another order (a helper's differential test, 2026-12-05); so
// did DISTINCT ON and ORDER BY ALL beside an unnest of a struct. The
// answers, in order, are DuckDB's; a sort by an alias or a column still
// splits, sorted by its output column's name.
func TestOrderByAnItemBesideAStar(t *testing.T) {
	_, cl, ref := stagedCluster(t, "proxy")
	ctx := context.Background()
	for q, splits := range map[string]bool{
		"SELECT *, -k AS nk FROM fact ORDER BY nk LIMIT 5":                              true,
		"SELECT *, x * 2 AS x2 FROM fact ORDER BY x2 DESC NULLS LAST, k":                true,
		"SELECT * EXCLUDE (x), -x AS x FROM fact ORDER BY x, k LIMIT 5":                 true,
		"SELECT * EXCLUDE (k), k FROM fact ORDER BY k DESC LIMIT 5":                     true,
		"SELECT COLUMNS('^[kd]$'), k * 2 AS k2 FROM fact ORDER BY k2 DESC LIMIT 5":      true,
		"SELECT *, x * 2 FROM fact ORDER BY x * 2, k LIMIT 5":                           true,
		"SELECT unnest({'a': k % 5, 'b': d}), k FROM fact ORDER BY ALL DESC LIMIT 5":    false,
		"SELECT DISTINCT ON (d) unnest({'a': k, 'b': c}), d, k FROM fact ORDER BY d, k": false,
		"SELECT unnest({'a': k % 5, 'b': c}), k FROM fact ORDER BY k DESC LIMIT 5":      true,
	} {
		want := duckInOrder(t, ref, q)
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if mode := planOf(t, info).Mode; splits && mode == "local" {
			t.Errorf("%s runs local", q)
		}
		var got []string
		for _, ep := range info.Endpoint {
			rdr, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rowStrings(t, rdr)...)
			rdr.Release()
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d rows %.200v\nwant DuckDB's %d rows %.200v", q, len(got), got, len(want), want)
		}
	}
}
