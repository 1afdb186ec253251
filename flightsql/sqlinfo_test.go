package flightsql_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	pb "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/skeindb/skein/internal/ducktest"
)

// The value types of GetSqlInfo's dense union, by type code.
const (
	infoString int8 = iota
	infoBool
	infoInt64
	infoInt32
	infoStrings
	infoMap
)

// jdbcSqlInfo is every id the Flight SQL JDBC driver (18.3.0) reads in its
// DatabaseMetaData, with the type it casts the value to: a missing id
// threw NullPointerException from 64 of its methods (supportsSavepoints,
// getMaxColumnNameLength, supportsOuterJoins..., a tester's).
var jdbcSqlInfo = map[flightsql.SqlInfo]int8{
	flightsql.SqlInfoFlightSqlServerName:                     infoString,
	flightsql.SqlInfoFlightSqlServerVersion:                  infoString,
	flightsql.SqlInfoFlightSqlServerReadOnly:                 infoBool,
	flightsql.SqlInfoIdentifierQuoteChar:                     infoString,
	flightsql.SqlInfoKeywords:                                infoStrings,
	flightsql.SqlInfoNumericFunctions:                        infoStrings,
	flightsql.SqlInfoStringFunctions:                         infoStrings,
	flightsql.SqlInfoSystemFunctions:                         infoStrings,
	flightsql.SqlInfoDateTimeFunctions:                       infoStrings,
	flightsql.SqlInfoSearchStringEscape:                      infoString,
	flightsql.SqlInfoExtraNameChars:                          infoString,
	flightsql.SqlInfoSupportsColumnAliasing:                  infoBool,
	flightsql.SqlInfoNullPlusNullIsNull:                      infoBool,
	flightsql.SqlInfoSupportsConvert:                         infoMap,
	flightsql.SqlInfoSupportsTableCorrelationNames:           infoBool,
	flightsql.SqlInfoSupportsDifferentTableCorrelationNames:  infoBool,
	flightsql.SqlInfoSupportsExpressionsInOrderBy:            infoBool,
	flightsql.SqlInfoSupportsOrderByUnrelated:                infoBool,
	flightsql.SqlInfoSupportedGroupBy:                        infoInt32,
	flightsql.SqlInfoSupportsLikeEscapeClause:                infoBool,
	flightsql.SqlInfoSupportsNonNullableColumns:              infoBool,
	flightsql.SqlInfoSupportedGrammar:                        infoInt32,
	flightsql.SqlInfoANSI92SupportedLevel:                    infoInt32,
	flightsql.SqlInfoSupportsIntegrityEnhancementFacility:    infoBool,
	flightsql.SqlInfoOuterJoinsSupportLevel:                  infoInt32,
	flightsql.SqlInfoSchemaTerm:                              infoString,
	flightsql.SqlInfoProcedureTerm:                           infoString,
	flightsql.SqlInfoCatalogTerm:                             infoString,
	flightsql.SqlInfoCatalogAtStart:                          infoBool,
	flightsql.SqlInfoSchemasSupportedActions:                 infoInt32,
	flightsql.SqlInfoCatalogsSupportedActions:                infoInt32,
	flightsql.SqlInfoSupportedPositionedCommands:             infoInt32,
	flightsql.SqlInfoSelectForUpdateSupported:                infoBool,
	flightsql.SqlInfoStoredProceduresSupported:               infoBool,
	flightsql.SqlInfoSupportedSubqueries:                     infoInt32,
	flightsql.SqlInfoCorrelatedSubqueriesSupported:           infoBool,
	flightsql.SqlInfoSupportedUnions:                         infoInt32,
	flightsql.SqlInfoMaxBinaryLiteralLen:                     infoInt64,
	flightsql.SqlInfoMaxCharLiteralLen:                       infoInt64,
	flightsql.SqlInfoMaxColumnNameLen:                        infoInt64,
	flightsql.SqlInfoMaxColumnsInGroupBy:                     infoInt64,
	flightsql.SqlInfoMaxColumnsInIndex:                       infoInt64,
	flightsql.SqlInfoMaxColumnsInOrderBy:                     infoInt64,
	flightsql.SqlInfoMaxColumnsInSelect:                      infoInt64,
	flightsql.SqlInfoMaxColumnsInTable:                       infoInt64,
	flightsql.SqlInfoMaxConnections:                          infoInt64,
	flightsql.SqlInfoMaxCursorNameLen:                        infoInt64,
	flightsql.SqlInfoMaxIndexLen:                             infoInt64,
	flightsql.SqlInfoDBSchemaNameLen:                         infoInt64,
	flightsql.SqlInfoMaxProcedureNameLen:                     infoInt64,
	flightsql.SqlInfoMaxCatalogNameLen:                       infoInt64,
	flightsql.SqlInfoMaxRowSize:                              infoInt64,
	flightsql.SqlInfoMaxRowSizeIncludesBlobs:                 infoBool,
	flightsql.SqlInfoMaxStatementLen:                         infoInt64,
	flightsql.SqlInfoMaxStatements:                           infoInt64,
	flightsql.SqlInfoMaxTableNameLen:                         infoInt64,
	flightsql.SqlInfoMaxTablesInSelect:                       infoInt64,
	flightsql.SqlInfoMaxUsernameLen:                          infoInt64,
	flightsql.SqlInfoDefaultTransactionIsolation:             infoInt64,
	flightsql.SqlInfoTransactionsSupported:                   infoBool,
	flightsql.SqlInfoSupportedTransactionsIsolationlevels:    infoInt32,
	flightsql.SqlInfoDataDefinitionCausesTransactionCommit:   infoBool,
	flightsql.SqlInfoDataDefinitionsInTransactionsIgnored:    infoBool,
	flightsql.SqlInfoSupportedResultSetTypes:                 infoInt32,
	flightsql.SqlInfoBatchUpdatesSupported:                   infoBool,
	flightsql.SqlInfoSavePointsSupported:                     infoBool,
	flightsql.SqlInfoNamedParametersSupported:                infoBool,
	flightsql.SqlInfoLocatorsUpdateCopy:                      infoBool,
	flightsql.SqlInfoStoredFunctionsUsingCallSyntaxSupported: infoBool,
}

