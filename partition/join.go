package partition

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// A join input (a FROM item under the join), as the stage planner sees it.
type leaf struct {
	path []string
	node Node
	// alias is how the query names its columns.
	alias string
	// splittable: reached only through inner and cross joins and the
	// preserved side of left joins, so each output row holds at most one
	// of its rows, and it never supplies NULLs (filters may move into it).
	splittable bool
	// split: it reads a Parquet scan row by row, so it can be split.
	split bool
	// underFull: under a FULL join, whose sides may not be partitioned.
	underFull bool
	// withs: it is a WITH result computed once (cte.go).
	withs bool
	cols  []Column
	rows  int64 // its files' rows (a Parquet scan), else -1
	// size is how many rows it gives after the filters on it alone:
	// DuckDB's estimate when it has some (Env.Estimate), else rows.
	size int64
	// width is about the bytes of one of its rows as the query reads it:
	// the columns it names of it (rowWidths).
	width int64
	// pushed are conjuncts on it alone that it may apply before the
	// join (pushFilters), at sites in the join's owner.
	pushed []any
	sites  []site
}

// joinStages plans a join with exchanges. The split scan S (the
// splittable Parquet scan giving the most rows after the filters on it
// alone) is split by slices, or, when an equality joins it to another
// Parquet input giving more than Env.BroadcastRows rows or than S, both
// are shuffled by their keys (co-partitioned). Every other input is
// read by each join task as the query names it when its files are small
// (inplace.go), or else computed once, with the filters on it alone
// (pushFilters) and only the columns the rest of the query names, and
// broadcast. The join stage runs the query's rows (or partial aggregate)
// over those, without the outer joins' filters their inputs applied.
func (a *Analysis) joinStages(p *Plan) (*Stage, error) {
	j, err := a.joinInputs()
	if err != nil {
		return nil, err
	}
	env := a.env
	joinAt, leaves, natural := j.joinAt, j.leaves, j.natural
	s, y, ykeys, res, rj := j.s, j.y, j.ykeys, j.res, j.rj
	// shipped says input i is computed by a stage of its own: not the
	// split scan read by the join stage itself, nor a WITH result computed
	// once, which stays in the FROM (the plan's last step makes it an
	// input, cte.go), nor an input read in the split scan's key ranges,
	// nor one every join task reads itself.
	shipped := j.shipped
	// An input computed by a stage of its own applies its filters there.
	// The join stage leaves out those of an outer join's ON (the columns
	// only they read are not shipped: TPC-H Q13's o_comment), but keeps
	// the others, and every one beside a subquery: DuckDB plans from the
	// filters it sees (with TPC-H Q3's on orders, a Bloom filter on the
	// lineitem scan; Q17's avg per p_partkey decorrelated for the parts
	// that pass them, not for all of lineitem).
	var drop []site
	beside := hasSubquery(a.root)
	for i, l := range leaves {
		if beside || !shipped(i) {
			continue
		}
		for _, at := range l.sites {
			if at.outer {
				drop = append(drop, at)
			}
		}
	}
	view := clone(a.root)
	dropSites(nodeAt(view, joinAt), drop)
	keep := referencedColumns(view, nodeAt(view, joinAt), natural)
	type fed struct {
		st   *Stage
		path string
		out  OutputKind
		keys []Key
	}
	var inputs []fed
	// finish: the FROM item the join reads for an input whose aggregate it
	// finishes itself (aggleaf.go), by its path.
	finish := map[string]func(input func(int, string) Node) (Node, error){}
	for i := range leaves {
		if !shipped(i) {
			continue
		}
		reduce, by := j.reducers(i) // semijoin.go
		if len(reduce) > 0 {
			leaves[i].pushed = append(slices.Clone(leaves[i].pushed), reduce...)
		}
		st, fin, finBy, err := a.leafStage(p, &leaves[i], keep, j.coKeys[i])
		if err != nil {
			return nil, err
		}
		if len(by) > 0 {
			st.What += ", rows meeting " + strings.Join(by, ", ")
		}
		f := fed{st: st, path: strings.Join(leaves[i].path, "/"), out: Broadcast}
		if fin != nil {
			finish[f.path] = fin
		}
		if keys, ok := j.coKeys[i]; ok {
			f.out, f.keys = Shuffle, keys
			if finBy != nil {
				f.keys = finBy // the partial rows, by their group keys (aggleaf.go)
			}
		} else if y >= 0 && (i == s || i == y) {
			f.out = Shuffle
			side := 0
			if i == y {
				side = 1
			}
			for _, k := range ykeys {
				f.keys = append(f.keys, k[side])
			}
		}
		inputs = append(inputs, f)
	}
	join := p.add(&Stage{})
	bc := map[string]int{} // leaf path: input index
	for _, f := range inputs {
		bc[f.path] = p.feed(f.st, join, f.out, f.keys)
	}
	if y >= 0 {
		join.Tasks = max(env.Partitions, 1)
		join.What = fmt.Sprintf("join of %s and %s co-partitioned", leaves[s].alias, leaves[y].alias)
		if len(ykeys) == 1 && !a.full {
			// Rows of one key meet in one partition (partGroups).
			a.coparted = &keyed{column: ykeys[0][0].Column, same: []keyCol{{s, ykeys[0][0].Column}}, res: res}
			if leaves[y].splittable {
				a.coparted.same = append(a.coparted.same, keyCol{y, ykeys[0][1].Column})
			}
		}
	} else if j.coKeys != nil {
		join.Tasks = max(env.Partitions, 1)
		join.What = "join of " + j.aliases() + " co-partitioned"
	} else if j.gathered {
		join.Tasks = 1
		join.What = "join of " + j.aliases() + ", each whole"
	} else {
		join.Scan = a
		join.What = fmt.Sprintf("join over slices of %s", leaves[s].alias)
	}
	if rj != nil {
		join.Slices, join.What = rj.slices, rj.what(leaves)
		a.keyed = rj
	} else if k := a.groupKeyed(leaves, s, y, res); k != nil {
		join.Slices, a.keyed = k.slices, k
		join.What += fmt.Sprintf(" by ranges of %s (%s)", k.column, k.rangeList())
	}
	join.What += j.inPlaceWhat()
	aliases := map[string]string{}
	for _, l := range leaves {
		aliases[strings.Join(l.path, "/")] = l.alias
	}
	joinNode := func(scan Node, input func(int, string) Node, ranged map[string]Node) (Node, error) {
		subst := map[string]Node{}
		for path, i := range bc {
			subst[path] = input(i, aliases[path])
			if fin := finish[path]; fin != nil {
				n, err := fin(func(_ int, alias string) Node { return input(i, alias) })
				if err != nil {
					return nil, err
				}
				subst[path] = n
			}
		}
		maps.Copy(subst, ranged)
		saved := a.subst
		a.subst = subst
		defer func() { a.subst = saved }()
		out := a.taskNode(a.fromWith(scan))
		dropSites(nodeAt(out, joinAt), drop)
		return out, nil
	}
	join.node = func(scan Node, input func(int, string) Node) (Node, error) { return joinNode(scan, input, nil) }
	if rj != nil {
		join.bySlice = func(sl Slice, scan Node, input func(int, string) Node) (Node, error) {
			return joinNode(scan, input, rj.inputs(sl, leaves))
		}
	}
	return join, nil
}

