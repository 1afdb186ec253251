package partition

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// A sorted answer too large to merge on one node is range-partitioned:
// the producing stage's rows go to R partitions by ranges of the first
// ORDER BY key, each partition is sorted by the whole ORDER BY on an
// executor, and the partitions in order are the answer (Plan.Sorted; the
// FlightInfo says so with ordered = true).
//
// Any boundaries give the right answer as long as the partition of a row
// is a non-decreasing function of its first key in the ORDER BY's order:
// rows with equal keys then share a partition, and every row of
// partition i sorts before every row of partition i+1. Comparing with <=
// against ascending boundaries of the key's own type is such a function
// for every type whose comparison agrees with its sort order (DuckDB's
// floats included: NaN is above +inf in both, -0 equals 0). Balance is all
// the sample decides.

// RangeKey is how a Range output partitions its rows.
type RangeKey struct {
	// Column is the output column holding the first ORDER BY key, of
	// DuckDB type Type.
	Column, Type string
	Desc         bool
	NullsFirst   bool
	// Bounds are ascending values of the key (their text), sampled by the
	// coordinator at plan time: at most one fewer than the partitions.
	Bounds []string

	cast Node // Type as a cast_type
}

func (r *RangeKey) String() string {
	s := r.Column
	if r.Desc {
		s += " DESC"
	}
	if r.NullsFirst {
		return s + " NULLS FIRST"
	}
	return s + " NULLS LAST"
}

// rangeTypes are the key types a boundary is written for: a cast of its
// text back to the type (exact or not, any value of the type is a valid
// boundary). Lists, structs, intervals, enums and blobs keep today's
// merge.
var rangeTypes = map[string]bool{
	"BOOLEAN": true, "TINYINT": true, "SMALLINT": true, "INTEGER": true, "BIGINT": true, "HUGEINT": true,
	"UTINYINT": true, "USMALLINT": true, "UINTEGER": true, "UBIGINT": true, "UHUGEINT": true,
	"FLOAT": true, "DOUBLE": true, "DATE": true, "TIME": true, "TIMESTAMP": true, "TIMESTAMP WITH TIME ZONE": true,
	"VARCHAR": true,
}

var decimalType = regexp.MustCompile(`^DECIMAL\((\d+),(\d+)\)$`)

// castType is the cast_type of a DuckDB type name DESCRIBE gives, or nil
// when boundaries are not written for it.
func castType(name string) Node {
	if rangeTypes[name] {
		return Node{"id": name, "type_info": nil}
	}
	m := decimalType.FindStringSubmatch(name)
	if m == nil {
		return nil
	}
	w, _ := strconv.Atoi(m[1])
	s, _ := strconv.Atoi(m[2])
	return Node{"id": "DECIMAL", "type_info": Node{"type": "DECIMAL_TYPE_INFO", "alias": "", "extension_info": nil,
		"width": w, "scale": s}}
}

// rangeKey is the range partitioning of a query without aggregates that
// sorts without LIMIT (a top-N stays a two-step plan), or nil if its first
// ORDER BY key cannot be compared with boundaries in the producer: not an
// output column, of a type without boundaries, or under a COLLATE.
func (a *Analysis) rangeKey(names []string) *RangeKey {
	if a.plain == nil || len(a.orders) == 0 || a.limit != nil || a.env.Columns == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[strings.ToLower(n)] {
			return nil // the key's column would be ambiguous
		}
		seen[strings.ToLower(n)] = true
	}
	on, _ := a.orders[0].(map[string]any)
	if h := a.hidden(0); h != "" {
		// A value not selected: the column each producer adds for it
		// (hidden.go), after the query's.
		if seen[h] || anyNode(a.root, func(n Node) bool { return str(n, "class") == "COLLATE" }) {
			return nil
		}
		cols, err := a.env.Columns(subquery(clone(a.plain), "skein_sorted"))
		if err != nil || len(cols) <= len(names) {
			return nil
		}
		for _, c := range cols[len(names):] {
			if c.Name == h {
				return rangeOf(on, h, c.Type)
			}
		}
		return nil
	}
	idx := a.orderIdx[0]
	if idx < 0 {
		idx = starColumn(child(on, "expression"), list(a.root, "select_list"), names)
	}
	if idx < 0 {
		k, err := intConstant(child(on, "expression")) // ORDER BY 2
		if err != nil {
			return nil
		}
		idx = int(k) - 1
	}
	if idx < 0 || idx >= len(names) || !a.groupsInRange(idx) || anyNode(a.root, func(n Node) bool { return str(n, "class") == "COLLATE" }) {
		return nil
	}
	cols, err := a.env.Columns(subquery(clone(a.root), "skein_sorted"))
	if err != nil || len(cols) != len(names) {
		return nil
	}
	return rangeOf(on, names[idx], cols[idx].Type)
}

