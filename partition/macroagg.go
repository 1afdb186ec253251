package partition

import (
	"errors"
	"strings"
)

// MacroBodiesSQL lists DuckDB's own scalar macros, a row for each
// overload: its lower-case name and its body's AST as AddMacros takes it.
const MacroBodiesSQL = `SELECT lower(function_name), CAST(json_serialize_sql('SELECT ' || macro_definition) AS VARCHAR)
FROM duckdb_functions() WHERE function_type = 'macro' AND internal AND macro_definition IS NOT NULL`

// AddMacros adds to a the macros that aggregate. DuckDB expands a macro
// where it is called, so geomean(x) (exp(avg(ln(x)))), json_group_array
// or weighted_avg aggregate the rows as the aggregates in their bodies
// do: taken for scalar functions, a scan split into n slices gave n rows.
// bodies are each macro's bodies (one per overload), by lower-case name,
// as json_serialize_sql gives SELECT body; a macro calling an aggregate,
// or such a macro, outside a subquery of its own, is one. The planner
// knows no partial form of it, so it is computed whole, by one task or
// one per group.
func (a Aggregates) AddMacros(bodies map[string][][]byte) error {
	calls := map[string][]string{}
	for name, bs := range bodies {
		for _, b := range bs {
			root, err := statementRoot(b)
			if errors.Is(err, ErrLocal) {
				continue // DuckDB does not serialize it (TestVolatileCoversDuckDB fails then)
			}
			if err != nil {
				return err
			}
			calls[name] = append(calls[name], functionsOutsideSubqueries(root["select_list"])...)
		}
	}
	for changed := true; changed; {
		changed = false
		for name, called := range calls {
			for _, c := range called {
				if !a[name] && a[c] {
					a[name], changed = true, true
				}
			}
		}
	}
	return nil
}

// functionsOutsideSubqueries are the lower-case names of the functions v
// calls, but in subqueries, whose aggregates aggregate their own rows.
func functionsOutsideSubqueries(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		switch str(v, "class") {
		case "SUBQUERY":
			return nil
		case "FUNCTION":
			out = append(out, strings.ToLower(str(v, "function_name")))
		}
		for _, x := range v {
			out = append(out, functionsOutsideSubqueries(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, functionsOutsideSubqueries(x)...)
		}
	}
	return out
}