// joinShape is how a join's inputs are planned (joinInputs): the split
// scan s, the input y co-partitioned with it (-1: none) by ykeys, and
// the inputs read in s's key ranges (rj), those every join task reads
// itself (local); every other input is computed once and broadcast.
type joinShape struct {
	joinAt     []string // the SELECT owning the join, from the root
	owner      Node
	leaves     []leaf
	natural    bool
	s, y       int
	ykeys      [][2]Key
	res        resolver
	equalities []any
	rj         *keyed
	local      []bool
	gathered   bool // every input shipped by stages of its own (gathered.go)
	// coKeys: a gathered join's inputs co-partitioned, each by these keys
	// (coPartition); nil: one task joins them whole.
	coKeys map[int][]Key
}

// shipped says input i is computed by a stage of its own and read from
// an exchange by the join stage.
func (j *joinShape) shipped(i int) bool {
	return (i != j.s || j.y >= 0 || j.gathered) && !j.res.leaves[i].withs && !j.rj.reads(i) && !j.local[i]
}

// joinInputs decides which input of the join is split, which is
// co-partitioned with it, and which are read in its key ranges.
func (a *Analysis) joinInputs() (*joinShape, error) {
	env := a.env
	if env.Columns == nil {
		return nil, local("join inputs' columns are unknown")
	}
	// The join is the FROM of the SELECT at joinAt (the root, or a FROM
	// subquery that only filters and projects).
	joinAt := a.joinOwner()
	owner := Node(a.root)
	for _, k := range joinAt {
		owner = child(owner, k)
	}
	joinPath := append(slices.Clone(joinAt), "from_table")
	leaves, natural, err := collectLeaves(child(owner, "from_table"), joinPath, env.withs)
	if err != nil {
		return nil, err
	}
	s := -1
	for i, l := range leaves {
		if len(l.path) <= len(a.scanPath) && slices.Equal(l.path, a.scanPath[:len(l.path)]) {
			s = i
		}
		if l.alias == "" {
			return nil, local("a join input without a name")
		}
		if leaves[i].cols, err = env.Columns(l.node); err != nil {
			if o := lateralOf(l.node, leaves, i); o != "" {
				return nil, local("join input %s reads columns of input %s (LATERAL, or a table function of its column): it runs once per row of %s, on one node", l.alias, o, o)
			}
			return nil, local("columns of join input %s: %v", l.alias, err)
		}
		seen := map[string]bool{}
		for _, c := range leaves[i].cols {
			if seen[strings.ToLower(c.Name)] {
				return nil, local("join input %s has two columns named %s", l.alias, c.Name)
			}
			seen[strings.ToLower(c.Name)] = true
		}
		leaves[i].rows = -1
		if at, ok := a.scanUnder(l.node, nil); ok && env.Rows != nil {
			scan := l.node
			for _, k := range at {
				scan = child(scan, k)
			}
			leaves[i].split = true
			if paths, err := scanPaths(scan, false); err == nil {
				if n, err := env.Rows(paths); err == nil {
					leaves[i].rows = n
				}
			}
		}
	}
	if s < 0 {
		return nil, fmt.Errorf("partition: the split scan is not a join input")
	}
	res := resolver{leaves: leaves}
	res.pushFilters(owner)
	res.rowWidths(owner)
	for i := range leaves {
		leaves[i].size = estimateSize(&leaves[i], env.Estimate)
	}
	equalities := append(conjuncts(owner["where_clause"]), joinConditions(child(owner, "from_table"))...)
	// The split scan stays findJoinScan's choice when that one reads the
	// input largestInput would split instead in its slices' key ranges:
	// no exchange at all, each task reading its share of both. TPC-H
	// Q12's lineitem and orders, both in order key ranges: 0.098 s ->
	// 0.086 s (2 executors x 1 thread, medians of 9), where orders was
	// split and lineitem's filtered rows broadcast.
	if best := a.largestInput(leaves, s); best != s && !a.rangeJoin(leaves, s, -1, res, equalities).reads(best) {
		s = a.splitAt(leaves, s, best, joinAt)
	}
	// Co-partition S with the largest Parquet input joined to it by
	// equalities of hashable types, if the rows it gives after its own
	// filters are over the threshold or more than S's files hold
	// (broadcast, it would be loaded whole by every task of the smaller S,
	// whose few slices would also run the join alone), or its files hold
	// more than splitMargin times the threshold (an estimate may be that
	// far under). An
	// equality of the WHERE or of an inner join's ON holds for every
	// output row; one of an outer join's ON matches the rows of its
	// null-supplying side to the other's (a FULL join's sides stay
	// whole).
	y, ykeys := -1, [][2]Key(nil)
	for j, l := range leaves {
		if a.gathered {
			break // one task joins every input whole
		}
		small := l.size <= env.BroadcastRows && l.rows <= splitMargin*env.BroadcastRows &&
			(leaves[s].rows < 0 || l.size <= leaves[s].rows)
		if j == s || l.underFull || !l.split || small || (y >= 0 && l.size <= leaves[y].size) {
			continue
		}
		if keys := res.equiKeys(equalities, s, j); len(keys) > 0 {
			y, ykeys = j, keys
		}
	}
	if a.full {
		// A FULL join's sides both keep rows no match found: each must be
		// partitioned by the equalities of its ON, whatever their size.
		y = 1 - s
		if ykeys = res.equiKeys(onConditions(child(owner, "from_table")), s, y); len(ykeys) == 0 {
			from := child(owner, "from_table")
			if str(from, "ref_type") == "ASOF" {
				return nil, local("an ASOF %s join without an equality of hashable columns in its ON", str(from, "join_type"))
			}
			if jt := str(from, "join_type"); jt != "FULL" {
				// pairedScan's: two inputs computed by stages of their own.
				return nil, local("two inputs each computed by stages of its own (aggregates, joins), %s joined without an equality of a column of each in the ON (an expression such as k + 1 is not a key)", strings.ToLower(jt))
			}
			return nil, local("a FULL join without an equality of hashable columns in its ON")
		}
	}
	// Inputs equal to S on a key S's files are clustered by are read by
	// each join task in its slice's key range (rangejoin.go).
	var rj *keyed
	if !a.gathered {
		rj = a.rangeJoin(leaves, s, y, res, equalities)
	}
	if rj != nil {
		y = -1
	}
	for i := range leaves {
		leaves[i].withs = env.withs.has(leaves[i].node)
	}
	j := &joinShape{joinAt: joinAt, owner: owner, leaves: leaves, natural: natural, s: s, y: y, ykeys: ykeys,
		res: res, equalities: equalities, rj: rj, gathered: a.gathered}
	if a.gathered && a.gatherMany {
		// Inputs of many rows, held by one task, would cost more than the
		// query run whole: co-partitioned, or local (gathered.go).
		if j.coKeys = j.coPartition(s); j.coKeys == nil {
			return nil, local("no scan in the join can be split, and its inputs, not all of one row, are not inner joined by equalities to the same columns of one of them")
		}
		a.coShuffled = true
	}
	// Small Parquet inputs every join task reads itself (inplace.go).
	j.local = j.inPlace(env.Partitions)
	a.Pinned = append(a.Pinned, j.pinFiles(env.Files)...)
	return j, nil
}

