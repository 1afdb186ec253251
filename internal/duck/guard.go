package duck

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/skeindb/skein/internal/sqltext"
)

// The sandbox (allowed_directories, enable_external_access=false,
// lock_configuration) keeps SQL away from files and settings, but DuckDB
// still lets any connection run statements that act on the whole
// instance rather than on data: DETACH the database every session uses,
// ATTACH over it, LOAD code, turn on logging to a path of its choosing
// (CALL enable_logging, which lock_configuration does not stop), print a
// profile of every query to the server's stdout (PRAGMA enable_profiling).
// The guard refuses those for every connection, before anything runs, and
// a connection's Policy narrows it further (readers run SELECT only).

// Policy limits what one connection may run beyond the guard every
// connection has.
type Policy struct {
	// ReadOnly allows only queries (SELECT, and the transaction
	// statements around them): no DDL, DML, COPY, EXPORT or EXPLAIN
	// (EXPLAIN ANALYZE runs its statement).
	ReadOnly bool
}

// SetPolicy sets what the connection may run from now on.
func (c *Conn) SetPolicy(p Policy) { c.policy = p }

// refusedTypes are the statements no client may run, whatever its role,
// with the reason a client is told.
var refusedTypes = map[duckdb.StmtType]string{
	duckdb.STATEMENT_TYPE_ATTACH:    "ATTACH is not allowed: the server's catalogs are fixed",
	duckdb.STATEMENT_TYPE_DETACH:    "DETACH is not allowed: the server's catalogs are fixed",
	duckdb.STATEMENT_TYPE_LOAD:      "LOAD is not allowed: extensions are the operator's choice",
	duckdb.STATEMENT_TYPE_EXTENSION: "INSTALL is not allowed: extensions are the operator's choice",
	// CALL f(...) is SELECT * FROM f(...), which the word guard below
	// checks; CALL also reaches functions that reconfigure the instance.
	duckdb.STATEMENT_TYPE_CALL: "CALL is not allowed: write SELECT * FROM f(...)",
	// PRAGMAs that only read (table_info, show_tables) are rewritten to
	// SELECT before they get here; what is left changes the connection's
	// or the instance's behaviour.
	duckdb.STATEMENT_TYPE_PRAGMA: "this PRAGMA is not allowed: it changes the server's configuration",
	// A statement prepared in SQL runs later as EXECUTE, whose type says
	// nothing of what it runs. Clients prepare through Flight SQL.
	duckdb.STATEMENT_TYPE_PREPARE: "PREPARE in SQL is not allowed: use the client's prepared statements",
	duckdb.STATEMENT_TYPE_EXECUTE: "EXECUTE in SQL is not allowed: use the client's prepared statements",
}

// readOnlyTypes are the statements a ReadOnly connection may run.
var readOnlyTypes = map[duckdb.StmtType]bool{
	duckdb.STATEMENT_TYPE_SELECT:      true,
	duckdb.STATEMENT_TYPE_TRANSACTION: true,
	duckdb.STATEMENT_TYPE_SET:         true, // USE, SET VARIABLE: this connection's own state
}

// stmtGuard is the text of a string of n statements, lexed when a
// statement that writes files needs its target read.
type stmtGuard struct {
	query string
	n     int
	stmts [][]token
	err   error
	lexed bool
	// pivot is the statement of the text DuckDB added extra statements
	// around (statement), when it did.
	pivot, extra int
	// types are the types of the statements checked so far, by index.
	types map[int]duckdb.StmtType
	early int // mayRefuseEarly's answer: 0 not asked, 1 yes, -1 no
	// expanded: DuckDB has more statements than the text, not a PIVOT's
	expanded bool
}

// imports says whether a statement of the text is an IMPORT DATABASE,
// which DuckDB replaces, as it splits the text, with the statements of
// the export it names: they are not in the text, and the guard could
// check none of them as the text has it (IMPORT of an EXPORT was refused
// "cannot tell the statements apart", a tester's).
func (g *stmtGuard) imports() bool {
	g.lex()
	for _, st := range g.stmts {
		if len(st) > 1 && st[0].kind == 'w' && st[0].text == "import" && st[1].kind == 'w' && st[1].text == "database" {
			return true
		}
	}
	return false
}

// mayRefuseEarly says whether the text holds the word EXPORT, SECRET or
// IMPORT anywhere, which a statement checked before it is bound has
// (checkBeforeBind): most texts are not lexed for them.
func (g *stmtGuard) mayRefuseEarly() bool {
	if g.early == 0 {
		g.early = -1
		if containsFold(g.query, "export") || containsFold(g.query, "secret") || containsFold(g.query, "import") {
			g.early = 1
		}
	}
	return g.early > 0
}

