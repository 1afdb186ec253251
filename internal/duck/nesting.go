package duck

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/skeindb/skein/internal/sqltext"
)

// DuckDB 1.5's optimizer (its filter pushdown) takes time exponential in
// how deeply aggregates nest: PREPARE of
// SELECT count(*) FROM (SELECT count(*) FROM (...)) takes 0.23 s at 20
// levels, 3.7 s at 24 and minutes at 30; a scalar subquery that
// aggregates costs two levels (0.27 s at 10 of them, 5.4 s at 12), and
// the same chains built of views or CTEs cost the same; so do windows
// (row_number() OVER (PARTITION BY c) over a filtered subquery: 7.7 s at
// 20 levels). Planning does not
// check for an interrupt, so one short query pins a core, outlives its
// client and holds up shutdown. DuckDB 2.0 plans these in a millisecond;
// until Skein runs on it, the server refuses such a query before DuckDB
// sees it.

// DefaultMaxNesting is how deep aggregates may nest in a client's query
// by default: at 16 levels the slowest chains measured plan in about half
// a second (a filter over an aggregate, repeated), most in 20 ms.
const DefaultMaxNesting = 16

// DefaultMaxFileScans is how many file scans one client statement may
// bind by default. DuckDB opens the first file of every scan
// (read_parquet, read_csv, a view over one) when it binds it and holds
// it until the statement ends, whatever number of files the scan names:
// a UNION ALL of 18,000 scans of one small file held 18,017 descriptors
// of a coordinator's 20,000 and grew past 3 GB. TPC-H's widest query
// scans 8 tables.
const DefaultMaxFileScans = 256

// Bounds are what CheckQuery allows a client's SQL; a bound <= 0 is none.
type Bounds struct {
	Nesting   int // how deeply aggregates nest (--max-nested-aggregates)
	FileScans int // how many file scans it binds (--max-file-scans)
}

// CheckNesting refuses query when its aggregates nest more than max
// levels deep (CheckQuery); max <= 0 is no bound.
func (c *Conn) CheckNesting(ctx context.Context, query string, max int) error {
	return c.CheckQuery(ctx, query, Bounds{Nesting: max})
}

// CheckQuery refuses query when its aggregates nest more than
// b.Nesting levels deep, counting through subqueries, CTEs, and the
// views and macros it names (a scalar subquery's aggregate counts
// twice), or when it names more than b.FileScans file scans, counted
// the same way: a call of a function that reads files (fileScans), a
// file named as a table (FROM 'f.parquet'), and the scans of each view
// or macro it names, once a mention, and of each CTE, once where it is
// defined and once a mention (DuckDB binds a CTE's text where it is
// named). It reads SQL by its tokens,
// so it over-counts rather than misses: a column named like a view
// counts as the view. It costs a pass over the tokens, and a listing of
// the views (about 1.5 ms) when the query has a FROM and the catalog
// changed since the connection's last, or of the macros (50 ms) when it
// calls a function DuckDB does not have built in.
//
// Unless the instance allows recursive JSON, it also refuses a statement
// that reads a local JSON file nesting too deep for DuckDB
// (checkNamed).
func (c *Conn) CheckQuery(ctx context.Context, query string, b Bounds) error {
	_, err := c.checkQueryFiles(ctx, query, b)
	return err
}

// Checked is what CheckQueryFiles found of a statement, for Recheck as
// it runs.
type Checked struct {
	query  string
	bounds Bounds

	mu      sync.Mutex     // a prepared statement's queries share its Checked
	version CatalogVersion // the catalog the check read
	json    []string       // the local JSON files (paths and patterns) it reads
}

// CheckQueryFiles is CheckQuery, and returns what the check found, for
// Recheck as the statement runs.
func (c *Conn) CheckQueryFiles(ctx context.Context, query string, b Bounds) (*Checked, error) {
	v := c.CatalogVersion()
	json, err := c.checkQueryFiles(ctx, query, b)
	if err != nil {
		return nil, err
	}
	return &Checked{query: query, bounds: b, version: v, json: json}, nil
}