// splitMargin is how many times more rows than findJoinScan's choice an
// input must give, after the filters on each alone, to be split instead:
// DuckDB estimates a filter it has no statistics for at a fifth of the
// rows, so it can be off by several times (TPC-H Q7's lineitem, a third of
// it kept, is estimated at a fifth, under orders' rows, but close).
const splitMargin = 4

// largestInput is the splittable Parquet input to split instead of S:
// the one giving the most rows after the filters on it alone, if
// findJoinScan's choice (by the files' rows) gives splitMargin times
// fewer, or else the one giving the most bytes (those rows times the
// bytes of the columns the query reads of it), if that choice gives
// splitMargin times fewer bytes; or S. In each task DuckDB builds its hash table on the smaller side of a join and pushes the
// join's filters (min/max, Bloom) into the scan of the other, which must be
// a Parquet scan to take them: the input the join stage reads as Parquet
// had better be the larger, the others arriving as Arrow. TPC-H Q12's
// lineitem has four times the rows of orders, but its filters keep 2% of
// them: split, it had all of orders broadcast to every task, probed whole.
// TPC-DS Q18 names one column of customer_demographics (1.92M rows) and
// nine of catalog_sales (1.44M): split by rows, it had catalog_sales
// broadcast whole to every task (0.655 s against 0.428 s split by bytes,
// before semijoin.go, with which both take about 0.2 s).
func (a *Analysis) largestInput(leaves []leaf, s int) int {
	if a.full || a.gathered || leaves[s].size < 0 {
		return s
	}
	candidate := func(l leaf) bool { return l.splittable && l.split && !l.underFull }
	best := s
	for j, l := range leaves {
		if candidate(l) && l.size > leaves[best].size {
			best = j
		}
	}
	if best == s || leaves[best].size < splitMargin*leaves[s].size {
		best = s
	}
	// Then by bytes, from the choice by rows: TPC-DS Q18's first choice
	// is cd1, filtered; cd2, unfiltered, has 4 times its rows, but
	// catalog_sales 4 times cd2's bytes.
	chosen := best
	for j, l := range leaves {
		if candidate(l) && l.bytes() > leaves[best].bytes() {
			best = j
		}
	}
	if leaves[best].bytes() < splitMargin*leaves[chosen].bytes() {
		best = chosen
	}
	return best
}

// splitAt makes input best the split scan instead of S, and says which
// input the split scan is.
func (a *Analysis) splitAt(leaves []leaf, s, best int, joinAt []string) int {
	at, ok := a.scanUnder(leaves[best].node, leaves[best].path)
	if !ok {
		return s
	}
	was := a.scanPath
	if err := a.useScan(nodeAt(a.root, at), at); err != nil || !slices.Equal(a.joinOwner(), joinAt) {
		// Not expected: the inputs of one join share its owner. Keep S.
		_ = a.useScan(nodeAt(a.root, was), was)
		return s
	}
	return best
}

