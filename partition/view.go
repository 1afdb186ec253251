package partition

import (
	"cmp"
	"fmt"
	"strings"
	"unicode"
)

// View is a view's definition as the planner needs it: the serialized AST
// of its query (json_serialize_sql) and the column names it declares, if
// any (CREATE VIEW v (a, b) AS ...).
type View struct {
	AST     []byte
	Columns []string
	// Alias is the name a reference without an alias of its own reads the
	// view under; empty: the reference's name. (A Parquet file named as a
	// table is read under its base name, up to its first dot.)
	Alias string
	// Catalog and Schema are where the view is defined (empty: not
	// known). DuckDB binds a name its query gives without a catalog or
	// schema in the view's own schema: a view rs.v over rbase reads
	// rs.rbase whatever the session's search path says, and read through
	// that path it read main.rbase (a tester's).
	Catalog, Schema string
	// IsTable says a lookup that found no view found a table of the name
	// (its ok false): the name is taken, and no view further along
	// DuckDB's order of binding reads it.
	IsTable bool
	// root is AST's query node when the view was made by NewView: shared
	// by the plannings that read the view, read and cloned, never changed.
	root Node
}

// NewView is the view of the serialized AST and declared columns, its AST
// decoded once: a view every lookup names (TPC-H's orders over its files)
// is then copied where it is inlined rather than decoded from JSON, a
// sixth of a lookup's planning.
func NewView(ast []byte, columns []string) View {
	v := View{AST: ast, Columns: columns}
	if root, err := statementRoot(ast); err == nil {
		nameFromSubqueries(root)
		v.root = root
	}
	return v
}

// selectRoot is the view's query node (selectRoot of its AST), a copy the
// caller may change.
func (v View) selectRoot() (Node, error) {
	if v.root == nil || str(v.root, "type") != "SELECT_NODE" {
		root, err := selectRoot(v.AST)
		if err == nil {
			nameFromSubqueries(root) // as the query's own FROMs are (unnamed.go)
		}
		return root, err
	}
	return clone(v.root), nil
}

// ViewQuery takes apart the CREATE VIEW statement DuckDB keeps for a view
// (duckdb_views().sql): it returns the text of the view's query and the
// column names the view declares. DuckDB serializes only SELECT statements
// to JSON, so the query is split from its header by reading the header's
// tokens (keywords, identifiers, parentheses) up to the AS that ends it;
// the query itself is then parsed by DuckDB.
func ViewQuery(create string) (query string, columns []string, err error) {
	lx := &lexer{src: create}
	want := func(words ...string) bool {
		for _, w := range words {
			if !lx.keyword(w) {
				return false
			}
		}
		return true
	}
	if !want("create") {
		return "", nil, fmt.Errorf("partition: not a CREATE VIEW statement")
	}
	if lx.keyword("or") && !want("replace") {
		return "", nil, fmt.Errorf("partition: CREATE OR without REPLACE")
	}
	_ = lx.keyword("temp") || lx.keyword("temporary")
	if !want("view") {
		return "", nil, fmt.Errorf("partition: not a CREATE VIEW statement")
	}
	if lx.keyword("if") && !want("not", "exists") {
		return "", nil, fmt.Errorf("partition: CREATE VIEW IF without NOT EXISTS")
	}
	// The name: up to three identifiers joined by dots.
	for i := 0; ; i++ {
		if _, ok := lx.ident(); !ok || i > 2 {
			return "", nil, fmt.Errorf("partition: CREATE VIEW without a valid name")
		}
		if !lx.punct('.') {
			break
		}
	}
	if lx.punct('(') {
		for {
			name, ok := lx.ident()
			if !ok {
				return "", nil, fmt.Errorf("partition: CREATE VIEW with a malformed column list")
			}
			columns = append(columns, name)
			if lx.punct(')') {
				break
			}
			if !lx.punct(',') {
				return "", nil, fmt.Errorf("partition: CREATE VIEW with a malformed column list")
			}
		}
	}
	if !want("as") {
		return "", nil, fmt.Errorf("partition: CREATE VIEW without AS")
	}
	query = strings.TrimSpace(lx.src[lx.pos:])
	query = strings.TrimSpace(strings.TrimSuffix(query, ";"))
	if query == "" {
		return "", nil, fmt.Errorf("partition: CREATE VIEW without a query")
	}
	return query, columns, nil
}

