package partition

import "encoding/json"

// arg_max(a, v) (and arg_min, their aliases max_by, min_by, argmax,
// argmin) is a at the row of the largest v, ignoring rows whose a or v is
// NULL; what an analyst writes for "the latest status per customer". Each
// slice gives its own arg_max(a, v) and the v it was found at, max(v) over
// the same rows (those whose a is not NULL, and that the call's FILTER
// accepts), and the final step is arg_max over those pairs: the largest v
// of all is the largest of some slice's. arg_max_null keeps rows whose a
// is NULL, so its slice's v is max(v) over every row. Two rows tied on v
// give either one's a, in DuckDB's plan as in the split. The form with a
// count n (a list of the top n) stays as before.

// argExtremes maps each name to the aggregate that gives the v its
// partial was found at, and whether rows with a NULL a count.
var argExtremes = map[string]struct {
	extreme  string
	keepNull bool
}{
	"arg_max": {"max", false}, "argmax": {"max", false}, "max_by": {"max", false}, "arg_max_null": {"max", true},
	"arg_min": {"min", false}, "argmin": {"min", false}, "min_by": {"min", false}, "arg_min_null": {"min", true},
}

func init() {
	for name := range argExtremes {
		decomposable[name] = argExtreme
		arity[name] = 2
	}
}

// argExtreme is the final arg_max (or its kin) over each slice's partial
// and the v it was found at.
func argExtreme(c Node, p func(Node) Node) Node {
	name := str(c, "function_name")
	how := argExtremes[name]
	args := list(c, "children") // arity and shape checked by rewrite
	a, _ := args[0].(map[string]any)
	v, _ := args[1].(map[string]any)
	at := filtered(function(how.extreme, clone(v)), c)
	if !how.keepNull {
		notNull := Node{"class": "OPERATOR", "type": "OPERATOR_IS_NOT_NULL", "alias": "",
			"query_location": json.Number(noLocation), "children": []any{clone(a)}}
		conds := []any{notNull}
		if f := child(c, "filter"); f != nil {
			conds = append(conds, clone(f))
		}
		at["filter"] = and(conds)
	}
	return function(name, p(c), p(at))
}