// sqlInfoValue is one GetSqlInfo answer: its union type code and value.
type sqlInfoValue struct {
	code  int8
	value any // string, bool, int64, int32, []string or map[int32][]int32
}

// allSqlInfo asks GetSqlInfo for every id it answers.
func allSqlInfo(t *testing.T) map[uint32]sqlInfoValue {
	t.Helper()
	ts := startServer(t)
	ctx := context.Background()
	c := ts.client(t)
	info, err := c.GetSqlInfo(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, recs := fetch(t, ctx, c, info)
	got := map[uint32]sqlInfoValue{}
	for _, rec := range recs {
		ids := rec.Column(0).(*array.Uint32)
		u := rec.Column(1).(*array.DenseUnion)
		for i := 0; i < int(rec.NumRows()); i++ {
			code, off := u.TypeCode(i), int(u.ValueOffset(i))
			var v any
			switch child := u.Field(u.ChildID(i)).(type) {
			case *array.String:
				v = child.Value(off)
			case *array.Boolean:
				v = child.Value(off)
			case *array.Int64:
				v = child.Value(off)
			case *array.Int32:
				v = child.Value(off)
			case *array.List:
				start, end := child.ValueOffsets(off)
				var ss []string
				for j := start; j < end; j++ {
					ss = append(ss, child.ListValues().(*array.String).Value(int(j)))
				}
				v = ss
			case *array.Map:
				keys, items := child.Keys().(*array.Int32), child.Items().(*array.List)
				start, end := child.ValueOffsets(off)
				m := map[int32][]int32{}
				for j := start; j < end; j++ {
					k := keys.Value(int(j))
					ls, le := items.ValueOffsets(int(j))
					for l := ls; l < le; l++ {
						m[k] = append(m[k], items.ListValues().(*array.Int32).Value(int(l)))
					}
				}
				v = m
			default:
				t.Fatalf("id %d: a %T in the union", ids.Value(i), child)
			}
			got[ids.Value(i)] = sqlInfoValue{code: int8(code), value: v}
		}
	}
	return got
}

// GetSqlInfo answers every id the JDBC driver reads, each of the type the
// driver casts it to, and says what DuckDB does.
func TestSqlInfoAnswersWhatTheJDBCDriverReads(t *testing.T) {
	got := allSqlInfo(t)
	for id, code := range jdbcSqlInfo {
		v, ok := got[uint32(id)]
		switch {
		case !ok:
			t.Errorf("%v (%d): not answered", id, id)
		case v.code != code:
			t.Errorf("%v (%d): type code %d, want %d", id, id, v.code, code)
		}
	}
	bit := func(id flightsql.SqlInfo, b int32) bool {
		v, _ := got[uint32(id)].value.(int32)
		return v&(1<<b) != 0
	}
	for _, c := range []struct {
		id   flightsql.SqlInfo
		want any
	}{
		{flightsql.SqlInfoSavePointsSupported, false},
		{flightsql.SqlInfoBatchUpdatesSupported, true},
		{flightsql.SqlInfoDataDefinitionCausesTransactionCommit, false},
		{flightsql.SqlInfoSupportsLikeEscapeClause, true},
		{flightsql.SqlInfoMaxColumnNameLen, int64(0)},
		{flightsql.SqlInfoMaxConnections, int64(512)},
		{flightsql.SqlInfoMaxStatementLen, int64(4 << 20)},
		// java.sql.Connection.TRANSACTION_REPEATABLE_READ, as the driver
		// hands it on.
		{flightsql.SqlInfoDefaultTransactionIsolation, int64(4)},
	} {
		if v := got[uint32(c.id)].value; v != c.want {
			t.Errorf("%v: %v, want %v", c.id, v, c.want)
		}
	}
	for _, c := range []struct {
		id   flightsql.SqlInfo
		bit  int32
		want bool
	}{
		{flightsql.SqlInfoOuterJoinsSupportLevel, int32(pb.SqlOuterJoinsSupportLevel_SQL_FULL_OUTER_JOINS), true},
		{flightsql.SqlInfoSupportedUnions, int32(pb.SqlSupportedUnions_SQL_UNION_ALL), true},
		{flightsql.SqlInfoSupportedGroupBy, int32(pb.SqlSupportedGroupBy_SQL_GROUP_BY_UNRELATED), true},
		{flightsql.SqlInfoSupportedTransactionsIsolationlevels, int32(pb.SqlTransactionIsolationLevel_SQL_TRANSACTION_REPEATABLE_READ), true},
		{flightsql.SqlInfoSupportedTransactionsIsolationlevels, int32(pb.SqlTransactionIsolationLevel_SQL_TRANSACTION_SERIALIZABLE), false},
		{flightsql.SqlInfoSupportedResultSetTypes, int32(pb.SqlSupportedResultSetType_SQL_RESULT_SET_TYPE_FORWARD_ONLY), true},
		{flightsql.SqlInfoSupportedResultSetTypes, int32(pb.SqlSupportedResultSetType_SQL_RESULT_SET_TYPE_SCROLL_INSENSITIVE), false},
		{flightsql.SqlInfoSupportedPositionedCommands, int32(pb.SqlSupportedPositionedCommands_SQL_POSITIONED_UPDATE), false},
	} {
		if bit(c.id, c.bit) != c.want {
			t.Errorf("%v: bit %d of %v, want %v", c.id, c.bit, got[uint32(c.id)].value, c.want)
		}
	}
}

// convertTypes is, for each of the spec's SqlSupportsConvert types, the
// DuckDB type it stands for and a value of it.
var convertTypes = map[pb.SqlSupportsConvert][2]string{
	flightsql.SqlConvertBigInt:            {"BIGINT", "1::BIGINT"},
	flightsql.SqlConvertBinary:            {"BLOB", "'\\x01'::BLOB"},
	flightsql.SqlConvertBit:               {"BOOLEAN", "true"},
	flightsql.SqlConvertChar:              {"VARCHAR", "'1'"},
	flightsql.SqlConvertDate:              {"DATE", "DATE '2024-02-29'"},
	flightsql.SqlConvertDecimal:           {"DECIMAL(10,2)", "1.5::DECIMAL(10,2)"},
	flightsql.SqlConvertFloat:             {"DOUBLE", "1.5::DOUBLE"},
	flightsql.SqlConvertInteger:           {"INTEGER", "1::INTEGER"},
	flightsql.SqlConvertIntervalDayTime:   {"INTERVAL", "INTERVAL 2 DAY"},
	flightsql.SqlConvertIntervalYearMonth: {"INTERVAL", "INTERVAL 2 MONTH"},
	flightsql.SqlConvertLongVarbinary:     {"BLOB", "'\\x01'::BLOB"},
	flightsql.SqlConvertLongVarchar:       {"VARCHAR", "'1'"},
	flightsql.SqlConvertNumeric:           {"DECIMAL(10,2)", "1.5::DECIMAL(10,2)"},
	flightsql.SqlConvertReal:              {"FLOAT", "1.5::FLOAT"},
	flightsql.SqlConvertSmallInt:          {"SMALLINT", "1::SMALLINT"},
	flightsql.SqlConvertTime:              {"TIME", "TIME '12:34:56'"},
	flightsql.SqlConvertTimestamp:         {"TIMESTAMP", "TIMESTAMP '2024-02-29 12:34:56'"},
	flightsql.SqlConvertTinyInt:           {"TINYINT", "1::TINYINT"},
	flightsql.SqlConvertVarbinary:         {"BLOB", "'\\x01'::BLOB"},
	flightsql.SqlConvertVarchar:           {"VARCHAR", "'1'"},
}

// GetSqlInfo's SQL_SUPPORTS_CONVERT lists exactly the casts DuckDB has
// between the spec's types.
func TestSqlInfoConversionsAreDuckDBsCasts(t *testing.T) {
	conv, _ := allSqlInfo(t)[uint32(flightsql.SqlInfoSupportsConvert)].value.(map[int32][]int32)
	if len(conv) == 0 {
		t.Fatal("no SQL_SUPPORTS_CONVERT")
	}
	ctx := context.Background()
	conn := ducktest.Open(t, t.TempDir())
	casts := func(sql string) error {
		rows, err := conn.QueryRows(ctx, sql)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
		}
		return rows.Err()
	}
	if len(convertTypes) != len(pb.SqlSupportsConvert_name) {
		t.Fatalf("%d types of %d", len(convertTypes), len(pb.SqlSupportsConvert_name))
	}
	for from, f := range convertTypes {
		for to, tt := range convertTypes {
			value := f[1]
			if f[0] == "VARCHAR" { // text of a value of the target type
				value = fmt.Sprintf("CAST(%s AS VARCHAR)", tt[1])
			}
			listed := slices.Contains(conv[int32(from)], int32(to))
			err := casts(fmt.Sprintf("SELECT CAST(%s AS %s)", value, tt[0]))
			if listed != (err == nil) {
				t.Errorf("%v to %v: listed %v, CAST(%s AS %s): %v", from, to, listed, value, tt[0], err)
			}
		}
	}
}