// Recheck checks a statement that passed CheckQueryFiles again as it is
// about to run (a prepared statement's each run, a query's DoGet). When
// the catalog moved since, the whole check runs again: DuckDB binds the
// statement again to the views and macros it names as they are now, and
// a reader's statement prepared while a macro wrote nothing advanced the
// writer's sequence once the writer made it call nextval (a tester's).
// Otherwise only the JSON files it reads are read again: one rewritten
// since its check refuses the statement if a value now nests too deep.
func (c *Conn) Recheck(ctx context.Context, chk *Checked) error {
	if chk == nil {
		return nil
	}
	chk.mu.Lock()
	defer chk.mu.Unlock()
	if v := c.CatalogVersion(); v != chk.version {
		json, err := c.checkQueryFiles(ctx, chk.query, chk.bounds)
		if err != nil {
			return err
		}
		chk.version, chk.json = v, json
		return nil
	}
	return c.recheckJSON(chk.json)
}

func (c *Conn) checkQueryFiles(ctx context.Context, query string, b Bounds) (json []string, err error) {
	jsonFiles := !c.db.recursiveJSON
	if b.Nesting <= 0 && b.FileScans <= 0 && !jsonFiles && !c.policy.ReadOnly && !c.db.oneThread {
		return nil, nil
	}
	toks, err := sqltext.Scan(query)
	if err != nil {
		return nil, unreadable(err)
	}
	fn := c.db.functions(ctx)
	n := &nester{aggs: fn.aggregates, builtin: fn.builtin, syntax: fn.syntax, ctes: map[string]measure{}, memo: map[string]measure{},
		list: func() (views, macros map[string]string) {
			return c.definitions(ctx, viewsSQL), c.definitions(ctx, macrosSQL)
		}}
	for i, t := range toks {
		// A view is named after FROM or JOIN, or as a string in a call of
		// tableNamers (PRAGMA table_info('v')).
		if t.Kind == 'w' && (t.Text == "from" || t.Text == "join" || tableNamers[t.Text] && i+1 < len(toks) && toks[i+1].Kind == '(') {
			n.views = c.definitions(ctx, viewsSQL)
			break
		}
	}
	m := n.measure(toks)
	if b.Nesting > 0 && m.depth > b.Nesting {
		return nil, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: aggregates nest %d levels deep in this query "+
			"(through subqueries, CTEs, views and macros; a scalar subquery's counts twice), over the server's limit of %d "+
			"(--max-nested-aggregates): DuckDB's optimizer takes time that doubles with each level", m.depth, b.Nesting)}
	}
	if b.FileScans > 0 && m.scans > b.FileScans {
		return nil, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: this statement names %d file scans "+
			"(read_parquet, read_csv and the like, files named as tables, and those of the views, CTEs and macros it names, "+
			"once a mention; a CTE's also where it is defined), over the server's limit of %d (--max-file-scans, SKEIN_MAX_FILE_SCANS): each scan holds a "+
			"file open while the statement lives; read many files with one scan of a glob or a list", m.scans, b.FileScans)}
	}
	if jsonFiles || c.policy.ReadOnly || c.db.oneThread {
		if n.views == nil { // a view named without FROM: PIVOT v ON ..., DESCRIBE v
			n.views = c.definitions(ctx, viewsSQL)
		}
		return c.checkNamed(toks, n, jsonFiles)
	}
	return nil, nil
}

// fileScans are DuckDB's table functions that open a file when they
// bind: each call holds one descriptor until its statement ends.
var fileScans = map[string]bool{
	"read_parquet": true, "parquet_scan": true, "parquet_metadata": true, "parquet_schema": true,
	"parquet_file_metadata": true, "parquet_kv_metadata": true, "parquet_bloom_probe": true,
	"read_csv": true, "read_csv_auto": true, "sniff_csv": true,
	"read_json": true, "read_json_auto": true, "read_ndjson": true, "read_ndjson_auto": true,
	"read_json_objects": true, "read_json_objects_auto": true, "read_ndjson_objects": true,
	"read_text": true, "read_blob": true, "read_xlsx": true,
	"delta_scan": true, "iceberg_scan": true, "iceberg_metadata": true, "iceberg_snapshots": true,
}

// builtinFunctions are the names of DuckDB's own functions, lower case:
// all of them, and the aggregates among them; and the keywords that are
// syntax where a call would be (IN (...), EXISTS (...), CAST(...),
// COALESCE(...)).
type builtinFunctions struct {
	builtin, aggregates, syntax map[string]bool
}

