package partition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The query's instant. DuckDB evaluates now(), current_date and their kin
// once per query: every row sees the transaction's start. A task of a
// split plan is a query of its own on its executor, so each task would
// see its own instant, and SELECT now() FROM a split scan would give as
// many values as tasks. Instead the coordinator takes the instant once,
// when it plans the query, and every task gets it:
//   - bindNow (at analysis, views inlined) replaces each call with the
//     marker, get_current_timestamp() at query location nowLocation, cast
//     to the type the call gives (current_date: the marker's DATE in the
//     cluster's time zone, --timezone, which every executor shares: the
//     registry admits none of another zone, and a session cannot SET
//     another, settings being locked). The rewrites copy the marker as any
//     expression; a query the coordinator runs while planning (a check,
//     an estimate, a sample of a sort key) evaluates it as DuckDB does;
//   - NowParameter makes the marker, in the SQL the coordinator ships (a
//     task's, a merge's), a parameter after the SQL's others, the
//     instant's text cast to TIMESTAMP WITH TIME ZONE, bound when the
//     query runs. A plan keeps the parameter, never a value, so a plan
//     kept for its text or its shape sees a new instant at every run.
//
// current_date, current_time, current_timestamp, localtime and
// localtimestamp are keywords that DuckDB's AST writes as column
// references: a column of that name in the FROM of the SELECT it is in
// is the column (an outer query's column is not: DuckDB binds the
// function there). Such a name is taken for the function only when that
// FROM has no column of that name (Env.Columns) and no alias in the
// query is named so; unknown columns keep the query local.

// nowLocation is the marker's query location: past every query's text,
// out of the marked constants' range (literalBase).
const nowLocation = literalBase + 1<<31

var nowLocationText = strconv.FormatUint(nowLocation, 10)

// nowTypes are the types the functions of the query's instant give, by
// name, as DuckDB 1.5 returns them; "" for TIMESTAMP WITH TIME ZONE, the
// instant itself.
var nowTypes = map[string]string{
	"now": "", "current_timestamp": "", "get_current_timestamp": "", "transaction_timestamp": "",
	"current_date": "DATE", "today": "DATE",
	"current_time": "TIME WITH TIME ZONE", "get_current_time": "TIME WITH TIME ZONE",
	"localtimestamp": "TIMESTAMP", "current_localtimestamp": "TIMESTAMP",
	"localtime": "TIME", "current_localtime": "TIME",
}

// nowKeywords are those DuckDB's parser writes as a column reference.
var nowKeywords = map[string]bool{"current_date": true, "current_time": true, "current_timestamp": true,
	"localtime": true, "localtimestamp": true}

// nowMarker is the marker cast to typ (see nowTypes): TIME through the
// local TIMESTAMP, DuckDB having no cast to it from TIMESTAMP WITH TIME
// ZONE.
func nowMarker(typ string) Node {
	m := function("get_current_timestamp")
	m["query_location"] = json.Number(nowLocationText)
	switch typ {
	case "":
		return m
	case "TIME":
		return cast("TIME", cast("TIMESTAMP", m))
	}
	return cast(typ, m)
}

// nowCall says function node n calls a function of the query's instant,
// and the type it gives (nowTypes): DuckDB's, by its name alone or named
// in DuckDB's own schema and catalog (main.now(), system.main.now()),
// with no argument (DuckDB 1.5 has none that takes one: current_time(3)
// is an error, left for DuckDB to report); not the marker itself.
func nowCall(n Node) (string, bool) {
	typ, ok := nowTypes[strings.ToLower(str(n, "function_name"))]
	schema, catalog := str(n, "schema"), str(n, "catalog")
	if !ok || len(list(n, "children")) > 0 || isNowMarker(n) ||
		(schema != "" && !strings.EqualFold(schema, "main")) || (catalog != "" && !strings.EqualFold(catalog, "system")) {
		return "", false
	}
	return typ, true
}