// joinOwner is the path of the SELECT whose FROM is the join holding the
// split scan.
func (a *Analysis) joinOwner() []string {
	at := []string{}
	for i := 0; i+3 < len(a.scanPath); i += 3 {
		if a.scanPath[i+1] != "subquery" {
			break
		}
		// from_table, subquery, node: a FROM subquery's SELECT.
		next := a.scanPath[:i+3]
		if str(nodeAt(a.root, append(slices.Clone(next), "from_table")), "type") == "" {
			break
		}
		at = slices.Clone(next)
	}
	return at
}

// leafStage is the stage computing one join input: its columns the query
// names, filtered by the conjuncts on it alone; split by slices if it is
// a Parquet scan (or a subquery that filters and projects one), else one
// task reading it whole.
func (a *Analysis) leafStage(p *Plan, l *leaf, keep map[string]bool, by []Key) (*Stage, func(func(int, string) Node) (Node, error), []Key, error) {
	if st, finish, finBy := a.aggregateLeaf(p, l, keep, by); st != nil {
		return st, finish, finBy, nil // aggleaf.go
	}
	root := leafQuery(l, keep)
	la := &Analysis{root: root, env: a.env}
	st := &Stage{What: "input " + l.alias}
	// Not by slices of one side of a FULL join (la.full): every task
	// would read the other side whole and give its unmatched rows again.
	if err := la.findScan(nil, a.env.Aggregates); err == nil && la.inner == nil && !la.full && !la.gathered && la.Format == Parquet && len(la.Paths) > 0 {
		st.Scan = la
		st.What += ", slices of " + strings.Join(la.Paths, ", ")
	} else {
		st.Tasks = 1
		st.What += ", whole"
	}
	if len(l.pushed) > 0 {
		st.What += fmt.Sprintf(", %d filters", len(l.pushed))
	}
	st.node = func(scan Node, _ func(int, string) Node) (Node, error) {
		n := clone(root)
		if scan != nil {
			n["from_table"] = la.fromWith(scan)
		}
		return n, nil
	}
	return p.add(st), nil, nil, nil
}

// leafQuery is the query of one join input as its own stage computes it:
// the columns in keep (nil: all), filtered by the conjuncts on it alone.
func leafQuery(l *leaf, keep map[string]bool) Node {
	var sl []any
	for _, c := range l.cols {
		if keep == nil || keep[strings.ToLower(c.Name)] {
			sl = append(sl, withAlias(qualified(l.alias, c.Name), c.Name))
		}
	}
	if len(sl) == 0 {
		sl = append(sl, withAlias(qualified(l.alias, l.cols[0].Name), l.cols[0].Name))
	}
	root := selectNode(sl, clone(l.node))
	if len(l.pushed) > 0 {
		root["where_clause"] = and(l.pushed)
	}
	return root
}

// estimateSize is how many rows input l gives after the filters pushed
// to it: DuckDB's estimate of its query (its files' rows when it has no
// filters, -1 when not known), or, with several filters, the product of
// each one's selectivity when that is less. DuckDB estimates the filters
// on one scan by one of them: TPC-DS Q26's customer_demographics under
// cd_gender = 'M' AND cd_marital_status = 'S' AND cd_education_status =
// 'College' at 384,160 rows (its estimate under any one of them), where
// 27,440 pass, so it stayed the split scan and catalog_sales (1.44M rows)
// was broadcast to its tasks. Equalities on columns without statistics
// are each estimated at a fifth, and independent filters multiply.
func estimateSize(l *leaf, estimate func(Node) (int64, error)) int64 {
	if estimate == nil || l.rows < 0 || len(l.pushed) == 0 {
		return l.rows
	}
	rows := func(pushed []any) (int64, bool) {
		c := *l
		c.pushed = pushed
		n, err := estimate(leafQuery(&c, nil))
		return n, err == nil
	}
	size := l.rows
	if n, ok := rows(l.pushed); ok && n < size {
		size = n
	}
	if len(l.pushed) > 1 && l.rows > 0 {
		product := float64(l.rows)
		for _, c := range l.pushed {
			n, ok := rows([]any{c})
			if !ok {
				return size
			}
			product *= float64(min(n, l.rows)) / float64(l.rows)
		}
		size = min(size, int64(product))
	}
	return size
}

func qualified(alias, name string) Node {
	n := columnRef(name)
	n["column_names"] = []any{alias, name}
	return n
}

func and(cs []any) Node { return junction("CONJUNCTION_AND", cs) }

// or is the disjunction of cs (one of them alone when there is one).
func or(cs []any) Node { return junction("CONJUNCTION_OR", cs) }

// junction joins conditions cs by an AND or an OR (typ), a copy of the one
// condition when there is one.
func junction(typ string, cs []any) Node {
	if len(cs) == 1 {
		n, _ := cs[0].(map[string]any)
		return clone(n)
	}
	return Node{"class": "CONJUNCTION", "type": typ, "alias": "", "query_location": json.Number(noLocation),
		"children": cloneList(cs)}
}