// containsFold says whether s holds word (lower case ASCII, not empty) in
// any case.
func containsFold(s, word string) bool {
	first := word[:1] + strings.ToUpper(word[:1])
	for k := 0; k+len(word) <= len(s); k++ {
		i := strings.IndexAny(s[k:], first)
		if i < 0 {
			return false
		}
		k += i
		if k+len(word) <= len(s) && strings.EqualFold(s[k:k+len(word)], word) {
			return true
		}
	}
	return false
}

// saw records that statement i is of type t (statements are checked in
// order).
func (g *stmtGuard) saw(i int, t duckdb.StmtType) {
	if g.types == nil {
		g.types = map[int]duckdb.StmtType{}
	}
	g.types[i] = t
}

// statement returns the tokens of statement i, if the lexer splits the
// string as DuckDB did. DuckDB adds statements of its own before one that
// pivots without naming the values (PIVOT t ON c: a CREATE TYPE of c's
// values), and when that one writes (COPY (PIVOT ...) TO, INSERT ...
// SELECT ... PIVOT) it runs them all in a transaction of their own: a
// BEGIN first and a COMMIT after it. Where one statement of the text
// pivots, the statements DuckDB has more than the lexer are taken as
// those, and statement returns errGenerated for them.
func (g *stmtGuard) statement(i int) ([]token, error) {
	g.lex()
	if g.err != nil {
		return nil, g.err
	}
	// Wrapped in a transaction: BEGIN, the types, the statement, COMMIT.
	wrapped := g.extra >= 3 && g.types[g.pivot] == duckdb.STATEMENT_TYPE_TRANSACTION
	switch {
	case g.extra == 0 || i < g.pivot:
		return g.stmts[i], nil
	case wrapped && i == g.pivot+g.extra-1:
		return g.stmts[g.pivot], nil
	case i < g.pivot+g.extra || wrapped && i == g.pivot+g.extra:
		return nil, errGenerated
	}
	return g.stmts[i-g.extra], nil
}

// lex splits the text into statements, once, and matches them with
// DuckDB's (see statement).
func (g *stmtGuard) lex() {
	if g.lexed {
		return
	}
	g.lexed = true
	g.stmts, g.err = lexSQL(g.query)
	if g.err != nil || len(g.stmts) == g.n {
		return
	}
	g.pivot, g.err = -1, fmt.Errorf("%w: cannot tell the statements apart", errTarget)
	extra := g.n - len(g.stmts)
	if extra <= 0 {
		return
	}
	g.expanded = true
	for j, st := range g.stmts {
		if !pivots(st) {
			continue
		}
		if g.pivot >= 0 { // two pivots: which has DuckDB's statements?
			g.pivot = -1
			break
		}
		g.pivot = j
	}
	if g.pivot >= 0 {
		g.extra, g.err, g.expanded = extra, nil, false
	}
}

// expands says whether DuckDB made statements of its own of the text,
// other than a PIVOT's: COPY FROM DATABASE becomes BEGIN, a COPY of the
// schema, one of the data, COMMIT.
func (g *stmtGuard) expands() bool {
	g.lex()
	return g.expanded
}

// errGenerated is a statement DuckDB made of a PIVOT, not in the text.
var errGenerated = errors.New("a statement DuckDB generated for a PIVOT")

// pivots says whether a statement has a PIVOT or UNPIVOT.
func pivots(stmt []token) bool {
	for _, t := range stmt {
		if t.kind == 'w' && (t.text == "pivot" || t.text == "unpivot" || t.text == "pivot_wider" || t.text == "pivot_longer") {
			return true
		}
	}
	return false
}

// check refuses statement i, of type t, if the connection may not run it.
func (c *Conn) check(ctx context.Context, t duckdb.StmtType, g *stmtGuard, i int) error {
	g.saw(i, t)
	if t == duckdb.STATEMENT_TYPE_CALL && checkpoints(g, i) {
		if c.policy.ReadOnly {
			return &Error{Kind: KindPermission, Msg: "Permission Error: read-only access: CHECKPOINT writes the database file"}
		}
		return nil // what checkpoint() does, as a statement
	}
	if err := c.checkType(t); err != nil {
		return err
	}
	if t == duckdb.STATEMENT_TYPE_CREATE {
		if _, err := g.statement(i); errors.Is(err, errGenerated) {
			return nil // the type of a PIVOT's values, DuckDB's own
		}
	}
	if t == duckdb.STATEMENT_TYPE_CREATE || t == duckdb.STATEMENT_TYPE_DROP {
		if err := checkSecret(g, i); err != nil {
			return err
		}
	}
	if t == duckdb.STATEMENT_TYPE_CREATE {
		if stmt, err := g.statement(i); err == nil {
			if name, ok := createdFunction(stmt); ok {
				c.db.NoteUserFunctions(name)
			}
			if name, ok := created(stmt, "type"); ok {
				if err := c.checkCreatedType(ctx, stmt); err != nil {
					return err
				}
				c.db.NoteUserTypes(name)
			}
		}
		return checkSchemaName(g, i)
	}
	if t == duckdb.STATEMENT_TYPE_EXPLAIN {
		stmt, err := g.statement(i)
		if err != nil {
			return nil
		}
		return c.checkExplained(stmt)
	}
	if t != duckdb.STATEMENT_TYPE_COPY && t != duckdb.STATEMENT_TYPE_EXPORT {
		return nil
	}
	stmt, err := g.statement(i)
	if err != nil {
		return targetRefused(t, err)
	}
	return c.checkWriteTarget(t, stmt)
}