func isNowMarker(n Node) bool {
	loc, _ := n["query_location"].(json.Number)
	return str(n, "class") == "FUNCTION" && string(loc) == nowLocationText
}

// bindNowOnce binds root's calls of the instant, and checks that root
// calls nothing a task would evaluate otherwise (checkDeterministic),
// unless a query around it did (Env.nowBound): the analyses of its
// parts, and of its rewrites, see a tree checked already.
func bindNowOnce(root Node, env *Env) error {
	if env.nowBound {
		return nil
	}
	env.nowBound = true
	if err := bindNow(root, env.Columns); err != nil {
		return err
	}
	if err := checkDeterministic(root); err != nil {
		return err
	}
	if err := checkSessionFunctions(root, env.SessionFunction); err != nil {
		return err
	}
	if err := checkSessionTypes(root, env.SessionType); err != nil {
		return err
	}
	if err := checkExchangeTypes(root); err != nil {
		return err
	}
	if err := checkEmptyGroupings(root, env.Aggregates); err != nil {
		return err
	}
	return checkRows(root)
}

// bindNow replaces root's calls of the query's instant with the marker
// (see above). columns lists a FROM item's columns. An item of the
// select list named by its text keeps its name (outnames.go).
func bindNow(root Node, columns func(Node) ([]Column, error)) error {
	b := nowBinder{root: root, columns: columns}
	_, err := b.walk(root, nil, false)
	return err
}

type nowBinder struct {
	root    Node
	columns func(Node) ([]Column, error)
	aliases map[string]bool // every alias in root, once a keyword asks
}

// aliased says whether an alias in the query is named name.
func (b *nowBinder) aliased(name string) bool {
	if b.aliases == nil {
		b.aliases = map[string]bool{}
		anyNode(b.root, func(n Node) bool {
			// A keyword named after itself (nameSubqueryItems names it
			// so) is the instant under either name.
			if a := str(n, "alias"); a != "" && !(str(n, "class") == "COLUMN_REF" && len(list(n, "column_names")) == 1 && list(n, "column_names")[0] == a) {
				b.aliases[strings.ToLower(a)] = true
			}
			return false
		})
	}
	return b.aliases[name]
}

// nowScope is a SELECT's FROM item and, once asked, its column names.
type nowScope struct {
	from  Node
	names map[string]bool
}

// walk replaces the calls of the instant in v; scopes are the FROM
// items of the SELECTs v is in, innermost last; item says v is a select
// list's item, whose name the replacement keeps. It returns v's
// replacement, if v itself is one.
func (b *nowBinder) walk(v any, scopes []*nowScope, item bool) (Node, error) {
	switch v := v.(type) {
	case []any:
		for i, x := range v {
			r, err := b.walk(x, scopes, item)
			if err != nil {
				return nil, err
			}
			if r != nil {
				v[i] = r
			}
		}
	case map[string]any:
		if r, ok, err := b.call(v, scopes); err != nil || ok {
			if ok && item && str(r, "alias") == "" {
				// The column's name as DuckDB gives the call.
				r["alias"] = nowName(v)
			}
			return r, err
		}
		if str(v, "type") == "SELECT_NODE" {
			scopes = append(scopes[:len(scopes):len(scopes)], &nowScope{from: child(v, "from_table")})
		}
		for k, x := range v {
			switch x.(type) {
			case map[string]any, []any:
			default:
				continue
			}
			r, err := b.walk(x, scopes, k == "select_list")
			if err != nil {
				return nil, err
			}
			if r != nil {
				v[k] = r
			}
		}
	}
	return nil, nil
}

