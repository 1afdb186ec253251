package duck

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	bindings "github.com/duckdb/duckdb-go-bindings"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// Some DuckDB types lose their values or their type in DuckDB's Arrow
// export, which an exchange between stages goes through: a TIME WITH TIME
// ZONE leaves as time64 without its offset (values of other offsets then
// meet: wrong groups, joins and order), a BIT as binary, a UUID and a JSON
// as utf8, an ENUM as a dictionary its consumer reads as VARCHAR (sorted
// as text), a HUGEINT or UHUGEINT nested in a list or struct as a decimal
// (2^127 and more do not fit), an INTERVAL as month_day_nano (its time
// past 292 years wraps). A producer whose result has a column of
// such a type (ExchangeTypes) runs with it cast to its VARCHAR text
// (ExchangeSQL), which DuckDB casts back exactly, and its field names the
// type (TypeKey, MarkTypes); its consumer casts it back (castsBack).
// Found by a differential test of every type through each exchange,
// 2026-12-05.

// ExchangeTypes is the DuckDB type of each column of rdr (a statement's
// Query, before its first batch) whose values Arrow would not give back,
// by position; nil if none, or if rdr is no statement's result. The
// types are the result's: a statement's are not known before its
// parameters are bound (a scan of read_parquet($1)).
func ExchangeTypes(rdr array.RecordReader) map[int]string {
	texts, _ := resultColumns(rdr)
	return texts
}

// resultColumns is ExchangeTypes of rdr, and whether one of its columns
// holds a UNION (errUnionExchange).
func resultColumns(rdr array.RecordReader) (texts map[int]string, union bool) {
	r, ok := rdr.(*resultReader)
	if !ok {
		return nil, false
	}
	return exchangeColumns(int(mapping.ColumnCount(&r.res)), func(i int) mapping.LogicalType {
		return mapping.ColumnLogicalType(&r.res, mapping.IdxT(i))
	})
}

// ExchangeTypes is ExchangeTypes of the statement's result, from its
// prepared types; known is false when a column's type is not known
// before its parameters are bound.
func (s *Stmt) ExchangeTypes() (texts map[int]string, known bool) {
	texts, _, known = s.exchangeColumns()
	return texts, known
}

// exchangeColumns is ExchangeTypes of the statement, and whether one of
// its columns holds a UNION.
func (s *Stmt) exchangeColumns() (texts map[int]string, union, known bool) {
	n := int(mapping.PreparedStatementColumnCount(s.handle))
	for i := range n {
		switch mapping.PreparedStatementColumnType(s.handle, mapping.IdxT(i)) {
		case mapping.TypeInvalid, mapping.TypeAny, mapping.TypeSQLNull:
			return nil, false, false
		}
	}
	texts, union = exchangeColumns(n, func(i int) mapping.LogicalType {
		return mapping.PreparedStatementColumnLogicalType(s.handle, mapping.IdxT(i))
	})
	return texts, union, true
}

// exchangeColumns reads the types of n columns (typeOf's, destroyed
// here) once: those Arrow would not give back (addLossy), and whether one
// holds a UNION.
func exchangeColumns(n int, typeOf func(i int) mapping.LogicalType) (texts map[int]string, union bool) {
	for i := range n {
		lt := typeOf(i)
		texts = addLossy(texts, i, lt)
		union = union || holdsType(mapping.TypeUnion, lt)
		mapping.DestroyLogicalType(&lt)
	}
	return texts, union
}

// addLossy adds column i of type lt to texts if Arrow loses it.
func addLossy(texts map[int]string, i int, lt mapping.LogicalType) map[int]string {
	if !lossyThroughArrow(lt, true) {
		return texts
	}
	if text, ok := typeText(lt); ok {
		if texts == nil {
			texts = map[int]string{}
		}
		texts[i] = text
	}
	return texts
}