// lexer reads the tokens of a statement's header: identifiers (bare or
// double-quoted), single punctuation characters, whitespace and comments
// in between.
type lexer struct {
	src string
	pos int
}

func (l *lexer) skip() {
	for l.pos < len(l.src) {
		rest := l.src[l.pos:]
		switch {
		case unicode.IsSpace(rune(rest[0])):
			l.pos++
		case strings.HasPrefix(rest, "--"):
			if i := strings.IndexByte(rest, '\n'); i >= 0 {
				l.pos += i + 1
			} else {
				l.pos = len(l.src)
			}
		case strings.HasPrefix(rest, "/*"):
			if i := strings.Index(rest[2:], "*/"); i >= 0 {
				l.pos += i + 4
			} else {
				l.pos = len(l.src)
			}
		default:
			return
		}
	}
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || c >= 0x80 || ('a' <= c|0x20 && c|0x20 <= 'z') || (!first && ('0' <= c && c <= '9' || c == '$'))
}

// ident reads an identifier: bare names fold to lower case, quoted names
// keep theirs ("" is a quote inside one).
func (l *lexer) ident() (string, bool) {
	l.skip()
	if l.pos >= len(l.src) {
		return "", false
	}
	if l.src[l.pos] == '"' {
		var b strings.Builder
		for i := l.pos + 1; i < len(l.src); i++ {
			if l.src[i] != '"' {
				b.WriteByte(l.src[i])
				continue
			}
			if i+1 < len(l.src) && l.src[i+1] == '"' {
				b.WriteByte('"')
				i++
				continue
			}
			l.pos = i + 1
			return b.String(), true
		}
		return "", false
	}
	start := l.pos
	for l.pos < len(l.src) && isIdentByte(l.src[l.pos], l.pos == start) {
		l.pos++
	}
	if l.pos == start {
		return "", false
	}
	return strings.ToLower(l.src[start:l.pos]), true
}

// keyword consumes the bare word w (any case) if it comes next.
func (l *lexer) keyword(w string) bool {
	save := l.pos
	l.skip()
	if l.pos < len(l.src) && l.src[l.pos] != '"' {
		if got, ok := l.ident(); ok && got == w {
			return true
		}
	}
	l.pos = save
	return false
}

// punct consumes the character c if it comes next.
func (l *lexer) punct(c byte) bool {
	l.skip()
	if l.pos < len(l.src) && l.src[l.pos] == c {
		l.pos++
		return true
	}
	return false
}

// maxViewDepth bounds how deep views over views are followed.
const maxViewDepth = 8

// inlineViews replaces every table reference in root that names a view by
// the view's definition, itself with its views inlined: a view that is
// SELECT * over a table function becomes that table function (named like
// the view), any other view a subquery. A name that a WITH clause defines
// anywhere in the query is left alone, as are names views does not know
// and the markers of WITH results computed once. With w, a view the query
// reads more than once whose query does more than filter and project
// files is computed once, as such a CTE is (cte.go).
func inlineViews(root Node, views func(catalog, schema, name string) (View, bool), w *withs) error {
	if views == nil {
		return nil
	}
	if w != nil {
		w.tableReads, w.root = tableReads(root), root
		defer func() { w.tableReads, w.root = nil, nil }()
	}
	return inlineIn(root, views, 0, w)
}

// tableReads counts the references to each table name of root.
func tableReads(root Node) map[string]int {
	reads := map[string]int{}
	anyNode(root, func(n Node) bool {
		if str(n, "type") == "BASE_TABLE" {
			reads[tableKey(n)]++
		}
		return false
	})
	return reads
}

func tableKey(n Node) string {
	return strings.ToLower(str(n, "catalog_name") + "\x00" + str(n, "schema_name") + "\x00" + str(n, "table_name"))
}