// checkBeforeBind refuses, before DuckDB binds it, statement i if it is an
// EXPORT DATABASE the connection may not run: DuckDB's binder creates its
// directory, and a reader's refused EXPORT made one in every allowed
// directory (a tester's, 2026-12-06); or a CREATE SECRET, which DuckDB
// fails as it binds it without object storage configured, with an error
// naming the server's home directory, and then "Secret Storage with name
// 'memory' already registered!" for every later one (a tester's,
// 2026-12-07). The type DuckDB gives a statement is known once it is
// bound (check).
func (c *Conn) checkBeforeBind(g *stmtGuard, i int) error {
	if !g.mayRefuseEarly() {
		return nil
	}
	if g.imports() {
		return &Error{Kind: KindUnsupported, Msg: "Not implemented Error: IMPORT DATABASE is not supported: DuckDB runs an export's statements " +
			"in its place, which the server cannot check one by one; run the export's schema.sql, then its load.sql"}
	}
	stmt, err := g.statement(i)
	if err != nil || len(stmt) == 0 || stmt[0].kind != 'w' {
		return nil // checked as DuckDB types it, once bound
	}
	if stmt[0].text == "create" || stmt[0].text == "drop" {
		return checkSecret(g, i)
	}
	if stmt[0].text != "export" {
		return nil
	}
	if err := c.checkType(duckdb.STATEMENT_TYPE_EXPORT); err != nil {
		return err
	}
	return c.checkWriteTarget(duckdb.STATEMENT_TYPE_EXPORT, stmt)
}

// checkWriteTarget refuses a COPY or EXPORT statement (t) that writes
// outside the allowed directories, or to a path it does not give as a
// plain string literal.
func (c *Conn) checkWriteTarget(t duckdb.StmtType, stmt []token) error {
	target, err := fileTarget(stmt)
	if err == nil && target != "" {
		err = checkTarget(target, c.allowed, c.db.realAllowed)
	}
	if err != nil {
		return targetRefused(t, err)
	}
	return nil
}

func targetRefused(t duckdb.StmtType, err error) error {
	return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s writes only under the allowed directories, to a path given as a plain string literal: %v", stmtTypeName(t), err), err: err}
}

// explainable are the first words of the statements EXPLAIN may show:
// queries and the writes whose checks are those of their type alone.
// EXPLAIN ANALYZE runs its statement, whose type DuckDB then says is
// EXPLAIN: EXPLAIN ANALYZE COPY ... TO '<data dir>/data.duckdb' passed
// the COPY's target check and overwrote the managed database (a
// tester's, 2026-12-06), and a CREATE so run would pass the checks of a
// CREATE (types, schemas, secrets).
var explainable = map[string]bool{
	"select": true, "with": true, "from": true, "values": true, "table": true, "pivot": true, "unpivot": true,
	"insert": true, "update": true, "delete": true,
}

// checkExplained refuses an EXPLAIN [ANALYZE] statement whose explained
// statement the server checks by its type, unless it is a COPY or EXPORT
// within the allowed directories (checkWriteTarget).
func (c *Conn) checkExplained(stmt []token) error {
	inner := explained(stmt)
	if len(inner) > 0 && (inner[0].kind == '(' || inner[0].kind == 'w' && explainable[inner[0].text]) {
		return nil
	}
	if len(inner) > 0 && inner[0].kind == 'w' {
		switch inner[0].text {
		case "copy":
			return c.checkWriteTarget(duckdb.STATEMENT_TYPE_COPY, inner)
		case "export":
			return c.checkWriteTarget(duckdb.STATEMENT_TYPE_EXPORT, inner)
		}
	}
	what := "this statement"
	if len(inner) > 0 {
		what = "a " + strings.ToUpper(inner[0].text) + " statement"
	}
	return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: EXPLAIN of %s is refused: EXPLAIN shows queries, INSERT, UPDATE, DELETE, COPY and EXPORT; run the statement itself", what)}
}

