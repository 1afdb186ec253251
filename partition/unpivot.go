package partition

// UNPIVOT in FROM (`t UNPIVOT (v FOR k IN (a, b))`, and the UNPIVOT
// statement, which DuckDB serializes as that) turns each row of its source
// into one row per unpivoted column (less those whose value is NULL,
// without INCLUDE NULLS): every output row comes from one source row, as a
// filter's or a projection's does. A scan under it therefore splits as a
// scan under a FROM subquery that only filters and projects does: each task
// runs the UNPIVOT over its slice, and the query over those rows
// (findScan descends through it to the scan). Its source must be a Parquet
// scan, directly or through such subqueries; over a join, or a subquery
// that groups, it stays local.

// unpivotOver accepts the UNPIVOT p for findScan to look for the scan
// under it: one without a sample of its own, whose IN lists hold nothing
// a task could evaluate differently (they name columns, or COLUMNS(...)
// of the source's).
func (a *Analysis) unpivotOver(p Node) error {
	switch {
	case len(list(p, "aggregates")) > 0 || len(list(p, "groups")) > 0:
		return local("a PIVOT that also unpivots")
	case p["sample"] != nil:
		return local("an UNPIVOT with a sample")
	case child(p, "source") == nil:
		return local("an UNPIVOT without a source")
	}
	return a.checkExprs(list(p, "pivots"))
}
