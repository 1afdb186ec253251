package partition

import (
	"strings"
)

// UNION [ALL] BY NAME (files whose schemas grew apart, read as one) is a
// UNION [ALL] of its sides' columns matched by name: DuckDB's result has
// the left side's columns in their order, then the right side's other
// columns in theirs, names compared without case and spelled as they
// first appear, a side without a column giving NULL in it. byName writes
// it so, each side selecting every result column by name from itself as
// a FROM subquery (NULL for one it lacks, cast to the other side's type
// when that is a plain one), and setopStages plans the
// plain set operation; the whole plan is checked against the query's
// result schema before it runs, as any.

// byName rewrites every UNION BY NAME in the set operation tree n, from
// its leaves up, into a plain UNION (see above).
func byName(n Node, env Env) error {
	if str(n, "type") != "SET_OPERATION_NODE" {
		return nil
	}
	for _, side := range []string{"left", "right"} {
		if err := byName(child(n, side), env); err != nil {
			return err
		}
	}
	if str(n, "setop_type") != "UNION_BY_NAME" {
		return nil
	}
	if env.Columns == nil {
		return local("a UNION BY NAME whose sides' columns are unknown")
	}
	var names []string
	sides := map[string][]Column{}
	seen := map[string]bool{}
	types := map[string]string{} // a column's type, as the first side giving it has it
	for _, side := range []string{"left", "right"} {
		cols, err := env.Columns(subquery(clone(child(n, side)), "skein_byname"))
		if err != nil {
			return local("columns of a UNION BY NAME side: %v", err)
		}
		own := map[string]bool{}
		for _, c := range cols {
			k := strings.ToLower(c.Name)
			if own[k] {
				return local("a UNION BY NAME side with two columns named %s", c.Name)
			}
			own[k] = true
			if !seen[k] {
				seen[k] = true
				names = append(names, c.Name)
				types[k] = c.Type
			}
		}
		sides[side] = cols
	}
	for _, side := range []string{"left", "right"} {
		has := map[string]bool{}
		for _, c := range sides[side] {
			has[strings.ToLower(c.Name)] = true
		}
		sl := make([]any, len(names))
		for i, name := range names {
			v := null()
			switch t := types[strings.ToLower(name)]; {
			case has[strings.ToLower(name)]:
				v = qualified("skein_byname", name)
			case !strings.ContainsAny(t, "(<[ "):
				// Of the other side's type, as DuckDB's result has it
				// (a plain type: the AST spells the others' details).
				v = cast(t, v)
			}
			sl[i] = withAlias(v, name)
		}
		n[side] = selectNode(sl, subquery(child(n, side), "skein_byname"))
	}
	n["setop_type"] = "UNION"
	return nil
}
