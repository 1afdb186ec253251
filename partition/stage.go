package partition

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// A Plan is a query split into stages connected by exchanges: each stage
// is a set of tasks running one SQL text over different inputs (slices of
// files, or partitions of an exchange), and the last stage's tasks are the
// query's endpoints (gather). Stages are in the order they can start: a
// stage reads only stages before it.
type Plan struct {
	Stages []*Stage
	// Merge, when set, is the final step the coordinator runs over the
	// last stage's outputs (MergeAST); else they are the answer.
	Merge *Analysis
	// Ordered says the answer is the last stage's outputs in task order.
	Ordered bool
	// Sorted says the last stage's outputs, in task order, are sorted as
	// the query says (a range-partitioned sort, see order.go): the
	// FlightInfo's ordered.
	Sorted bool
	// withs: the stage computing each WITH result (by marker).
	withs map[string]int
	// Fallback, when set, is the plan to use if this one does not
	// prepare to the query's schema (eager.go's rewrite).
	Fallback *Plan
	// AnyRows says the plan costs about the CPU of the query run whole,
	// so that it pays however few rows the query reads, where more than
	// one executor thread takes tasks (eagerleft.go).
	AnyRows bool
}

// OutputKind is where a stage's rows go.
type OutputKind int

const (
	// Gather: the stage's tasks are the query's endpoints.
	Gather OutputKind = iota
	// Shuffle: rows hash-partitioned by key, one partition per task of the
	// consuming stage.
	Shuffle
	// Broadcast: every task of the consuming stage reads all the rows.
	Broadcast
	// Range: rows partitioned by ranges of a sort key (Stage.Range), one
	// partition per task of the consuming stage, in the key's order.
	Range
)

func (k OutputKind) String() string { return [...]string{"gather", "shuffle", "broadcast", "range"}[k] }

// A Stage is one step of a Plan.
type Stage struct {
	ID int
	// Scan, when set, is the scan the stage splits: one task per slice of
	// Scan.Paths. Otherwise the stage has Tasks tasks, task r reading
	// partition r of each shuffled input (and all of a broadcast one).
	Scan  *Analysis
	Tasks int
	// Slices, when set, are the slices of Scan its tasks read, cut by
	// ranges of a key (ranges.go) rather than by the coordinator.
	Slices []Slice
	// Inputs are the exchanges the stage reads.
	Inputs []Input
	Output OutputKind
	// Consumer is the stage reading this one's output (-1 for gather).
	Consumer int
	// Also are more stages reading a broadcast output: a WITH computed
	// once for every stage that reads it (cte.go).
	Also []int
	// Keys are the output columns a shuffle hashes, with the type each is
	// cast to first so that equal keys of different types hash alike.
	Keys []Key
	// Range is how a Range output partitions its rows.
	Range *RangeKey
	// What says what the stage computes, for --explain.
	What string

	node func(scan Node, input func(i int, alias string) Node) (Node, error)
	// bySlice, when set, is node for a task of a given slice (a join
	// input read in the slice's key range, rangejoin.go).
	bySlice func(sl Slice, scan Node, input func(i int, alias string) Node) (Node, error)
	// subqueries this stage reads from inputs (broadcastSubqueries).
	subqueries []subqueryInput
	// withs: the input holding each WITH result (by marker) it reads.
	withs map[string]int
}

// Shape is s as it is explained and scheduled once its tasks' queries are
// written: a copy without its scan's analysis (which holds its planning's
// callbacks) and without what writes those queries, so that it may outlive
// the planning, shared read-only by the queries that reuse its plan.
func (s *Stage) Shape() *Stage {
	c := &Stage{ID: s.ID, Tasks: s.Tasks, Output: s.Output, Consumer: s.Consumer, What: s.What,
		Slices: slices.Clone(s.Slices), Inputs: slices.Clone(s.Inputs), Also: slices.Clone(s.Also), Keys: slices.Clone(s.Keys)}
	if s.Range != nil {
		r := *s.Range
		r.Bounds = slices.Clone(r.Bounds)
		c.Range = &r
	}
	return c
}

// build is the query of a task of s over slice sl.
func (s *Stage) build(sl Slice, scan Node, input func(i int, alias string) Node) (Node, error) {
	if s.bySlice != nil {
		return s.bySlice(sl, scan, input)
	}
	return s.node(scan, input)
}

// wrap makes both of s's query builders (node and, when set, bySlice)
// read their inputs through in and pass what they build through out
// (either may be nil): a stage that relabels another's inputs or
// finishes, keys or wraps its query changes both alike, so that a task
// over a slice is never left with the unchanged query.
func (s *Stage) wrap(in func(input func(int, string) Node) func(int, string) Node, out func(Node) (Node, error)) {
	reads := func(input func(int, string) Node) func(int, string) Node {
		if in == nil {
			return input
		}
		return in(input)
	}
	through := func(n Node, err error) (Node, error) {
		if err != nil || out == nil {
			return n, err
		}
		return out(n)
	}
	if node := s.node; node != nil {
		s.node = func(scan Node, input func(int, string) Node) (Node, error) { return through(node(scan, reads(input))) }
	}
	if bySlice := s.bySlice; bySlice != nil {
		s.bySlice = func(sl Slice, scan Node, input func(int, string) Node) (Node, error) {
			return through(bySlice(sl, scan, reads(input)))
		}
	}
}

// Readers are the stages reading s's output.
func (s *Stage) Readers() []int {
	if s.Consumer < 0 {
		return nil
	}
	return append([]int{s.Consumer}, s.Also...)
}

// Input is an exchange a stage reads, loaded into the TEMP table Table of
// each of its tasks.
type Input struct {
	Stage int
	Table string
}

// Key is a shuffle key: an output column and the type it hashes as
// ("" keeps its own). Drop marks a column the producer's query adds only
// to hash (a group key computed from the row, skein_kN): the producer
// leaves it out of the rows it ships (dropKeys), which the consumer reads
// as they were before it was added. A raw shuffle of a row, 4 key columns
// beside its 5 (TPC-DS Q39), shipped them twice.
type Key struct {
	Column, Cast string
	Drop         bool
}

// dropKeys is producer query n without the columns of keys marked Drop.
func dropKeys(n Node, keys []Key) Node {
	all := starWithout(keys)
	if len(list(all, "exclude_list")) == 0 {
		return n
	}
	return selectNode([]any{all}, subquery(n, "skein_keyed"))
}