// ExchangeQuery runs st, prepared from sql, for a reader that is Skein
// (a stage's consumer, a coordinator's merge): when a column's values
// would not come back through Arrow, it runs sql with that column cast
// to its text instead (ExchangeSQL), and texts names the column's type
// (for ExchangeSchema). The types are the statement's, or, not known
// before its parameters are bound (a scan of read_parquet($1)), its
// result's, the query run once for them when rerun allows (not a query
// scanning a stream input, which is read once). run closes the statement
// it fails on. The statement returned (st, or the one replacing it, st
// then closed) is the caller's to close with the reader; on an error,
// every statement is closed.
func ExchangeQuery(st *Stmt, sql string, rerun bool, prepare func(string) (*Stmt, error), run func(*Stmt) (array.RecordReader, error)) (*Stmt, array.RecordReader, map[int]string, error) {
	texts, union, known := st.exchangeColumns()
	if union {
		_ = st.Close()
		return nil, nil, nil, errUnionExchange
	}
	var rdr array.RecordReader
	var err error
	names := st.Schema // its columns' names: "unknown" until parameters are bound
	if !known {
		// The result's types, the query run once for them (or, a stream
		// input read once, run for good).
		if rdr, err = run(st); err != nil {
			return nil, nil, nil, err
		}
		result, union := resultColumns(rdr)
		if union {
			rdr.Release()
			_ = st.Close()
			return nil, nil, nil, errUnionExchange
		}
		if rerun {
			if texts, names = result, rdr.Schema(); texts != nil {
				rdr.Release()
				rdr = nil
			}
		}
	}
	if texts != nil {
		if text := ExchangeSQL(sql, names, texts); text != "" {
			_ = st.Close()
			if st, err = prepare(text); err != nil {
				return nil, nil, nil, err
			}
		} else {
			texts = nil // sent as Arrow gives them
		}
	}
	if rdr == nil {
		if rdr, err = run(st); err != nil {
			return nil, nil, nil, err
		}
	}
	return st, rdr, texts, nil
}

// errUnionExchange refuses a step's result holding a UNION, which no
// exchange or merge passes exactly: Arrow's union has no NULL of its own,
// so a union whose member is NULL came back a NULL union, and a union
// inside a value sent as its text (ExchangeSQL) came back its VARCHAR
// member or failed to cast back. The planner keeps a query that makes one
// with union_value or a cast on one node (partition.checkExchangeTypes);
// one made otherwise (from_json, json_transform, read_json's columns
// given as text) fails here rather than answer otherwise (found by a
// hostile tester, 2026-12-05). InvalidArgument: no other executor would
// run it otherwise.
var errUnionExchange = &Error{Kind: KindInvalid, Msg: "Invalid Input Error: a step of this query makes a UNION value, " +
	"which does not pass between nodes exactly (Arrow's union has no NULL of its own): " +
	"select its members (union_extract) and its tag (union_tag) instead, or cast it to VARCHAR"}

// holdsType says lt is or holds a type of id typ.
func holdsType(typ mapping.Type, lt mapping.LogicalType) bool {
	if mapping.GetTypeId(lt) == typ {
		return true
	}
	found := false
	eachChild(lt, func(c mapping.LogicalType) { found = found || holdsType(typ, c) })
	return found
}

// ExchangeSchema is schema, the Arrow schema of an ExchangeQuery's
// result rdr, with each column naming the DuckDB type its reader casts
// it back to: one cast to its text (texts), and one whose type Arrow does
// not give back (KeepTypes: a HUGEINT sum, which a coordinator's merge
// summed as DECIMAL(38,0)).
func ExchangeSchema(rdr array.RecordReader, schema *arrow.Schema, texts map[int]string) *arrow.Schema {
	return MarkTypes(KeepTypes(rdr, schema), texts)
}

// ExchangeSQL is sql, whose result has schema, with the columns of texts
// (ExchangeTypes') cast to VARCHAR, which DuckDB casts back exactly; ""
// when two columns share a name, which a REPLACE could not tell apart.
func ExchangeSQL(sql string, schema *arrow.Schema, texts map[int]string) string {
	seen := map[string]bool{}
	var casts []string
	for i, f := range schema.Fields() {
		name := strings.ToLower(f.Name)
		if seen[name] {
			return ""
		}
		seen[name] = true
		if _, ok := texts[i]; ok {
			casts = append(casts, "CAST("+QuoteIdent(f.Name)+" AS VARCHAR) AS "+QuoteIdent(f.Name))
		}
	}
	return "SELECT * REPLACE (" + strings.Join(casts, ", ") + ") FROM (" + sql + ") AS skein_exchange"
}

