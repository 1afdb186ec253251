package partition

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Mode is how a query runs.
type Mode int

// The modes of the DESIGN.
const (
	// Local runs the query whole on the coordinator: anything not proven
	// safe to split.
	Local Mode = iota
	// Scatter runs the query over each slice of its scan; the task
	// outputs, concatenated, are the answer.
	Scatter
	// ScatterMerge runs a partial query over each slice and a final query
	// over the partial results.
	ScatterMerge
)

func (m Mode) String() string {
	return [...]string{"local", "scatter", "scatter-merge"}[m]
}

// ErrLocal wraps the reason a query is not split.
var ErrLocal = errors.New("runs local")

func local(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrLocal, fmt.Sprintf(format, args...))
}

// Analysis is a query the planner can split: it reads one Parquet scan and
// has a shape whose rewrite is proven to give the single-node answer.
type Analysis struct {
	Mode Mode
	// Paths are the paths or globs the split scan reads.
	Paths []string
	// Format is the kind of files it reads.
	Format Format
	// Joined says the split scan is joined with inputs that every task
	// reads whole.
	Joined bool
	// PerSlot says each task of the scan gives about as many rows however
	// few it reads (a partial aggregate below a join by a key of a narrow
	// range, eager.go): one task of whole files per executor thread, as
	// for a join, rather than more tasks each shipping as many rows.
	PerSlot bool
	// Branches are the branches of a UNION ALL, each a scatter query with
	// its own scan; the union itself has no scan.
	Branches []*Analysis
	// Pinned are the files, as listed, of the join inputs each task reads
	// itself by name (pinFiles): its tasks check they are still those.
	Pinned []Stamp

	root     Node // the query's SELECT_NODE
	scanPath []string
	alias    string
	reader   Node   // a text scan's table function call, with its options
	first    string // the whole scan's first file, when its files' schemas differ (readas.go)
	hive     Hive   // how the whole scan reads its paths' hive partitioning (readas.go)
	renamed  bool   // a UNION ALL branch after the first: its columns take the union's names

	env Env
	// subst replaces FROM items (by path from root, joined by "/") in a
	// task's query: join inputs read from exchanges.
	subst map[string]Node
	// raw: the aggregate does not decompose, so rows are shuffled whole by
	// (some of) the group keys and the query itself runs on each partition.
	raw error
	// subqueries: the query holds subqueries, which only a task that reads
	// files can evaluate (never the coordinator's merge).
	subqueries bool
	// windows: the select list holds window functions.
	windows bool
	// inner: the query reads a FROM subquery that aggregates, planned on
	// its own (Stages then plans the query over its output).
	inner *Analysis
	// outer: the query over this one, which reads it as a FROM subquery
	// (overSubquery), and its WHERE (topn.go).
	outer *outerBound
	// setop: root is a set operation planned with exchanges (setop.go).
	setop bool
	// full: the join's two inputs are co-partitioned whole by its ON
	// equalities: two scans FULL joined, or two inputs neither of which
	// splits (pairedScan).
	full bool
	// gathered: no input of the join splits row by row and they are not
	// two joined by an equality (aggregates cross joined, three joined):
	// each is computed by stages of its own and one task joins them whole
	// (gathered.go).
	gathered bool
	// gatherMany: some input of the gathered join may give many rows;
	// they must be co-partitioned by equalities (coPartition).
	gatherMany bool
	// coShuffled: the gathered join's inputs are co-partitioned by keys
	// (coPartition), as a.full's are: no input's partial aggregate is
	// finished by the join (aggleaf.go).
	coShuffled bool
	// unionOfAggregates: root's FROM is a UNION ALL of aggregates that
	// the query over it cannot be planned branch by branch over
	// (unionagg.go): the union is planned in stages of its own, as any
	// set operation in a FROM subquery (setop.go), the query over it.
	unionOfAggregates bool
	// over: the query reads only WITH results computed once (cte.go),
	// and runs as one task over them.
	over bool
	// ownRows: a subquery of the final step aggregates the query's own
	// rows, read from its partials (ownrows.go), so one task reads them all.
	ownRows bool
	// keyed: the split scan's slices are cut by ranges of a key
	// (ranges.go), set by the join's plan (rangejoin.go).
	keyed *keyed
	// coparted: the join's two inputs are shuffled by one key each
	// (join.go), equal to it in every output row; for partGroups.
	coparted *keyed
	// siblings: the query is an aggregate over a UNION ALL in its FROM,
	// this its analysis over the first branch and siblings over the
	// others, whose partials its final stage reads too (unionagg.go).
	siblings []*Analysis
	// inlined is the query analysed with every WITH inlined, which
	// Stages plans instead when computing WITH results once does not
	// give a plan.
	inlined func() (*Analysis, error)

	// scatter-merge only
	plain    Node  // without aggregates: the partial query (DISTINCT, ORDER BY, LIMIT n+offset)
	distinct bool  // without aggregates: SELECT DISTINCT
	orderIdx []int // without aggregates: the output column each ORDER BY term sorts by (-1: as written)
	// orderHidden: for each ORDER BY term of a plain query that sorts by
	// a value not selected, the column its tasks add for it (hidden.go);
	// "" for the others.
	orderHidden []string
	groups      []any // group expressions, in order
	// distinctArg is the value DISTINCT aggregates count; tasks then group
	// by it too and return it as p0.
	distinctArg Node
	partials    []Node // partial aggregate expressions, in order
	finals      []Node // the final select list, one per output column
	having      Node
	orders      []any // ORDER BY terms, rewritten
	limit       Node  // LIMIT modifier, unchanged

	// distinctOn: without aggregates, the targets of SELECT DISTINCT ON
	// and the output column each names (-1: as written), distincton.go.
	distinctOn    []Node
	distinctOnIdx []int
}

// Aggregates names every aggregate function DuckDB knows (from
// duckdb_functions()); an aggregate the planner cannot decompose keeps the
// query local.
type Aggregates map[string]bool

// Env is what Analyze learns from the catalog and the files.
type Env struct {
	// Aggregates names DuckDB's aggregate functions.
	Aggregates Aggregates
	// View resolves a table reference to the view it names, if it is one;
	// nil: no views are seen through.
	View func(catalog, schema, name string) (View, bool)
	// Rows is how many rows a Parquet scan of the paths reads: in a join
	// the largest scan that can be split is split (with exchanges, unless
	// Estimate says another gives 4 times its rows after their filters).
	// nil or an error: the leftmost.
	Rows func(paths []string) (int64, error)

	// Exchanges says executors exchange data between stages (Stages): a
	// join then reads its other inputs from exchanges, aggregates finish
	// on executors, and subqueries are allowed wherever the task that
	// evaluates them reads the files whole.
	Exchanges bool
	// Partitions is how many partitions a shuffle makes (the cluster's
	// threads); at least 1.
	Partitions int
	// BroadcastRows is the largest join input (in rows it gives after the
	// filters on it alone: Estimate's, else its files' metadata) that is
	// broadcast when an equality would let it be co-partitioned with the
	// split scan instead (unless it gives more rows than the split scan's
	// files hold, or its own files hold over 4 times BroadcastRows).
	BroadcastRows int64
	// Columns lists the columns a FROM item gives (name and DuckDB type).
	Columns func(from Node) ([]Column, error)
	// Estimate is how many rows DuckDB's optimizer expects a query (a
	// SELECT_NODE) to give: for a join input with filters of its own, the
	// rows that pick the split scan and what is broadcast. nil or an
	// error: its files' rows.
	Estimate func(query Node) (int64, error)
	// KeyStats lists the files a Parquet scan of the paths reads, in
	// order, with their row groups' rows and the bounds of an integer
	// column in each, from the files' statistics; an error when a row
	// group has none, or a file stores the column otherwise than as a
	// signed integer (its statistics would not be the bounds of the values
	// the scan reads). nil: slices are never cut by key ranges (ranges.go).
	KeyStats func(paths []string, column string) ([]File, error)
	// PruneStats is KeyStats, but a row group whose every row is NULL in
	// the column has the empty bounds 1..0 with Nulls rather than being
	// an error, and typ is the column's type: "" for an integer, DATE
	// (bounds in days from 1970-01-01) or TIMESTAMP (µs from 1970-01-01
	// 00:00:00); a file whose column is stored as another type is an
	// error. Prune reads it (KeyStats, for integers only, when nil).
	PruneStats func(paths []string, column, typ string) ([]File, error)
	// Files lists the Parquet files a scan of the paths reads, in
	// read_parquet's order: a join input that each join task reads
	// itself names them (pinFiles), so that every task, and a task run
	// again, reads the files the planner listed. nil: such an input is
	// read as written.
	Files func(paths []string) ([]File, error)
	// Hive is how a scan of the paths reads their key=value directories
	// as a whole (readas.go), which its slices then say. nil: as each
	// slice decides alone.
	Hive func(paths []string) (Hive, error)
	// SessionFunction says whether a function the query calls is the
	// session's own (a TEMP macro), which the executors do not have: such
	// a query stays local. nil: none is.
	SessionFunction func(name string) bool
	// SessionType says the same of a type a cast names (CREATE TYPE).
	SessionType func(name string) bool
	// TaskOpenFiles is the most branches, each holding a file open until
	// the task ends, a task's UNION ALL of whole files has (openfiles.go);
	// 0: DefaultTaskOpenFiles; negative: a branch a file, however many.
	TaskOpenFiles int

	// Names are the query's result columns' names (nil: unknown), kept
	// by the split plan where its rewrite would rename one: a subquery's
	// text, a call of the query's instant (outnames.go).
	Names []string

	// depth counts the analyses this one is nested in (analyzeSelect).
	depth int
	// topNames are Names for the statement's own SELECT (analyzeRoot),
	// which its analyzeSelect takes and passes to no other.
	topNames []string

	// withs are the WITH queries read more than once, computed once;
	// nil: every WITH is inlined.
	withs *withs
	// nowBound says the query's calls of its instant are bound and the
	// whole query checked for what tasks would evaluate otherwise
	// (bindNowOnce): a subquery analysed on its own has them bound in the
	// scope of the query around it.
	nowBound bool
}