// collectLeaves lists the FROM items under a join, with whether each is
// splittable; natural says some join is NATURAL (its columns are not
// named in the query).
func collectLeaves(from Node, at []string, w *withs) (leaves []leaf, natural bool, err error) {
	var walk func(n Node, path []string, splittable, full bool) error
	walk = func(n Node, path []string, splittable, full bool) error {
		if str(n, "type") != "JOIN" {
			alias := str(n, "alias")
			if alias == "" && str(n, "type") == "TABLE_FUNCTION" {
				alias = str(child(n, "function"), "function_name")
			}
			if str(n, "type") == "BASE_TABLE" && !w.has(n) {
				return local("a join with table %s", str(n, "table_name"))
			}
			if err := subqueryReadsFiles(n, w); err != nil {
				return err
			}
			leaves = append(leaves, leaf{path: path, node: n, alias: alias, splittable: splittable, underFull: full})
			return nil
		}
		jt := str(n, "join_type")
		switch str(n, "ref_type") {
		case "REGULAR", "CROSS":
		case "NATURAL":
			natural = true
		case "ASOF":
			// Each left row meets the one right row of its equality keys
			// nearest by the inequality, or none: the left input splits;
			// the right one is read whole by every task, or shuffled by
			// those keys with the left (joinConditions), never sliced.
			// ASOF RIGHT or FULL runs local (findJoinScan): neither
			// side splits.
			left := splittable
			if jt != "INNER" && jt != "LEFT" {
				left, full = false, true
			}
			if err := walk(child(n, "left"), append(slices.Clone(path), "left"), left, full); err != nil {
				return err
			}
			return walk(child(n, "right"), append(slices.Clone(path), "right"), false, full)
		default:
			return local("a %s join", str(n, "ref_type"))
		}
		full = full || (jt != "INNER" && jt != "LEFT" && jt != "RIGHT")
		if err := walk(child(n, "left"), append(slices.Clone(path), "left"), splittable && (jt == "INNER" || jt == "LEFT"), full); err != nil {
			return err
		}
		return walk(child(n, "right"), append(slices.Clone(path), "right"), splittable && (jt == "INNER" || jt == "RIGHT"), full)
	}
	err = walk(from, at, true, false)
	return leaves, natural, err
}

// conjuncts splits a condition at its top-level ANDs.
func conjuncts(v any) []any {
	n, _ := v.(map[string]any)
	if n == nil {
		return nil
	}
	if str(n, "class") == "CONJUNCTION" && str(n, "type") == "CONJUNCTION_AND" {
		var out []any
		for _, c := range list(n, "children") {
			out = append(out, conjuncts(c)...)
		}
		return out
	}
	return []any{n}
}

// joinConditions are the conjuncts of the ON conditions of inner, left
// and right joins, and the equalities of their USING columns.
func joinConditions(n Node) []any {
	if str(n, "type") != "JOIN" {
		return nil
	}
	out := append(joinConditions(child(n, "left")), joinConditions(child(n, "right"))...)
	jt, rt := str(n, "join_type"), str(n, "ref_type")
	if (jt == "INNER" || jt == "LEFT" || jt == "RIGHT") && rt == "REGULAR" || (jt == "INNER" || jt == "LEFT") && rt == "ASOF" {
		out = append(out, onConditions(n)...)
	}
	return out
}

// lateralOf is the alias of another of leaves that leaves[i]'s node reads
// a column of (a LATERAL subquery, unnest(a.l) in FROM), or "".
func lateralOf(n Node, leaves []leaf, i int) string {
	for j, o := range leaves {
		if j != i && o.alias != "" && anyNode(n, func(c Node) bool {
			names := list(c, "column_names")
			return str(c, "class") == "COLUMN_REF" && len(names) > 1 && strings.EqualFold(fmt.Sprint(names[0]), o.alias)
		}) {
			return o.alias
		}
	}
	return ""
}

// onConditions are the conjuncts of join n's ON, or the equalities of its
// USING.
func onConditions(n Node) []any {
	out := conjuncts(n["condition"])
	for _, u := range list(n, "using_columns") {
		if name, ok := u.(string); ok {
			out = append(out, usingEquality{name: name, left: child(n, "left"), right: child(n, "right")})
		}
	}
	return out
}

// usingEquality is JOIN ... USING (name): the column of the left side
// equals the right side's.
type usingEquality struct {
	name        string
	left, right Node
}

// resolver finds the join input a column reference names.
type resolver struct{ leaves []leaf }

// bytes is about the bytes the input gives after the filters on it alone
// (negative when its rows are unknown).
func (l leaf) bytes() int64 { return l.size * max(l.width, 1) }

// rowWidths sets each input's width: the bytes of the columns the query
// names of it in owner, the SELECT the join is the FROM of (a * over the
// join, every column; a name of no single input, none).
func (r resolver) rowWidths(owner Node) {
	named := make([]map[string]bool, len(r.leaves))
	for i := range named {
		named[i] = map[string]bool{}
	}
	anyNode(owner, func(n Node) bool {
		switch str(n, "class") {
		case "STAR":
			for i, l := range r.leaves {
				for _, c := range l.cols {
					named[i][strings.ToLower(c.Name)] = true
				}
			}
		case "COLUMN_REF":
			if i, c, ok := r.column(n); ok {
				named[i][strings.ToLower(c.Name)] = true
			}
		}
		return false
	})
	for i := range r.leaves {
		l := &r.leaves[i]
		l.width = 0
		for _, c := range l.cols {
			if named[i][strings.ToLower(c.Name)] {
				l.width += typeBytes(c.Type)
			}
		}
	}
}

// typeBytes is about the bytes a value of DuckDB type t takes in a row
// shipped as Arrow (a string or a nested value, 16).
func typeBytes(t string) int64 {
	t = strings.ToUpper(t)
	switch {
	case t == "BOOLEAN" || t == "TINYINT" || t == "UTINYINT":
		return 1
	case t == "SMALLINT" || t == "USMALLINT":
		return 2
	case t == "INTEGER" || t == "UINTEGER" || t == "DATE" || t == "FLOAT" || t == "REAL":
		return 4
	case strings.HasPrefix(t, "DECIMAL("):
		var p, sc int
		if _, err := fmt.Sscanf(t, "DECIMAL(%d,%d)", &p, &sc); err == nil {
			switch {
			case p <= 4:
				return 2
			case p <= 9:
				return 4
			case p <= 18:
				return 8
			}
		}
		return 16
	case t == "BIGINT" || t == "UBIGINT" || t == "DOUBLE" || strings.HasPrefix(t, "TIMESTAMP") || strings.HasPrefix(t, "TIME"):
		return 8
	}
	return 16
}

