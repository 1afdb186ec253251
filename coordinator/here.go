package coordinator

import (
	"context"
	"fmt"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/partition"
)

// A plan of one task whose inputs are small runs here, on the
// coordinator's DuckDB, as a local query does (--local-max-rows; 0: never).
// One task on an executor adds no parallelism to the query, only fixed
// costs: its dispatch through the scheduler, the executor's prepare of
// the task's SQL, its result spooled there and relayed through the
// coordinator when the client reads it that way (a merge, proxy mode),
// and the executor's DuckDB, often given fewer threads than the
// coordinator's. For a query reading few rows those costs are most of its
// time (TPC-H SF1, 2 executors x 1 thread: a correlated count over
// supplier took 24.4 ms as one task, 13.8 ms here). The bound is on the
// rows of the files the query reads, from their Parquet footers (each scan
// counted, a file read twice counted twice; CSV and JSON, whose rows the
// footers do not give, never run here for this), so that a large one-task
// plan (every query, while one executor thread takes tasks) still runs on
// an executor and the coordinator does not become the cluster's
// bottleneck. A query of one scan whose filter's Parquet statistics
// refute row groups counts those it may match only (a point lookup in
// files sorted by its key reads one row group: DuckDB skips the others by
// the same statistics). A query asking for any n rows of a scan (LIMIT n without
// ORDER BY or WHERE, a table's preview) reads its first rows only, n of
// them and the rest of a row group: its n is the bound, whatever its files
// hold. A local query runs in the session's own DuckDB connection,
// sandboxed as every local query is (allowed directories, locked
// configuration).

// runHere says why p, the query's plan, runs on the coordinator instead
// ("" if it does not): p is one task in all, and the files the query
// reads (marked, its AST; views, the catalog's) hold fewer rows than
// --local-max-rows, or the task reads fewer first rows of a scan.
func (d *dist) runHere(ctx context.Context, conn *duck.Conn, seen listings, p *planned, marked []byte, views func(catalog, schema, name string) (partition.View, bool)) string {
	if d.localMaxRows <= 0 || p.taskCount() != 1 {
		return ""
	}
	if p.firstRows > 0 && p.firstRows < d.localMaxRows {
		return fmt.Sprintf("one task reading the first %s rows of a scan, under --local-max-rows %s: the coordinator runs it, "+
			"with no dispatch to an executor and no result relayed", groupDigits(p.firstRows), groupDigits(d.localMaxRows))
	}
	if p.filteredRows > 0 {
		if p.filteredRows >= d.localMaxRows {
			return ""
		}
		return fmt.Sprintf("one task reading %s rows of the row groups its filter may match (Parquet statistics), under "+
			"--local-max-rows %s: the coordinator runs it, with no dispatch to an executor and no result relayed",
			groupDigits(p.filteredRows), groupDigits(d.localMaxRows))
	}
	w, err := partition.WholeQuery(marked, views)
	if err != nil || w.Text {
		return "" // it reads more than files, or rows no footer counts
	}
	var rows int64
	for _, paths := range w.Scans {
		files, err := d.filesOnce(ctx, conn, seen, paths)
		if err != nil {
			return ""
		}
		if rows += totalRows(files); rows >= d.localMaxRows {
			return ""
		}
	}
	return fmt.Sprintf("one task reading %s rows, under --local-max-rows %s: the coordinator runs it, "+
		"with no dispatch to an executor and no result relayed", groupDigits(rows), groupDigits(d.localMaxRows))
}

// taskCount is the number of tasks of the plan, every stage's.
func (p *planned) taskCount() int {
	if p.stages == nil {
		return len(p.tasks)
	}
	n := 0
	for _, s := range p.stages {
		n += len(s.tasks)
	}
	return n
}

// ranHere is p marked to run on the coordinator for the reason why (a
// copy: p may be a cached plan that other queries share).
func (p *planned) ranHere(why string) *planned {
	q := *p
	q.here = why
	return &q
}