// maxAnalysisDepth bounds how deep analyses nest (Env.depth).
const maxAnalysisDepth = 200

// Column is a column of a FROM item.
type Column struct{ Name, Type string }

// Analyze decides how a query can run from its serialized AST
// (json_serialize_sql). An error wrapping ErrLocal says why the query runs
// local; any other error is a malformed AST.
func Analyze(serialized []byte, env Env) (*Analysis, error) {
	root, err := statementRoot(serialized)
	if err != nil {
		return nil, err
	}
	nameSubqueryItems(root, env.Names)
	nameFromSubqueries(root)
	if env.Exchanges && readsTwice(root) {
		// Try with each WITH (or view) read more than once computed
		// once; Stages falls back to a.inlined when that gives no plan.
		w := &withs{columns: env.Columns, views: map[string]*withDef{}}
		menv := env
		menv.withs, menv.Columns = w, w.seeThrough
		w.env = menv
		a, err := analyzeRoot(clone(root), menv)
		switch {
		case err == nil && len(a.Branches) == 0 && len(w.defs) > 0:
			a.inlined = func() (*Analysis, error) { return analyzeRoot(root, env) }
			return a, nil
		case err == nil && len(w.defs) == 0:
			return a, nil // nothing computed once: the plain analysis
		}
	}
	return analyzeRoot(root, env)
}

// analyzeRoot is Analyze of a statement's query node.
func analyzeRoot(root Node, env Env) (*Analysis, error) {
	switch str(root, "type") {
	case "SELECT_NODE":
		env.topNames = env.Names
		return analyzeSelect(root, env)
	case "SET_OPERATION_NODE":
		a, err := analyzeUnion(clone(root), env)
		if err != nil && errors.Is(err, ErrLocal) && env.Exchanges {
			return analyzeSetOp(root, env)
		}
		return a, err
	}
	return nil, local("a %s, not a plain SELECT", str(root, "type"))
}

// analyzeUnion splits a UNION ALL whose every branch is a scatter query:
// each branch's tasks run over its own scan, and all their outputs
// together are the answer.
func analyzeUnion(root Node, env Env) (*Analysis, error) {
	branches, err := unionAllBranches(root)
	if err != nil {
		return nil, err
	}
	u := &Analysis{Mode: Scatter}
	want := unionColumns(root, env)
	for i, b := range branches {
		if str(b, "type") != "SELECT_NODE" {
			return nil, local("a UNION ALL branch that is a %s", str(b, "type"))
		}
		if b, err = widened(b, want, env); err != nil {
			return nil, err
		}
		ba, err := analyzeSelect(b, env)
		if err != nil {
			return nil, err
		}
		if ba.Mode != Scatter {
			return nil, local("a UNION ALL branch that aggregates, sorts or limits")
		}
		ba.renamed = i > 0
		u.Branches = append(u.Branches, ba)
	}
	return u, nil
}

// unionColumns are the columns UNION ALL union gives, nil when not known.
func unionColumns(union Node, env Env) []Column {
	if env.Columns == nil {
		return nil
	}
	cols, err := env.Columns(subquery(clone(union), "skein_union"))
	if err != nil {
		return nil
	}
	return cols
}

// widened is branch b of a UNION ALL with each column that is of another
// type than the union's (want) cast to the union's: a branch's tasks
// gave its own types (INTEGER beside a BIGINT branch), and the query
// stayed on one node ("rewrite changes the result schema", found
// 2026-12-06). b itself when its types are the union's or are not known;
// local when a cast would be needed to a type castTo does not write.
func widened(b Node, want []Column, env Env) (Node, error) {
	if want == nil {
		return b, nil
	}
	got, err := env.Columns(subquery(clone(b), "skein_branch"))
	if err != nil || len(got) != len(want) {
		return b, nil
	}
	var items []any
	changed := false
	for k := range got {
		var item Node = Node{"class": "POSITIONAL_REFERENCE", "type": "POSITIONAL_REFERENCE", "alias": "",
			"query_location": json.Number(noLocation), "index": k + 1}
		if got[k].Type != want[k].Type {
			if item = castTo(want[k].Type, item); item == nil {
				return nil, local("a UNION ALL branch of %s where the union gives %s", got[k].Type, want[k].Type)
			}
			changed = true
		}
		items = append(items, withAlias(item, got[k].Name))
	}
	if !changed {
		return b, nil
	}
	return selectNode(items, subquery(b, "skein_branch")), nil
}