// explained is the statement an EXPLAIN statement explains: after
// EXPLAIN, ANALYZE and a parenthesized list of options.
func explained(stmt []token) []token {
	if len(stmt) == 0 || stmt[0].kind != 'w' || stmt[0].text != "explain" {
		return nil
	}
	rest := stmt[1:]
	if len(rest) > 0 && rest[0].kind == 'w' && (rest[0].text == "analyze" || rest[0].text == "analyse") {
		rest = rest[1:]
	}
	// EXPLAIN (ANALYZE, FORMAT json) SELECT ...: options, not a query in
	// parentheses, when a word follows the first, as a query's would be
	// SELECT, WITH, FROM, VALUES or TABLE.
	if len(rest) > 1 && rest[0].kind == '(' && rest[1].kind == 'w' && !explainable[rest[1].text] {
		depth := 0
		for k, t := range rest {
			switch t.kind {
			case '(':
				depth++
			case ')':
				depth--
			}
			if depth == 0 {
				return rest[k+1:]
			}
		}
		return nil
	}
	return rest
}

// checkpoints says whether statement i is CHECKPOINT or FORCE
// CHECKPOINT (of the database or one named), which DuckDB runs as a CALL
// of checkpoint() or force_checkpoint().
func checkpoints(g *stmtGuard, i int) bool {
	stmt, err := g.statement(i)
	if err != nil || len(stmt) == 0 {
		return false
	}
	if stmt[0].kind == 'w' && stmt[0].text == "force" {
		stmt = stmt[1:]
	}
	return len(stmt) > 0 && stmt[0].kind == 'w' && stmt[0].text == "checkpoint"
}

// checkType refuses a statement type the connection may not run.
func (c *Conn) checkType(t duckdb.StmtType) error {
	if why, refused := refusedTypes[t]; refused {
		return &Error{Kind: KindPermission, Msg: "Permission Error: " + why}
	}
	if c.policy.ReadOnly && !readOnlyTypes[t] {
		return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: read-only access: %s statements are not allowed", stmtTypeName(t))}
	}
	return nil
}

// deniedWords are functions that reconfigure or script the instance. They
// are refused wherever the word appears (also in a string literal or a
// comment), so that no quoting, view, macro or prepared statement hides a
// call: the price is that a literal naming one is refused too.
var deniedWords = map[string]string{
	"enable_logging":              "logging is configured by the operator",
	"disable_logging":             "logging is configured by the operator",
	"truncate_duckdb_logs":        "logging is configured by the operator",
	"json_execute_serialized_sql": "it runs SQL the server cannot check",
	// It binds and optimizes SQL made at run time (a tester's: a
	// levenshtein of DuckDB's own, a chain of 50,000 ORs, a recursive
	// JSON function's constant that ended the process).
	"json_serialize_plan": "it plans SQL the server cannot check",
	// It builds a statement from JSON by recursion over its nesting: a
	// tree 200,000 deep built at run time ended the process (a tester's).
	"json_deserialize_sql": "it builds SQL the server cannot check",
	// The object storage secret is the operator's: duckdb_secrets()
	// shows its key id, which_secret() where it applies.
	"duckdb_secrets": "secrets are the operator's",
	"which_secret":   "secrets are the operator's",
	// The table functions of PRAGMA enable_profiling: a reader, who may
	// write nothing, overwrote another user's JSON file under an allowed
	// directory with a query profile (save_location; a tester's F6).
	"enable_profiling":  "profiling is configured by the operator",
	"disable_profiling": "profiling is configured by the operator",
	// It attaches another DuckDB database file, as ATTACH (refused) does;
	// DuckDB 1.5.5's second read of one file in a session spins in
	// InsertDatabasePath, past any timeout (a tester's F7).
	"read_duckdb": "reading another DuckDB database is attaching it",
}

// deniedCalls are functions refused when called (the word followed by an
// opening parenthesis, with only blanks, quotes or comments between):
// common words as column names, but their call runs SQL given as a
// string, which no check of the statement's text can see into.
var deniedCalls = map[string]string{
	"query":       "query() runs SQL the server cannot check",
	"query_table": "query_table() reads tables the server cannot check",
}

