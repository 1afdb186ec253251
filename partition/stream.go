package partition

// readOnce says, for each of the stage's inputs, whether the task query n
// reads it exactly once: from one table reference, outside every WITH
// clause. Such an input can be streamed into the query (a stream can be
// scanned once); any other must be loaded into a table first. A reference
// in a CTE counts as many, since DuckDB may inline the CTE where it is
// read, or read a materialized CTE more than once. A query with a window
// function reads every input more than once: DuckDB's optimizer may turn
// an aggregate OVER (PARTITION BY ...) into a join of the input with its
// own aggregate, which scans the input twice.
func (s *Stage) readOnce(n Node) []bool {
	r := reads{tables: map[string]int{}}
	r.count(n, false)
	once := make([]bool, len(s.Inputs))
	if r.windows > 0 {
		return once
	}
	for i, in := range s.Inputs {
		once[i] = r.tables[in.Table] == 1
	}
	return once
}

// reads counts a query's references to each unqualified table, and its
// window functions.
type reads struct {
	tables  map[string]int
	windows int
}

// count adds what v holds; a table reference in a WITH clause counts
// twice.
func (r *reads) count(v any, inCTE bool) {
	switch v := v.(type) {
	case map[string]any:
		if str(v, "class") == "WINDOW" {
			r.windows++
		}
		if str(v, "type") == "BASE_TABLE" && str(v, "schema_name") == "" && str(v, "catalog_name") == "" {
			r.tables[str(v, "table_name")]++
			if inCTE {
				r.tables[str(v, "table_name")]++
			}
		}
		for k, x := range v {
			r.count(x, inCTE || k == "cte_map")
		}
	case []any:
		for _, x := range v {
			r.count(x, inCTE)
		}
	}
}