// MarkTypes is schema with each column of texts (ExchangeTypes', or
// KeepTypes') naming its DuckDB type in its field's metadata (TypeKey);
// schema itself when texts is empty.
func MarkTypes(schema *arrow.Schema, texts map[int]string) *arrow.Schema {
	if len(texts) == 0 {
		return schema
	}
	fields := schema.Fields()
	for i, t := range texts {
		keys, values := append(fields[i].Metadata.Keys(), TypeKey), append(fields[i].Metadata.Values(), t)
		fields[i].Metadata = arrow.NewMetadata(keys, values)
	}
	md := schema.Metadata()
	return arrow.NewSchema(fields, &md)
}

// lossyThroughArrow says whether values of lt do not come back from
// DuckDB's Arrow export and scan as themselves; top is false inside a
// nested type (a top-level HUGEINT is kept otherwise: KeepTypes).
func lossyThroughArrow(lt mapping.LogicalType, top bool) bool {
	switch mapping.GetTypeId(lt) {
	case mapping.TypeTimeTZ, mapping.TypeBit, mapping.TypeUUID, mapping.TypeEnum:
		return true
	case mapping.TypeVarchar:
		return strings.EqualFold(mapping.LogicalTypeGetAlias(lt), "JSON")
	case mapping.TypeGeometry:
		// Exported as Arrow's geoarrow.wkb extension, which DuckDB's C
		// API load of an exchange's input (duckdb_data_chunk_from_arrow,
		// 1.5.5) crashed the consumer on (SIGSEGV, every executor in
		// turn, the task retried elsewhere). Its WKT text casts back
		// exactly (doubles written in their shortest exact form).
		return true
	case mapping.TypeInterval:
		// Exported as month_day_nano: microseconds past 2^63 ns (about
		// 292 years) wrapped, silently. Its text casts back exactly up
		// to 999,999,999 hours, and fails past that.
		return true
	case mapping.TypeHugeInt, mapping.TypeUHugeInt, mapping.TypeBigNum:
		return !top
	}
	lossy := false
	eachChild(lt, func(c mapping.LogicalType) { lossy = lossy || lossyThroughArrow(c, false) })
	return lossy
}

// eachChild calls f with each type nested directly in lt.
func eachChild(lt mapping.LogicalType, f func(mapping.LogicalType)) {
	var kids []mapping.LogicalType
	switch mapping.GetTypeId(lt) {
	case mapping.TypeList:
		kids = append(kids, mapping.ListTypeChildType(lt))
	case mapping.TypeArray:
		kids = append(kids, mapping.ArrayTypeChildType(lt))
	case mapping.TypeMap:
		kids = append(kids, mapping.MapTypeKeyType(lt), mapping.MapTypeValueType(lt))
	case mapping.TypeStruct:
		for i := range mapping.StructTypeChildCount(lt) {
			kids = append(kids, mapping.StructTypeChildType(lt, i))
		}
	case mapping.TypeUnion:
		for i := range mapping.UnionTypeMemberCount(lt) {
			kids = append(kids, mapping.UnionTypeMemberType(lt, i))
		}
	}
	for i := range kids {
		f(kids[i])
		mapping.DestroyLogicalType(&kids[i])
	}
}

// simpleTypes are the SQL names of the types without parameters.
var simpleTypes = map[mapping.Type]string{
	mapping.TypeBoolean: "BOOLEAN", mapping.TypeTinyInt: "TINYINT", mapping.TypeSmallInt: "SMALLINT",
	mapping.TypeInteger: "INTEGER", mapping.TypeBigInt: "BIGINT", mapping.TypeUTinyInt: "UTINYINT",
	mapping.TypeUSmallInt: "USMALLINT", mapping.TypeUInteger: "UINTEGER", mapping.TypeUBigInt: "UBIGINT",
	mapping.TypeFloat: "FLOAT", mapping.TypeDouble: "DOUBLE", mapping.TypeTimestamp: "TIMESTAMP",
	mapping.TypeDate: "DATE", mapping.TypeTime: "TIME", mapping.TypeInterval: "INTERVAL",
	mapping.TypeHugeInt: "HUGEINT", mapping.TypeUHugeInt: "UHUGEINT", mapping.TypeVarchar: "VARCHAR",
	mapping.TypeBlob: "BLOB", mapping.TypeTimestampS: "TIMESTAMP_S", mapping.TypeTimestampMS: "TIMESTAMP_MS",
	mapping.TypeTimestampNS: "TIMESTAMP_NS", mapping.TypeUUID: "UUID", mapping.TypeBit: "BIT",
	mapping.TypeTimeTZ: "TIME WITH TIME ZONE", mapping.TypeTimestampTZ: "TIMESTAMP WITH TIME ZONE",
	mapping.TypeBigNum: "BIGNUM", mapping.TypeTimeNS: "TIME_NS",
}