func analyzeSelect(root Node, env Env) (*Analysis, error) {
	// A rewrite that gave back a query it rewrites again would plan
	// forever, the coordinator's memory growing with each level; no SQL a
	// user writes nests its subqueries this deep (DuckDB's own bound on
	// an expression's depth is 1000).
	if env.depth++; env.depth > maxAnalysisDepth {
		return nil, local("planning went %d subqueries deep", maxAnalysisDepth)
	}
	names := env.topNames
	env.topNames = nil
	aggs := env.Aggregates
	if env.Exchanges {
		if err := inlineCTEs(root, env.withs); err != nil {
			return nil, err
		}
	}
	if err := inlineViews(root, env.View, env.withs); err != nil {
		return nil, err
	}
	if err := asofOuter(root); err != nil {
		return nil, err
	}
	pivotsAsAggregates(root, env) // pivot.go
	semiJoinsAsExists(root)       // semisyntax.go
	if err := bindNowOnce(root, &env); err != nil {
		return nil, err
	}
	orderAllAsPositions(root) // orderall.go
	a := &Analysis{root: root, env: env}
	decorrelate(root, env) // decorrelate.go
	if over, ok := distinctOverGroups(root, env); ok {
		return analyzeSelect(over, env) // distinctgroups.go
	}
	if u := unionAllInFrom(root); u != nil && env.Exchanges {
		ua, err := unionAggregate(root, u, env) // unionagg.go
		if err == nil || !errors.Is(err, ErrLocal) || !branchesAggregate(root, u, env) {
			return ua, err
		}
		a.unionOfAggregates = true // findScan plans the union in stages of its own
	}
	if err := a.findScan(env.Rows, aggs); err != nil {
		return nil, err
	}
	if err := plainSelect(withoutDistinct(root, aggs), env.Exchanges); err != nil {
		return nil, err
	}
	if env.Exchanges {
		if err := normalizeGroups(root, aggs, env.Columns); err != nil {
			return nil, err
		}
	}
	for _, part := range []any{root["select_list"], root["where_clause"], root["having"], root["qualify"]} {
		if err := a.checkExprs(part); err != nil {
			return nil, err
		}
	}
	for _, part := range []any{root["modifiers"], root["group_expressions"]} {
		if err := checkExprs(part); err != nil {
			return nil, err
		}
	}
	if a.over {
		a.Mode = ScatterMerge
		return a, nil
	}
	if containsAggregate(root["where_clause"], aggs) {
		return nil, local("aggregate in WHERE")
	}
	hasAgg := containsAggregate(root["select_list"], aggs) || containsAggregate(root["having"], aggs) ||
		containsAggregate(root["modifiers"], aggs)
	if a.inner != nil {
		if a.Joined {
			return nil, local("a join with an aggregate subquery")
		}
		a.raw = local("a query over an aggregate subquery")
		a.Mode = ScatterMerge
		return a, nil
	}
	isWindow := func(n Node) bool { return str(n, "class") == "WINDOW" }
	if a.windows && a.Joined && anyNode(root["from_table"], isWindow) &&
		!anyNode([]any{root["select_list"], root["qualify"], root["modifiers"], root["having"]}, isWindow) {
		// Windows only in join inputs that are FROM subqueries, never
		// the scan a join splits (scanUnder): each is read whole by
		// every task, or planned in stages of its own (aggregateLeaf),
		// and sees whole partitions either way.
		a.windows = false
	}
	if a.windows {
		// A window in the FROM subquery would be computed by the scan's
		// tasks, each over its slice (rawStages ships the FROM item's rows):
		// rank() OVER (PARTITION BY k) gave each slice its own first row.
		if anyNode(root["from_table"], isWindow) {
			return nil, local("window functions in a FROM subquery")
		}
		// Window functions see whole partitions: rows shuffled by the
		// PARTITION BY keys every window shares, the query on each part.
		if hasAgg || len(list(root, "group_expressions")) > 0 {
			if lifted, ok := liftAggregates(root, env); env.Exchanges && ok {
				return analyzeSelect(lifted, env)
			}
		}
		if !hasAgg && len(list(root, "group_expressions")) == 0 && a.Joined && env.Exchanges && a.Format == Parquet {
			return overJoinRows(root, names, env, local("window functions over a join")) // joinraw.go
		}
		if hasAgg || len(list(root, "group_expressions")) > 0 || a.Joined || a.Format != Parquet {
			return nil, local("window functions over an aggregate, a join or text files")
		}
		a.raw = local("window functions")
		a.Mode = ScatterMerge
		return a, nil
	}
	if !hasAgg && len(list(root, "group_expressions")) == 0 && root["having"] == nil && len(list(root, "modifiers")) == 0 {
		a.Mode = Scatter
		return a, nil
	}
	if !hasAgg && len(list(root, "group_expressions")) == 0 {
		if root["having"] != nil {
			return nil, local("HAVING without GROUP BY or aggregates")
		}
		if err := a.planPlain(); err != nil {
			return nil, err
		}
		a.Mode = ScatterMerge
		return a, nil
	}
	// A GROUP BY without aggregates (what BI tools send for a column's
	// values) is planned as one with none: the partial rows are each
	// slice's groups, grouped again.
	if err := a.planMerge(aggs); err != nil {
		// An aggregate that does not decompose still splits with
		// exchanges: rows shuffled by group key, the query on each part.
		if !errors.Is(err, ErrLocal) || !env.Exchanges || a.Format != Parquet {
			return nil, err
		}
		if a.Joined {
			return overJoinRows(root, names, env, err) // joinraw.go
		}
		a.raw = err
	}
	a.Mode = ScatterMerge
	return a, nil
}

func selectRoot(serialized []byte) (Node, error) {
	root, err := statementRoot(serialized)
	if err != nil {
		return nil, err
	}
	if str(root, "type") != "SELECT_NODE" {
		return nil, local("a %s, not a plain SELECT", str(root, "type"))
	}
	return root, nil
}

// statementRoot is the query node of a serialized single statement.
func statementRoot(serialized []byte) (Node, error) {
	var doc struct {
		Error      bool   `json:"error"`
		ErrorMsg   string `json:"error_message"`
		Statements []struct {
			Node Node `json:"node"`
		} `json:"statements"`
	}
	if err := decode(serialized, &doc); err != nil {
		return nil, fmt.Errorf("partition: decoding the AST: %w", err)
	}
	if doc.Error {
		return nil, local("DuckDB cannot serialize it: %s", doc.ErrorMsg)
	}
	if len(doc.Statements) != 1 {
		return nil, local("%d statements", len(doc.Statements))
	}
	return doc.Statements[0].Node, nil
}

// findScan finds the Parquet scan to split: the query's only input, one
// input of a join, or either of those inside a FROM subquery that only
// filters and projects rows (so each row of it comes from one row of the
// scan, and splitting the scan splits the subquery).
func (a *Analysis) findScan(rows func([]string) (int64, error), aggs Aggregates) error {
	path := []string{"from_table"}
	from := child(a.root, "from_table")
	unpivoted := false // the scan is under an UNPIVOT (unpivot.go)
	for {
		if str(from, "type") == "PIVOT" && len(list(from, "unpivot_names")) > 0 {
			if err := a.unpivotOver(from); err != nil {
				return err
			}
			unpivoted = true
			path = append(path, "source")
			from = child(from, "source")
			continue
		}
		if str(from, "type") != "SUBQUERY" {
			break
		}
		inner := child(child(from, "subquery"), "node")
		err := a.rowwise(inner, aggs)
		if err == nil && str(from, "alias") == joinRowsAlias {
			// A join's rows for the query over them, planned on their
			// own (joinraw.go).
			err = local("a join's rows")
		}
		if err != nil {
			if !a.env.Exchanges || !errors.Is(err, ErrLocal) || unpivoted {
				return err
			}
			if len(path) > 1 {
				// A row-wise subquery over one that is not (a view
				// filtering a windowed subquery's rows, read in
				// another query's FROM): the outer one is planned on
				// its own, and plans the inner one as its own FROM
				// subquery, as below.
				inner = child(child(child(a.root, "from_table"), "subquery"), "node")
			}
			if str(inner, "type") == "SET_OPERATION_NODE" {
				// A UNION, INTERSECT or EXCEPT planned in stages of
				// its own (setop.go), the query over its last one.
				// Not a UNION ALL: its rows need not meet, and
				// shuffled only to be read they cost more than the
				// query run whole (an aggregate of two filtered
				// branches of SF1's lineitem: 3.11 s staged, 0.35 s
				// local, bench/staged_shapes.py). analyzeSelect plans
				// a query over one branch by branch (unionagg.go).
				if unionAllTree(inner) && !a.unionOfAggregates {
					return local("a UNION ALL in a FROM subquery")
				}
				ia, ierr := analyzeSetOp(clone(inner), a.env)
				if ierr != nil {
					return ierr
				}
				a.inner = ia
				return nil
			}
			if str(inner, "type") != "SELECT_NODE" {
				return err
			}
			// With exchanges, the subquery is planned on its own and
			// the query runs over its last stage's rows.
			// A SELECT DISTINCT as its GROUP BY (distinctgroups.go).
			ia, ierr := analyzeSelect(distinctAsGroups(clone(inner), aggs), a.env)
			if ierr != nil {
				return ierr
			}
			a.inner = ia
			return nil
		}
		path = append(path, "subquery", "node", "from_table")
		from = child(inner, "from_table")
	}
	switch str(from, "type") {
	case "JOIN":
		if unpivoted {
			return local("an UNPIVOT of a join")
		}
		a.Joined = true
		return a.findJoinScan(from, path, rows)
	case "TABLE_FUNCTION":
		return a.useScan(from, path)
	case "BASE_TABLE":
		if a.env.withs.has(from) && !unpivoted {
			a.over = true
			return nil
		}
	case "PIVOT":
		_, why := pivotSelect(from, a.env) // pivot.go
		return local("%s", why)
	}
	return local("reads a %s, not a file scan", str(from, "type"))
}

// rowwise accepts a subquery whose rows each come from one input row:
// SELECT with WHERE, without aggregates, grouping, DISTINCT, ORDER BY or
// LIMIT, windows or subqueries.
func (a *Analysis) rowwise(n Node, aggs Aggregates) error {
	if str(n, "type") != "SELECT_NODE" {
		return local("a FROM subquery that is a %s", str(n, "type"))
	}
	if err := plainSelect(n, false); err != nil {
		return err
	}
	if len(list(n, "modifiers")) > 0 || len(list(n, "group_expressions")) > 0 || n["having"] != nil ||
		containsAggregate(n["select_list"], aggs) || containsAggregate(n["where_clause"], aggs) {
		return local("a FROM subquery that aggregates, sorts or limits")
	}
	if anyNode(n["select_list"], func(w Node) bool { return str(w, "class") == "WINDOW" }) {
		// Its windows see whole partitions, not a slice's rows: with
		// exchanges it is planned on its own, as one with QUALIFY is.
		return local("a FROM subquery with window functions")
	}
	if err := a.checkExprs(n["select_list"]); err != nil {
		return err
	}
	return a.checkExprs(n["where_clause"])
}