func (r resolver) column(ref Node) (int, Column, bool) {
	names := list(ref, "column_names")
	var alias, name string
	switch len(names) {
	case 1:
		name, _ = names[0].(string)
	case 2:
		alias, _ = names[0].(string)
		name, _ = names[1].(string)
	default:
		return -1, Column{}, false
	}
	found, col := -1, Column{}
	for i, l := range r.leaves {
		if alias != "" && !strings.EqualFold(alias, l.alias) {
			continue
		}
		for _, c := range l.cols {
			if strings.EqualFold(c.Name, name) {
				if found >= 0 {
					return -1, Column{}, false // ambiguous
				}
				found, col = i, c
			}
		}
	}
	return found, col, found >= 0
}

// only says which input a conjunct reads alone, if one: every column it
// names resolves to it, and it holds no subquery, aggregate or window.
func (r resolver) only(c any) (int, bool) {
	if anyNode(c, func(n Node) bool {
		switch str(n, "class") {
		case "SUBQUERY", "WINDOW", "PARAMETER":
			return true
		case "FUNCTION":
			return volatileCall(n)
		}
		return false
	}) {
		return -1, false
	}
	in, ok := -1, true
	anyNode(c, func(n Node) bool {
		if str(n, "class") != "COLUMN_REF" {
			return false
		}
		i, _, found := r.column(n)
		if !found || (in >= 0 && i != in) {
			ok = false
			return true
		}
		in = i
		return false
	})
	return in, ok && in >= 0
}

// equiKeys are the key pairs of the equalities between inputs i and j,
// each side cast to a type both hash alike as; none if a pair has types
// that do not.
func (r resolver) equiKeys(cs []any, i, j int) [][2]Key {
	var out [][2]Key
	add := func(ci, cj Column) {
		t, ok := keyType(ci.Type, cj.Type)
		if !ok {
			return
		}
		pair := [2]Key{{Column: ci.Name, Cast: t}, {Column: cj.Name, Cast: t}}
		if !slices.Contains(out, pair) {
			out = append(out, pair)
		}
	}
	for _, c := range cs {
		if u, ok := c.(usingEquality); ok {
			for _, side := range [][2]int{{i, j}, {j, i}} {
				ci, okI := r.leaves[side[0]].column(u.name)
				cj, okJ := r.leaves[side[1]].column(u.name)
				if okI && okJ && r.under(u.left, side[0]) && r.under(u.right, side[1]) {
					if side[0] == i {
						add(ci, cj)
					} else {
						add(cj, ci)
					}
				}
			}
			continue
		}
		l, rr, ok := columnEquality(c)
		if !ok {
			continue
		}
		li, lc, okL := r.column(l)
		ri, rc, okR := r.column(rr)
		switch {
		case !okL || !okR:
		case li == i && ri == j:
			add(lc, rc)
		case li == j && ri == i:
			add(rc, lc)
		}
	}
	return out
}