// typeText is lt's SQL text, which a CAST takes; ok is false for a type it
// does not know how to write.
func typeText(lt mapping.LogicalType) (text string, ok bool) {
	typ := mapping.GetTypeId(lt)
	if typ == mapping.TypeVarchar && strings.EqualFold(mapping.LogicalTypeGetAlias(lt), "JSON") {
		return "JSON", true
	}
	if typ == mapping.TypeGeometry {
		// The coordinate reference system is the type's: a GEOMETRY cast
		// back without it is another type (typeof says so).
		if crs := bindings.GeometryTypeGetCRS(lt); crs != "" {
			return "GEOMETRY(" + QuoteString(crs) + ")", true
		}
		return "GEOMETRY", true
	}
	// Another alias (a type of the catalog, CREATE TYPE) is written as
	// what it stands for: the consumer need not have the catalog's type.
	if s, ok := simpleTypes[typ]; ok {
		return s, true
	}
	ok = true
	child := func(c mapping.LogicalType) string {
		s, k := typeText(c)
		ok = ok && k
		return s
	}
	var parts []string
	switch typ {
	case mapping.TypeDecimal:
		return fmt.Sprintf("DECIMAL(%d, %d)", mapping.DecimalWidth(lt), mapping.DecimalScale(lt)), true
	case mapping.TypeEnum:
		for i := range mapping.EnumDictionarySize(lt) {
			parts = append(parts, QuoteString(mapping.EnumDictionaryValue(lt, mapping.IdxT(i))))
		}
		return "ENUM(" + strings.Join(parts, ", ") + ")", true
	case mapping.TypeList:
		eachChild(lt, func(c mapping.LogicalType) { parts = append(parts, child(c)) })
		return parts[0] + "[]", ok
	case mapping.TypeArray:
		eachChild(lt, func(c mapping.LogicalType) { parts = append(parts, child(c)) })
		return fmt.Sprintf("%s[%d]", parts[0], mapping.ArrayTypeArraySize(lt)), ok
	case mapping.TypeMap:
		eachChild(lt, func(c mapping.LogicalType) { parts = append(parts, child(c)) })
		return "MAP(" + parts[0] + ", " + parts[1] + ")", ok
	case mapping.TypeStruct, mapping.TypeUnion:
		i := mapping.IdxT(0)
		eachChild(lt, func(c mapping.LogicalType) {
			name := ""
			if typ == mapping.TypeStruct {
				name = mapping.StructTypeChildName(lt, i)
			} else {
				name = mapping.UnionTypeMemberName(lt, i)
			}
			parts = append(parts, QuoteIdent(name)+" "+child(c))
			i++
		})
		word := map[mapping.Type]string{mapping.TypeStruct: "STRUCT", mapping.TypeUnion: "UNION"}[typ]
		return word + "(" + strings.Join(parts, ", ") + ")", ok
	}
	return "", false
}

// castableType says whether text, a type's text from a producer's field
// metadata, stays inside the CAST it is put in: its parentheses balance
// outside quotes and no statement or comment starts in it.
func castableType(text string) bool {
	depth := 0
	var quote rune
	for i, r := range text {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0 // a doubled quote closes and opens again
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '(':
			depth++
		case r == ')':
			if depth--; depth < 0 {
				return false
			}
		case r == ';', strings.HasPrefix(text[i:], "--"), strings.HasPrefix(text[i:], "/*"):
			return false
		}
	}
	return depth == 0 && quote == 0 && text != ""
}
