package partition

import (
	"encoding/json"
	"fmt"
)

// GROUPING SETS, ROLLUP and CUBE split as a GROUP BY of all their keys
// does: each slice's partial aggregates by every key, and a final step
// that groups those partial rows by each set, as the query does its rows
// (sums of the partial sums, counts and so on, exact for the aggregates
// that merge). GROUPING() of a key reads the final step's gN column,
// which is that key. A set of no keys over no rows is still one row, in
// DuckDB as in the final step; its count is the COALESCE of no partial
// counts to 0. The final step is shuffled by the keys every set holds
// (a total over all rows, ROLLUP's and CUBE's, leaves none: one task).

// groupingSets says the query groups by more than one set of its keys.
func (a *Analysis) groupingSets() bool {
	return len(list(a.root, "group_sets")) > 1
}

// finalKeys are the partial rows' columns the final step is shuffled by:
// the group keys in every grouping set.
func (a *Analysis) finalKeys() []Key {
	in := make([]int, len(a.groups))
	sets := list(a.root, "group_sets")
	for _, set := range sets {
		l, _ := set.([]any)
		for _, idx := range l {
			if n, ok := idx.(json.Number); ok {
				if i, err := n.Int64(); err == nil && i >= 0 && int(i) < len(in) {
					in[i]++
				}
			}
		}
	}
	var keys []Key
	for i := range a.groups {
		if len(sets) <= 1 || in[i] == len(sets) {
			keys = append(keys, Key{Column: fmt.Sprintf("g%d", i)})
		}
	}
	return keys
}

// allOf is the grouping set of every expression in groups.
func allOf(groups []any) []any {
	set := make([]any, len(groups))
	for i := range groups {
		set[i] = json.Number(fmt.Sprint(i))
	}
	return set
}
