package flightsql_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
)

// Filter patterns keep LIKE's meaning (% any string, _ one character, \
// escaping, case-sensitive) and are matched in time linear in the name:
// "%_" a dozen times against a 5,000-character table name, which DuckDB's
// LIKE took minutes of a core to refuse, answers at once.
func TestFilterPatternsMatchAsLike(t *testing.T) {
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	long := strings.Repeat("a", 5000)
	for _, n := range []string{"a_b", "axb", "a%b", "ab", "a.b", long} {
		if _, err := c.ExecuteUpdate(ctx, fmt.Sprintf(`CREATE TABLE "%s" (i INT)`, n)); err != nil {
			t.Fatal(err)
		}
	}
	tables := func(pattern string) []string {
		t.Helper()
		info, err := c.GetTables(ctx, &flightsql.GetTablesOpts{Catalog: ptr("data"), DbSchemaFilterPattern: ptr("ma_n"), TableNameFilterPattern: &pattern})
		if err != nil {
			t.Fatalf("%q: %v", pattern, err)
		}
		_, recs := fetch(t, ctx, c, info)
		var out []string
		for _, r := range recs {
			col := r.Column(2).(*array.String)
			for i := range col.Len() {
				out = append(out, col.Value(i))
			}
		}
		slices.Sort(out)
		return out
	}
	for pattern, want := range map[string][]string{
		`a_b`:                          {"a%b", "a.b", "a_b", "axb"},
		`a\_b`:                         {"a_b"},
		`a\%b`:                         {"a%b"},
		`a%b`:                          {"a%b", "a.b", "a_b", "ab", "axb"},
		`a.b`:                          {"a.b"}, // no regular expression's metacharacters
		`A_B`:                          nil,
		`%`:                            {"a%b", "a.b", "a_b", "ab", long, "axb"},
		strings.Repeat("%_", 12) + "z": nil,
	} {
		slices.Sort(want)
		if got := tables(pattern); !slices.Equal(got, want) {
			t.Errorf("%q: %d tables %.40q, want %.40q", pattern, len(got), got, want)
		}
	}
}
