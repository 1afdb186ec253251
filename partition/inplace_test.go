package partition

import "testing"

// The inputs a join's tasks read themselves: small Parquet inputs, not
// the split scan's partners, not one whose filters DuckDB would have to
// guess unless its files are tiny, and fewer as the tasks grow.
func TestInPlace(t *testing.T) {
	scan := Node{"type": "TABLE_FUNCTION"}
	sub := Node{"type": "SUBQUERY", "subquery": Node{"node": Node{"where_clause": Node{"class": "SUBQUERY"}}}}
	filter := []any{Node{"class": "COMPARISON"}}
	leaves := []leaf{
		{alias: "lineitem", node: scan, split: true, rows: 6_000_000},
		{alias: "customer", node: scan, split: true, rows: 150_000},
		{alias: "partsupp", node: scan, split: true, rows: 800_000},
		{alias: "part", node: scan, split: true, rows: 200_000, pushed: filter},
		{alias: "region", node: scan, split: true, rows: 5, pushed: filter},
		{alias: "orders", node: scan, split: true, rows: 1_500_000},
		{alias: "r", node: scan, split: true, rows: 10, withs: true},
		{alias: "csv", node: scan, rows: -1},
		{alias: "unknown", node: scan, split: true, rows: -1},
		{alias: "full", node: scan, split: true, rows: 10, underFull: true},
		{alias: "nested", node: sub, split: true, rows: 10},
		{alias: "nation", node: scan, split: true, rows: 25},
	}
	ranged := &keyed{slices: make([]Slice, 2), ranged: []rangedInput{{leaf: 5}}}
	for _, c := range []struct {
		name       string
		y          int
		rj         *keyed
		partitions int
		want       string
	}{
		{"2 tasks", -1, ranged, 2, "customer region nation"},
		// customer's 150,000 rows are more than an eighth of the
		// 750,000 each of 8 tasks splits.
		{"8 tasks", -1, nil, 8, "region nation"},
		{"co-partitioned with orders", 5, nil, 2, "customer region nation"},
		{"split scan of no known size", -1, nil, 2, ""},
	} {
		ls := append([]leaf(nil), leaves...)
		if c.name == "split scan of no known size" {
			ls[0].rows = -1
		}
		j := &joinShape{leaves: ls, s: 0, y: c.y, rj: c.rj, res: resolver{leaves: ls}}
		j.local = j.inPlace(c.partitions)
		got := ""
		for i, in := range j.local {
			if in {
				if got != "" {
					got += " "
				}
				got += ls[i].alias
			}
		}
		if got != c.want {
			t.Errorf("%s: read in place %q, want %q", c.name, got, c.want)
		}
		for i, in := range j.local {
			if in && j.shipped(i) {
				t.Errorf("%s: %s read in place and shipped", c.name, ls[i].alias)
			}
		}
	}
}