// rangeOf is the range partitioning by output column column, of DuckDB
// type typ, in ORDER BY term on's direction; nil for a type without
// boundaries.
func rangeOf(on Node, column, typ string) *RangeKey {
	r := &RangeKey{Column: column, Type: typ, cast: castType(typ)}
	if r.cast == nil {
		return nil
	}
	// Without a direction DuckDB sorts ascending, NULLs last, whatever
	// the direction (default_order and default_null_order, which
	// lock_configuration keeps at their defaults).
	r.Desc = str(on, "type") == "DESCENDING"
	r.NullsFirst = str(on, "null_order") == "NULLS FIRST" || str(on, "null_order") == "NULLS_FIRST"
	return r
}

// starColumn is the output column an ORDER BY key names under a lone *
// (SELECT * FROM ... ORDER BY x): each column is output by its own name,
// so the key's name is its output column's (names, unique here without
// regard to case, as DuckDB binds them); -1 for any other key.
func starColumn(e Node, selectList []any, names []string) int {
	refs := list(e, "column_names")
	if str(e, "class") != "COLUMN_REF" || len(refs) != 1 || !loneStar(selectList) {
		return -1
	}
	name, _ := refs[0].(string)
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// rangeStages sorts the rows of stages tops (the query's rows, unsorted:
// one stage's, or each UNION ALL branch's): range-partitioned by r, by the
// same bounds, into the partitions of a stage that sorts each with the
// query's ORDER BY, whose tasks in order are the answer.
func (a *Analysis) rangeStages(p *Plan, tops []*Stage, r *RangeKey, names []string) *Plan {
	sorted := p.add(&Stage{Tasks: max(a.env.Partitions, 1), What: "sort"})
	for _, top := range tops {
		p.feed(top, sorted, Range, nil)
		top.Range = r
	}
	sorted.node = func(_ Node, input func(int, string) Node) (Node, error) {
		return a.plainMergeNode(inputsAs(input, len(tops), partialsTable), names)
	}
	p.Sorted = true
	return p
}

// rangePartitioned adds the partition column to a producer's query: the
// range of r's bounds its key falls in, counted from the end for DESC,
// NULLs in the first or last partition.
func rangePartitioned(n Node, r *RangeKey, consumers int) Node {
	part := func(i int) Node { return constant("INTEGER", json.Number(fmt.Sprint(i))) }
	last := max(consumers, 1) - 1
	bounds := r.Bounds[:min(len(r.Bounds), last)]
	at := func(i int) Node { // partition of the i-th range, in the answer's order
		if r.Desc {
			return part(last - i)
		}
		return part(i)
	}
	null := part(last)
	if r.NullsFirst {
		null = part(0)
	}
	key := columnRef(r.Column)
	checks := []any{Node{"class": "OPERATOR", "type": "OPERATOR_IS_NULL", "alias": "", "query_location": json.Number(noLocation),
		"children": []any{clone(key)}}}
	thens := []any{null}
	for i, b := range bounds {
		bound := Node{"class": "CAST", "type": "OPERATOR_CAST", "alias": "", "query_location": json.Number(noLocation),
			"child": constant("VARCHAR", b), "cast_type": clone(r.cast), "try_cast": false}
		checks = append(checks, Node{"class": "COMPARISON", "type": "COMPARE_LESSTHANOREQUALTO", "alias": "",
			"query_location": json.Number(noLocation), "left": clone(key), "right": bound})
		thens = append(thens, at(i))
	}
	var cases []any
	for i := range checks {
		cases = append(cases, Node{"when_expr": checks[i], "then_expr": thens[i]})
	}
	caseNode := Node{"class": "CASE", "type": "CASE_EXPR", "alias": "", "query_location": json.Number(noLocation),
		"case_checks": cases, "else_expr": at(len(bounds))}
	return selectNode([]any{star(), withAlias(cast("INTEGER", caseNode), PartitionColumn)}, subquery(n, "skein_stage"))
}

// SampleAST is the query the coordinator samples the range key of stage
// s with: its rows over the slices pick gives each scan (as CheckAST
// composes them), at most rows of them, the key as column skein_k.
func (p *Plan) SampleAST(s *Stage, pick func(*Stage) Slice, rows int) ([]byte, error) {
	if s.Range == nil {
		return nil, fmt.Errorf("partition: stage %d is not range-partitioned", s.ID)
	}
	n, err := p.compose(s, pick)
	if err != nil {
		return nil, err
	}
	out := selectNode([]any{withAlias(columnRef(s.Range.Column), "skein_k")}, subquery(n, "skein_sample"))
	out["sample"] = Node{"sample_size": Node{"type": Node{"id": "BIGINT", "type_info": nil}, "is_null": false,
		"value": json.Number(fmt.Sprint(rows))}, "is_percentage": false, "method": "Reservoir", "seed": json.Number("1")}
	return statement(out)
}
