package partition

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Literals: a point lookup asked again with another key is the same query
// for the planner but for its constants, and the plan cache should not
// check its rewrite again. MarkLiterals picks the constants that cannot
// change a plan's shape or its result schema, whatever their value: those
// the row-group pruning reads, a column compared with a constant (=, <>,
// <, <=, >, >=), BETWEEN two constants or IN a list of them, in a
// top-level conjunct of the query's WHERE or of the WHERE of one of its
// WITHs (a lookup written as a CTE; the planner inlines a WITH as a FROM
// subquery, whose WHERE keeps or drops its rows as the query's does). A
// comparison is BOOLEAN whatever it compares, and a WHERE keeps or drops
// rows, so such a constant's value cannot change the columns, their types
// or how the query splits (the Analysis is made again for every query
// anyway, and prunes with the new values). Constants anywhere else (LIMIT,
// OFFSET, ORDER BY and GROUP BY ordinals, a function's arguments, the
// select list, HAVING, another subquery) keep their value in the plan's
// identity, as do NULLs and constants of a type not listed in markable.
//
// A marked constant keeps its value and gets a query location of its own
// (literalBase plus its ordinal; locations only place error messages in
// the text, and the rewrites copy them), so that the ASTs the rewrites
// make from the marked one, templates and merges, say where each came
// from. Shape is an AST's identity with the marked constants' values
// abstracted to their exact types (5 INTEGER, 5000000000 BIGINT and '5'
// VARCHAR stay different) and every location dropped. Parameterize makes
// them parameters of a task template, CAST($n AS their type), bound to
// their texts (LiteralArgs): one task SQL for every value, typed as the
// constant was, never spliced into text.

// literalBase is the first query location of a marked constant: far past
// any query's text, short of noLocation.
const literalBase = uint64(1) << 62

// markable are the constant types whose values a shape abstracts: those
// DuckDB compares a column with by value, and whose JSON value has one
// exact text (LiteralArgs). A DECIMAL's width and scale are part of its
// type, and so of the shape.
var markable = map[string]bool{"TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true,
	"UTINYINT": true, "USMALLINT": true, "UINTEGER": true, "UBIGINT": true,
	"DECIMAL": true, "VARCHAR": true, "BOOLEAN": true}

// MarkLiterals is the serialized AST with the constants of its WHERE
// that a plan may be reused for, whatever their value, marked (see
// above), and the JSON of those constants' values in order: two queries
// of one shape and equal values are the same query. A statement that is
// not one plain SELECT comes back unmarked.
func MarkLiterals(serialized []byte) (marked []byte, values string, err error) {
	var doc Node
	if err := decode(serialized, &doc); err != nil {
		return nil, "", fmt.Errorf("partition: decoding the AST: %w", err)
	}
	stmts := list(doc, "statements")
	if len(stmts) != 1 {
		return serialized, "", nil
	}
	st, _ := stmts[0].(map[string]any)
	root := child(st, "node")
	if str(root, "type") != "SELECT_NODE" {
		return serialized, "", nil
	}
	var vals []any
	mark := func(v any) {
		n, _ := v.(map[string]any)
		n["query_location"] = json.Number(strconv.FormatUint(literalBase+uint64(len(vals)), 10))
		vals = append(vals, n["value"])
	}
	wheres := []any{root["where_clause"]}
	for _, e := range list(child(root, "cte_map"), "map") {
		en, _ := e.(map[string]any)
		val := child(en, "value")
		if body := child(child(val, "query"), "node"); str(body, "type") == "SELECT_NODE" && len(list(val, "key_targets")) == 0 {
			wheres = append(wheres, body["where_clause"])
		}
	}
	for _, w := range wheres {
		for _, c := range conjuncts(w) {
			for _, l := range comparedLiterals(c) {
				mark(l)
			}
		}
	}
	if len(vals) == 0 {
		return serialized, "", nil
	}
	if marked, err = json.Marshal(doc); err != nil {
		return nil, "", err
	}
	v, err := json.Marshal(vals)
	return marked, string(v), err
}

// comparedLiterals are the constants of a conjunct that MarkLiterals
// marks: those compared with a column.
func comparedLiterals(c any) []Node {
	n, _ := c.(map[string]any)
	isColumn := func(v any) bool {
		m, _ := v.(map[string]any)
		return str(m, "class") == "COLUMN_REF"
	}
	switch str(n, "class") {
	case "COMPARISON":
		if _, ok := operators[str(n, "type")]; !ok && str(n, "type") != "COMPARE_NOTEQUAL" {
			return nil
		}
		switch {
		case isColumn(n["left"]):
			return constantOf(n["right"])
		case isColumn(n["right"]):
			return constantOf(n["left"])
		}
	case "BETWEEN":
		if isColumn(n["input"]) {
			return append(constantOf(n["lower"]), constantOf(n["upper"])...)
		}
	case "OPERATOR":
		cs := list(n, "children")
		if str(n, "type") != "COMPARE_IN" || len(cs) < 2 || !isColumn(cs[0]) {
			return nil
		}
		var out []Node
		for _, x := range cs[1:] {
			out = append(out, constantOf(x)...)
		}
		return out
	}
	return nil
}