// recursiveJSONCalls are the JSON functions DuckDB 1.5.5 computes by
// recursion over a value's nesting, a native stack frame a level, with no
// depth limit: a value nested some 40,000 to 100,000 deep (a few hundred
// KB, built by repeat('[', n) or read from a file) runs the thread out of
// stack and the process dies of SIGSEGV, whoever sent it and whatever
// their role (upstream: duckdb/duckdb#24454 and #25967 for kin of these).
// No check of the text can see a value's depth, so they are refused when
// called unless the operator allows them (--unsafe-json-functions,
// Config.RecursiveJSON). json_group_structure is a macro over
// json_structure. The JSON to VARIANT cast recurses alike
// (checkVariantTypes).
var recursiveJSONCalls = map[string]bool{
	"json_structure": true, "json_group_structure": true, "json_merge_patch": true, "json_contains": true,
}

// writingCalls are functions a query calls that change the database, the
// calls a ReadOnly connection may not make (it runs SELECT only, and
// these are SELECTs): a reader advanced a persistent sequence with
// SELECT nextval('s') and checkpointed the database.
var writingCalls = map[string]string{
	"nextval":          "it advances a sequence",
	"checkpoint":       "it writes the database file",
	"force_checkpoint": "it writes the database file",
}

// deniedLength[n] is whether a denied word or call has n bytes.
var deniedLength = func() (l [32]bool) {
	for _, m := range []map[string]string{deniedWords, deniedCalls, writingCalls} {
		for w := range m {
			l[len(w)] = true
		}
	}
	for _, m := range []map[string]bool{recursiveJSONCalls, structureCalls} {
		for w := range m {
			l[len(w)] = true
		}
	}
	l[len("system")], l[len("drop")] = true, true // checkBoundedCalls
	return l
}()

// checkText refuses SQL that no statement type check can catch: a NUL byte
// (DuckDB would stop reading there, while the history records the whole
// text), the denied functions and the system tables' (wherever named),
// for a ReadOnly connection the calls that write, and unless allowed the
// JSON functions that recurse without a limit; where edits is, a way
// around the bounds of the edit distances and patterns (checkBoundedCalls).
func checkText(query string, readOnly, recursiveJSON, edits bool) error {
	if strings.IndexByte(query, 0) >= 0 {
		return &Error{Kind: KindInvalid, Msg: "Parser Error: SQL contains a NUL byte"}
	}
	connectives := 0    // words AND and OR, strings and comments included
	variant := false    // the word VARIANT, anywhere
	structured := false // a call of a function typed by a structure argument
	bounded := false    // a word without which no SQL reaches an unbounded call: system, drop
	for i := 0; i < len(query); {
		if query[i] >= 0x80 {
			if n := sqltext.UnicodeSpace(query[i:]); n > 0 {
				i += n
				continue
			}
		}
		if !isWordByte(query[i]) {
			i++
			continue
		}
		j := i
		for j < len(query) && isWordByte(query[j]) && (query[j] < 0x80 || sqltext.UnicodeSpace(query[j:]) == 0) {
			j++
		}
		if j-i <= 3 && (strings.EqualFold(query[i:j], "or") || strings.EqualFold(query[i:j], "and")) {
			connectives++
		}
		if j-i == len("variant") && strings.EqualFold(query[i:j], "variant") {
			variant = true
		}
		if j-i > len(systemFunctionPrefix) && strings.EqualFold(query[i:i+len(systemFunctionPrefix)], systemFunctionPrefix) {
			// A call naming another connection's id would read its
			// reader's rows (System).
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s is not allowed: the system tables' functions are the server's: read the tables", query[i:j])}
		}
		if !deniedLength[min(j-i, len(deniedLength)-1)] {
			i = j
			continue // most words: no lower-casing on every query's path
		}
		word := strings.ToLower(query[i:j])
		if why, ok := deniedWords[word]; ok {
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s() is not allowed: %s", word, why)}
		}
		if why, ok := deniedCalls[word]; ok && followedByParen(query[j:]) {
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s() is not allowed: %s", word, why)}
		}
		if structureCalls[word] && followedByParen(query[j:]) {
			structured = true
		}
		bounded = bounded || word == "system" || word == "drop"
		if recursiveJSONCalls[word] && !recursiveJSON && followedByParen(query[j:]) {
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s() is not allowed: DuckDB computes it by recursion over a JSON value's nesting, without a limit, and a deeply nested value ends the server (the operator allows it with --unsafe-json-functions)", word)}
		}
		if why, ok := writingCalls[word]; ok && readOnly && followedByParen(query[j:]) {
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: read-only access: %s() is not allowed: %s", word, why)}
		}
		i = j
	}
	if variant && !recursiveJSON {
		if err := checkVariantTypes(query); err != nil {
			return err
		}
	}
	if structured && !recursiveJSON {
		if err := checkStructures(query); err != nil {
			return err
		}
	}
	if bounded {
		if err := checkBoundedCalls(query, edits); err != nil {
			return err
		}
	}
	if connectives > MaxConnectives {
		return checkConnectives(query)
	}
	return nil
}

