package partition

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Set operations with exchanges: each side is planned on its own (as a
// query of its own, or one task reading it whole), and its rows are
// shuffled by all their columns, each cast to the set operation's column
// type so that equal rows hash alike; each task of the set operation's
// stage applies it to one partition of both sides. Equal rows meet in one
// partition, so UNION, INTERSECT and EXCEPT, with or without ALL, give
// DuckDB's answer (a UNION ALL's rows need not meet: they hash as their
// own types). ORDER BY and LIMIT on the result make it one task. A run of
// one UNION (or UNION ALL) over many branches is one stage reading them
// all (setopBranches).

// analyzeSetOp accepts a set operation for setopStages.
func analyzeSetOp(root Node, env Env) (*Analysis, error) {
	if err := inlineCTEs(root, env.withs); err != nil {
		return nil, err
	}
	if err := inlineViews(root, env.View, env.withs); err != nil {
		return nil, err
	}
	if err := asofOuter(root); err != nil {
		return nil, err
	}
	if err := bindNowOnce(root, &env); err != nil {
		return nil, err
	}
	if err := byName(root, env); err != nil {
		return nil, err
	}
	if err := checkSetOp(root); err != nil {
		return nil, err
	}
	if !containsKind(root, "TABLE_FUNCTION") && !anyNode(root, env.withs.has) {
		return nil, local("a set operation reading no files")
	}
	if err := subqueryReadsFiles(root, env.withs); err != nil {
		return nil, err
	}
	return &Analysis{root: root, env: env, setop: true, Mode: ScatterMerge}, nil
}

func checkSetOp(n Node) error {
	if str(n, "type") != "SET_OPERATION_NODE" {
		return nil
	}
	switch str(n, "setop_type") {
	case "UNION", "INTERSECT", "EXCEPT":
	default:
		return local("a %s", str(n, "setop_type"))
	}
	for _, m := range list(n, "modifiers") {
		mn, _ := m.(map[string]any)
		if t := str(mn, "type"); t != "ORDER_MODIFIER" && t != "LIMIT_MODIFIER" {
			return local("modifier %q on a set operation", t)
		}
	}
	if err := checkExprs(n["modifiers"]); err != nil {
		return err
	}
	if err := checkSetOp(child(n, "left")); err != nil {
		return err
	}
	return checkSetOp(child(n, "right"))
}

// setopStages plans the set operation at a.root.
func (a *Analysis) setopStages() (*Plan, error) {
	p := &Plan{}
	if _, err := a.setopNode(p, a.root); err != nil {
		return nil, err
	}
	return p, nil
}

// setopNode adds the stages computing n to p and returns the last one.
// The sides of one stage are n's branches (setopBranches): a UNION of
// many queries, which DuckDB parses as a tree of binary set operations, is
// one stage reading each branch's stages side by side, not a chain of stages each
// reading the one below (whose tickets, holding their producers', grew
// with the fan-in at every level).
func (a *Analysis) setopNode(p *Plan, n Node) (*Stage, error) {
	cols, err := a.env.Columns(subquery(clone(n), "skein_setop"))
	if err != nil {
		return nil, local("columns of a set operation: %v", err)
	}
	paths, err := a.setopBranches(n, cols, nil)
	if err != nil {
		return nil, err
	}
	sides := make([]*Stage, len(paths))
	for i, path := range paths {
		side := at(n, path)
		if str(side, "type") == "SET_OPERATION_NODE" {
			if sides[i], err = a.setopNode(p, side); err != nil {
				return nil, err
			}
			continue
		}
		if sides[i], err = a.sideStages(p, side); err != nil {
			return nil, err
		}
	}
	tasks := max(a.env.Partitions, 1)
	if len(list(n, "modifiers")) > 0 {
		tasks = 1
	}
	unionAll := str(n, "setop_type") == "UNION" && n["setop_all"] == true
	op := p.add(&Stage{Tasks: tasks, What: fmt.Sprintf("%s%s of its sides' partitions", str(n, "setop_type"), map[bool]string{true: " ALL"}[n["setop_all"] == true])})
	for i, side := range sides {
		sideCols, err := a.env.Columns(subquery(clone(at(n, paths[i])), "skein_side"))
		if err != nil || len(sideCols) != len(cols) {
			return nil, local("columns of a set operation's side: %v", errors.Join(err))
		}
		keys := make([]Key, len(cols))
		for c := range cols {
			keys[c] = Key{Column: sideCols[c].Name}
			// A UNION ALL keeps every row in whichever partition: equal
			// rows need not meet, and hash as their side's types.
			if sideCols[c].Type != cols[c].Type && !unionAll {
				// Only a type without parameters is written as a plain
				// cast (DuckDB's AST spells the others' details).
				if strings.ContainsAny(cols[c].Type, "(<[ ") {
					return nil, local("set operation sides of types %s and %s", sideCols[c].Type, cols[c].Type)
				}
				keys[c].Cast = cols[c].Type
			}
		}
		p.feed(side, op, Shuffle, keys)
	}
	op.node = func(_ Node, input func(int, string) Node) (Node, error) {
		out := clone(n)
		for i, path := range paths {
			parent := at(out, path[:len(path)-1])
			parent[path[len(path)-1]] = selectNode([]any{star()}, input(i, fmt.Sprintf("skein_side%d", i)))
		}
		return out, nil
	}
	return op, nil
}

// setopBranches gives the paths (from n, by "left" and "right") of the
// branches one stage applies set operation n to, left to right: its two
// sides, and in place of a side that is the same UNION as n (with or
// without ALL) with no ORDER BY or LIMIT of its own, that side's branches.
// n's stage runs the tree as DuckDB parsed it, over the branches' rows. A
// UNION's (without ALL) side must also be of n's column types: its
// branches' rows are cast to its types before n's, and hashed as n's
// straight from a branch's, equal rows could land apart.
func (a *Analysis) setopBranches(n Node, cols []Column, path []string) ([][]string, error) {
	var out [][]string
	unionAll := n["setop_all"] == true
	for _, key := range []string{"left", "right"} {
		side := child(n, key)
		p := append(slices.Clone(path), key)
		if str(side, "type") != "SET_OPERATION_NODE" || str(side, "setop_type") != "UNION" ||
			str(n, "setop_type") != "UNION" || side["setop_all"] != n["setop_all"] || len(list(side, "modifiers")) > 0 {
			out = append(out, p)
			continue
		}
		if !unionAll {
			sideCols, err := a.env.Columns(subquery(clone(side), "skein_setop"))
			if err != nil {
				return nil, local("columns of a set operation: %v", err)
			}
			if !sameTypes(sideCols, cols) {
				out = append(out, p)
				continue
			}
		}
		more, err := a.setopBranches(side, cols, p)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

func sameTypes(a, b []Column) bool {
	return slices.EqualFunc(a, b, func(x, y Column) bool { return x.Type == y.Type })
}

// at is the node at path (keys of nested nodes) from n.
func at(n Node, path []string) Node {
	for _, k := range path {
		n = child(n, k)
	}
	return n
}

// sideStages plans one side of a set operation: as a query (forced into
// stages) when it splits, else one task reading it whole.
func (a *Analysis) sideStages(p *Plan, side Node) (*Stage, error) {
	cols, err := a.env.Columns(subquery(clone(side), "skein_side"))
	if err != nil {
		return nil, local("columns of a set operation's side: %v", err)
	}
	names := make([]string, len(cols))
	seen := map[string]bool{}
	for i, c := range cols {
		names[i] = c.Name
		if seen[c.Name] {
			return nil, local("a set operation's side with two columns named %s", c.Name)
		}
		seen[c.Name] = true
	}
	sp := a.subqueryPlan(side, names, false)
	p.prepend(sp)
	return p.Stages[len(sp.Stages)-1], nil
}