// constantOf is the markable constant v is: a constant not NULL of a
// markable type, or the string of DATE 'x' or TIMESTAMP 'x' (a cast of a
// VARCHAR constant: the cast's type stays in the shape).
func constantOf(v any) []Node {
	n, _ := v.(map[string]any)
	if str(n, "class") == "CAST" && n["try_cast"] == false {
		switch str(child(n, "cast_type"), "id") {
		case "DATE", "TIMESTAMP":
			if c := child(n, "child"); str(child(child(c, "value"), "type"), "id") == "VARCHAR" {
				return constantOf(c)
			}
		}
		return nil
	}
	val := child(n, "value")
	if str(n, "class") != "CONSTANT" || val["is_null"] != false || !markable[str(child(val, "type"), "id")] {
		return nil
	}
	return []Node{n}
}

// Shape is an AST's identity for the plan cache (see above): its JSON
// with no query location and the values of its marked constants replaced
// by their types.
func Shape(ast []byte) (string, error) {
	var doc any
	if err := decode(ast, &doc); err != nil {
		return "", fmt.Errorf("partition: decoding the AST: %w", err)
	}
	b, err := json.Marshal(shaped(doc))
	return string(b), err
}

func shaped(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		if i, ok := marked(v); ok {
			// A marked constant: its type and ordinal, not its value.
			out["class"], out["literal"] = "MARKED", Node{"ordinal": json.Number(strconv.Itoa(i)),
				"type": child(child(v, "value"), "type"), "alias": v["alias"]}
			return out
		}
		for k, x := range v {
			if k != "query_location" {
				out[k] = shaped(x)
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = shaped(x)
		}
		return out
	}
	return v
}

// marked is the ordinal of a marked constant (see MarkLiterals), if n is
// one.
func marked(n Node) (int, bool) {
	loc, _ := n["query_location"].(json.Number)
	i, err := strconv.ParseUint(string(loc), 10, 64)
	if err != nil || i < literalBase || i >= literalBase+1<<30 || str(n, "class") != "CONSTANT" {
		return 0, false
	}
	return int(i - literalBase), true
}

// Parameterize is a task template (TemplateAST, whose parameters are
// $1..$k, the slice's Args) with its n marked constants made parameters:
// constant i becomes CAST($(k+1+i) AS its type), a string $(k+1+i) alone
// (DuckDB types it as what it is compared with, as it casts a string
// constant: CAST(... AS VARCHAR) would not compare with a number), bound to
// LiteralArgs(values)[i] when the task runs, so that one task SQL serves
// every value of them. ok is false, and the template not for this, unless
// it holds exactly the parameters $1..$args and every marked constant
// 0..n-1 (a rewrite may drop a conjunct, or copy one).
func Parameterize(ast []byte, args, n int) (out []byte, ok bool, err error) {
	var doc any
	if err := decode(ast, &doc); err != nil {
		return nil, false, fmt.Errorf("partition: decoding the AST: %w", err)
	}
	used := make([]bool, n)
	params := 0
	ok = true
	doc = replace(doc, func(v Node) (any, bool) {
		if str(v, "class") == "PARAMETER" {
			p, err := strconv.Atoi(str(v, "identifier"))
			if err != nil || p < 1 || p > args {
				ok = false
			}
			params = max(params, p)
			return v, true
		}
		i, isMarked := marked(v)
		switch {
		case !isMarked:
			return nil, false
		case i >= n:
			ok = false
			return v, true
		}
		used[i] = true
		if typ := child(child(v, "value"), "type"); str(typ, "id") == "VARCHAR" {
			// A string constant is cast to what it is compared with; so
			// is a parameter of no type of its own.
			return parameter(args + 1 + i), true
		}
		return Node{"class": "CAST", "type": "OPERATOR_CAST", "alias": v["alias"], "query_location": json.Number(noLocation),
			"child": parameter(args + 1 + i), "cast_type": cloneValue(child(child(v, "value"), "type")), "try_cast": false}, true
	})
	for _, u := range used {
		ok = ok && u
	}
	if !ok || params != args {
		return nil, false, nil
	}
	out, err = json.Marshal(doc)
	return out, err == nil, err
}

// LiteralArgs are the texts of the marked constants' values (MarkLiterals'
// values) that Parameterize's parameters cast to their types: DuckDB reads
// each as the constant it was.
func LiteralArgs(values string) ([]string, error) {
	var vals []Node
	if err := decode([]byte(values), &vals); err != nil {
		return nil, fmt.Errorf("partition: decoding constants: %w", err)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		typ := child(v, "type")
		switch x := v["value"].(type) {
		case string:
			out[i] = x
		case bool:
			out[i] = strconv.FormatBool(x)
		case json.Number:
			out[i] = string(x)
			if str(typ, "id") == "DECIMAL" {
				scale, err := strconv.Atoi(fmt.Sprint(child(typ, "type_info")["scale"]))
				if err != nil {
					return nil, fmt.Errorf("partition: a DECIMAL constant's scale: %w", err)
				}
				out[i] = decimalText(string(x), scale)
			}
		default:
			return nil, fmt.Errorf("partition: a constant of type %s valued %v", str(typ, "id"), x)
		}
	}
	return out, nil
}

// decimalText is a DECIMAL's text from its unscaled integer's.
func decimalText(unscaled string, scale int) string {
	if scale <= 0 {
		return unscaled
	}
	sign, digits := "", unscaled
	if digits != "" && digits[0] == '-' {
		sign, digits = "-", digits[1:]
	}
	for len(digits) <= scale {
		digits = "0" + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}