// structureCalls are the functions whose second argument is a JSON
// structure naming the result's type: DuckDB 1.5.5 reads it by recursion
// over its nesting, without a limit, and a structure nested 100,000 deep
// (repeat('[', 100000) || '"INT"' || repeat(']', 100000)) ended the process
// that prepared it (a tester's). The values they convert may nest as
// deep as they like.
var structureCalls = map[string]bool{
	"from_json": true, "from_json_strict": true, "json_transform": true, "json_transform_strict": true,
}

// maxStructureDepth is how deeply the structure of a structureCalls call
// may nest: a type nested deeper is not one anybody writes.
const maxStructureDepth = 256

// checkStructures refuses a call of structureCalls whose structure is not
// one string literal nesting at most maxStructureDepth deep: an
// expression (a parameter, a concatenation) could be anything when it is
// computed.
func checkStructures(query string) error {
	return perStatement(query, func(st []sqltext.Token) error {
		for k := 0; k+1 < len(st); k++ {
			if st[k].Kind != 'w' || !structureCalls[st[k].Text] || st[k+1].Kind != '(' {
				continue
			}
			arg, ok := secondArg(st[k+2:])
			if !ok {
				continue // one argument: DuckDB says what is wrong
			}
			if len(arg) != 1 || arg[0].Kind != 's' || nesting(arg[0].Text) > maxStructureDepth {
				return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s()'s structure must be one string literal nesting at most %d deep: "+
					"DuckDB reads it by recursion, without a limit, and a deeply nested one ends the server "+
					"(the operator allows any with --unsafe-json-functions)", st[k].Text, maxStructureDepth)}
			}
		}
		return nil
	})
}

// secondArg is the tokens of a call's second argument, given the tokens
// after its opening parenthesis.
func secondArg(toks []sqltext.Token) ([]sqltext.Token, bool) {
	depth, start := 0, -1
	for i, t := range toks {
		switch t.Kind {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth == 0 {
				if start < 0 {
					return nil, false
				}
				return toks[start:i], true
			}
			depth--
		case ',':
			if depth == 0 {
				if start >= 0 {
					return toks[start:i], true
				}
				start = i + 1
			}
		}
	}
	return nil, false
}

// nesting is how deeply brackets and braces nest in s.
func nesting(s string) int {
	depth, most := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[', '{':
			depth++
			most = max(most, depth)
		case ']', '}':
			depth--
		}
	}
	return most
}

// checkVariantTypes refuses a statement that names VARIANT as a type: a
// cast (x::VARIANT, CAST(x AS STRUCT(a VARIANT)), TRY_CAST) or, in CREATE
// and ALTER, a column's type. DuckDB 1.5.5 converts a JSON value to
// VARIANT by recursion over its nesting, without a limit (as it computes
// recursiveJSONCalls): a cast of a value nested 100,000 deep ended the
// process that ran it, and a constant one is folded while the coordinator
// prepares. A column named variant is not a type, and stays allowed.
func checkVariantTypes(query string) error {
	return perStatement(query, func(st []sqltext.Token) error {
		if variantAsType(st) {
			return &Error{Kind: KindPermission, Msg: "Permission Error: the VARIANT type is not allowed: DuckDB converts a JSON value to VARIANT by recursion over its nesting, without a limit, and a deeply nested value ends the server (the operator allows it with --unsafe-json-functions)"}
		}
		return nil
	})
}

// unreadable refuses a text the server's scanner cannot read (a string or
// comment it opens and does not close): checks by its tokens cannot pass
// it on to DuckDB, whose parser might read it otherwise (until
// 2026-12-06, x$t$, a name to DuckDB, opened a dollar quote to the
// scanner, and the rest of the statement went unchecked).
func unreadable(err error) error {
	return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Parser Error: %v: the server reads a statement before DuckDB does, and cannot read this one", err)}
}

// perStatement runs check on each statement's tokens and returns its
// first error, or unreadable's for a text the scanner cannot read.
func perStatement(query string, check func(st []sqltext.Token) error) error {
	stmts, err := sqltext.Statements(query)
	if err != nil {
		return unreadable(err)
	}
	for _, st := range stmts {
		if err := check(st); err != nil {
			return err
		}
	}
	return nil
}

