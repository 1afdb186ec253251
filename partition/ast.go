package partition

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
)

// Node is one node of DuckDB's JSON AST (json_serialize_sql). Nodes are
// kept as decoded JSON so that every field DuckDB writes survives a
// rewrite; the helpers below read and build the few kinds the planner
// understands. Numbers stay json.Number: query locations exceed float64.
type Node = map[string]any

func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func str(n Node, key string) string {
	s, _ := n[key].(string)
	return s
}

func child(n Node, key string) Node {
	c, _ := n[key].(map[string]any)
	return c
}

func list(n Node, key string) []any {
	l, _ := n[key].([]any)
	return l
}

// clone deep-copies a node so rewrites never alias the original. It
// copies maps and lists itself (a JSON round trip took a fifth of the
// coordinator's planning time); any other value than those a decoded AST
// holds (a number or list a rewrite built in Go) goes through JSON, so
// the copy is what decoding the node's JSON gives, as before.
func clone(n Node) Node {
	if n == nil {
		return nil
	}
	out, _ := cloneValue(n).(map[string]any)
	return out
}

func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v == nil {
			return nil
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = cloneValue(x)
		}
		return out
	case []any:
		if v == nil {
			return nil
		}
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneValue(x)
		}
		return out
	case string, bool, json.Number, nil:
		return v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("partition: clone: %v", err))
		}
		var out any
		if err := decode(b, &out); err != nil {
			panic(fmt.Sprintf("partition: clone: %v", err))
		}
		return out
	}
}

// visit calls f on every node of v, depth first, going into a node's
// children only when f says so.
func visit(v any, f func(Node) bool) {
	switch v := v.(type) {
	case map[string]any:
		if !f(v) {
			return
		}
		for _, x := range v {
			visit(x, f)
		}
	case []any:
		for _, x := range v {
			visit(x, f)
		}
	}
}

// replace rewrites v in place, depth first: f gives a node's replacement
// (not gone into) and true, or false to go into the node's children.
func replace(v any, f func(Node) (any, bool)) any {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := f(v); ok {
			return r
		}
		for k, x := range v {
			v[k] = replace(x, f)
		}
	case []any:
		for i, x := range v {
			v[i] = replace(x, f)
		}
	}
	return v
}

// sameExpr compares two expressions ignoring where they appear in the text
// and what they are called.
func sameExpr(a, b any) bool {
	return reflect.DeepEqual(strip(a), strip(b))
}

func strip(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			if k == "query_location" || k == "alias" {
				continue
			}
			out[k] = strip(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strip(x)
		}
		return out
	}
	return v
}

// Builders for the nodes the rewrites create.

const noLocation = "18446744073709551615"

func emptyOrder() Node { return Node{"type": "ORDER_MODIFIER", "orders": []any{}} }

func columnRef(name string) Node {
	return Node{"class": "COLUMN_REF", "type": "COLUMN_REF", "alias": "", "query_location": json.Number(noLocation),
		"column_names": []any{name}}
}

func function(name string, children ...Node) Node {
	cs := make([]any, len(children))
	for i, c := range children {
		cs[i] = c
	}
	return Node{"class": "FUNCTION", "type": "FUNCTION", "alias": "", "query_location": json.Number(noLocation),
		"function_name": name, "schema": "", "children": cs, "filter": nil, "order_bys": emptyOrder(),
		"distinct": false, "is_operator": false, "export_state": false, "catalog": ""}
}

func operator(name string, l, r Node) Node {
	f := function(name, l, r)
	f["is_operator"] = true
	return f
}

func constant(typ string, v any) Node {
	return Node{"class": "CONSTANT", "type": "VALUE_CONSTANT", "alias": "", "query_location": json.Number(noLocation),
		"value": Node{"type": Node{"id": typ, "type_info": nil}, "is_null": false, "value": v}}
}

func null() Node {
	return Node{"class": "CONSTANT", "type": "VALUE_CONSTANT", "alias": "", "query_location": json.Number(noLocation),
		"value": Node{"type": Node{"id": "NULL", "type_info": nil}, "is_null": true}}
}

func parameter(n int) Node {
	return Node{"class": "PARAMETER", "type": "VALUE_PARAMETER", "alias": "", "query_location": json.Number(noLocation),
		"identifier": fmt.Sprint(n)}
}

// orZero is COALESCE(c, 0).
func orZero(c Node) Node {
	return Node{"class": "OPERATOR", "type": "OPERATOR_COALESCE", "alias": "", "query_location": json.Number(noLocation),
		"children": []any{c, constant("INTEGER", json.Number("0"))}}
}

func cast(typ string, c Node) Node {
	return Node{"class": "CAST", "type": "OPERATOR_CAST", "alias": "", "query_location": json.Number(noLocation),
		"child": c, "cast_type": Node{"id": typ, "type_info": nil}, "try_cast": false}
}

func withAlias(n Node, alias string) Node {
	n["alias"] = alias
	return n
}

func star() Node {
	return Node{"class": "STAR", "type": "STAR", "alias": "", "query_location": json.Number(noLocation),
		"relation_name": "", "exclude_list": []any{}, "replace_list": []any{}, "columns": false, "expr": nil,
		"qualified_exclude_list": []any{}, "rename_list": []any{}}
}

func selectNode(selectList []any, from Node) Node {
	return Node{"type": "SELECT_NODE", "modifiers": []any{}, "cte_map": Node{"map": []any{}},
		"select_list": selectList, "from_table": from, "where_clause": nil, "group_expressions": []any{},
		"group_sets": []any{}, "aggregate_handling": "STANDARD_HANDLING", "having": nil, "sample": nil, "qualify": nil}
}

func baseTable(name string) Node {
	return Node{"type": "BASE_TABLE", "alias": "", "sample": nil, "query_location": json.Number(noLocation),
		"schema_name": "", "table_name": name, "column_name_alias": []any{}, "catalog_name": "", "at_clause": nil}
}

func subquery(node Node, alias string) Node {
	return Node{"type": "SUBQUERY", "alias": alias, "sample": nil, "query_location": json.Number(noLocation),
		"subquery": Node{"node": node, "named_param_map": []any{}}, "column_name_alias": []any{}}
}

// statement wraps a node as json_deserialize_sql's input.
func statement(node Node) ([]byte, error) {
	return json.Marshal(Node{"error": false, "statements": []any{Node{"node": node, "named_param_map": []any{}}}})
}