// starWithout is a * without the columns of keys marked Drop.
func starWithout(keys []Key) Node {
	all := star()
	for _, k := range keys {
		if k.Drop {
			all["exclude_list"] = append(list(all, "exclude_list"), k.Column)
		}
	}
	return all
}

func (p *Plan) add(s *Stage) *Stage {
	s.ID = len(p.Stages)
	s.Consumer = -1
	p.Stages = append(p.Stages, s)
	return s
}

// feed makes stage from an input of stage to, with the given output.
func (p *Plan) feed(from, to *Stage, out OutputKind, keys []Key) int {
	from.Output, from.Consumer, from.Keys = out, to.ID, keys
	to.Inputs = append(to.Inputs, Input{Stage: from.ID, Table: fmt.Sprintf("skein_x%d", from.ID)})
	return len(to.Inputs) - 1
}

// share makes from's output a broadcast read by stage to too, as the
// WITH result marker names.
func (p *Plan) share(from, to *Stage, marker string) {
	switch {
	case from.Consumer < 0:
		from.Consumer = to.ID
	case from.Consumer != to.ID && !slices.Contains(from.Also, to.ID):
		from.Also = append(from.Also, to.ID)
	}
	from.Output, from.Keys = Broadcast, nil
	if to.withs == nil {
		to.withs = map[string]int{}
	}
	if _, ok := to.withs[marker]; !ok {
		to.Inputs = append(to.Inputs, Input{Stage: from.ID, Table: fmt.Sprintf("skein_x%d", from.ID)})
		to.withs[marker] = len(to.Inputs) - 1
	}
	if p.withs == nil {
		p.withs = map[string]int{}
	}
	p.withs[marker] = from.ID
}

// Last is the gather stage.
func (p *Plan) Last() *Stage { return p.Stages[len(p.Stages)-1] }

// AST is the serialized query a task of stage s runs: over the slice
// template of sl when the stage scans, reading its inputs from their
// tables. A producer's query ends with the PartitionColumn for consumers
// tasks of the consuming stage. once[i] says the query reads input i
// exactly once, so that a task may stream it (readOnce).
func (s *Stage) AST(sl Slice, consumers int) (ast []byte, once []bool, err error) {
	var scan Node
	if s.Scan != nil {
		scan = s.Scan.scanTemplate(sl)
	}
	n, err := s.build(sl, scan, func(i int, alias string) Node {
		return withAlias(baseTable(s.Inputs[i].Table), alias)
	})
	if err != nil {
		return nil, nil, err
	}
	n = s.readSubqueries(n)
	n = replaceWiths(n, func(m Node) Node {
		if i, ok := s.withs[str(m, "table_name")]; ok && str(m, "schema_name") == "" && str(m, "catalog_name") == "" {
			return baseTable(s.Inputs[i].Table)
		}
		return nil
	})
	switch s.Output {
	case Range:
		n = rangePartitioned(n, s.Range, consumers)
	case Shuffle, Broadcast:
		n = partitioned(n, s.Keys, s.Output == Broadcast || consumers <= 1, consumers)
	}
	ast, err = statement(n)
	return ast, s.readOnce(n), err
}

// PartitionColumn is the column a producer's query ends with: the
// partition (consumer task) each row goes to.
const PartitionColumn = "skein_part"

// partitioned adds the partition column to a producer's query: the hash of
// its keys (each cast to its key type) modulo the consumers, or 0.
func partitioned(n Node, keys []Key, single bool, consumers int) Node {
	part := cast("INTEGER", constant("INTEGER", json.Number("0")))
	if !single {
		args := make([]Node, len(keys))
		for i, k := range keys {
			args[i] = columnRef(k.Column)
			if k.Cast != "" {
				args[i] = castTo(k.Cast, args[i]) // a plain type or a DECIMAL (keyType, setop.go)
			}
		}
		part = cast("INTEGER", operator("%", function("hash", args...), constant("INTEGER", json.Number(fmt.Sprint(consumers)))))
	}
	return selectNode([]any{starWithout(keys), withAlias(part, PartitionColumn)}, subquery(n, "skein_stage"))
}

// CheckAST is the whole plan as one query, for preparing at plan time:
// each input read as its producer's query, each scan as its first slice,
// the coordinator's final step on top. Its schema must be the original
// query's, or the plan is not used.
func (p *Plan) CheckAST(first func(s *Stage) Slice, names []string) ([]byte, error) {
	n, err := p.compose(p.Last(), first)
	if err != nil {
		return nil, err
	}
	if p.Merge != nil {
		return p.Merge.mergeOver(subquery(n, partialsTable), names)
	}
	return statement(n)
}

// compose is stage s as one query: each input read as its producer's
// query, each scan as the slice pick gives it.
func (p *Plan) compose(s *Stage, pick func(s *Stage) Slice) (Node, error) {
	var scan Node
	var sl Slice
	if s.Scan != nil {
		sl = pick(s)
		scan = s.Scan.scanOf(sl)
	}
	var err error
	n, nerr := s.build(sl, scan, func(i int, alias string) Node {
		from := p.Stages[s.Inputs[i].Stage]
		in, cerr := p.compose(from, pick)
		if cerr != nil {
			err = cerr
			return baseTable("skein_missing")
		}
		return subquery(dropKeys(in, from.Keys), alias)
	})
	if nerr != nil {
		return nil, nerr
	}
	n = replaceWiths(n, func(m Node) Node {
		id, ok := p.withs[str(m, "table_name")]
		if !ok || str(m, "schema_name") != "" || str(m, "catalog_name") != "" {
			return nil
		}
		in, cerr := p.compose(p.Stages[id], pick)
		if cerr != nil {
			err = cerr
			return baseTable("skein_missing")
		}
		return subquery(in, "")
	})
	return n, err
}

// MergeAST is the coordinator's final step over the gathered outputs,
// read from table.
func (p *Plan) MergeAST(table string, names []string) ([]byte, error) {
	return p.Merge.MergeAST(table, names)
}

const partialsTable = "skein_partials"

