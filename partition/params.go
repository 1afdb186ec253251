package partition

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// A prepared query's parameters bound for planning: the coordinator plans
// the query with each parameter replaced by the value bound to it, so that
// a prepared statement the JDBC driver or a BI tool sends with parameters
// splits as the same query written with constants does (it ran local).
//
// DuckDB 1.5 binds a value to a parameter as a constant of the value's own
// type (it binds the statement again when the value's type differs from
// the one it inferred: `i > ?` with an INTEGER i and the DOUBLE 1.5 is
// true for i = 2), but a VARCHAR value as a string literal, cast to the
// type the context asks (`dt > ?` with '2024-01-01' compares dates). The
// value is written so: a VARCHAR as a string constant, another as its
// text cast to its type. The text travels as a constant of the AST,
// never spliced into SQL text. The plan's schema must still be the
// prepared statement's (the coordinator checks it), so a value that
// binds to another type keeps the query local.

// Bound is one parameter's value.
type Bound struct {
	// Null: the value is NULL (Text and Type are then unused).
	Null bool
	// Text is the value as DuckDB casts it from VARCHAR, exactly; Type
	// its DuckDB type (castTo's: a plain type or a DECIMAL; or a date or
	// time type as the AST names it: TIMESTAMP WITH TIME ZONE).
	Text, Type string
}

// BindParameters gives the statement serialized (json_serialize_sql)
// with every parameter replaced by its value in values, by position
// ($1 is values[0]); an error if a parameter has no value or a type is
// not written here.
func BindParameters(serialized []byte, values []Bound) ([]byte, error) {
	st, err := oneStatement(serialized)
	if err != nil {
		return nil, err
	}
	index := map[string]int{} // identifier: position, from 1
	for _, e := range st.Params {
		en, _ := e.(map[string]any)
		n, err := strconv.Atoi(fmt.Sprint(en["value"]))
		if err != nil {
			return nil, local("parameter %v: %v", en["key"], err)
		}
		index[str(en, "key")] = n
	}
	var bad error
	out := replace(st.Node, func(n Node) (any, bool) {
		if str(n, "class") != "PARAMETER" {
			return nil, false
		}
		i, ok := index[str(n, "identifier")]
		if !ok || i < 1 || i > len(values) {
			bad = local("parameter %s has no value", str(n, "identifier"))
			return n, true
		}
		v, err := values[i-1].node()
		if err != nil {
			bad = err
			return n, true
		}
		return withAlias(v, str(n, "alias")), true
	})
	if bad != nil {
		return nil, bad
	}
	node, _ := out.(map[string]any)
	return statement(node)
}

// timeTypes are the date and time types a value may have, as the AST
// names them.
var timeTypes = map[string]bool{"DATE": true, "TIMESTAMP": true, "TIMESTAMP WITH TIME ZONE": true, "TIMESTAMP_S": true,
	"TIMESTAMP_MS": true, "TIMESTAMP_NS": true, "TIME": true, "TIME_NS": true, "TIME WITH TIME ZONE": true}

// node is the value as an expression: NULL, a string constant, or its
// text cast to its type.
func (b Bound) node() (Node, error) {
	switch {
	case b.Null:
		return null(), nil
	case b.Type == "VARCHAR":
		return constant("VARCHAR", b.Text), nil
	case timeTypes[b.Type]:
		return cast(b.Type, constant("VARCHAR", b.Text)), nil
	}
	if v := castTo(b.Type, constant("VARCHAR", b.Text)); v != nil {
		return v, nil
	}
	return nil, local("a parameter value of type %s", b.Type)
}

// NoRows gives the statement serialized (json_serialize_sql) with LIMIT 0
// (in place of its own LIMIT, else after its other modifiers), its
// parameters kept: bound to the values its
// statement is, it gives the same columns, named and typed alike, and
// no row, DuckDB planning an empty result and evaluating nothing. So a
// prepared query's result schema for its values is learnt without
// running it (a run advanced nextval() once more).
func NoRows(serialized []byte) ([]byte, error) {
	st, err := oneStatement(serialized)
	if err != nil {
		return nil, err
	}
	// In place of its own LIMIT (DuckDB writes one LIMIT a query), else
	// after its other modifiers.
	zero := Node{"type": "LIMIT_MODIFIER", "limit": constant("BIGINT", 0), "offset": nil}
	mods, _ := st.Node["modifiers"].([]any)
	mods = slices.Clone(mods)
	at := slices.IndexFunc(mods, func(m any) bool {
		n, _ := m.(map[string]any)
		t := str(n, "type")
		return t == "LIMIT_MODIFIER" || t == "LIMIT_PERCENT_MODIFIER"
	})
	if at >= 0 {
		mods[at] = zero
	} else {
		mods = append(mods, zero)
	}
	st.Node["modifiers"] = mods
	params := st.Params
	if params == nil {
		params = []any{}
	}
	return json.Marshal(Node{"error": false, "statements": []any{Node{"node": st.Node, "named_param_map": params}}})
}

// serializedStatement is one statement of json_serialize_sql's output.
type serializedStatement struct {
	Node   Node  `json:"node"`
	Params []any `json:"named_param_map"`
}

// oneStatement is the statement serialized holds, or an error wrapping
// ErrLocal when it holds another number.
func oneStatement(serialized []byte) (serializedStatement, error) {
	var doc struct {
		Error      bool                  `json:"error"`
		Statements []serializedStatement `json:"statements"`
	}
	if err := decode(serialized, &doc); err != nil {
		return serializedStatement{}, fmt.Errorf("partition: decoding the AST: %w", err)
	}
	if doc.Error || len(doc.Statements) != 1 || doc.Statements[0].Node == nil {
		return serializedStatement{}, local("a prepared query that is not one statement")
	}
	return doc.Statements[0], nil
}