// findJoinScan picks the scan to split in a join among those that every
// output row comes from exactly once, that is those reached only through
// inner and cross joins or the preserved (left) side of left joins: the
// one reading the most rows, else the leftmost. The other inputs are read
// whole by every task, so they must be files too (no tables, which
// executors do not have).
func (a *Analysis) findJoinScan(from Node, at []string, rows func([]string) (int64, error)) error {
	if anyNode(from, func(n Node) bool { return str(n, "type") == "BASE_TABLE" && !a.env.withs.has(n) }) {
		return local("a join with a table")
	}
	if !containsKind(from, "TABLE_FUNCTION") && !containsKind(from, "SUBQUERY") {
		// Only WITH results computed once: one task joins them.
		a.over = true
		return checkExprs(from)
	}
	var found [][]string
	why := "no scan in the join can be split"
	var find func(n Node, path []string, splittable bool)
	find = func(n Node, path []string, splittable bool) {
		switch str(n, "type") {
		case "TABLE_FUNCTION", "SUBQUERY":
			if !splittable {
				return
			}
			// A scan, or one under subqueries that filter and project it
			// (a view, a CTE).
			if at, ok := a.scanUnder(n, path); ok {
				found = append(found, at)
			}
		case "JOIN":
			jt := str(n, "join_type")
			switch str(n, "ref_type") {
			case "REGULAR", "CROSS", "NATURAL":
			case "ASOF":
				// Each left row meets at most one right row, chosen
				// among all of them: the left splits, the right is
				// never sliced (collectLeaves); ASOF RIGHT and FULL
				// run local.
				if jt == "INNER" || jt == "LEFT" {
					find(child(n, "left"), append(slices.Clone(path), "left"), splittable)
				} else {
					why = fmt.Sprintf("an ASOF %s join: DuckDB 1.5.5 of one thread, as an executor may be, never ends "+
						"one whose left input is empty or shares no key with the right, as a partition's may", jt)
				}
				return
			default:
				return
			}
			if jt == "SEMI" || jt == "ANTI" {
				why = fmt.Sprintf("%s JOIN is not planned (written as WHERE EXISTS or NOT EXISTS, the same join distributes)", jt)
			}
			find(child(n, "left"), append(slices.Clone(path), "left"), splittable && (jt == "INNER" || jt == "LEFT"))
			find(child(n, "right"), append(slices.Clone(path), "right"), splittable && (jt == "INNER" || (jt == "RIGHT" && a.env.Exchanges)))
		}
	}
	find(from, at, true)
	if len(found) == 0 && a.env.Exchanges && outerBoth(from) {
		// Two scans FULL joined: both co-partitioned by the ON equalities (joinStages), the left
		// one the split scan.
		if left, ok := a.scanUnder(child(from, "left"), append(slices.Clone(at), "left")); ok {
			if _, ok := a.scanUnder(child(from, "right"), nil); ok {
				found = append(found, left)
				a.full = true
			}
		}
	}
	if len(found) == 0 && a.env.Exchanges {
		// Two inputs neither of which splits (an aggregate FULL or
		// LEFT joined to a scan, two aggregates joined): both are
		// computed by stages of their own and co-partitioned by the ON
		// equalities (joinStages), as two scans FULL joined are; the
		// left one's first scan stands for the split scan.
		if at, ok := a.pairedScan(from, at); ok {
			found = append(found, at)
			a.full = true
		}
	}
	if len(found) == 0 && a.env.Exchanges {
		if at, ok := a.gatheredScan(from, at); ok { // gathered.go
			found = append(found, at)
			a.gathered = true
		}
	}
	if len(found) == 0 {
		return local("%s", why)
	}
	if err := a.checkExprs(from); err != nil {
		return err
	}
	best, most := found[0], int64(-1)
	if rows != nil && len(found) > 1 {
		for _, path := range found {
			paths, _ := scanPaths(nodeAt(a.root, path), false)
			if n, err := rows(paths); err == nil && n > most {
				best, most = path, n
			}
		}
	}
	return a.useScan(nodeAt(a.root, best), best)
}

// asofOuter refuses a query holding an ASOF RIGHT or FULL join anywhere
// (a subquery, a CTE, a view's): DuckDB 1.5.5 of one thread, as an
// executor may be, never ends one whose left input is empty or shares no
// key with the right, as a partition's may, or a filtered input's, and
// cannot cancel it. Only the join at the top of the split FROM was kept
// local (findJoinScan): one in an IN subquery, a UNION ALL branch or a
// joined derived table ran in an executor's stage and ended it (a
// tester's).
func asofOuter(root Node) error {
	var jt string
	if anyNode(root, func(n Node) bool {
		jt = str(n, "join_type")
		return str(n, "type") == "JOIN" && str(n, "ref_type") == "ASOF" && jt != "INNER" && jt != "LEFT"
	}) {
		return local("an ASOF %s join: DuckDB 1.5.5 of one thread, as an executor may be, never ends one whose left input "+
			"is empty or shares no key with the right", jt)
	}
	return nil
}

// outerBoth says join n keeps the rows of its right side that match
// nothing, and so must see every row of the left side of their keys: a
// FULL join. (An ASOF RIGHT or FULL one would be too, rows of equal ON
// equalities meeting in one partition; it runs on one node: see
// findJoinScan.)
func outerBoth(n Node) bool {
	return str(n, "ref_type") == "REGULAR" && str(n, "join_type") == "FULL"
}

// unionAllBranches are the branches of n, a tree of UNION ALLs with no
// ORDER BY, LIMIT or WITH of their own, left to right.
func unionAllBranches(n Node) ([]Node, error) {
	if str(n, "type") != "SET_OPERATION_NODE" {
		return []Node{n}, nil
	}
	switch {
	case str(n, "setop_type") != "UNION":
		return nil, local("a %s, not a plain UNION ALL", strings.ReplaceAll(str(n, "setop_type"), "_", " "))
	case n["setop_all"] != true:
		return nil, local("UNION without ALL")
	case len(list(n, "modifiers")) > 0 || len(list(child(n, "cte_map"), "map")) > 0:
		return nil, local("ORDER BY, LIMIT or WITH on a UNION ALL")
	}
	left, err := unionAllBranches(child(n, "left"))
	if err != nil {
		return nil, err
	}
	right, err := unionAllBranches(child(n, "right"))
	return append(left, right...), err
}

// unionAllTree says set operation n and those of its sides are all
// UNION ALL (BY NAME or not).
func unionAllTree(n Node) bool {
	if str(n, "type") != "SET_OPERATION_NODE" {
		return true
	}
	switch str(n, "setop_type") {
	case "UNION", "UNION_BY_NAME":
	default:
		return false
	}
	return n["setop_all"] == true && unionAllTree(child(n, "left")) && unionAllTree(child(n, "right"))
}

// pairedScan is the path of the first Parquet scan under the left input
// of a join of two FROM items (neither a join) by an ON or USING, inner
// or outer, when both inputs are subqueries or Parquet scans: what
// findJoinScan takes for the split scan of a join it co-partitions whole.
// The scan may be under a join in the input's subquery (firstScan): it
// stands for the input, which its own stages compute.
func (a *Analysis) pairedScan(join Node, at []string) ([]string, bool) {
	switch str(join, "join_type") {
	case "INNER", "LEFT", "RIGHT", "FULL":
	default:
		return nil, false
	}
	if str(join, "ref_type") != "REGULAR" || len(onConditions(join)) == 0 {
		return nil, false
	}
	for _, side := range []string{"left", "right"} {
		n := child(join, side)
		if str(n, "type") != "SUBQUERY" && !(str(n, "type") == "TABLE_FUNCTION" && isParquetScan(n)) {
			return nil, false
		}
	}
	return firstScan(child(join, "left"), append(slices.Clone(at), "left"))
}