func (p *Plan) String() string {
	var b strings.Builder
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "stage %d: %s", s.ID, s.What)
		switch {
		case s.Scan != nil:
			fmt.Fprintf(&b, "; tasks: slices of %s", strings.Join(s.Scan.Paths, ", "))
		default:
			fmt.Fprintf(&b, "; tasks: %d", s.Tasks)
		}
		for _, in := range s.Inputs {
			fmt.Fprintf(&b, "; reads stage %d", in.Stage)
		}
		fmt.Fprintf(&b, "; %s", s.Output)
		if s.Output == Shuffle {
			cols := make([]string, len(s.Keys))
			for i, k := range s.Keys {
				cols[i] = k.Column
				if k.Cast != "" {
					cols[i] += "::" + k.Cast
				}
			}
			fmt.Fprintf(&b, " by [%s]", strings.Join(cols, ", "))
		}
		if s.Output == Range {
			fmt.Fprintf(&b, " by %s", s.Range)
		}
		if s.Consumer >= 0 {
			fmt.Fprintf(&b, " to stage %d", s.Consumer)
		}
		for _, c := range s.Also {
			fmt.Fprintf(&b, ", %d", c)
		}
		b.WriteString("\n")
	}
	if p.Merge != nil {
		b.WriteString("merge: on the coordinator\n")
	}
	return b.String()
}

// Stages plans the query with exchanges (Env.Exchanges). It returns nil
// when they add nothing to the plain split (a scan that scatters, or a
// global aggregate whose partial rows the coordinator merges), and an
// error wrapping ErrLocal when the query cannot be split. names are the
// query's output columns.
func (a *Analysis) Stages(names []string) (*Plan, error) {
	if !a.env.Exchanges || len(a.Branches) > 0 {
		return nil, nil
	}
	p, err := a.stages(names, false)
	if err == nil && p != nil {
		err = a.broadcastSubqueries(p)
	}
	if len(a.siblings) > 0 {
		// An aggregate over a UNION ALL (unionagg.go) has no plan but
		// its stages: the plain split would read one branch.
		if err == nil && p == nil {
			err = local("an aggregate over a UNION ALL that does not stage")
		}
		return p, err
	}
	if err == nil && p != nil {
		a.restrictByKeys(p)
	}
	if err == nil && p != nil {
		// Aggregates computed below the join (eager.go), this plan kept
		// as its fallback.
		ep, _ := a.eagerStages(names)
		if ep == nil {
			ep, _ = a.eagerLeftStages(names) // eagerleft.go
		}
		if ep != nil {
			ep.Fallback = p
			return ep, nil
		}
	}
	if err == nil && p != nil && a.env.withs != nil {
		err = a.env.withs.wire(p)
	}
	if a.inlined != nil && (err != nil || p == nil) {
		// Computing WITH results once gives no plan: the query as
		// before, every WITH inlined, also for the coordinator's plain
		// split if that is all it needs.
		b, ierr := a.inlined()
		if ierr != nil {
			return nil, ierr
		}
		*a = *b
		return a.Stages(names)
	}
	return p, err
}

// stages plans the query. With force, it never returns nil nor leaves a
// final step to the coordinator (the plan of a subquery whose rows another
// stage reads).
func (a *Analysis) stages(names []string, force bool) (*Plan, error) {
	p := &Plan{}
	if len(a.Branches) > 0 {
		// A UNION ALL split branch by branch (a filter of one in a FROM
		// subquery, unionagg.go), here read by another query.
		return nil, local("a UNION ALL in a subquery of another query")
	}
	if a.setop {
		return a.setopStages()
	}
	if a.over {
		// One task over WITH results computed once (cte.go wires them).
		p.add(&Stage{Tasks: 1, What: "the query over WITH results", node: func(Node, func(int, string) Node) (Node, error) {
			return clone(a.root), nil
		}})
		return p, nil
	}
	if a.inner != nil {
		return a.overSubquery(names)
	}
	if a.raw != nil {
		return a.rawStages(p)
	}
	top, err := a.scanStages(p)
	if err != nil {
		return nil, err
	}
	// The partials of the same aggregate over a UNION ALL's other
	// branches (unionagg.go).
	tops := []*Stage{top}
	for _, s := range a.siblings {
		t, err := s.scanStages(p)
		if err != nil {
			return nil, err
		}
		if a.plain == nil {
			t.What += ", partial aggregate"
		}
		t.What += " (UNION ALL branch)"
		tops = append(tops, t)
	}
	exchanged := a.Joined || a.subqueries || force || len(a.siblings) > 0
	switch {
	case a.Mode == Scatter:
		if !exchanged {
			return nil, nil
		}
		p.Ordered = a.Ordered()
		return p, nil
	case a.plain != nil:
		if force {
			return nil, local("a subquery that sorts or limits")
		}
		if r := a.rangeKey(names); r != nil {
			return a.rangeStages(p, tops, r, names), nil
		}
		if len(a.siblings) > 0 {
			if a.limit == nil && !a.distinct {
				return nil, local("a sort without LIMIT over a UNION ALL, by a key not range-partitioned")
			}
			return a.unionPlainStages(p, tops, names), nil
		}
		if !exchanged {
			return nil, nil
		}
		p.Merge = a
		return p, nil
	case len(a.groups) == 0 && !a.subqueries && !force && len(a.siblings) == 0:
		// A global aggregate: one partial row per task, merged by the
		// coordinator.
		if !exchanged {
			return nil, nil
		}
		top.What += ", partial aggregate"
		p.Merge = a
		return p, nil
	}
	// The final aggregation on executors, after a shuffle by group key.
	// An ordered or limited answer is sorted (and cut) on each partition
	// and merged by the coordinator, when the order is by output columns;
	// else it is one task (or, for a plain split, the coordinator's merge).
	top.What += ", partial aggregate"
	tasks := max(a.env.Partitions, 1)
	ordered := len(a.orders) > 0 || a.limit != nil
	var order *Analysis
	if ordered && len(a.groups) > 0 {
		order = a.outputOrder()
	}
	switch {
	case len(a.groups) == 0 || a.ownRows:
		tasks = 1
	case ordered && order == nil && !exchanged:
		return nil, nil
	case ordered && (order == nil || force):
		tasks = 1
	case ordered:
		p.Merge = order
	}
	// Not for a UNION ALL's branches: a group meets its part from
	// another branch only after the shuffle.
	if k := a.keyGroups(top); k != nil && len(a.siblings) == 0 && (!ordered || (order != nil && !force)) {
		// Every group lives in one slice (rangeagg.go).
		if ordered {
			p.Merge = order
		}
		a.finishInSlices(top, k, names, p.Merge != nil)
		return p, nil
	}
	if k := a.partGroups(top); k != nil && len(a.siblings) == 0 && (!ordered || (order != nil && !force)) {
		// Every group lives in one partition of the join (rangeagg.go).
		if ordered {
			p.Merge = order
		}
		a.finishInPartitions(top, k, names, p.Merge != nil)
		return p, nil
	}
	keys := a.finalKeys()
	if len(keys) == 0 {
		tasks = 1 // a grouping set of none of the keys (ROLLUP's total)
	}
	final := p.add(&Stage{Tasks: tasks, What: "final aggregate"})
	for _, t := range tops {
		p.feed(t, final, Shuffle, keys)
	}
	final.node = func(_ Node, input func(int, string) Node) (Node, error) {
		return a.finalNode(inputsAs(input, len(tops), partialsTable), names, p.Merge != nil)
	}
	return p, nil
}