func inlineIn(root Node, views func(catalog, schema, name string) (View, bool), depth int, w *withs) error {
	if depth > maxViewDepth {
		return local("views nested deeper than %d", maxViewDepth)
	}
	ctes := map[string]bool{}
	collectCTEs(root, ctes)
	var walk func(v any) error
	walk = func(v any) error {
		switch v := v.(type) {
		case map[string]any:
			if str(v, "type") == "BASE_TABLE" && !ctes[strings.ToLower(str(v, "table_name"))] && !w.has(v) {
				return inlineView(v, views, depth, w)
			}
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range v {
				if err := walk(x); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(root)
}

func collectCTEs(v any, into map[string]bool) {
	anyNode(v, func(n Node) bool {
		for _, e := range list(child(n, "cte_map"), "map") {
			en, _ := e.(map[string]any)
			into[strings.ToLower(str(en, "key"))] = true
		}
		return false // visit every node
	})
}

// inView resolves the names of view's query: one without a catalog or
// schema as the session's TEMP object of its name if it has one, else in
// the view's own schema, where DuckDB binds it, or, named like
// a file, as a file read as a table; not at all elsewhere (DuckDB's
// fallbacks from there are not the session's search path), so that such
// a reference stays a table and its query runs whole where DuckDB binds
// it.
func inView(view View, views func(catalog, schema, name string) (View, bool)) func(catalog, schema, name string) (View, bool) {
	if view.Schema == "" {
		return views
	}
	return func(catalog, schema, name string) (View, bool) {
		if catalog != "" || schema != "" {
			return views(catalog, schema, name)
		}
		// The session's TEMP objects come first there too: with a TEMP
		// view of a name, a view of main reading that name read main's
		// in its stages, where DuckDB reads the TEMP one (a tester's).
		if view.Catalog != "temp" {
			if v, ok := views("temp", "", name); ok || v.IsTable {
				return v, ok
			}
		}
		if v, ok := views(view.Catalog, view.Schema, name); ok {
			return v, true
		}
		if strings.Contains(name, ".") {
			return views("", "", name)
		}
		return View{}, false
	}
}

// inlineView rewrites the table reference ref in place if it names a view.
func inlineView(ref Node, views func(catalog, schema, name string) (View, bool), depth int, w *withs) error {
	view, ok := views(str(ref, "catalog_name"), str(ref, "schema_name"), str(ref, "table_name"))
	if !ok {
		return nil
	}
	def, err := view.selectRoot()
	if err != nil {
		return err
	}
	if ref["at_clause"] != nil || len(list(ref, "column_name_alias")) > 0 {
		return local("view %s read with column aliases or AT", str(ref, "table_name"))
	}
	if err := inlineIn(def, inView(view, views), depth+1, nil); err != nil {
		return err
	}
	alias := cmp.Or(str(ref, "alias"), view.Alias, str(ref, "table_name"))
	var repl Node
	inner := child(def, "from_table")
	if w != nil && depth == 0 && w.tableReads[tableKey(ref)] > 1 && !filtersFiles(def, w.env.Aggregates) {
		// Read more than once: computed once, as a WITH is.
		d := w.views[tableKey(ref)]
		if d == nil {
			cols := make([]any, len(view.Columns))
			for i, c := range view.Columns {
				cols[i] = c
			}
			key := tableKey(ref)
			isRead := func(n Node) bool { return tableKey(n) == key }
			pushReadFilters(w.root, isRead, str(ref, "table_name"), w.tableReads[key], def, cols, w.env.Aggregates, w.seeThrough)
			d = w.add("view", str(ref, "table_name"), def, cols)
			w.views[key] = d
		}
		repl = d.ref()
		repl["alias"] = alias
	} else if isStarOnly(def) && len(view.Columns) == 0 && len(list(child(def, "cte_map"), "map")) == 0 &&
		str(inner, "type") == "TABLE_FUNCTION" && len(list(inner, "column_name_alias")) == 0 {
		repl = clone(inner)
		repl["alias"] = alias
	} else {
		repl = subquery(def, alias)
		cols := make([]any, len(view.Columns))
		for i, c := range view.Columns {
			cols[i] = c
		}
		repl["column_name_alias"] = cols
	}
	repl["sample"] = ref["sample"]
	clear(ref)
	for k, v := range repl {
		ref[k] = v
	}
	return nil
}