// variantAsType says whether a statement's tokens name VARIANT as a type:
// within the type after "::" or after AS in a CAST or TRY_CAST, or, in
// CREATE and ALTER, after a column's name (any word but the keywords that
// come before a name or a value) or TYPE.
func variantAsType(st []sqltext.Token) bool {
	isVariant := func(t sqltext.Token) bool {
		return (t.Kind == 'w' || t.Kind == 'q') && strings.EqualFold(t.Text, "variant")
	}
	ddl := len(st) > 0 && st[0].Kind == 'w' && (st[0].Text == "create" || st[0].Text == "alter")
	var owners []string // the word before each open parenthesis
	for k := 0; k < len(st); k++ {
		t := st[k]
		switch {
		case t.Kind == '(':
			owner := ""
			if k > 0 && st[k-1].Kind == 'w' {
				owner = st[k-1].Text
			}
			owners = append(owners, owner)
		case t.Kind == ')' && len(owners) > 0:
			owners = owners[:len(owners)-1]
		case t.Kind == ':' && k+1 < len(st) && st[k+1].Kind == ':',
			t.Kind == 'w' && t.Text == "as" && len(owners) > 0 && (owners[len(owners)-1] == "cast" || owners[len(owners)-1] == "try_cast"):
			if t.Kind == ':' {
				k++
			}
			// The type: a name, then parentheses and brackets, balanced.
			if k+1 < len(st) && isVariant(st[k+1]) {
				return true
			}
			k++
			for depth := 0; k+1 < len(st); k++ {
				n := st[k+1]
				if depth == 0 && n.Kind != '(' && n.Kind != '[' {
					break
				}
				switch {
				case isVariant(n):
					return true
				case n.Kind == '(' || n.Kind == '[':
					depth++
				case n.Kind == ')' || n.Kind == ']':
					depth--
				}
			}
		case ddl && isVariant(t) && k > 0:
			p := st[k-1]
			if p.Kind == 'q' || p.Kind == 'w' && !beforeName[p.Text] {
				return true
			}
		}
	}
	return false
}

// beforeName are the keywords a column's name or a value may follow in
// CREATE and ALTER (a VARIANT after any other word is a column's type).
var beforeName = map[string]bool{
	"select": true, "by": true, "column": true, "as": true, "from": true, "where": true, "and": true, "or": true,
	"not": true, "on": true, "when": true, "then": true, "else": true, "distinct": true, "all": true, "in": true,
	"is": true, "like": true, "set": true, "table": true, "view": true, "exists": true, "to": true, "rename": true,
	"drop": true, "add": true, "into": true, "values": true, "return": true, "returning": true, "having": true,
	"using": true, "join": true, "over": true, "partition": true, "order": true, "group": true, "limit": true,
	"offset": true, "with": true, "case": true, "end": true, "if": true, "macro": true, "function": true,
}

// MaxConnectives is how many AND and OR one statement may hold. DuckDB
// plans a chain of conditions in time that grows with the square of their
// number and stops at no interrupt: an OR of 10,000 equalities took 1.8
// s to prepare, of 50,000 (640 KB of SQL) 55 s of a core, past the query
// timeout and the client's cancel (found by a hostile client,
// 2026-12-04). A list of values is an IN list, which costs no such time.
const MaxConnectives = 10_000

// checkConnectives counts a text's AND and OR by statement, outside
// strings and comments, once a plain count of the words passed the bound.
func checkConnectives(query string) error {
	return perStatement(query, func(st []sqltext.Token) error {
		n := 0
		for _, t := range st {
			if t.Kind == 'w' && (t.Text == "or" || t.Text == "and") {
				n++
			}
		}
		if n > MaxConnectives {
			return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: the statement joins conditions with %d AND and OR, "+
				"over the server's limit of %d (DuckDB's planning time grows with the square of their number): "+
				"write a list of values as IN (...)", n, MaxConnectives)}
		}
		return nil
	})
}

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= 0x80
}

// followedByParen reports whether s starts, after blanks (Unicode spaces
// DuckDB reads as blanks included), closing quotes and comments, with "(".
func followedByParen(s string) bool {
	for i := 0; i < len(s); {
		switch {
		case s[i] == '(':
			return true
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' || s[i] == '\f' || s[i] == '"':
			i++
		case sqltext.UnicodeSpace(s[i:]) > 0:
			i += sqltext.UnicodeSpace(s[i:])
		case strings.HasPrefix(s[i:], "--"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				return false
			}
			i += end
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return false
			}
			i += end + 4
		default:
			return false
		}
	}
	return false
}

// stmtTypeCopyDatabase is DUCKDB_STATEMENT_TYPE_COPY_DATABASE, which
// duckdb-go does not name.
const stmtTypeCopyDatabase duckdb.StmtType = 28