// unionPlainStages ends the plan of a query that keeps a UNION ALL's
// first rows by its ORDER BY and LIMIT, or its distinct rows (unionagg.go):
// each slice of every branch keeps its own (tops, the branches' scans),
// and one task applies the query's ORDER BY, LIMIT or DISTINCT to all of
// them, as the coordinator's merge does for one scan's tasks.
func (a *Analysis) unionPlainStages(p *Plan, tops []*Stage, names []string) *Plan {
	final := p.add(&Stage{Tasks: 1, What: "the query over every branch's rows"})
	for _, t := range tops {
		p.feed(t, final, Shuffle, nil)
	}
	final.node = func(_ Node, input func(int, string) Node) (Node, error) {
		return a.plainMergeNode(inputsAs(input, len(tops), partialsTable), names)
	}
	return p
}

// scanStages adds the stages computing the query's rows (or partials)
// from its scan: the scan's, or its join's.
func (a *Analysis) scanStages(p *Plan) (*Stage, error) {
	if a.Joined {
		return a.joinStages(p)
	}
	return p.add(&Stage{Scan: a, What: "scan", node: func(scan Node, _ func(int, string) Node) (Node, error) {
		return a.taskNode(a.fromWith(scan)), nil
	}}), nil
}

// finalNode is the final aggregation over the partial rows in from; merged
// says the coordinator merges its output with others', sorted: each keeps
// its first LIMIT + OFFSET rows, and the merge applies the OFFSET once.
func (a *Analysis) finalNode(from Node, names []string, merged bool) (Node, error) {
	n, err := a.mergeNode(from, names)
	if err != nil || !merged || a.limit == nil {
		return n, err
	}
	keep, err := topN(a.limit)
	if err != nil {
		return nil, err
	}
	for i, m := range list(n, "modifiers") {
		if mn, _ := m.(map[string]any); str(mn, "type") == "LIMIT_MODIFIER" {
			list(n, "modifiers")[i] = Node{"type": "LIMIT_MODIFIER", "limit": constant("BIGINT", keep), "offset": nil}
		}
	}
	return n, nil
}

// outputOrder is the coordinator's merge of an aggregate's final rows
// sorted and cut on each partition: the same ORDER BY over the output
// columns, the LIMIT and OFFSET. Nil if a term sorts by something not
// selected.
func (a *Analysis) outputOrder() *Analysis {
	m := &Analysis{plain: Node{}, limit: a.limit}
	for _, mod := range list(a.root, "modifiers") {
		mn, _ := mod.(map[string]any)
		if str(mn, "type") != "ORDER_MODIFIER" {
			continue
		}
		for _, o := range list(mn, "orders") {
			on, _ := o.(map[string]any)
			idx, err := outputIndex(child(on, "expression"), list(a.root, "select_list"))
			if err != nil || (idx < 0 && str(child(on, "expression"), "class") != "CONSTANT") {
				return nil
			}
			m.orders = append(m.orders, clone(on))
			m.orderIdx = append(m.orderIdx, idx)
		}
	}
	if a.limit != nil {
		if _, err := topN(a.limit); err != nil {
			return nil
		}
	}
	return m
}

// rawStages plans an aggregate that does not decompose (median, a
// DISTINCT among others, GROUP BY ALL, ...): the scan's rows, filtered,
// shuffled by those group keys that are plain expressions of the row, and
// the query itself over each partition; with no such key, or an ordered
// or limited answer, over one partition. Over a UNION ALL (unionagg.go)
// every branch's scan ships its rows, under the union's column names, to
// the same partitions, where the query reads them as one table.
func (a *Analysis) rawStages(p *Plan) (*Plan, error) {
	from := child(a.root, "from_table")
	alias := str(from, "alias")
	if alias == "" && str(from, "type") == "TABLE_FUNCTION" {
		alias = str(child(from, "function"), "function_name")
	}
	if alias == "" {
		return nil, local("%v, over an unnamed subquery", a.raw)
	}
	keys := a.rawKeys()
	tasks := max(a.env.Partitions, 1)
	if len(keys) == 0 || len(list(a.root, "modifiers")) > 0 {
		tasks = 1
	}
	keyCols := make([]Key, len(keys))
	for i := range keys {
		keyCols[i] = Key{Column: fmt.Sprintf("skein_k%d", i), Drop: true}
	}
	scans := []*Stage{a.rawScan(p, alias, keys, keyCols)}
	for _, s := range a.siblings {
		t := s.rawScan(p, alias, keys, keyCols)
		t.What += " (UNION ALL branch)"
		scans = append(scans, t)
	}
	final := p.add(&Stage{Tasks: tasks, What: "aggregate"})
	if a.windows {
		final.What = "window functions"
	}
	for _, s := range scans {
		p.feed(s, final, Shuffle, keyCols)
	}
	final.node = func(_ Node, input func(int, string) Node) (Node, error) {
		n := clone(a.root)
		n["from_table"] = inputsAs(input, len(scans), alias)
		n["where_clause"] = nil
		return n, nil
	}
	return p, nil
}

