package partition

import (
	"fmt"
	"slices"
)

// SELECT DISTINCT ON (k) ... ORDER BY k, x keeps, of each group of rows
// equal in k, the first in the ORDER BY's order: a top-1 per group. Each
// slice's own first row of a group is computed by the same query over
// the slice, and the final step, the same DISTINCT ON and ORDER BY over
// the slices' rows, keeps the first of those, which is the group's first
// row of all: the first row of the whole group is the first of its slice.
// Under LIMIT n, each slice keeps its first n+offset groups: a group among
// the answer's has its first row in some slice, and every group ahead of
// it there is ahead of it in the answer too. Without ORDER BY, DISTINCT ON
// keeps any row of each group, and so does the split.
//
// The targets and ORDER BY terms must be output columns (the final step
// reads only those). A large answer is range-partitioned by its first
// ORDER BY key (order.go) only when that key is a DISTINCT ON target, so
// that a group's rows share a partition.

// planDistinctOn records the output column each DISTINCT ON target of
// the query's DISTINCT modifier in mods names, if it has targets.
func (a *Analysis) planDistinctOn(mods []any) error {
	sel := list(a.root, "select_list")
	for _, m := range mods {
		mn, _ := m.(map[string]any)
		targets := list(mn, "distinct_on_targets")
		if str(mn, "type") != "DISTINCT_MODIFIER" || len(targets) == 0 {
			continue
		}
		for _, t := range targets {
			tn, _ := t.(map[string]any)
			idx, err := outputIndex(tn, sel)
			if err != nil {
				return local("DISTINCT ON a value that is not selected")
			}
			a.distinctOn = append(a.distinctOn, clone(tn))
			a.distinctOnIdx = append(a.distinctOnIdx, idx)
		}
	}
	return nil
}

// distinctOnRefs are the final step's DISTINCT ON targets: the output
// columns the query's name (by names), those it writes as positions or
// columns of a lone * as written; none for a plain DISTINCT.
func (a *Analysis) distinctOnRefs(names []string) ([]any, error) {
	on := []any{}
	for i, t := range a.distinctOn {
		idx := a.distinctOnIdx[i]
		if idx < 0 {
			on = append(on, clone(t))
			continue
		}
		if idx >= len(names) {
			return nil, fmt.Errorf("partition: DISTINCT ON column %d of %d", idx, len(names))
		}
		on = append(on, columnRef(names[idx]))
	}
	return on, nil
}

// groupsInRange says rows equal in every DISTINCT ON target share the
// partition of a range partitioning by output column idx (the first
// ORDER BY key): idx is one of the targets, or there are none.
func (a *Analysis) groupsInRange(idx int) bool {
	return a.distinctOn == nil || slices.Contains(a.distinctOnIdx, idx)
}