// functions lists DuckDB's own functions and its keywords once (about 50
// ms).
func (db *DB) functions(ctx context.Context) builtinFunctions {
	db.funcsOnce.Do(func() {
		db.funcs = builtinFunctions{builtin: map[string]bool{}, aggregates: map[string]bool{}, syntax: map[string]bool{}}
		rows, err := db.pool.QueryContext(ctx, `SELECT lower(function_name), bool_or(function_type = 'aggregate')
FROM duckdb_functions() WHERE internal GROUP BY 1`)
		if err != nil {
			return
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			var agg bool
			if rows.Scan(&name, &agg) == nil {
				db.funcs.builtin[name] = true
				db.funcs.aggregates[name] = agg
			}
		}
		// A reserved or column-name keyword written bare before '(' is
		// the grammar's, never a function's name: CREATE MACRO in(x)
		// does not parse, and exists(1) or coalesce(1) is DuckDB's own
		// EXISTS or COALESCE even when a macro of that name was made
		// (quoted). Type-function keywords (left, join, map) may name a
		// macro, unreserved ones (over, filter) too: not listed.
		kw, err := db.pool.QueryContext(ctx, `SELECT lower(keyword_name) FROM duckdb_keywords()
WHERE keyword_category IN ('reserved', 'column_name')`)
		if err != nil {
			return
		}
		defer kw.Close()
		for kw.Next() {
			var name string
			if kw.Scan(&name) == nil {
				db.funcs.syntax[name] = true
			}
		}
	})
	return db.funcs
}

const viewsSQL = "SELECT lower(view_name), sql FROM duckdb_views() WHERE NOT internal"

var macrosSQL = `SELECT lower(function_name), macro_definition FROM duckdb_functions()
WHERE function_type IN ('macro', 'table_macro') AND NOT internal AND macro_definition IS NOT NULL AND ` + notServerMacro

// nestDefs are the views and macros a connection sees (nesting.go).
type nestDefs struct {
	views, macros definitions
}

// definitions are the views (listing viewsSQL) or macros (macrosSQL) the
// connection sees, by lower-case name: the instance's, listed once a
// catalog version for every connection that shares it (a new session's
// connection would list the views again, 4 ms for a few, and the macros,
// 45 ms), or its own once it has a version of its own.
func (c *Conn) definitions(ctx context.Context, listing string) map[string]string {
	pick := func(d *nestDefs) *definitions {
		if listing == viewsSQL {
			return &d.views
		}
		return &d.macros
	}
	if c.CatalogVersion().conn != 0 {
		return pick(&c.defs).get(ctx, c, listing)
	}
	c.db.defsMu.Lock()
	defer c.db.defsMu.Unlock()
	return pick(&c.db.defs).get(ctx, c, listing)
}

// definitions are names' SQL, by lower-case name, as of a catalog
// version.
type definitions struct {
	version CatalogVersion
	ok      bool
	sql     map[string]string
}

// get lists the definitions again when the connection's catalog version
// moved. An error (an aborted transaction) leaves them out.
func (d *definitions) get(ctx context.Context, c *Conn, listing string) map[string]string {
	v := c.CatalogVersion()
	if d.ok && d.version == v {
		return d.sql
	}
	rows, err := c.QueryRows(ctx, listing)
	if err != nil {
		return nil
	}
	defer rows.Close()
	defs := map[string]string{}
	for rows.Next() {
		var name, sql string
		if rows.Scan(&name, &sql) == nil {
			// Views or macros of one name in several schemas: all of them,
			// as a statement naming it may bind any (its own schema, the
			// search path). The last one listed alone let main.v's check
			// stand for z.v's: a query of z.v, holding what is refused,
			// ran (a tester's).
			if prev, ok := defs[name]; ok {
				sql = prev + "\n;\n" + sql
			}
			defs[name] = sql
		}
	}
	if rows.Err() != nil {
		return nil
	}
	d.version, d.ok, d.sql = v, true, defs
	return defs
}