// rawScan adds the stage of rawStages that reads a's scan: the columns the
// query reads of the FROM item alias and its keys, its WHERE applied.
func (a *Analysis) rawScan(p *Plan, alias string, keys []Node, keyCols []Key) *Stage {
	scan := p.add(&Stage{Scan: a, What: "scan (rows, for an aggregate that does not split)"})
	cols := a.rawColumns(alias)
	cut, why := a.sliceCut()
	if a.windows {
		scan.What = "scan (rows, for window functions)"
		if cut != nil {
			scan.What = "scan (rows, for window functions: " + why + ")"
		}
	}
	scan.node = func(sn Node, _ func(int, string) Node) (Node, error) {
		sl := cloneList(cols)
		for i, k := range keys {
			sl = append(sl, withAlias(clone(k), keyCols[i].Column))
		}
		n := selectNode(sl, a.fromWith(sn))
		n["where_clause"] = a.root["where_clause"]
		n["qualify"] = cut
		return clone(n), nil
	}
	return scan
}

// rawColumns is what a raw scan ships of the FROM item alias: the
// columns the query names (as referencedColumns finds them, by name in
// the typed AST), or all of them (*) when it selects * or they are not
// known.
func (a *Analysis) rawColumns(alias string) []any {
	all := []any{star()}
	// The scan applies the WHERE; the query after the shuffle reads the
	// rest.
	rest := maps.Clone(a.root)
	delete(rest, "where_clause")
	keep := namedColumns(rest, alias)
	if keep == nil || a.env.Columns == nil {
		return all
	}
	cols, err := a.env.Columns(child(a.root, "from_table"))
	if err != nil || len(cols) == 0 {
		return all
	}
	seen := map[string]bool{}
	var sl []any
	for _, c := range cols {
		name := strings.ToLower(c.Name)
		if seen[name] {
			return all // two columns of one name: only * ships both
		}
		seen[name] = true
		if keep[name] {
			sl = append(sl, withAlias(qualified(alias, c.Name), c.Name))
		}
	}
	if len(sl) == 0 {
		// count(*) and the like: one column keeps the row count.
		sl = append(sl, withAlias(qualified(alias, cols[0].Name), cols[0].Name))
	}
	return sl
}