// call is the marker for n if n calls a function of the query's instant.
func (b *nowBinder) call(n Node, scopes []*nowScope) (Node, bool, error) {
	switch str(n, "class") {
	case "FUNCTION":
		typ, ok := nowCall(n)
		if !ok {
			return nil, false, nil
		}
		m := nowMarker(typ)
		m["alias"] = n["alias"]
		return m, true, nil
	case "COLUMN_REF":
		names := list(n, "column_names")
		if len(names) != 1 {
			return nil, false, nil
		}
		name, _ := names[0].(string)
		name = strings.ToLower(name)
		if !nowKeywords[name] || b.aliased(name) {
			return nil, false, nil
		}
		// Only the FROM of the SELECT the keyword is in makes it a
		// column, as DuckDB binds it: not an outer query's (in a
		// subquery of the select list, or lateral), nor, for a subquery
		// in FROM, its own output (SELECT DISTINCT current_timestamp
		// there was taken for the column it names, and run per task).
		if n := len(scopes); n > 0 {
			col, err := b.hasColumn(scopes[n-1], name)
			if err != nil || col {
				return nil, false, err
			}
		}
		m := nowMarker(nowTypes[name])
		m["alias"] = n["alias"]
		return m, true, nil
	}
	return nil, false, nil
}

// hasColumn says whether scope s's FROM item has a column name.
func (b *nowBinder) hasColumn(s *nowScope, name string) (bool, error) {
	if s.names == nil {
		s.names = map[string]bool{}
		if t := str(s.from, "type"); t != "" && t != "EMPTY" {
			if b.columns == nil {
				return false, local("%s: the columns of its FROM are not known", name)
			}
			cols, err := b.columns(s.from)
			if err != nil {
				return false, local("%s: the columns of its FROM: %v", name, err)
			}
			for _, c := range cols {
				s.names[strings.ToLower(c.Name)] = true
			}
		}
	}
	return s.names[name], nil
}

// nowName is the name DuckDB gives a select list's item that is the call
// n with no alias: a keyword as written, a function's name with ().
func nowName(n Node) string {
	if str(n, "class") == "COLUMN_REF" {
		s, _ := list(n, "column_names")[0].(string)
		return s
	}
	name := str(n, "function_name") + "()"
	if s := str(n, "schema"); s != "" {
		name = s + "." + name
	}
	if c := str(n, "catalog"); c != "" {
		// DuckDB quotes a keyword, as system is (nowCall admits no
		// other catalog), in any case.
		name = `"` + c + `".` + name
	}
	return name
}

// NowParameter is a statement's AST (one that the coordinator ships: a
// task's, a merge's) with the query's instant a parameter (see above):
// its markers become CAST($k AS TIMESTAMP WITH TIME ZONE), k one past
// the AST's highest parameter, bound to NowText of the instant when it
// runs. uses says it holds one; else ast comes back as it is.
func NowParameter(ast []byte) (out []byte, uses bool, err error) {
	if !bytes.Contains(ast, []byte(nowLocationText)) {
		// No marker's location anywhere (most queries): not decoded.
		return ast, false, nil
	}
	var doc any
	if err := decode(ast, &doc); err != nil {
		return nil, false, fmt.Errorf("partition: decoding the AST: %w", err)
	}
	last := 0
	anyNode(doc, func(n Node) bool {
		if str(n, "class") == "PARAMETER" {
			if p, err := strconv.Atoi(str(n, "identifier")); err == nil {
				last = max(last, p)
			}
		}
		uses = uses || isNowMarker(n)
		return false
	})
	if !uses {
		return ast, false, nil
	}
	doc = replace(doc, func(n Node) (any, bool) {
		if !isNowMarker(n) {
			return nil, false
		}
		p := cast("TIMESTAMP WITH TIME ZONE", parameter(last+1))
		p["alias"] = n["alias"]
		return p, true
	})
	out, err = json.Marshal(doc)
	return out, err == nil, err
}

// NowText is the text of an instant that NowParameter's parameter casts
// to TIMESTAMP WITH TIME ZONE: in UTC, to the microsecond, as DuckDB
// keeps it.
func NowText(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05.000000") + "+00"
}