// scanUnder finds the Parquet scan a FROM item reads row by row: the item
// itself, or the scan under FROM subqueries that only filter and project.
func (a *Analysis) scanUnder(n Node, path []string) ([]string, bool) {
	path = slices.Clone(path)
	for str(n, "type") == "SUBQUERY" && a.env.Exchanges {
		inner := child(child(n, "subquery"), "node")
		if a.rowwise(inner, a.env.Aggregates) != nil {
			return nil, false
		}
		path = append(path, "subquery", "node", "from_table")
		n = child(inner, "from_table")
	}
	if str(n, "type") != "TABLE_FUNCTION" || !isParquetScan(n) {
		return nil, false
	}
	if _, err := scanPaths(n, false); err != nil {
		return nil, false
	}
	return path, true
}

func isParquetScan(n Node) bool {
	name := str(child(n, "function"), "function_name")
	return name == "read_parquet" || name == "parquet_scan"
}

func containsKind(v any, kind string) bool {
	return anyNode(v, func(n Node) bool { return str(n, "type") == kind })
}

// anyNode says whether pred holds for some node in v, v included.
func anyNode(v any, pred func(Node) bool) bool {
	switch v := v.(type) {
	case map[string]any:
		if pred(v) {
			return true
		}
		for _, x := range v {
			if anyNode(x, pred) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if anyNode(x, pred) {
				return true
			}
		}
	}
	return false
}

func nodeAt(root Node, path []string) Node {
	n := root
	for _, k := range path {
		n = child(n, k)
	}
	return n
}

// useScan takes the table function at scanPath as the scan to split.
func (a *Analysis) useScan(from Node, scanPath []string) error {
	a.scanPath = scanPath
	fn := child(from, "function")
	name := str(fn, "function_name")
	switch {
	case isParquetScan(from):
		a.Format = Parquet
	case textReaders[name]:
		// DuckDB sniffs a text file's dialect and types, and a set of
		// files read together may not be read as each file alone: only
		// reads that fix them (auto_detect = false, columns given) split.
		if !namedParam(fn, "columns") || !isFalse(namedParamValue(fn, "auto_detect")) {
			return local("%s without columns and auto_detect = false", name)
		}
		a.Format = Text
		a.reader = fn
	default:
		return local("reads %s, not files", name)
	}
	paths, err := scanPaths(from, a.Format == Text)
	if err != nil {
		return err
	}
	if len(list(from, "column_name_alias")) > 0 || from["sample"] != nil {
		return local("scan with column aliases or a sample")
	}
	a.Paths = paths
	if err := a.readHive(fn); err != nil {
		return err
	}
	a.alias = str(from, "alias")
	if a.alias == "" {
		a.alias = name
	}
	return nil
}

// Format is what kind of files a split scan reads.
type Format int

const (
	// Parquet files split by row groups.
	Parquet Format = iota
	// Text (CSV, JSON) files split by file.
	Text
)

// textReaders are the table functions reading CSV and JSON files.
var textReaders = map[string]bool{"read_csv": true, "read_csv_auto": true, "read_json": true,
	"read_json_auto": true, "read_ndjson": true, "read_ndjson_auto": true}

// namedParamValue is the value of a table function's named parameter
// (name = value is a comparison in the AST), or nil.
func namedParamValue(fn Node, name string) Node {
	for _, c := range list(fn, "children") {
		cn, _ := c.(map[string]any)
		if str(cn, "class") != "COMPARISON" || str(cn, "type") != "COMPARE_EQUAL" {
			continue
		}
		if cols := list(child(cn, "left"), "column_names"); len(cols) == 1 && cols[0] == name {
			return child(cn, "right")
		}
	}
	return nil
}

func namedParam(fn Node, name string) bool { return namedParamValue(fn, name) != nil }

// isFalse recognises the literal false: DuckDB's parser writes it as
// CAST('f' AS BOOLEAN).
func isFalse(n Node) bool {
	if str(n, "class") == "CAST" && str(child(n, "cast_type"), "id") == "BOOLEAN" {
		s, ok := stringConstant(child(n, "child"))
		return ok && (strings.EqualFold(s, "f") || strings.EqualFold(s, "false"))
	}
	v := child(n, "value")
	b, ok := v["value"].(bool)
	return str(n, "class") == "CONSTANT" && ok && !b && v["is_null"] == false
}