// namedColumns are the names (lower case) the query's column references
// are made of: each part, so that a qualified name or a struct field
// keeps its column; a struct's * (s.*, where s is not the FROM item
// alias) keeps the struct. nil: the query reads every column of alias,
// by a * outside subqueries, alias.*, COLUMNS(...) or the row itself
// (alias as a value).
func namedColumns(root Node, alias string) map[string]bool {
	keep := map[string]bool{}
	all := false
	alias = strings.ToLower(alias)
	ref := func(n Node) {
		if names := list(n, "column_names"); len(names) == 1 && strings.EqualFold(fmt.Sprint(names[0]), alias) {
			all = true // the row as a struct
		}
		addColumnNames(keep, n)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			switch str(v, "class") {
			case "STAR":
				rel := strings.ToLower(str(v, "relation_name"))
				if rel == "" || rel == alias || v["columns"] == true || child(v, "expr") != nil {
					all = true
				} else {
					keep[rel] = true // s.*: the fields of a struct column s
				}
			case "COLUMN_REF":
				ref(v)
			case "SUBQUERY":
				// Its own * reads its own FROM; its names may be
				// the outer query's.
				anyNode(v, func(n Node) bool {
					if str(n, "class") == "COLUMN_REF" {
						ref(n)
					}
					return false
				})
				return
			}
			for k, x := range v {
				if k != "from_table" {
					walk(x)
				}
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
	if all {
		return nil
	}
	return keep
}

// addColumnNames adds the parts of a column reference's name, lower case.
func addColumnNames(names map[string]bool, ref Node) {
	for _, p := range list(ref, "column_names") {
		if s, ok := p.(string); ok {
			names[strings.ToLower(s)] = true
		}
	}
}

// inputsAs reads a stage's first n inputs as one FROM item named alias:
// the input itself, or the UNION ALL of a UNION ALL's branches' (whose
// columns agree).
func inputsAs(input func(int, string) Node, n int, alias string) Node {
	if n == 1 {
		return input(0, alias)
	}
	parts := make([]Node, n)
	for i := range parts {
		parts[i] = input(i, fmt.Sprintf("skein_branch%d", i))
	}
	return subquery(unionAllOf(parts), alias)
}

// overSubquery plans a query over a FROM subquery that aggregates (or
// otherwise does not go row by row): the subquery's own plan, its last
// stage's rows shuffled by the outer query's keys (as rawStages does
// with a scan's), and the outer query on each partition; an outer
// aggregate that decomposes is partial aggregates in that last stage
// instead, finished after a shuffle of them (overagg.go).
func (a *Analysis) overSubquery(outNames []string) (*Plan, error) {
	from := child(a.root, "from_table")
	alias := str(from, "alias")
	if alias == "" {
		alias = "unnamed_subquery" // DuckDB's name for it
	}
	cols, err := a.env.Columns(from)
	if err != nil {
		return nil, local("columns of subquery %s: %v", alias, err)
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.Name
	}
	// The query's WHERE filters the subquery's rows before anything
	// else reads them (topn.go).
	a.inner.outer = &outerBound{alias: alias, names: names, conjuncts: conjuncts(a.root["where_clause"])}
	p, err := a.inner.Stages(names)
	if err != nil {
		return nil, err
	}
	if p == nil || p.Merge != nil {
		return nil, local("a query over a subquery whose answer the coordinator merges")
	}
	if p.Sorted && !a.filtersRows() {
		// Its sorted partitions would reach the outer query's stage in
		// any order (a LIMIT over them took other rows than DuckDB's, and
		// the FlightInfo said ordered; found 2026-12-05).
		return nil, local("a query over a sorted subquery that does not only filter its rows: the order would be lost in an exchange")
	}
	if a.overAggregate(p, alias, outNames) {
		return p, nil
	}
	last := p.Last()
	if a.filtersRows() {
		// Each row of the query is one of the subquery's, filtered and
		// projected: the subquery's last tasks run it over their own
		// rows (the top row of each group over a windowed subquery),
		// rather than one task over all of them.
		last.wrap(nil, func(n Node) (Node, error) {
			q := clone(a.root)
			q["from_table"] = subquery(n, alias)
			return q, nil
		})
		last.What += ", the query over subquery " + alias
		return p, nil
	}
	keys := a.rawKeys()
	tasks := max(a.env.Partitions, 1)
	if len(keys) == 0 || len(list(a.root, "modifiers")) > 0 {
		tasks = 1
	}
	keyCols := make([]Key, len(keys))
	for i := range keys {
		keyCols[i] = Key{Column: fmt.Sprintf("skein_k%d", i), Drop: true}
	}
	if len(keys) > 0 {
		last.wrap(nil, func(n Node) (Node, error) {
			sl := []any{star()}
			for i, k := range keys {
				sl = append(sl, withAlias(clone(k), keyCols[i].Column))
			}
			return selectNode(sl, subquery(n, alias)), nil
		})
	}
	outer := p.add(&Stage{Tasks: tasks, What: "the query over subquery " + alias})
	p.feed(last, outer, Shuffle, keyCols)
	outer.node = func(_ Node, input func(int, string) Node) (Node, error) {
		n := clone(a.root)
		n["from_table"] = inputsAs(input, 1, alias)
		return n, nil
	}
	return p, nil
}

// filtersRows says the query only filters and projects its FROM item's
// rows, row by row: no aggregate, GROUP BY, HAVING, window, QUALIFY,
// modifier (ORDER BY, LIMIT, DISTINCT), SAMPLE or subquery.
func (a *Analysis) filtersRows() bool {
	root := a.root
	if a.windows || a.subqueries || len(list(root, "modifiers")) > 0 || len(list(root, "group_expressions")) > 0 ||
		root["having"] != nil || root["qualify"] != nil || root["sample"] != nil ||
		str(root, "aggregate_handling") != "STANDARD_HANDLING" {
		return false
	}
	parts := []any{root["select_list"], root["where_clause"]}
	return !containsAggregate(parts, a.env.Aggregates) &&
		!anyNode(parts, func(n Node) bool { return str(n, "class") == "SUBQUERY" || str(n, "class") == "WINDOW" })
}

// rawKeys are the group keys a raw shuffle can hash: expressions of the
// input row (a GROUP BY position or GROUP BY ALL taken from the select
// list), those every grouping set has.
func (a *Analysis) rawKeys() []Node {
	root := a.root
	sel := list(root, "select_list")
	ok := func(n Node) bool {
		// A * (s.* of a struct s) is several columns, not one key.
		star := anyNode(n, func(x Node) bool { return str(x, "class") == "STAR" })
		return n != nil && !star && !containsAggregate(n, a.env.Aggregates) && checkExprs(n) == nil
	}
	var keys []Node
	add := func(n Node) {
		if ok(n) {
			k := clone(n)
			k["alias"] = ""
			keys = append(keys, k)
		}
	}
	if a.windows {
		return a.windowKeys()
	}
	groups := list(root, "group_expressions")
	every := map[int]int{}
	sets := list(root, "group_sets")
	for _, set := range sets {
		l, _ := set.([]any)
		for _, idx := range l {
			if n, ok := idx.(json.Number); ok {
				i, _ := n.Int64()
				every[int(i)]++
			}
		}
	}
	for i, g := range groups {
		if len(sets) > 0 && every[i] != len(sets) {
			continue
		}
		gn, _ := g.(map[string]any)
		if k, err := intConstant(gn); err == nil {
			if k >= 1 && int(k) <= len(sel) {
				in, _ := sel[k-1].(map[string]any)
				add(in)
			}
			continue
		}
		// A name that is a select alias (and not a plain column of
		// that name) groups by the aliased expression.
		if names := list(gn, "column_names"); str(gn, "class") == "COLUMN_REF" && len(names) == 1 {
			aliased := false
			for _, item := range sel {
				in, _ := item.(map[string]any)
				if strings.EqualFold(str(in, "alias"), fmt.Sprint(names[0])) {
					aliased = true
					if cols := list(in, "column_names"); str(in, "class") != "COLUMN_REF" || len(cols) == 0 ||
						!strings.EqualFold(fmt.Sprint(cols[len(cols)-1]), fmt.Sprint(names[0])) {
						add(in)
					} else {
						add(gn)
					}
				}
			}
			if aliased {
				continue
			}
		}
		add(gn)
	}
	return keys
}

// checkExprs is checkExprs, but with exchanges a subquery is allowed: the
// task or final step evaluating it reads the files it names whole. It may
// read no table (executors have none) and nothing volatile.
func (a *Analysis) checkExprs(v any) error {
	if !a.env.Exchanges {
		return checkExprs(v)
	}
	var err error
	anyNode(v, func(n Node) bool {
		switch str(n, "class") {
		case "SUBQUERY":
			a.subqueries = true
			err = subqueryReadsFiles(child(n, "subquery"), a.env.withs)
			return err != nil
		case "WINDOW":
			a.windows = true
			return false
		case "PARAMETER", "FUNCTION":
			err = checkExprs(Node{"class": n["class"], "function_name": n["function_name"]})
			return err != nil
		}
		return false
	})
	return err
}

// subqueryReadsFiles accepts a subquery whose tables are all files (views
// were inlined), its own WITH names or WITH results computed once (w),
// with nothing volatile.
func subqueryReadsFiles(sub Node, w *withs) error {
	ctes := map[string]bool{}
	collectCTEs(sub, ctes)
	var err error
	anyNode(sub, func(n Node) bool {
		switch {
		case str(n, "type") == "BASE_TABLE" && !ctes[strings.ToLower(str(n, "table_name"))] && !w.has(n):
			err = local("a subquery reading table %s", str(n, "table_name"))
		case str(n, "class") == "PARAMETER":
			err = local("query parameter")
		case volatileCall(n):
			err = local("volatile function %s", str(n, "function_name"))
		}
		return err != nil
	})
	return err
}

// StarAST is SELECT * FROM item, to learn the columns a FROM item gives.
func StarAST(item Node) ([]byte, error) {
	return statement(selectNode([]any{star()}, clone(item)))
}

// QueryAST is a query (a SELECT node) as json_deserialize_sql's input.
func QueryAST(query Node) ([]byte, error) { return statement(query) }

// windowKeys are the PARTITION BY expressions every window function of
// the query has.
func (a *Analysis) windowKeys() []Node {
	var windows []Node
	anyNode([]any{a.root["select_list"], a.root["qualify"]}, func(n Node) bool {
		if str(n, "class") == "WINDOW" {
			windows = append(windows, n)
		}
		return false
	})
	if len(windows) == 0 {
		return nil
	}
	var keys []Node
	for _, p := range list(windows[0], "partitions") {
		pn, _ := p.(map[string]any)
		if pn == nil || checkExprs(pn) != nil || containsAggregate(pn, a.env.Aggregates) {
			continue
		}
		shared := true
		for _, w := range windows[1:] {
			found := false
			for _, q := range list(w, "partitions") {
				if sameExpr(p, q) {
					found = true
				}
			}
			shared = shared && found
		}
		if shared {
			k := clone(pn)
			k["alias"] = ""
			keys = append(keys, k)
		}
	}
	return keys
}

// normalizeGroups spells out GROUP BY ALL (the select items without an
// aggregate), GROUP BY positions (the items they name) and select aliases
// (their items), as DuckDB's binder does, so that the partial and final forms see plain groups.
func normalizeGroups(root Node, aggs Aggregates, columns func(Node) ([]Column, error)) error {
	sel := list(root, "select_list")
	groups := list(root, "group_expressions")
	item := func(i int) (Node, bool) {
		in, _ := sel[i].(map[string]any)
		if in == nil || containsAggregate(in, aggs) || anyNode(in, func(n Node) bool { return str(n, "class") == "WINDOW" }) {
			return nil, false
		}
		g := clone(in)
		g["alias"] = ""
		return g, true
	}
	if str(root, "aggregate_handling") == "FORCE_AGGREGATES" && len(groups) == 0 {
		var set []any
		for i := range sel {
			g, ok := item(i)
			if !ok {
				continue
			}
			reads, sure := readsColumns(g, nil)
			if !sure {
				return local("GROUP BY ALL over select item %d, a subquery that may read the query's columns", i+1)
			}
			if !reads {
				// DuckDB's GROUP BY ALL leaves out an item that reads no
				// column (1, random() > 2): SELECT 1 FROM t GROUP BY ALL
				// is a row per row of t, not one.
				continue
			}
			set = append(set, json.Number(fmt.Sprint(len(groups))))
			groups = append(groups, g)
		}
		root["aggregate_handling"] = "STANDARD_HANDLING"
		root["group_expressions"] = groups
		root["group_sets"] = []any{}
		if len(groups) > 0 {
			root["group_sets"] = []any{set}
		}
	}
	var fromCols map[string]bool // known once asked
	aliased := map[string]int{}  // the group each select alias the GROUP BY names became
	for i, g := range groups {
		gn, _ := g.(map[string]any)
		if k, err := intConstant(gn); err == nil && k >= 1 && int(k) <= len(sel) {
			if it, ok := item(int(k) - 1); ok {
				groups[i] = it
			}
			continue
		}
		// A select alias that no input column has (a column of the name
		// wins, as in DuckDB's binder) groups by its expression.
		names := list(gn, "column_names")
		if str(gn, "class") != "COLUMN_REF" || len(names) != 1 || columns == nil {
			continue
		}
		name, _ := names[0].(string)
		for j, s := range sel {
			sn, _ := s.(map[string]any)
			if !strings.EqualFold(str(sn, "alias"), name) {
				continue
			}
			if fromCols == nil {
				cols, err := columns(child(root, "from_table"))
				if err != nil {
					columns = nil // unknown: no alias is resolved
					break
				}
				fromCols = map[string]bool{}
				for _, c := range cols {
					fromCols[strings.ToLower(c.Name)] = true
				}
			}
			if it, ok := item(j); ok && !fromCols[strings.ToLower(name)] {
				groups[i] = it
				aliased[strings.ToLower(name)] = i
			}
			break
		}
	}
	if len(aliased) > 0 {
		groupingByAlias(root, groups, aliased)
	}
	return nil
}

// groupingByAlias spells out, as their groups' expressions, the select
// aliases that GROUPING() names where the GROUP BY named them too
// (aliased: the group each such alias became, by lower-case name):
// GROUPING(x) of GROUP BY ROLLUP (x), x an alias, as BI tools write it,
// stayed on one node ("GROUPING child "x" must be a grouping column",
// found 2026-12-06). Not inside subqueries, whose GROUPING() is their own.
func groupingByAlias(root Node, groups []any, aliased map[string]int) {
	for _, key := range []string{"select_list", "having", "qualify", "modifiers"} {
		visit(root[key], func(n Node) bool {
			if str(n, "class") == "SUBQUERY" {
				return false
			}
			if str(n, "type") != "GROUPING_FUNCTION" {
				return true
			}
			kids := list(n, "children")
			for k, c := range kids {
				cn, _ := c.(map[string]any)
				names := list(cn, "column_names")
				if str(cn, "class") != "COLUMN_REF" || len(names) != 1 {
					continue
				}
				name, _ := names[0].(string)
				if i, ok := aliased[strings.ToLower(name)]; ok {
					g, _ := groups[i].(map[string]any)
					kids[k] = clone(g)
				}
			}
			return false
		})
	}
}

// readsColumns says whether expression n reads a column of its query's
// FROM: a column reference that is not a lambda's parameter (the keywords
// of the query's instant, current_date and its kin, are bound before this
// where they are not columns: bindNow). sure is false where that depends
// on a subquery (it reads the query's columns if it is correlated, which
// only binding tells: DuckDB's GROUP BY ALL groups by (SELECT l_linenumber)
// and leaves out (SELECT max(x) FROM t)); an IN's or ANY's left side is
// the query's own. params are the lambda parameters in scope.
func readsColumns(n Node, params map[string]bool) (reads, sure bool) {
	switch str(n, "class") {
	case "SUBQUERY":
		if reads, sure := readsColumns(child(n, "child"), params); reads && sure {
			return true, true
		}
		return false, false
	case "STAR":
		return true, true // s.*, t.*: columns
	case "COLUMN_REF":
		names := list(n, "column_names")
		if len(names) == 1 {
			name := strings.ToLower(fmt.Sprint(names[0]))
			return !params[name], true
		}
		return true, true
	case "LAMBDA":
		inner := maps.Clone(params)
		if inner == nil {
			inner = map[string]bool{}
		}
		anyNode(child(n, "lhs"), func(p Node) bool {
			if str(p, "class") == "COLUMN_REF" {
				for _, name := range list(p, "column_names") {
					inner[strings.ToLower(fmt.Sprint(name))] = true
				}
			}
			return false
		})
		return readsColumns(child(n, "expr"), inner)
	}
	sure = true
	for _, v := range n {
		var kids []any
		switch v := v.(type) {
		case map[string]any:
			kids = []any{v}
		case []any:
			kids = v
		}
		for _, x := range kids {
			if xn, ok := x.(map[string]any); ok {
				r, s := readsColumns(xn, params)
				if r && s {
					return true, true
				}
				sure = sure && s
			}
		}
	}
	return false, sure
}

// A subquery a stage reads from an input instead of evaluating it.
type subqueryInput struct {
	node  Node // the subquery's SELECT, as the query writes it
	input int  // the input of the stage holding its rows
}

// broadcastSubqueries computes each uncorrelated subquery of the query
// once, as stages of its own (split like any query), and broadcasts its
// rows to the one stage that evaluates it, instead of every task of that
// stage reading its files whole. A subquery is uncorrelated when it
// prepares alone (every name in it binds inside it).
func (a *Analysis) broadcastSubqueries(p *Plan) error {
	var subs []Node
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if str(v, "class") == "SUBQUERY" {
				switch str(v, "subquery_type") {
				case "SCALAR", "ANY", "EXISTS", "NOT_EXISTS":
					subs = append(subs, child(child(v, "subquery"), "node"))
				}
				return
			}
			// In the order of the keys, not the map's: the stages'
			// order (TPC-DS Q09's fifteen) is then the same every time.
			for _, k := range slices.Sorted(maps.Keys(v)) {
				walk(v[k])
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(a.root)
	var done []Node
	for _, sub := range subs {
		if str(sub, "type") != "SELECT_NODE" || slices.ContainsFunc(done, func(d Node) bool { return sameExpr(d, sub) }) {
			continue
		}
		cols, err := a.env.Columns(subquery(clone(sub), "skein_subquery"))
		if err != nil {
			continue // correlated, or not something Skein can plan
		}
		var readers []*Stage
		for _, st := range p.Stages {
			n, err := st.sample()
			if err == nil && anyNode(n, func(x Node) bool { return str(x, "type") == "SELECT_NODE" && sameExpr(x, sub) }) {
				readers = append(readers, st)
			}
		}
		if len(readers) == 0 {
			continue
		}
		done = append(done, sub)
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.Name
		}
		sp := a.subqueryPlan(sub, names, true)
		p.prepend(sp)
		// Every stage evaluating it reads the one broadcast (TPC-H Q20's
		// parts named 'forest%': partsupp's join and the slices of its
		// decorrelated lineitem, decorrelate.go).
		last := sp.Last()
		for i, r := range readers {
			in := 0
			if i == 0 {
				in = p.feed(last, r, Broadcast, nil)
			} else {
				last.Also = append(last.Also, r.ID)
				r.Inputs = append(r.Inputs, Input{Stage: last.ID, Table: fmt.Sprintf("skein_x%d", last.ID)})
				in = len(r.Inputs) - 1
			}
			r.subqueries = append(r.subqueries, subqueryInput{node: clone(sub), input: in})
		}
		last.What = "subquery, " + last.What
	}
	return nil
}

// subqueryPlan plans a subquery's rows as stages; one that does not split
// is one task reading its files whole. With nested, its own uncorrelated
// subqueries are computed once too; without, the plan holding its stages
// computes them (a join input's, aggleaf.go).
func (a *Analysis) subqueryPlan(sub Node, names []string, nested bool) *Plan {
	// Its value is compared with rows, so it must be DuckDB's to the last
	// bit: AVG as SUM over COUNT of partials may round differently.
	averages := anyNode(sub, func(n Node) bool {
		return str(n, "class") == "FUNCTION" && (str(n, "function_name") == "avg" || str(n, "function_name") == "mean")
	})
	if sa, err := analyzeSelect(clone(sub), a.env); err == nil && !averages {
		if sp, err := sa.stages(names, true); err == nil && sp != nil && sp.Merge == nil {
			if !nested {
				return sp
			}
			if err := sa.broadcastSubqueries(sp); err == nil {
				return sp
			}
		}
	}
	p := &Plan{}
	p.add(&Stage{Tasks: 1, What: "whole", node: func(Node, func(int, string) Node) (Node, error) {
		return clone(sub), nil
	}})
	return p
}

// prepend puts q's stages before p's, renumbering every stage and naming
// every input after its producer.
func (p *Plan) prepend(q *Plan) { p.insert(0, q) }

// insert puts q's stages into p before position at, renumbering every
// stage and naming every input after its producer.
func (p *Plan) insert(at int, q *Plan) {
	// Stage ids in inputs and consumers are positions in their own plan:
	// p's from at move up by q's length, q's by at.
	shift := func(id, by int) int {
		if id >= at {
			return id + by
		}
		return id
	}
	for _, s := range p.Stages {
		for i := range s.Inputs {
			s.Inputs[i].Stage = shift(s.Inputs[i].Stage, len(q.Stages))
		}
		if s.Consumer >= 0 {
			s.Consumer = shift(s.Consumer, len(q.Stages))
		}
		for i := range s.Also {
			s.Also[i] = shift(s.Also[i], len(q.Stages))
		}
	}
	for m := range p.withs {
		p.withs[m] = shift(p.withs[m], len(q.Stages))
	}
	for _, s := range q.Stages {
		for i := range s.Inputs {
			s.Inputs[i].Stage += at
		}
		if s.Consumer >= 0 {
			s.Consumer += at
		}
		for i := range s.Also {
			s.Also[i] += at
		}
	}
	p.Stages = slices.Insert(p.Stages, at, q.Stages...)
	for i, s := range p.Stages {
		s.ID = i
	}
	for _, s := range p.Stages {
		for i := range s.Inputs {
			s.Inputs[i].Table = fmt.Sprintf("skein_x%d", s.Inputs[i].Stage)
		}
	}
}

// sample is the stage's query over a made-up slice, to see what it holds.
func (s *Stage) sample() (Node, error) {
	var scan Node
	if s.Scan != nil {
		scan = s.Scan.scanTemplate(Slice{File: "f", First: 0, Last: 1})
	}
	return s.node(scan, func(i int, alias string) Node { return withAlias(baseTable("skein_sample"), alias) })
}

// readSubqueries makes n read the subqueries s has inputs for from them.
func (s *Stage) readSubqueries(n Node) Node {
	if len(s.subqueries) == 0 {
		return n
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if str(v, "class") == "SUBQUERY" {
				inner := child(child(v, "subquery"), "node")
				for _, sq := range s.subqueries {
					if sameExpr(inner, sq.node) {
						v["subquery"] = Node{"node": selectNode([]any{star()}, baseTable(s.Inputs[sq.input].Table)),
							"named_param_map": []any{}}
						return
					}
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(n)
	return n
}