func (l leaf) column(name string) (Column, bool) {
	for _, c := range l.cols {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Column{}, false
}

// under says input i is in the FROM subtree n.
func (r resolver) under(n Node, i int) bool {
	return anyNode(n, func(x Node) bool { return sameNode(x, r.leaves[i].node) })
}

func sameNode(a, b Node) bool {
	if a == nil || b == nil {
		return false
	}
	return fmt.Sprintf("%p", a) == fmt.Sprintf("%p", b)
}

// hashType is the type two key columns are hashed as: their own if equal,
// BIGINT (or HUGEINT) for integers of different widths; other pairs do
// not hash alike and are not co-partitioned.
func hashType(a, b string) (string, bool) {
	if a == b {
		return "", true
	}
	ints := map[string]int{"TINYINT": 1, "SMALLINT": 1, "INTEGER": 1, "BIGINT": 1, "UTINYINT": 1, "USMALLINT": 1,
		"UINTEGER": 1, "UBIGINT": 2, "HUGEINT": 2}
	switch {
	case ints[a] == 0 || ints[b] == 0:
		return "", false
	case ints[a] == 2 || ints[b] == 2:
		return "HUGEINT", true
	}
	return "BIGINT", true
}

// keyType is the type two join keys are hashed as to co-partition their
// inputs: hashType's, or, for two numbers of other types, the type DuckDB
// compares them as (its comparison casts both sides to it: an INTEGER
// and a FLOAT compare as FLOATs, a BIGINT and a DECIMAL(38,0) as the
// decimal), or for two integers one that holds both exactly. Rows whose keys DuckDB finds equal must land in one
// partition, so each side is hashed as the value DuckDB compares: any
// other type can round two equal keys apart (a BIGINT and a
// DECIMAL(38,0) past 2^53 as DOUBLEs, 0.1 as a FLOAT and as a DECIMAL).
// hash() takes -0.0 as 0.0 and every NaN as one. Keys that differ may
// share a hash; the join's own equality, in each partition, tells them
// apart.
func keyType(a, b string) (string, bool) {
	if t, ok := hashType(a, b); ok {
		return t, true
	}
	a, b = strings.ToUpper(a), strings.ToUpper(b)
	switch {
	case !numeric(a) || !numeric(b):
		return "", false
	case a == "DOUBLE" || b == "DOUBLE":
		return "DOUBLE", true
	case floatType(a) || floatType(b):
		return "FLOAT", true
	case a == "UHUGEINT" || b == "UHUGEINT":
		other := a
		if a == "UHUGEINT" {
			other = b
		}
		switch {
		case strings.HasPrefix(other, "DECIMAL"):
		case other == "HUGEINT":
			return "DOUBLE", true
		case strings.HasPrefix(other, "U"):
			return "UHUGEINT", true
		default:
			return "HUGEINT", true
		}
	}
	// Integers and DECIMALs compare as the DECIMAL holding both: the
	// larger scale, and digits enough before the point for either, at
	// most 38 in all.
	wa, sa, okA := decimalDigits(a)
	wb, sb, okB := decimalDigits(b)
	if !okA || !okB {
		return "", false
	}
	scale := max(sa, sb)
	width := min(max(scale+max(wa-sa, wb-sb), wa, wb), 38)
	return fmt.Sprintf("DECIMAL(%d,%d)", width, scale), true
}

// decimalDigits are the width and scale of the DECIMAL that holds every
// value of t, an integer or DECIMAL type, as DuckDB counts them.
func decimalDigits(t string) (width, scale int, ok bool) {
	if w, ok := integerDigits[t]; ok {
		return w, 0, true
	}
	m := decimalType.FindStringSubmatch(t)
	if m == nil {
		return 0, 0, false
	}
	width, _ = strconv.Atoi(m[1])
	scale, _ = strconv.Atoi(m[2])
	return width, scale, true
}

// integerDigits are the decimal digits of each integer type's values.
var integerDigits = map[string]int{"TINYINT": 3, "SMALLINT": 5, "INTEGER": 10, "BIGINT": 19, "HUGEINT": 38,
	"UTINYINT": 3, "USMALLINT": 5, "UINTEGER": 10, "UBIGINT": 20, "UHUGEINT": 38}

// floatType says t is DuckDB's 4-byte floating-point type.
func floatType(t string) bool { return t == "FLOAT" || t == "REAL" || t == "FLOAT4" }

// numeric says a DuckDB type is a number: an integer, a DECIMAL or a
// floating-point type.
func numeric(t string) bool {
	t = strings.ToUpper(t)
	switch {
	case integerType(t), t == "UBIGINT", t == "HUGEINT", t == "UHUGEINT", t == "FLOAT", t == "DOUBLE", t == "REAL":
		return true
	}
	return strings.HasPrefix(t, "DECIMAL")
}

// referencedColumns are the column names the query may read from the join
// inputs (lower case), or nil for all of them: a * over the join, or a
// NATURAL join.
func referencedColumns(root, owner Node, natural bool) map[string]bool {
	if natural {
		return nil
	}
	star := false
	var walk func(v any, inSub bool)
	walk = func(v any, inSub bool) {
		switch v := v.(type) {
		case map[string]any:
			if str(v, "class") == "STAR" && !inSub {
				star = true
			}
			sub := inSub || str(v, "class") == "SUBQUERY"
			for _, x := range v {
				walk(x, sub)
			}
		case []any:
			for _, x := range v {
				walk(x, inSub)
			}
		}
	}
	walk(owner["select_list"], false)
	if star {
		return nil
	}
	keep := map[string]bool{}
	anyNode(root, func(n Node) bool {
		if str(n, "class") == "COLUMN_REF" {
			if names := list(n, "column_names"); len(names) > 0 {
				if s, ok := names[len(names)-1].(string); ok {
					keep[strings.ToLower(s)] = true
				}
			}
		}
		for _, u := range list(n, "using_columns") {
			if s, ok := u.(string); ok {
				keep[strings.ToLower(s)] = true
			}
		}
		return false
	})
	return keep
}

// A site is where a conjunct sits in the SELECT owning a join: its index
// among the conjuncts of the WHERE (join "") or of the ON of the join at
// path join (from the SELECT, joined by "/").
type site struct {
	join string
	i    int
	// outer: the ON of a left or right join.
	outer bool
	// implied: a condition the conjunct at i implies (resolver.implied),
	// not the conjunct.
	implied bool
}

// implied are, by input, the conditions on that input alone that an OR
// of conditions on several implies: the OR over its branches of each
// one's conjuncts on that input, for an input that every branch has some
// for. TPC-DS Q48's (cd_demo_sk = ss_cdemo_sk AND cd_marital_status = 'M'
// AND cd_education_status = '4 yr Degree' AND ss_sales_price BETWEEN ...)
// OR (...) OR (...) keeps the customer_demographics rows of three of its
// 35 (status, education) pairs: those alone are shipped to the join,
// where the OR still applies whole. Only for inputs that supply no NULLs
// (splittable), as any WHERE conjunct pushed.
func (r resolver) implied(c any) map[int]Node {
	var branches [][]any
	var flatten func(v any)
	flatten = func(v any) {
		n, _ := v.(map[string]any)
		if str(n, "class") == "CONJUNCTION" && str(n, "type") == "CONJUNCTION_OR" {
			for _, x := range list(n, "children") {
				flatten(x)
			}
			return
		}
		branches = append(branches, conjuncts(n))
	}
	flatten(c)
	if len(branches) < 2 {
		return nil
	}
	// on[in][b]: branch b's conjuncts on input in alone.
	on := map[int][][]any{}
	for b, conj := range branches {
		for _, x := range conj {
			in, ok := r.only(x)
			if !ok || !r.leaves[in].splittable {
				continue
			}
			if on[in] == nil {
				on[in] = make([][]any, len(branches))
			}
			on[in][b] = append(on[in][b], x)
		}
	}
	out := map[int]Node{}
	for in, byBranch := range on {
		var ors []any
		for _, conj := range byBranch {
			if len(conj) == 0 {
				ors = nil // a branch that keeps any row of in
				break
			}
			if d := and(conj); !containsExpr(ors, d) {
				ors = append(ors, d)
			}
		}
		if len(ors) > 0 {
			out[in] = or(ors)
		}
	}
	return out
}

// pushFilters gives each input the conjuncts it may apply before the
// join, with their sites in owner: those of the WHERE and of inner joins'
// ON that read an input alone which supplies no NULLs, and those of a
// left (right) join's ON that read its right (left) side alone when that
// side is one input (they only decide which of its rows match).
func (r resolver) pushFilters(owner Node) {
	where := conjuncts(owner["where_clause"])
	for i, c := range where {
		if in, ok := r.only(c); ok && r.leaves[in].splittable {
			r.push(in, c, site{i: i})
			continue
		}
		for in, d := range r.implied(c) {
			r.push(in, d, site{i: i, implied: true})
		}
	}
	// eqs are the equalities of the WHERE and of inner joins' ON, which
	// hold on every row the query keeps, for inputs that supply no NULLs,
	// and those of a left (right) join's ON for its right (left) side when
	// that side is one input.
	var eqs []equality
	for _, c := range where {
		eqs = append(eqs, equality{c: c, into: func(in int) bool { return r.leaves[in].splittable }})
	}
	var walk func(n Node, path []string)
	walk = func(n Node, path []string) {
		if str(n, "type") != "JOIN" {
			return
		}
		walk(child(n, "left"), append(slices.Clone(path), "left"))
		walk(child(n, "right"), append(slices.Clone(path), "right"))
		if str(n, "ref_type") != "REGULAR" {
			return
		}
		var side Node
		switch str(n, "join_type") {
		case "INNER":
		case "LEFT":
			side = child(n, "right")
		case "RIGHT":
			side = child(n, "left")
		default:
			return
		}
		into := func(in int) bool {
			return side == nil && r.leaves[in].splittable ||
				side != nil && sameNode(side, r.leaves[in].node) && !r.leaves[in].underFull
		}
		for i, c := range conjuncts(n["condition"]) {
			eqs = append(eqs, equality{c: c, into: into})
			if in, ok := r.only(c); ok && into(in) {
				r.push(in, c, site{join: strings.Join(path, "/"), i: i, outer: side != nil})
			}
		}
	}
	walk(child(owner, "from_table"), []string{"from_table"})
	for i, c := range where {
		for in, d := range r.transferred(c, eqs) {
			if !containsExpr(r.leaves[in].pushed, d) {
				r.push(in, d, site{i: i, implied: true})
			}
		}
	}
}

// An equality is a conjunct that may equate two inputs' columns, and
// the inputs a condition on one of its columns may move into (into).
type equality struct {
	c    any
	into func(in int) bool
}

// transferred are, by input, the conditions a WHERE conjunct on one
// column of an input that supplies no NULLs implies through an equality
// of that column with another input's column of the same type: that
// input's rows whose column fails the condition can only pair with rows
// the WHERE drops. TPC-DS Q78's store sums kept for ss_sold_year = 2000,
// LEFT joined to the web and catalog sums ON ws_sold_year = ss_sold_year:
// only the web and catalog sums of 2000 can match, so only those are
// computed. Each input's own conjunct stays where it was (an implied
// site), and a null-supplying input takes it only from the ON of the join
// whose inner side it is whole, where it only decides which of its rows
// match.
func (r resolver) transferred(c any, eqs []equality) map[int]Node {
	p, ok := r.only(c)
	if !ok || !r.leaves[p].splittable {
		return nil
	}
	var col string
	anyNode(c, func(n Node) bool {
		if str(n, "class") == "COLUMN_REF" {
			if _, cc, _ := r.column(n); col == "" || strings.EqualFold(col, cc.Name) {
				col = cc.Name
			} else {
				ok = false
			}
		}
		return false
	})
	if !ok || col == "" {
		return nil
	}
	out := map[int]Node{}
	for _, e := range eqs {
		l, rr, isEq := columnEquality(e.c)
		if !isEq {
			continue
		}
		for _, pair := range [2][2]Node{{l, rr}, {rr, l}} {
			pi, pc, okP := r.column(pair[0])
			qi, qc, okQ := r.column(pair[1])
			if !okP || !okQ || pi != p || qi == p || !strings.EqualFold(pc.Name, col) || pc.Type != qc.Type || !e.into(qi) {
				continue
			}
			if _, dup := out[qi]; dup {
				continue
			}
			out[qi] = replace(clone(c.(map[string]any)), func(n Node) (any, bool) {
				if str(n, "class") != "COLUMN_REF" {
					return nil, false
				}
				return clone(pair[1]), true
			}).(map[string]any)
		}
	}
	return out
}

func (r resolver) push(in int, c any, at site) {
	r.leaves[in].pushed = append(r.leaves[in].pushed, c)
	r.leaves[in].sites = append(r.leaves[in].sites, at)
}

// dropSites removes, in place, the conjuncts at the given sites from the
// SELECT owner (a copy of the one they were found in): a WHERE left
// without any is gone, an ON without any is true.
func dropSites(owner Node, sites []site) {
	by := map[string]map[int]bool{}
	for _, s := range sites {
		if s.implied {
			continue // the conjunct at s.i stays: it is more than what was pushed
		}
		if by[s.join] == nil {
			by[s.join] = map[int]bool{}
		}
		by[s.join][s.i] = true
	}
	for join, drop := range by {
		n, key := owner, "where_clause"
		if join != "" {
			n, key = nodeAt(owner, strings.Split(join, "/")), "condition"
		}
		var rest []any
		for i, c := range conjuncts(n[key]) {
			if !drop[i] {
				rest = append(rest, c)
			}
		}
		switch {
		case len(rest) > 0:
			n[key] = and(rest)
		case join == "":
			n[key] = nil
		default:
			n[key] = cast("BOOLEAN", constant("VARCHAR", "t"))
		}
	}
}

// hasSubquery says the query holds a subquery expression.
func hasSubquery(root Node) bool {
	return anyNode(root, func(n Node) bool { return str(n, "class") == "SUBQUERY" })
}
