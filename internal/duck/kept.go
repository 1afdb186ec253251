package duck

import (
	"maps"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// DuckDB's Arrow export does not give every type back: a HUGEINT (or
// UHUGEINT) column leaves as decimal128(38, 0), and a scan of it reads a
// DECIMAL(38,0), over which median and quantile_cont truncate where they
// interpolate (the median of 1 and 2: 1.5 over a HUGEINT, 1 over a
// DECIMAL(38,0), TestHugeintSurvivesAnExchange). An exchange between
// stages must not change a column's type: a producer's spooled rows carry
// the DuckDB type of each such column in its Arrow field's metadata
// (KeepTypes), and a consumer loads them cast back to it (LoadTemp). Only
// top-level columns: one nested in a list or struct still arrives as
// DECIMAL(38,0).
//
// A UHUGEINT of 2^127 or more leaves as the decimal of the same 128 bits,
// negative (as DuckDB's own Arrow export gives it to a client); it is read
// back by those bits (fromBits), where a cast would fail.

// TypeKey is the Arrow field metadata key that names a column's DuckDB
// type where Arrow's does not say it.
const TypeKey = "skein.duckdb_type"

// keptTypes are the DuckDB types a column is cast back to, by the C
// API's type of the column.
var keptTypes = map[mapping.Type]string{mapping.TypeHugeInt: "HUGEINT", mapping.TypeUHugeInt: "UHUGEINT"}

// KeepTypes is schema, the Arrow schema of a result read by rdr (a
// statement's Query, before its first batch), with each column whose type
// Arrow does not give back named in its field's metadata (TypeKey);
// schema itself when there is none or rdr is no statement's result. The
// result's types are asked for here, not for every result streamed.
func KeepTypes(rdr array.RecordReader, schema *arrow.Schema) *arrow.Schema {
	r, ok := rdr.(*resultReader)
	if !ok || int(mapping.ColumnCount(&r.res)) != schema.NumFields() {
		return schema
	}
	var kept map[int]string
	for i := range schema.NumFields() {
		if t, ok := keptTypes[mapping.ColumnType(&r.res, mapping.IdxT(i))]; ok {
			if kept == nil {
				kept = map[int]string{}
			}
			kept[i] = t
		}
	}
	return MarkTypes(schema, kept)
}

// castsBack is the REPLACE list casting each column of schema that
// KeepTypes marked back to its DuckDB type, "" for none (or when two
// columns share a name, which a REPLACE could not tell apart).
func castsBack(schema *arrow.Schema) string {
	var casts []string
	seen := map[string]bool{}
	for _, f := range schema.Fields() {
		name := strings.ToLower(f.Name)
		if seen[name] {
			return ""
		}
		seen[name] = true
		t, ok := f.Metadata.GetValue(TypeKey)
		switch {
		case !ok:
			continue
		case f.Type.ID() == arrow.STRING || f.Type.ID() == arrow.LARGE_STRING:
			// Its VARCHAR text (ExchangeSQL). The metadata came over
			// the network: a type that would reach past its CAST is none.
			if !castableType(t) {
				continue
			}
		case !slices.Contains(slices.Collect(maps.Values(keptTypes)), t):
			continue // no type of ours
		}
		casts = append(casts, castBack(QuoteIdent(f.Name), t)+" AS "+QuoteIdent(f.Name))
	}
	return strings.Join(casts, ", ")
}

// castBack is the expression giving column col (a DECIMAL(38,0)) its
// DuckDB type t again. A negative decimal marked UHUGEINT is the two's
// complement of a value of 2^127 or more: 2^128 + d, computed as
// UHUGEINT_MAX - (-(d + 1)) so that no step overflows.
func castBack(col, t string) string {
	if t != "UHUGEINT" {
		return "CAST(" + col + " AS " + t + ")"
	}
	return "CASE WHEN " + col + " < 0 THEN " + uhugeintMax + "::UHUGEINT - CAST(-(CAST(" + col +
		" AS HUGEINT) + 1) AS UHUGEINT) ELSE CAST(" + col + " AS UHUGEINT) END"
}

// uhugeintMax is 2^128 - 1.
const uhugeintMax = "340282366920938463463374607431768211455"

// castSelect is the select list giving a relation of schema's columns
// with each that KeepTypes or ExchangeSQL marked cast back: "*" when none
// is.
func castSelect(schema *arrow.Schema) string {
	if casts := castsBack(schema); casts != "" {
		return "* REPLACE (" + casts + ")"
	}
	return "*"
}

// Kept says some column of schema is to be cast back to its DuckDB type
// (a stream scan, which converts as Arrow says, would not).
func Kept(schema *arrow.Schema) bool { return castsBack(schema) != "" }
