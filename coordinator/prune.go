package coordinator

import (
	"context"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// scanSlices are a split scan's slices (d.slices) less those whose row
// groups the query's filter provably rejects, from the files' statistics
// (partition's Prune); what was dropped and why is added to notes, for
// --explain. all are the slices before pruning: their files, not the
// slices kept, are part of the plan cache's key, so a plan checked for one constant of a
// filter is reused for another (partition.MarkLiterals), pruned again for
// each. The slices kept are joined into the tasks d.slices asks for when
// they are whole files (partition.Coalesce): pruned first, since a slice
// of several files is pruned only as a whole.
func (d *dist) scanSlices(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis, notes *[]string) (kept, all []partition.Slice, err error) {
	all, _, group, err := d.slices(ctx, conn, seen, a)
	if err != nil || a.Format != partition.Parquet {
		return all, all, err
	}
	kept, p := a.Prune(all)
	if s := p.String(); s != "" {
		*notes = append(*notes, s)
	}
	if group == nil {
		return kept, all, nil
	}
	if _, _, ok := a.AnyRowsLimit(); ok {
		// Any n rows, run in rounds (firstrows.go): the first round's
		// slices as they are, a file or less each, and the rest joined
		// as a split scan's are, for the later rounds of a selective
		// filter that reads them all.
		first := min(d.slots(), len(kept))
		return append(kept[:first:first], group(kept[first:])...), all, nil
	}
	return group(kept), all, nil
}