// nester measures how deeply aggregates nest in SQL text, frame by
// frame: a frame is a parenthesised part of the text, or the whole. A
// frame that holds a query (SELECT, or FROM first) counts one level if it
// aggregates (an aggregate function's call, GROUP BY, a window function's
// OVER, anywhere in it but its own subqueries), two if it also sits where
// an expression goes (a scalar, IN or EXISTS subquery: DuckDB adds an
// aggregate of its own there), on top of the deepest of its subqueries and of the CTEs, views
// and macros it names. Other frames (an argument list, a parenthesised
// expression) pass what they hold to the frame around them.
type nester struct {
	aggs, builtin map[string]bool
	// syntax are the keywords that are the grammar's before '('
	// (builtinFunctions).
	syntax map[string]bool
	// views are the views, listed when the query has a FROM; list gives
	// them and the macros, when a call of a function DuckDB does not
	// have built in needs them (once).
	views, macros map[string]string
	list          func() (views, macros map[string]string)
	ctes          map[string]measure // CTEs of the text so far, by name
	memo          map[string]measure // views' and macros'; depth -1 while measured
	// level is how many frames enclose the one measured.
	level int
}

// maxFrames bounds how deeply the frames measured nest, past what
// DuckDB's parser takes.
const maxFrames = 2000

// measure is what a text, or a name in it, costs DuckDB: how deeply
// its aggregates nest, and how many file scans it binds.
type measure struct {
	depth, scans int
}

// measure measures a statement's tokens.
func (n *nester) measure(toks []sqltext.Token) measure {
	f := n.frame(toks, 0, true, false)
	return measure{f.depth, f.scans}
}

// maxScans caps a count of scans: views naming views each several times
// multiply.
const maxScans = 1 << 40

// addScans is a+b, capped at maxScans.
func addScans(a, b int) int {
	return min(a+b, maxScans)
}

// frameInfo is what a frame gives the frame around it.
type frameInfo struct {
	depth      int  // levels, when it is a query; else the deepest inside it
	scans      int  // file scans in it
	aggregates bool // not a query, and aggregates: for the frame around it
	end        int  // the index after its closing ')'
}

// frame measures the frame starting at toks[i] (after its '('); top is
// the statement itself, expr a frame where an expression goes.
func (n *nester) frame(toks []sqltext.Token, i int, top, expr bool) frameInfo {
	if n.level++; n.level > maxFrames {
		return frameInfo{end: len(toks)} // DuckDB's parser refuses it (max_expression_depth)
	}
	defer func() { n.level-- }()
	query, aggregates, inner, scans := top, false, 0, 0
	// inFrom: a FROM clause of this frame, where a string names a file
	// to scan (FROM 'f.parquet', 'g.csv').
	first, inFrom := true, false
	for i < len(toks) {
		t := toks[i]
		if t.Kind == ')' && !top {
			i++
			break
		}
		if first && t.Kind == 'w' && (t.Text == "from" || t.Text == "with" || t.Text == "pivot") {
			query = true
		}
		first = false
		if t.Kind == 'w' && clauseWord(t.Text) {
			inFrom = t.Text == "from" || t.Text == "join"
		}
		switch {
		case t.Kind == '(':
			sub := n.frame(toks, i+1, false, exprContext(toks, i))
			inner = max(inner, sub.depth)
			scans = addScans(scans, sub.scans)
			aggregates = aggregates || sub.aggregates
			if name, ok := cteName(toks, i); ok {
				n.ctes[name] = measure{sub.depth, sub.scans}
			}
			i = sub.end
			continue
		case t.Kind == 's' && inFrom && i > 0 && (toks[i-1].Kind == ',' || toks[i-1].Kind == 'w' && (toks[i-1].Text == "from" || toks[i-1].Text == "join")):
			scans = addScans(scans, 1)
		case t.Kind == 's':
			for _, v := range stringViews(toks, i, n.views) { // pragma_table_info('v')
				m := n.named(v, false)
				inner = max(inner, m.depth)
				scans = addScans(scans, m.scans)
			}
		case t.Kind == 'w' && t.Text == "select":
			query = true
		case t.Kind == 'w' && t.Text == "group" && i+1 < len(toks) && toks[i+1].Kind == 'w' && toks[i+1].Text == "by",
			t.Kind == 'w' && t.Text == "over": // a window function: nested, partitioned and filtered, as costly
			aggregates = true
		case t.Kind == 'w' || t.Kind == 'q':
			name := strings.ToLower(t.Text)
			call := i+1 < len(toks) && toks[i+1].Kind == '('
			if call && t.Kind == 'w' && n.aggs[name] {
				aggregates = true
			}
			if call && fileScans[name] {
				scans = addScans(scans, 1)
			}
			// Only a call a macro could answer lists the connection's
			// macros (duckdb_functions(): 45 ms, once per catalog
			// version): not a keyword's syntax, IN (...) or
			// EXISTS (...), nor a name right after ')' or AS, which no
			// call follows: a window's OVER (...), an aggregate's FILTER
			// (...), a table alias's column list t(a, b), a type's
			// arguments in CAST(x AS DECIMAL(10, 2)).
			macro := call && !(t.Kind == 'w' && n.syntax[name]) && !(i > 0 && afterNoCall(toks[i-1]))
			m := n.named(name, macro)
			inner = max(inner, m.depth)
			scans = addScans(scans, m.scans)
		}
		i++
	}
	f := frameInfo{depth: inner, scans: scans, end: i}
	if !query {
		f.aggregates = aggregates
		return f
	}
	if aggregates {
		f.depth++
		if expr {
			f.depth++
		}
	}
	return f
}

