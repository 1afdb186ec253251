package coordinator

import (
	"context"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// scanSlices are a split scan's slices (d.slices) less those whose row
// groups the query's filter provably rejects, from the files' statistics
// (partition's Prune); what was dropped and why is added to notes, for
// --explain. The slices are part of the plan cache's key, and the filter's
// constants of the query's AST, so a plan pruned for one constant is never
// reused for another.
func (d *dist) scanSlices(ctx context.Context, conn *duck.Conn, seen listings, a *partition.Analysis, notes *[]string) ([]partition.Slice, error) {
	sl, err := d.slices(ctx, conn, seen, a)
	if err != nil || a.Format != partition.Parquet {
		return sl, err
	}
	sl, p := a.Prune(sl)
	if s := p.String(); s != "" {
		*notes = append(*notes, s)
	}
	return sl, nil
}
