package partition

import (
	"errors"
	"strings"
)

// Whole is a query run whole, as one task on one executor: when splitting
// cannot pay (one executor thread, or inputs so small that exchanges and
// per-task costs outweigh the parallel work), the executor's DuckDB runs
// the query as written, with all its threads, and its answer is DuckDB's
// by construction. Executors know no views, so the query's views are
// inlined, as they are in any task; WITH clauses stay as written.
type Whole struct {
	// AST is the statement a task runs (for json_deserialize_sql).
	AST []byte
	// Scans are the paths or globs of each file scan the query reads,
	// a scan read twice listed twice (its rows are read twice).
	Scans [][]string
	// Text says a scan reads CSV or JSON files, whose rows the planner
	// cannot count from metadata.
	Text bool
}

// ErrNotWhole says a query reads something an executor cannot run it
// over: a table, a table function other than the file readers, a
// computed path.
var ErrNotWhole = errors.New("partition: the query reads more than files")

// WholeQuery is the query of serialized (json_serialize_sql) as one task
// runs it, its views (views resolves them) inlined; ErrNotWhole when it
// reads anything but files named by constants, directly, through views or
// through WITH clauses. It does not say the query is safe to run away from
// the coordinator (deterministic, no session state): Analyze does.
func WholeQuery(serialized []byte, views func(catalog, schema, name string) (View, bool)) (*Whole, error) {
	root, err := statementRoot(serialized)
	if err != nil {
		return nil, err
	}
	if err := inlineViews(root, views, nil); err != nil {
		return nil, err
	}
	if err := asofOuter(root); err != nil {
		return nil, err
	}
	ctes := map[string]bool{}
	collectCTEs(root, ctes)
	w := &Whole{}
	bad := anyNode(root, func(n Node) bool {
		switch str(n, "type") {
		case "BASE_TABLE":
			// Left by inlining: a WITH result, or a table or a view
			// views does not know.
			return !ctes[strings.ToLower(str(n, "table_name"))]
		case "TABLE_FUNCTION":
			text := textReaders[str(child(n, "function"), "function_name")]
			if !isParquetScan(n) && !text {
				return true
			}
			paths, err := scanPaths(n, true)
			if err != nil {
				return true
			}
			w.Scans = append(w.Scans, paths)
			w.Text = w.Text || text
		}
		return false
	})
	if bad {
		return nil, ErrNotWhole
	}
	if w.AST, err = statement(root); err != nil {
		return nil, err
	}
	return w, nil
}