// stmtTypeMergeInto is DUCKDB_STATEMENT_TYPE_MERGE_INTO, which duckdb-go
// does not name either: a reader's MERGE was refused as "type 30
// statements" (a tester's).
const stmtTypeMergeInto duckdb.StmtType = 30

func stmtTypeName(t duckdb.StmtType) string {
	switch t {
	case duckdb.STATEMENT_TYPE_INSERT:
		return "INSERT"
	case duckdb.STATEMENT_TYPE_UPDATE:
		return "UPDATE"
	case duckdb.STATEMENT_TYPE_DELETE:
		return "DELETE"
	case duckdb.STATEMENT_TYPE_CREATE, duckdb.STATEMENT_TYPE_CREATE_FUNC:
		return "CREATE"
	case duckdb.STATEMENT_TYPE_DROP:
		return "DROP"
	case duckdb.STATEMENT_TYPE_ALTER:
		return "ALTER"
	case duckdb.STATEMENT_TYPE_COPY:
		return "COPY"
	case duckdb.STATEMENT_TYPE_EXPORT:
		return "EXPORT"
	case duckdb.STATEMENT_TYPE_EXPLAIN:
		return "EXPLAIN"
	case duckdb.STATEMENT_TYPE_VACUUM, duckdb.STATEMENT_TYPE_ANALYZE:
		return "VACUUM/ANALYZE"
	case stmtTypeCopyDatabase:
		return "COPY FROM DATABASE"
	case stmtTypeMergeInto:
		return "MERGE"
	}
	return fmt.Sprintf("type %d", t)
}

// checkSecret refuses CREATE SECRET and DROP SECRET: object storage
// credentials are the operator's (--s3-* flags, AWS environment
// variables), and a secret of a user's own would let SQL reach storage
// with credentials the operator never gave.
func checkSecret(g *stmtGuard, i int) error {
	stmt, err := g.statement(i)
	if err != nil {
		return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: cannot check the statement: %v", err), err: err}
	}
	for j := 1; j < len(stmt) && stmt[j].kind == 'w'; j++ {
		switch stmt[j].text {
		case "or", "replace", "persistent", "temporary", "temp":
			continue
		case "secret":
			return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: %s SECRET is not allowed: object storage credentials are the operator's (--s3-endpoint and the AWS environment variables)", strings.ToUpper(stmt[0].text))}
		}
		break
	}
	return nil
}

// catalogNames are the server's catalogs. A schema of the same name in
// the default catalog makes every reference through the catalog
// ambiguous: CREATE SCHEMA skein would leave skein.queries unreadable for
// everyone.
var catalogNames = map[string]bool{"data": true, "skein": true, "system": true, "temp": true, "memory": true}

// checkSchemaName refuses CREATE SCHEMA of a catalog's name.
func checkSchemaName(g *stmtGuard, i int) error {
	stmt, err := g.statement(i)
	if err != nil {
		return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: cannot check the CREATE statement: %v", err), err: err}
	}
	if name, ok := createdSchema(stmt); ok && catalogNames[name] {
		return &Error{Kind: KindPermission, Msg: fmt.Sprintf("Permission Error: a schema may not be named %q, the name of a catalog", name)}
	}
	return nil
}

// createdFunction returns the name (lower case) a CREATE [TEMP] MACRO or
// FUNCTION statement creates.
func createdFunction(stmt []token) (string, bool) {
	if name, ok := created(stmt, "macro"); ok {
		return name, true
	}
	return created(stmt, "function")
}

// created returns the name (lower case) a CREATE [OR REPLACE] [TEMP]
// <kind> statement creates.
func created(stmt []token, kind string) (string, bool) {
	i := 1
	skip := func(words ...string) {
		for _, w := range words {
			if i < len(stmt) && stmt[i].kind == 'w' && stmt[i].text == w {
				i++
			}
		}
	}
	skip("or", "replace", "temp", "temporary")
	if i >= len(stmt) || stmt[i].kind != 'w' || stmt[i].text != kind {
		return "", false
	}
	i++
	skip("if", "not", "exists")
	return lastName(stmt, i)
}

// createdSchema returns the name (lower case) a CREATE SCHEMA statement
// creates.
func createdSchema(stmt []token) (string, bool) { return created(stmt, "schema") }

// lastName is the last part (lower case) of the dotted name at stmt[i:]:
// a word or quoted identifier, then more after each '.'.
func lastName(stmt []token, i int) (string, bool) {
	name := ""
	for i < len(stmt) && (stmt[i].kind == 'w' || stmt[i].kind == 'q') {
		name = strings.ToLower(stmt[i].text)
		if i+1 >= len(stmt) || stmt[i+1].kind != '.' {
			break
		}
		i += 2
	}
	return name, name != ""
}