// named measures what a name refers to: a CTE of the text, a view, a
// macro (when called), or nothing (0).
func (n *nester) named(name string, call bool) measure {
	if m, ok := n.ctes[name]; ok {
		return m
	}
	sql, ok := n.views[name]
	if !ok && call && !n.builtin[name] {
		if n.list != nil {
			n.views, n.macros = n.list()
			n.list = nil
		}
		sql, ok = n.macros[name]
	}
	if !ok {
		return measure{}
	}
	if m, ok := n.memo[name]; ok {
		return measure{max(m.depth, 0), m.scans}
	}
	n.memo[name] = measure{depth: -1}
	toks, err := sqltext.Scan(sql)
	var m measure
	if err == nil {
		outer := n.ctes
		n.ctes = map[string]measure{}
		m = n.measure(toks)
		n.ctes = outer
	}
	n.memo[name] = m
	return m
}

// afterNoCall says whether no function call follows the token: ')' or
// AS.
func afterNoCall(t sqltext.Token) bool {
	return t.Kind == ')' || t.Kind == 'w' && t.Text == "as"
}

// clauseWord says whether word opens a FROM clause (from, join) or
// another clause, which ends it.
func clauseWord(word string) bool {
	switch word {
	case "from", "join", "select", "where", "group", "having", "qualify", "window", "order", "limit", "offset",
		"union", "except", "intersect", "on", "using", "returning", "set", "values":
		return true
	}
	return false
}

// exprContext says whether the '(' at toks[i] opens a frame where an
// expression goes, rather than a table (after FROM, JOIN, LATERAL, or AS
// naming a CTE or view).
func exprContext(toks []sqltext.Token, i int) bool {
	if i == 0 {
		return false
	}
	p := toks[i-1]
	if p.Kind != 'w' {
		return true // after an operator, or a ',' (a select list's or a FROM list's: counted as the first)
	}
	switch p.Text {
	case "from", "join", "lateral", "as", "materialized":
		return false
	}
	return true
}

// cteName is the name a '(' at toks[i] defines, as in name AS (...) or
// name AS [NOT] MATERIALIZED (...).
func cteName(toks []sqltext.Token, i int) (string, bool) {
	j := i - 1
	for j >= 0 && toks[j].Kind == 'w' && (toks[j].Text == "materialized" || toks[j].Text == "not") {
		j--
	}
	if j < 1 || toks[j].Kind != 'w' || toks[j].Text != "as" {
		return "", false
	}
	j--
	if toks[j].Kind == ')' { // name (columns) AS (...)
		for open := 1; open > 0 && j > 0; {
			j--
			switch toks[j].Kind {
			case ')':
				open++
			case '(':
				open--
			}
		}
		j--
	}
	if j >= 0 && (toks[j].Kind == 'w' || toks[j].Kind == 'q') {
		return strings.ToLower(toks[j].Text), true
	}
	return "", false
}