// scanPaths are the paths or globs a file scan reads: its first argument,
// one string or a list of strings, all constants. Parquet scans take no
// other argument; text scans keep theirs.
func scanPaths(scan Node, options bool) ([]string, error) {
	args := list(child(scan, "function"), "children")
	if len(args) == 0 || (len(args) > 1 && !options) {
		return nil, local("read_parquet with options")
	}
	arg, _ := args[0].(map[string]any)
	if p, ok := stringConstant(arg); ok {
		return []string{p}, nil
	}
	if str(arg, "class") != "FUNCTION" || str(arg, "function_name") != "list_value" || len(list(arg, "children")) == 0 {
		return nil, local("a scan of a computed path")
	}
	var paths []string
	for _, c := range list(arg, "children") {
		cn, _ := c.(map[string]any)
		p, ok := stringConstant(cn)
		if !ok {
			return nil, local("a scan of a computed path")
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func stringConstant(n Node) (string, bool) {
	if str(n, "class") != "CONSTANT" {
		return "", false
	}
	v := child(n, "value")
	s, ok := v["value"].(string)
	return s, ok && str(child(v, "type"), "id") == "VARCHAR"
}

// isStarOnly says n is SELECT * FROM its input and nothing more.
func isStarOnly(n Node) bool {
	return loneStar(list(n, "select_list")) &&
		n["where_clause"] == nil && len(list(n, "group_expressions")) == 0 && n["having"] == nil &&
		len(list(n, "modifiers")) == 0 && n["qualify"] == nil && n["sample"] == nil
}

// withoutDistinct is root less its DISTINCT when the query has no
// aggregate, GROUP BY, HAVING or window function: planPlain splits such a
// SELECT DISTINCT (each slice's distinct rows, made distinct again) or
// DISTINCT ON (distincton.go). Every other plan reads only ORDER BY and
// LIMIT, so plainSelect keeps the others local.
func withoutDistinct(root Node, aggs Aggregates) Node {
	mods := list(root, "modifiers")
	var kept []any
	for _, m := range mods {
		if mn, _ := m.(map[string]any); str(mn, "type") != "DISTINCT_MODIFIER" {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(mods) || len(list(root, "group_expressions")) > 0 || root["having"] != nil ||
		str(root, "aggregate_handling") != "STANDARD_HANDLING" ||
		containsAggregate([]any{root["select_list"], root["modifiers"]}, aggs) ||
		anyNode([]any{root["select_list"], root["qualify"], root["modifiers"]}, func(n Node) bool { return str(n, "class") == "WINDOW" }) {
		return root
	}
	out := maps.Clone(root)
	out["modifiers"] = kept
	return out
}

// plainSelect rejects the clauses the planner does not split.
func plainSelect(root Node, exchanges bool) error {
	switch {
	case len(list(child(root, "cte_map"), "map")) > 0:
		return local("WITH clause")
	case root["qualify"] != nil && !exchanges:
		return local("QUALIFY")
	case root["sample"] != nil:
		return local("SAMPLE")
	case str(root, "aggregate_handling") != "STANDARD_HANDLING" && !exchanges:
		return local("GROUP BY ALL or forced aggregation")
	case len(list(root, "group_sets")) > 1 && !exchanges:
		return local("GROUPING SETS, ROLLUP or CUBE")
	}
	for _, m := range list(root, "modifiers") {
		mn, _ := m.(map[string]any)
		switch str(mn, "type") {
		case "ORDER_MODIFIER", "LIMIT_MODIFIER":
		default:
			return local("modifier %q", str(mn, "type"))
		}
	}
	return nil
}

// checkExprs rejects expressions whose value depends on more than the row:
// subqueries, window functions, and volatile functions.
func checkExprs(v any) error {
	switch v := v.(type) {
	case map[string]any:
		switch str(v, "class") {
		case "SUBQUERY":
			return local("subquery")
		case "WINDOW":
			return local("window function")
		case "PARAMETER":
			return local("query parameter")
		case "FUNCTION":
			if volatileCall(v) {
				return local("volatile function %s", str(v, "function_name"))
			}
		}
		for _, x := range v {
			if err := checkExprs(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkExprs(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// containsAggregate says whether v calls an aggregate of its own query
// level: one inside a subquery aggregates the subquery's rows.
func containsAggregate(v any, aggs Aggregates) bool {
	switch v := v.(type) {
	case map[string]any:
		switch {
		case str(v, "class") == "SUBQUERY":
			return false
		case str(v, "class") == "FUNCTION" && aggs[str(v, "function_name")]:
			return true
		}
		for _, x := range v {
			if containsAggregate(x, aggs) {
				return true
			}
		}
	case []any:
		for _, x := range v {
			if containsAggregate(x, aggs) {
				return true
			}
		}
	}
	return false
}

// Slice is a row range of one Parquet file, aligned to row groups; or a
// whole file (Last < 0); or, when Files is set, whole Parquet files read
// together (a join's task reads several files so that the join's other
// inputs are read once per executor thread, not once per file; a scan's
// task, so that it pays a task's fixed cost once for them, see Coalesce).
type Slice struct {
	File        string
	First, Last int64 // file_row_number range, inclusive
	// Size and Modified, when Size is set, are File's as it was listed
	// for the plan: its row range is the plan's only while the file is
	// that one (duck.FileUnchanged).
	Size, Modified int64 `json:",omitempty"`
	// Tail is File's duck.Tail as listed (0: not taken).
	Tail  uint64 `json:",omitempty"`
	Files []string
	// Pinned are the files the task reads besides its slice, named in its
	// SQL as they were listed (Analysis.Pinned): the same small join input
	// read by every task of a query, one task reading a file renamed over
	// it meanwhile and the others the old one, gave an answer of neither
	// version (found 2026-12-06). Each is checked as File is.
	Pinned []Stamp `json:",omitempty"`
	// Keys, when set, are the bounds of the key its stage's slices are
	// cut by (ranges.go): a join input read by the same task is read in
	// that range only.
	Keys *Bounds `json:",omitempty"`
	// Rows are the rows of a slice of whole files (Coalesce), from their
	// Parquet metadata, for the scheduler to size it by; 0: not known.
	// Not part of a task: the slice is read whatever it holds.
	Rows int64 `json:"-"`
}

func (s Slice) String() string {
	if s.File == "" && len(s.Files) == 0 {
		return "-"
	}
	var out string
	switch {
	case len(s.Files) > 0:
		out = strings.Join(s.Files, ",")
	case s.Whole():
		out = s.File
	default:
		out = fmt.Sprintf("%s[%d..%d]", s.File, s.First, s.Last)
	}
	if s.Keys != nil {
		out += " keys " + s.Keys.String()
	}
	return out
}

// Stamp says which file a path was when the plan listed it: its size,
// modification time and, for a local file, its tail's checksum
// (duck.FileUnchanged).
type Stamp struct {
	Path           string
	Size, Modified int64
	Tail           uint64 `json:",omitempty"`
}

// File is one Parquet file and the row counts of its row groups.
type File struct {
	Path      string
	RowGroups []int64
	// Size and Modified are the file's as listed (0: not known):
	// Split stamps its row-range slices with them.
	Size, Modified int64
	// Tail is a local file's duck.Tail as listed (0: not taken).
	Tail uint64
	// Columns are the file's Parquet schema below its root, an entry an
	// element (its name and type): when a scan's files differ in them,
	// its slices are read as the first file's (Analysis.ReadAs).
	Columns []string
	// Keys, when set (Env.KeyStats), are the bounds of one key column in
	// each row group.
	Keys []Bounds
}

// Rows are the file's rows, its row groups' together.
func (f File) Rows() int64 {
	var n int64
	for _, g := range f.RowGroups {
		n += g
	}
	return n
}

// Split cuts files into slices of about targetRows rows each, along row
// group boundaries and never across files; a file of very many row groups
// into fewer (rowGroupWalks).
func Split(files []File, targetRows int64) []Slice { return SplitTail(files, targetRows, 0) }

// rowGroupWalks bounds the row groups the slices of one file walk
// together: a task reading a row range of a file costs about a walk of all
// its row groups, whichever it reads (DuckDB 1.5.5, one thread, 20M rows
// in 2,000-row groups: a quarter by row range 0.487 s, the whole file
// 0.506 s), so a file of 50,000 groups of 2 rows cut into 100 slices ran
// over ten minutes. A file of g row groups is cut into at most
// rowGroupWalks/g slices (at least one); files of the usual row groups of
// 100,000 rows and more are cut as before.
const rowGroupWalks = 100_000

// sliceRows is the fewest rows a slice of f has under rowGroupWalks.
func sliceRows(f File) int64 {
	g := int64(len(f.RowGroups))
	return (f.Rows()*g + rowGroupWalks - 1) / rowGroupWalks
}

// tinyGroupRows: a file of more than tinyGroups row groups holding fewer
// rows than this on average is read whole by one task, without row
// numbers: DuckDB reads
// half of 100,000 rows in 50,000 row groups by row range in 24.8 s, all
// of them plainly in 5.7 s (DuckDB 1.5.5, a loaded machine: the
// throwaway test of fd00549's session). DuckDB writes no groups smaller
// than its vector, 2,048 rows; other writers may.
const tinyGroupRows, tinyGroups = 256, 1000

// SplitTail is Split, but the last tail rows (the files in order) are cut
// into slices of about a quarter of targetRows (at least a row group):
// small slices that a scheduler gives out last, so that executors of
// unequal speed can end together.
func SplitTail(files []File, targetRows, tail int64) []Slice {
	var total, seen int64 // all rows, and those before the group at hand
	for _, f := range files {
		total += f.Rows()
	}
	var out []Slice
	for _, f := range files {
		var start, rows, pos int64
		wasTail := false
		least := sliceRows(f)
		if n, g := f.Rows(), int64(len(f.RowGroups)); g > tinyGroups && n < tinyGroupRows*g {
			out = append(out, Slice{Files: []string{f.Path}, Last: -1, Rows: n})
			seen += n
			continue
		}
		cut := func() {
			if rows > 0 {
				out = append(out, Slice{File: f.Path, First: start, Last: pos - 1, Size: f.Size, Modified: f.Modified, Tail: f.Tail})
			}
			start, rows = pos, 0
		}
		for i, n := range f.RowGroups {
			inTail := total-seen <= tail
			limit := targetRows
			if inTail {
				limit = targetRows / 4
			}
			limit = max(limit, least)
			if inTail && !wasTail {
				cut() // the slice so far ends where the tail starts
			}
			wasTail = inTail
			rows += n
			pos += n
			seen += n
			if rows >= limit || i == len(f.RowGroups)-1 {
				cut()
			}
		}
	}
	return out
}

// scanOf is the table reference that reads one slice: a subquery over the
// file with its row numbers, named like the scan it replaces.
func (a *Analysis) scanOf(s Slice) Node {
	if len(s.Files) > 0 {
		files := make([]Node, len(s.Files))
		for i, f := range s.Files {
			files[i] = constant("VARCHAR", f)
		}
		return a.filesNode(files, a.unionOf(s))
	}
	return a.scanNode(constant("VARCHAR", s.File), constant("BIGINT", s.First), constant("BIGINT", s.Last))
}

// scanTemplate reads the slice given by the parameters $1 (file), $2 and $3
// (first and last row), or for a slice of whole files $1...$k (the files):
// every task of a query with slices of one shape runs the same statement.
func (a *Analysis) scanTemplate(s Slice) Node {
	if len(s.Files) > 0 {
		files := make([]Node, len(s.Files))
		for i := range s.Files {
			files[i] = parameter(i + 1)
		}
		return a.filesNode(files, a.unionOf(s))
	}
	return a.scanNode(parameter(1), parameter(2), parameter(3))
}

// unionOf says a task reads slice s's whole files one read_parquet each
// in a UNION ALL (filesNode): a plain scan's files grouped by Coalesce,
// where it was measured, not a join's nor files cut by a key's ranges,
// which keep the list they were read as before (a join's filters on the
// scan may reach one read_parquet better than a union of them; not
// measured apart from noise: TPC-H Q17 and Q18 ran slower with unions in
// two interleaved runs, but Q17 was as slow in a run of the same plan as
// before).
func (a *Analysis) unionOf(s Slice) bool { return !a.Joined && s.Keys == nil }

// filesNode reads whole Parquet files, named like the scan it replaces.
// Files that agree in their schema are read, when union is set, one
// read_parquet each in a UNION ALL (runs of files, one list each, past
// Env.TaskOpenFiles files: openfiles.go): DuckDB reads a list of files together
// at a cost of its own (TPC-H Q1's partial aggregate over SF1's
// lineitem in plain DuckDB on one thread: 482 ms of CPU with its files
// read as lists, 380 ms as UNION ALLs; a probe, not in the repository),
// and the columns of files that agree line up by position.
func (a *Analysis) filesNode(files []Node, union bool) Node {
	fn := tableFunction(a.alias, a.parquetReader(a.withFirst(files)))
	if a.first == "" && union && len(files) > 1 {
		var all Node
		for _, run := range fileRuns(files, a.env.openFiles()) {
			f := run[0]
			if len(run) > 1 {
				f = function("list_value", run...)
			}
			one := selectNode([]any{star()}, tableFunction("", a.parquetReader(f)))
			if all == nil {
				all = one
				continue
			}
			all = Node{"type": "SET_OPERATION_NODE", "modifiers": []any{}, "cte_map": Node{"map": []any{}},
				"setop_type": "UNION", "setop_all": true, "left": all, "right": one}
		}
		return subquery(all, a.alias)
	}
	if a.first == "" {
		return fn
	}
	fn["alias"] = ""
	inner := selectNode([]any{star()}, fn)
	inner["where_clause"] = a.fromFirst()
	return subquery(inner, a.alias)
}

// tableFunction is a FROM item calling the table function fn, named alias.
func tableFunction(alias string, fn Node) Node {
	return Node{"type": "TABLE_FUNCTION", "alias": alias, "sample": nil, "query_location": json.Number(noLocation),
		"function": fn, "column_name_alias": []any{}, "with_ordinality": "WITHOUT_ORDINALITY"}
}

// Args are the values of a task template's parameters for slice s: the
// files of a slice of whole files, the file alone for a whole file (Last <
// 0), else the file and its row range.
func (s Slice) Args() []any {
	if s.File == "" && len(s.Files) == 0 {
		return nil // no scan: a task reading exchanges, or files whole
	}
	if len(s.Files) > 0 {
		args := make([]any, len(s.Files))
		for i, f := range s.Files {
			args[i] = f
		}
		return args
	}
	if s.Whole() {
		return []any{s.File}
	}
	return []any{s.File, s.First, s.Last}
}

// Whole says the slice is a whole file, not a row range.
func (s Slice) Whole() bool { return s.Last < 0 }

// Coalesce joins a scan's slices into n slices of whole files, each a run
// of consecutive files of about equal rows (a file goes where its middle
// row falls), when there are more than n and every one is a whole file of
// files read from its first row to its last (pruning may have dropped
// some). Otherwise, a slice being part of a file or cut by a key's ranges,
// it gives sl as it is. Reading whole files together costs a task's fixed
// cost (starting it, binding and planning its SQL, opening its first
// file, sending its result) once for all of them, and reads no
// file_row_number.
func Coalesce(sl []Slice, files []File, n int) []Slice {
	if n <= 0 || len(sl) <= n {
		return sl
	}
	rows := make(map[string]int64, len(files))
	for _, f := range files {
		rows[f.Path] = f.Rows()
	}
	var total int64
	for _, s := range sl {
		r, ok := rows[s.File]
		if s.Keys != nil || len(s.Files) > 0 || !ok || r == 0 || s.First != 0 || s.Last != r-1 {
			return sl
		}
		total += r
	}
	out := make([]Slice, 0, n)
	var seen int64
	group := -1
	for _, s := range sl {
		r := rows[s.File]
		if g := int((2*seen + r) * int64(n) / (2 * total)); g != group || len(out) == 0 {
			out = append(out, Slice{Last: -1})
			group = g
		}
		last := &out[len(out)-1]
		last.Files = append(last.Files, s.File)
		last.Rows += r
		seen += r
	}
	return out
}

// CoalesceTail is Coalesce for a scan cut by SplitTail (executors of
// unequal speed): each run of consecutive slices that are whole files is
// joined into slices of about limit rows, a quarter of that in the last
// tail rows of sl, where SplitTail cuts its small slices for the
// scheduler to give out last. A task a file cost each of thousands of
// small files a task's fixed cost (a dispatch, a prepare, a stream); a
// file of more rows than that, cut by row groups, stays as it is.
func CoalesceTail(sl []Slice, files []File, limit, tail int64) []Slice {
	rows := make(map[string]int64, len(files))
	for _, f := range files {
		rows[f.Path] = f.Rows()
	}
	size := func(s Slice) int64 { return max(s.Last-s.First+1, 0) }
	var total int64
	for _, s := range sl {
		total += size(s)
	}
	out := make([]Slice, 0, len(sl))
	var run []Slice // whole files, all in the tail or all before it
	var runRows, seen int64
	runTail := false
	flush := func() {
		if len(run) > 0 {
			lim := limit
			if runTail {
				lim = limit / 4
			}
			lim = max(lim, 1)
			out = append(out, Coalesce(run, files, int((runRows+lim-1)/lim))...)
		}
		run, runRows = nil, 0
	}
	for _, s := range sl {
		inTail := total-seen <= tail
		seen += size(s)
		if r := rows[s.File]; s.Keys != nil || len(s.Files) > 0 || r == 0 || s.First != 0 || s.Last != r-1 {
			flush()
			out = append(out, s)
			continue
		}
		if inTail != runTail {
			flush()
		}
		run, runRows, runTail = append(run, s), runRows+size(s), inTail
	}
	flush()
	return out
}

// SplitGroups spreads whole files over at most n slices of about equal
// rows (largest file first to the smallest group), each slice's files in
// their original order.
func SplitGroups(files []File, n int) []Slice {
	if n <= 0 {
		n = 1
	}
	type sized struct {
		idx  int
		rows int64
	}
	order := make([]sized, 0, len(files))
	for i, f := range files {
		if rows := f.Rows(); rows > 0 {
			order = append(order, sized{i, rows})
		}
	}
	slices.SortStableFunc(order, func(a, b sized) int { return int(b.rows - a.rows) })
	groups := make([][]int, min(n, len(order)))
	load := make([]int64, len(groups))
	for _, f := range order {
		g := 0
		for i := range load {
			if load[i] < load[g] {
				g = i
			}
		}
		groups[g] = append(groups[g], f.idx)
		load[g] += f.rows
	}
	out := make([]Slice, 0, len(groups))
	for _, g := range groups {
		slices.Sort(g)
		s := Slice{Last: -1}
		for _, i := range g {
			s.Files = append(s.Files, files[i].Path)
		}
		out = append(out, s)
	}
	return out
}

// SplitFiles cuts a text scan's files into one slice each.
func SplitFiles(paths []string) []Slice {
	out := make([]Slice, len(paths))
	for i, p := range paths {
		out[i] = Slice{File: p, Last: -1}
	}
	return out
}

func (a *Analysis) scanNode(file, first, last Node) Node {
	if a.Format == Text {
		// The same call with the one file as its first argument.
		fn := clone(a.reader)
		args := list(fn, "children")
		args[0] = file
		for _, p := range a.hiveParams() {
			args = append(args, p)
		}
		fn["children"] = args
		return tableFunction(a.alias, fn)
	}
	// A named parameter (file_row_number = true) is a comparison in the AST.
	if a.first != "" {
		file = a.withFirst([]Node{file})
	}
	scan := a.parquetReader(file, namedArg("file_row_number", cast("BOOLEAN", constant("VARCHAR", "t"))))
	from := tableFunction("", scan)
	all := star()
	all["exclude_list"] = []any{"file_row_number"}
	inner := selectNode([]any{all}, from)
	inner["where_clause"] = Node{"class": "BETWEEN", "type": "COMPARE_BETWEEN", "alias": "",
		"query_location": json.Number(noLocation), "input": columnRef("file_row_number"),
		"lower": first, "upper": last}
	if a.first != "" {
		inner["where_clause"] = and([]any{inner["where_clause"], a.fromFirst()})
	}
	return subquery(inner, a.alias)
}

// TaskAST is the serialized query a task runs over slice s: the query
// itself for scatter, the partial aggregation for scatter-merge. names are
// the query's output columns.
func (a *Analysis) TaskAST(s Slice, names []string) ([]byte, error) {
	return a.task(a.fromWith(a.scanOf(s)), names)
}

// TemplateAST is TaskAST with the slice left as parameters, bound to
// Slice.Args() when a task runs; it fits every slice shaped like s.
func (a *Analysis) TemplateAST(s Slice, names []string) ([]byte, error) {
	return a.task(a.fromWith(a.scanTemplate(s)), names)
}

// fromWith is the query's FROM with the split scan replaced by scan; in a
// join, the other inputs stay as they are.
func (a *Analysis) fromWith(scan Node) Node {
	if len(a.scanPath) <= 1 && len(a.subst) == 0 {
		return scan
	}
	holder := Node{"from_table": clone(child(a.root, "from_table"))}
	place := func(path []string, n Node) {
		parent := holder
		for _, k := range path[:len(path)-1] {
			parent = child(parent, k)
		}
		parent[path[len(path)-1]] = n
	}
	for path, repl := range a.subst {
		place(strings.Split(path, "/"), clone(repl))
	}
	if scan != nil {
		place(a.scanPath, scan)
	}
	return child(holder, "from_table")
}

func (a *Analysis) task(from Node, names []string) ([]byte, error) {
	n := a.taskNode(from)
	if a.renamed {
		// SELECT * FROM (branch) AS skein_branch(names...)
		sub := subquery(n, "skein_branch")
		cols := make([]any, len(names))
		for i, c := range names {
			cols[i] = c
		}
		sub["column_name_alias"] = cols
		n = selectNode([]any{star()}, sub)
	}
	return statement(n)
}

// taskNode is the query a task runs over the table reference from.
func (a *Analysis) taskNode(from Node) Node {
	var out Node
	switch {
	case a.plain != nil:
		out = clone(a.plain)
	case a.Mode == Scatter:
		out = clone(a.root)
	default:
		return a.partialNode(from)
	}
	out["from_table"] = from
	return out
}

func (a *Analysis) partialNode(from Node) Node {
	var sl []any
	for i, g := range a.groups {
		gn, _ := g.(map[string]any)
		sl = append(sl, withAlias(clone(gn), fmt.Sprintf("g%d", i)))
	}
	for i, p := range a.partials {
		sl = append(sl, withAlias(clone(p), fmt.Sprintf("p%d", i)))
	}
	n := selectNode(sl, from)
	n["where_clause"] = a.root["where_clause"]
	n["group_expressions"] = cloneList(a.groups)
	n["group_sets"] = a.root["group_sets"]
	if a.groupingSets() {
		// Each slice's groups of all the keys: the final step rolls
		// them up into each set (groupsets.go).
		n["group_sets"] = []any{allOf(a.groups)}
	}
	if a.distinctArg != nil {
		groups := append(cloneList(a.groups), clone(a.distinctArg))
		n["group_expressions"], n["group_sets"] = groups, []any{allOf(groups)}
	}
	return clone(n)
}

func cloneList(l []any) []any {
	out := make([]any, len(l)) // never nil: DuckDB wants [] where a list is empty
	for i, x := range l {
		n, _ := x.(map[string]any)
		out[i] = clone(n)
	}
	return out
}

// MergeAST is the serialized final query over the partial results read
// from table, naming its columns as the original query does.
func (a *Analysis) MergeAST(table string, names []string) ([]byte, error) {
	return a.mergeOver(baseTable(table), names)
}

// CheckAST is the final query over the partial query itself (scanning
// slice s), for preparing at plan time: its schema must equal the original
// query's, or the plan is not used.
func (a *Analysis) CheckAST(s Slice, names []string) ([]byte, error) {
	if a.Mode == Scatter {
		return a.TaskAST(s, names)
	}
	return a.mergeOver(subquery(a.taskNode(a.fromWith(a.scanOf(s))), "skein_partials"), names)
}

func (a *Analysis) mergeOver(from Node, names []string) ([]byte, error) {
	if a.plain != nil {
		return a.plainMerge(from, names)
	}
	n, err := a.mergeNode(from, names)
	if err != nil {
		return nil, err
	}
	return statement(n)
}

// mergeNode is the final aggregation over the partial results in from.
func (a *Analysis) mergeNode(from Node, names []string) (Node, error) {
	if len(names) != len(a.finals) {
		// An expression of the select list that DuckDB expands into
		// several columns (count(COLUMNS(*))): its own to run.
		return nil, local("%d output columns for %d expressions of the select list (COLUMNS() expands)", len(names), len(a.finals))
	}
	var sl []any
	for i, f := range a.finals {
		sl = append(sl, withAlias(clone(f), names[i]))
	}
	n := selectNode(sl, from)
	groupRefs := []any{}
	for i := range a.groups {
		groupRefs = append(groupRefs, columnRef(fmt.Sprintf("g%d", i)))
	}
	n["group_expressions"] = groupRefs
	switch {
	case a.groupingSets():
		n["group_sets"] = cloneValue(a.root["group_sets"]) // gN is group expression N
	case len(groupRefs) > 0:
		n["group_sets"] = []any{allOf(a.groups)}
	}
	if a.having != nil {
		n["having"] = clone(a.having)
	}
	var mods []any
	if len(a.orders) > 0 {
		mods = append(mods, Node{"type": "ORDER_MODIFIER", "orders": cloneList(a.orders)})
	}
	if a.limit != nil {
		mods = append(mods, clone(a.limit))
	}
	if mods != nil {
		n["modifiers"] = mods
	}
	if a.ownRows {
		n = fillOwnRows(n, from)
	}
	return n, nil
}

// Ordered says every run of a task of this query gives its rows in the
// same order, on any node: the task scans one fixed slice and filters and
// projects it, and DuckDB keeps a scan's order through those while
// preserve_insertion_order is on (its default, which duck.Open states and
// lock_configuration keeps). A broken task stream can then be resumed by
// running the task again and skipping the rows already read. A join's
// order is not fixed (it follows how threads filled its hash table), nor
// a partial aggregate's (hashing); a UNION ALL is asked branch by branch.
func (a *Analysis) Ordered() bool {
	return a.Mode == Scatter && !a.Joined && len(a.Branches) == 0
}

func (a *Analysis) String() string {
	return fmt.Sprintf("%s over %v", a.Mode, a.Paths)
}

// Reads is what a query reads, when that is nothing but files named by
// constants (read_parquet and the text readers), directly or through
// views: then what DuckDB says of the query (its columns, its estimated
// rows) follows from its AST, those views' definitions and those files
// (settings are locked; a macro of the coordinator's catalog is not the
// executors', which run the query), and the coordinator may remember it
// by them.
type Reads struct {
	Paths []string // the paths and globs its scans read
	Views []string // the views it reads, each its AST and column names
}

// FileReads is what n reads, seeing through the views views resolves
// (nil: none), or false when it reads anything else: a table, a CTE by
// name, another table function, a computed path.
func FileReads(n Node, views func(catalog, schema, name string) (View, bool)) (Reads, bool) {
	var r Reads
	return r, r.add(n, views, 0)
}

// TextReads is FileReads of a whole statement, from its serialized AST
// (json_serialize_sql): false when it reads anything but files named by
// constants, or does not decode. A reference to a WITH of the statement
// reads what the CTE's query reads: the WITHs are inlined first as the
// planner inlines them (inlineCTEs), so that a name is the CTE's where
// DuckDB binds it to the CTE (which shadows a view or table of that name)
// and the catalog's elsewhere (schema-qualified). A WITH the planner
// would not inline (recursive, a name defined again inside) reads
// something else.
func TextReads(serialized []byte, views func(catalog, schema, name string) (View, bool)) (Reads, bool) {
	root, err := statementRoot(serialized)
	if err != nil {
		return Reads{}, false
	}
	if err := inlineCTEs(root, nil); err != nil {
		return Reads{}, false
	}
	return FileReads(root, views)
}

func (r *Reads) add(n any, views func(catalog, schema, name string) (View, bool), depth int) bool {
	ok := true
	anyNode(n, func(x Node) bool {
		switch str(x, "type") {
		case "BASE_TABLE":
			var v View
			if views != nil && depth < maxViewDepth {
				v, ok = views(str(x, "catalog_name"), str(x, "schema_name"), str(x, "table_name"))
			} else {
				ok = false
			}
			var def any
			if ok && decode(v.AST, &def) != nil {
				ok = false
			}
			if ok {
				r.Views = append(r.Views, string(v.AST)+"\x00"+strings.Join(v.Columns, "\x00"))
				ok = r.add(def, views, depth+1)
			}
		case "TABLE_FUNCTION":
			if !isParquetScan(x) && !textReaders[str(child(x, "function"), "function_name")] {
				ok = false
				break
			}
			p, err := scanPaths(x, true)
			if err != nil {
				ok = false
				break
			}
			r.Paths = append(r.Paths, p...)
		}
		return !ok
	})
	return ok
}
