package partition

import "strings"

// inlineCTEs replaces each reference to a WITH name of root by the CTE's
// query as a FROM subquery, as a view is seen through: the stages then
// see the files it reads. A CTE is a name for its query; evaluating it
// where it is read gives the same rows (nothing volatile is allowed
// anyway). Recursive CTEs, and a name some inner WITH defines again, keep
// the query local.
func inlineCTEs(root Node) error {
	entries := list(child(root, "cte_map"), "map")
	if len(entries) == 0 {
		return nil
	}
	defs := map[string]Node{}
	for _, e := range entries {
		en, _ := e.(map[string]any)
		name := strings.ToLower(str(en, "key"))
		val := child(en, "value")
		node := child(child(val, "query"), "node")
		switch {
		case name == "" || node == nil:
			return local("a malformed WITH clause")
		case len(list(val, "key_targets")) > 0 || str(node, "type") == "RECURSIVE_CTE_NODE" ||
			str(node, "type") == "CTE_NODE":
			return local("a recursive WITH")
		}
		sub := subquery(clone(node), str(en, "key"))
		sub["column_name_alias"] = cloneAny(list(val, "aliases"))
		// A CTE may read the ones before it.
		if err := replaceCTERefs(child(child(sub, "subquery"), "node"), defs); err != nil {
			return err
		}
		defs[name] = sub
	}
	root["cte_map"] = Node{"map": []any{}}
	return replaceCTERefs(root, defs)
}

// replaceCTERefs replaces table references to defs' names in n; what it
// puts in is not searched again.
func replaceCTERefs(n Node, defs map[string]Node) error {
	for _, e := range list(child(n, "cte_map"), "map") {
		en, _ := e.(map[string]any)
		if _, ok := defs[strings.ToLower(str(en, "key"))]; ok {
			return local("a WITH name defined twice")
		}
	}
	if str(n, "type") == "BASE_TABLE" && str(n, "schema_name") == "" && str(n, "catalog_name") == "" {
		if def, ok := defs[strings.ToLower(str(n, "table_name"))]; ok {
			if n["at_clause"] != nil || len(list(n, "column_name_alias")) > 0 {
				return local("a WITH name read with column aliases or AT")
			}
			repl := clone(def)
			if alias := str(n, "alias"); alias != "" {
				repl["alias"] = alias
			}
			repl["sample"] = n["sample"]
			clear(n)
			for k, v := range repl {
				n[k] = v
			}
			return nil
		}
	}
	for _, v := range n {
		if err := replaceIn(v, defs); err != nil {
			return err
		}
	}
	return nil
}

func replaceIn(v any, defs map[string]Node) error {
	switch v := v.(type) {
	case map[string]any:
		return replaceCTERefs(v, defs)
	case []any:
		for _, x := range v {
			if err := replaceIn(x, defs); err != nil {
				return err
			}
		}
	}
	return nil
}

func cloneAny(l []any) []any {
	out := make([]any, len(l))
	copy(out, l)
	return out
}
