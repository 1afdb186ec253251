package flightsql

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	pbflight "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/users"
)

// arrowVersion is the arrow-go release Skein is built with (see go.mod).
const arrowVersion = "18.8.0"

// DoGetSqlInfo answers each id asked for once: BaseServer answers a row
// per id in the request, so one id repeated 20 million times (a 20 MB
// request) built 20 million rows, 2.4 GB the process kept (a tester's
// F9). Ids Skein has no answer for are left out, as the spec lets a server
// do for what it does not know: BaseServer failed the whole request on the
// first one (NotFound), so a client asking for ids of a newer spec learnt
// nothing.
func (s *Server) DoGetSqlInfo(ctx context.Context, cmd flightsql.GetSqlInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	seen := map[uint32]bool{}
	var ids []uint32
	for _, id := range cmd.GetInfo() {
		if !seen[id] && s.sqlInfos[id] {
			ids = append(ids, id)
		}
		seen[id] = true
	}
	if len(ids) == 0 && len(seen) > 0 {
		// BaseServer answers every id when none is asked for.
		b := array.NewRecordBuilder(s.mem, schema_ref.SqlInfo)
		defer b.Release()
		return schema_ref.SqlInfo, sendAll([]arrow.RecordBatch{b.NewRecordBatch()}), nil
	}
	return s.BaseServer.DoGetSqlInfo(ctx, sqlInfoIDs{GetSqlInfo: cmd, ids: ids})
}

// sqlInfoIDs is a GetSqlInfo command asking for ids.
type sqlInfoIDs struct {
	flightsql.GetSqlInfo
	ids []uint32
}

func (c sqlInfoIDs) GetInfo() []uint32 { return c.ids }

// handleTimeout is how long a prepared statement's handle lives unused,
// as GetSqlInfo's statement timeout says it (the spec's: a handle's, each
// use starting it again), in milliseconds, 0 for none: its session's
// --session-idle-timeout, which closes the session and its statements.
func handleTimeout(idle time.Duration) int32 {
	return int32(min(idle.Milliseconds(), math.MaxInt32))
}

// bitmask is a GetSqlInfo bitmask of values of one of the spec's enums.
func bitmask[E ~int32](values ...E) int32 {
	var m int32
	for _, v := range values {
		m |= 1 << v
	}
	return m
}

// maxSQLBytes is GetSqlInfo's longest statement: Config.MaxSQLBytes, 0
// for none.
func maxSQLBytes(n int) int64 {
	switch {
	case n == 0:
		return DefaultMaxSQLBytes
	case n < 0:
		return 0
	}
	return int64(n)
}

// sqlConversions is GetSqlInfo's SQL_SUPPORTS_CONVERT: the casts DuckDB
// has between the spec's types (CAST; DuckDB has no CONVERT function nor
// ODBC's {fn CONVERT()}). BIT is BOOLEAN, as the JDBC driver types an
// Arrow boolean; FLOAT is DOUBLE, REAL is FLOAT; the three binary types
// are BLOB, the three character ones VARCHAR, both intervals INTERVAL.
// A VARCHAR parses into every type; a number casts to every number and to
// BOOLEAN; a TIME does not cast to a TIMESTAMP, a TIMESTAMP does to a
// DATE and a TIME.
func sqlConversions() map[int32][]int32 {
	var (
		chars     = []pbflight.SqlSupportsConvert{flightsql.SqlConvertChar, flightsql.SqlConvertVarchar, flightsql.SqlConvertLongVarchar}
		binaries  = []pbflight.SqlSupportsConvert{flightsql.SqlConvertBinary, flightsql.SqlConvertVarbinary, flightsql.SqlConvertLongVarbinary}
		intervals = []pbflight.SqlSupportsConvert{flightsql.SqlConvertIntervalDayTime, flightsql.SqlConvertIntervalYearMonth}
		numbers   = []pbflight.SqlSupportsConvert{flightsql.SqlConvertBit, flightsql.SqlConvertTinyInt, flightsql.SqlConvertSmallInt,
			flightsql.SqlConvertInteger, flightsql.SqlConvertBigInt, flightsql.SqlConvertDecimal, flightsql.SqlConvertNumeric,
			flightsql.SqlConvertReal, flightsql.SqlConvertFloat}
		date      = []pbflight.SqlSupportsConvert{flightsql.SqlConvertDate}
		clock     = []pbflight.SqlSupportsConvert{flightsql.SqlConvertTime}
		timestamp = []pbflight.SqlSupportsConvert{flightsql.SqlConvertTimestamp}
	)
	all := slices.Concat(chars, binaries, intervals, numbers, date, clock, timestamp)
	m := map[int32][]int32{}
	add := func(from, to []pbflight.SqlSupportsConvert) {
		for _, f := range from {
			for _, t := range to {
				m[int32(f)] = append(m[int32(f)], int32(t))
			}
		}
	}
	add(chars, all)
	add(binaries, slices.Concat(chars, binaries))
	add(intervals, slices.Concat(chars, intervals))
	add(numbers, slices.Concat(chars, numbers))
	add(date, slices.Concat(chars, date, timestamp))
	add(clock, slices.Concat(chars, clock))
	add(timestamp, slices.Concat(chars, date, clock, timestamp))
	return m
}

// registerSqlInfo fills GetSqlInfo's answers; BaseServer serves them.
func (s *Server) registerSqlInfo() error {
	kw, fns, err := s.keywordsAndFunctions()
	if err != nil {
		return err
	}
	infos := map[flightsql.SqlInfo]any{
		flightsql.SqlInfoFlightSqlServerName:                        "Skein",
		flightsql.SqlInfoFlightSqlServerVersion:                     s.cfg.Version,
		flightsql.SqlInfoFlightSqlServerArrowVersion:                arrowVersion,
		flightsql.SqlInfoFlightSqlServerReadOnly:                    false,
		flightsql.SqlInfoFlightSqlServerSql:                         true,
		flightsql.SqlInfoFlightSqlServerSubstrait:                   false,
		flightsql.SqlInfoFlightSqlServerTransaction:                 int32(flightsql.SqlTransactionTransaction),
		flightsql.SqlInfoFlightSqlServerCancel:                      true,
		flightsql.SqlInfoFlightSqlServerBulkIngestion:               true,
		flightsql.SqlInfoFlightSqlServerIngestTransactionsSupported: true,
		flightsql.SqlInfoFlightSqlServerStatementTimeout:            handleTimeout(s.cfg.SessionIdle),
		flightsql.SqlInfoFlightSqlServerTransactionTimeout:          int32(0),
		flightsql.SqlInfoDDLCatalog:                                 false, // the catalogs data and skein are fixed (ATTACH is refused)
		flightsql.SqlInfoDDLSchema:                                  true,
		flightsql.SqlInfoDDLTable:                                   true,
		flightsql.SqlInfoIdentifierCase:                             int64(flightsql.SqlCaseSensitivityCaseInsensitive),
		flightsql.SqlInfoIdentifierQuoteChar:                        `"`,
		flightsql.SqlInfoQuotedIdentifierCase:                       int64(flightsql.SqlCaseSensitivityCaseInsensitive),
		flightsql.SqlInfoAllTablesAreASelectable:                    true,
		flightsql.SqlInfoNullOrdering:                               int64(flightsql.SqlNullOrderingSortAtEnd),
		flightsql.SqlInfoKeywords:                                   kw,
		flightsql.SqlInfoNumericFunctions:                           fns["numeric"],
		flightsql.SqlInfoStringFunctions:                            fns["string"],
		flightsql.SqlInfoDateTimeFunctions:                          fns["datetime"],
		flightsql.SqlInfoSystemFunctions:                            fns["system"],
		flightsql.SqlInfoSearchStringEscape:                         `\`,
		flightsql.SqlInfoSupportsColumnAliasing:                     true,
		flightsql.SqlInfoNullPlusNullIsNull:                         true,
		flightsql.SqlInfoTransactionsSupported:                      true,
		// DuckDB's transactions are snapshot isolated: no dirty or
		// non-repeatable reads or phantoms, but write skew commits (two
		// transactions that each read both rows and update a different one
		// both commit), so not serializable: REPEATABLE_READ, as PostgreSQL
		// calls its snapshot isolation. The JDBC driver (18.3.0) returns the
		// default as it comes for java.sql.Connection's constants, where 4
		// is TRANSACTION_REPEATABLE_READ (the spec's enum would read 4 as
		// SERIALIZABLE, and its REPEATABLE_READ, 3, is no JDBC level); the
		// bitmask it maps through the spec's enum.
		flightsql.SqlInfoDefaultTransactionIsolation:           int64(4),
		flightsql.SqlInfoSupportedTransactionsIsolationlevels:  bitmask(pbflight.SqlTransactionIsolationLevel_SQL_TRANSACTION_REPEATABLE_READ),
		flightsql.SqlInfoDataDefinitionCausesTransactionCommit: false, // DDL is transactional in DuckDB: a CREATE TABLE rolls back with the rest
		flightsql.SqlInfoDataDefinitionsInTransactionsIgnored:  false,
		flightsql.SqlInfoSavePointsSupported:                   false, // DuckDB has no SAVEPOINT
		// A prepared statement's parameter rows run as one batch, in one
		// transaction (ExecuteUpdate with many rows: JDBC's
		// PreparedStatement.executeBatch).
		flightsql.SqlInfoBatchUpdatesSupported: true,
		// Results are read once, forward (DoGet streams); the JDBC driver
		// refuses absolute() and previous().
		flightsql.SqlInfoSupportedResultSetTypes: bitmask(pbflight.SqlSupportedResultSetType_SQL_RESULT_SET_TYPE_FORWARD_ONLY),

		// What DuckDB's SQL has.
		flightsql.SqlInfoExtraNameChars:                         "$", // an unquoted name may hold a $ past its first character (a$b), as in PostgreSQL
		flightsql.SqlInfoSupportsConvert:                        sqlConversions(),
		flightsql.SqlInfoSupportsTableCorrelationNames:          true,
		flightsql.SqlInfoSupportsDifferentTableCorrelationNames: false, // FROM t AS t is allowed: the alias need not differ
		flightsql.SqlInfoSupportsExpressionsInOrderBy:           true,
		flightsql.SqlInfoSupportsOrderByUnrelated:               true,
		flightsql.SqlInfoSupportedGroupBy: bitmask(pbflight.SqlSupportedGroupBy_SQL_GROUP_BY_UNRELATED,
			pbflight.SqlSupportedGroupBy_SQL_GROUP_BY_BEYOND_SELECT),
		flightsql.SqlInfoSupportsLikeEscapeClause:   true,
		flightsql.SqlInfoSupportsNonNullableColumns: true,
		// ODBC's minimum and core grammars; not the extended one, which
		// has positioned UPDATE and DELETE (no cursors in DuckDB).
		flightsql.SqlInfoSupportedGrammar: bitmask(pbflight.SupportedSqlGrammar_SQL_MINIMUM_GRAMMAR,
			pbflight.SupportedSqlGrammar_SQL_CORE_GRAMMAR),
		// SQL-92's entry level; the intermediate one has what DuckDB lacks
		// (CREATE DOMAIN, ON DELETE CASCADE).
		flightsql.SqlInfoANSI92SupportedLevel:                 bitmask(pbflight.SupportedAnsi92SqlGrammarLevel_ANSI92_ENTRY_SQL),
		flightsql.SqlInfoSupportsIntegrityEnhancementFacility: true, // PRIMARY KEY, FOREIGN KEY, UNIQUE, CHECK, DEFAULT
		// A bitmask, as arrow-java's SqlInfoBuilder and its JDBC driver
		// read it (the spec's comment says an ordinal, which the driver
		// would take for "limited" only): full outer joins, so limited too,
		// as JDBC has it.
		flightsql.SqlInfoOuterJoinsSupportLevel: bitmask(pbflight.SqlOuterJoinsSupportLevel_SQL_LIMITED_OUTER_JOINS,
			pbflight.SqlOuterJoinsSupportLevel_SQL_FULL_OUTER_JOINS),
		flightsql.SqlInfoSchemaTerm:     "schema",
		flightsql.SqlInfoProcedureTerm:  "procedure",
		flightsql.SqlInfoCatalogTerm:    "catalog",
		flightsql.SqlInfoCatalogAtStart: true, // data.main.t
		// A schema or catalog may name an index's table (CREATE INDEX i ON
		// data.main.t (a)); DuckDB has no procedures and no GRANT.
		flightsql.SqlInfoSchemasSupportedActions:     bitmask(pbflight.SqlSupportedElementActions_SQL_ELEMENT_IN_INDEX_DEFINITIONS),
		flightsql.SqlInfoCatalogsSupportedActions:    bitmask(pbflight.SqlSupportedElementActions_SQL_ELEMENT_IN_INDEX_DEFINITIONS),
		flightsql.SqlInfoSupportedPositionedCommands: int32(0), // no cursors: no WHERE CURRENT OF
		flightsql.SqlInfoSelectForUpdateSupported:    false,    // "SELECT locking clause is not supported!"
		flightsql.SqlInfoStoredProceduresSupported:   false,
		flightsql.SqlInfoSupportedSubqueries: bitmask(pbflight.SqlSupportedSubqueries_SQL_SUBQUERIES_IN_COMPARISONS,
			pbflight.SqlSupportedSubqueries_SQL_SUBQUERIES_IN_EXISTS, pbflight.SqlSupportedSubqueries_SQL_SUBQUERIES_IN_INS,
			pbflight.SqlSupportedSubqueries_SQL_SUBQUERIES_IN_QUANTIFIEDS),
		flightsql.SqlInfoCorrelatedSubqueriesSupported: true,
		flightsql.SqlInfoSupportedUnions: bitmask(pbflight.SqlSupportedUnions_SQL_UNION,
			pbflight.SqlSupportedUnions_SQL_UNION_ALL),
		flightsql.SqlInfoNamedParametersSupported:                false, // no callable statements to name parameters of
		flightsql.SqlInfoLocatorsUpdateCopy:                      true,  // no LOB locators: a BLOB read is the client's copy
		flightsql.SqlInfoStoredFunctionsUsingCallSyntaxSupported: false, // CALL is refused (SELECT * FROM f(...))

		// Limits, 0 for none: DuckDB bounds no name, literal, row, or
		// count of columns or tables, past the statement's own length.
		flightsql.SqlInfoMaxBinaryLiteralLen:     int64(0),
		flightsql.SqlInfoMaxCharLiteralLen:       int64(0),
		flightsql.SqlInfoMaxColumnNameLen:        int64(0),
		flightsql.SqlInfoMaxColumnsInGroupBy:     int64(0),
		flightsql.SqlInfoMaxColumnsInIndex:       int64(0),
		flightsql.SqlInfoMaxColumnsInOrderBy:     int64(0),
		flightsql.SqlInfoMaxColumnsInTable:       int64(0),
		flightsql.SqlInfoMaxCursorNameLen:        int64(0),
		flightsql.SqlInfoMaxIndexLen:             int64(0),
		flightsql.SqlInfoDBSchemaNameLen:         int64(0),
		flightsql.SqlInfoMaxProcedureNameLen:     int64(0),
		flightsql.SqlInfoMaxCatalogNameLen:       int64(0),
		flightsql.SqlInfoMaxRowSize:              int64(0),
		flightsql.SqlInfoMaxRowSizeIncludesBlobs: false, // no row size bound to include them in
		flightsql.SqlInfoMaxTableNameLen:         int64(0),
		flightsql.SqlInfoMaxTablesInSelect:       int64(0),
		// Skein's own bounds.
		flightsql.SqlInfoMaxConnections:     int64(s.cfg.MaxSessions),             // a connection is a session (--max-sessions)
		flightsql.SqlInfoMaxStatements:      int64(s.cfg.MaxStatementsPerSession), // prepared and planned, unread, a session (--max-statements-per-session)
		flightsql.SqlInfoMaxStatementLen:    maxSQLBytes(s.cfg.MaxSQLBytes),       // in bytes (--max-sql-bytes)
		flightsql.SqlInfoMaxUsernameLen:     int64(users.MaxName),                 // in bytes
		flightsql.SqlInfoMaxColumnsInSelect: int64(duck.MaxResultColumns),         // a result's columns
	}
	s.sqlInfos = map[uint32]bool{}
	for id, v := range infos {
		if err := s.RegisterSqlInfo(id, v); err != nil {
			return fmt.Errorf("flightsql: sql info %v: %w", id, err)
		}
		s.sqlInfos[uint32(id)] = true
	}
	return nil
}

// keywordsAndFunctions reads DuckDB's keywords and scalar function names,
// sorted into the groups GetSqlInfo reports.
func (s *Server) keywordsAndFunctions() ([]string, map[string][]string, error) {
	ctx := context.Background()
	conn, err := s.db.Connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	rows, err := conn.QueryRows(ctx, `SELECT keyword_name FROM duckdb_keywords() ORDER BY 1`)
	if err != nil {
		return nil, nil, err
	}
	var kw []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, nil, err
		}
		kw = append(kw, strings.ToUpper(k))
	}
	rows.Close()
	rows, err = conn.QueryRows(ctx, `SELECT DISTINCT
  CASE WHEN return_type IN ('DATE','TIME','TIMESTAMP','TIMESTAMP WITH TIME ZONE','INTERVAL') THEN 'datetime'
       WHEN return_type = 'VARCHAR' THEN 'string'
       WHEN return_type IN ('TINYINT','SMALLINT','INTEGER','BIGINT','HUGEINT','FLOAT','DOUBLE','DECIMAL') THEN 'numeric'
       ELSE 'system' END AS grp, function_name
FROM duckdb_functions()
WHERE function_type = 'scalar' AND regexp_matches(function_name, '^[a-z][a-z0-9_]*$')
ORDER BY 1, 2`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	fns := map[string][]string{}
	for rows.Next() {
		var g, f string
		if err := rows.Scan(&g, &f); err != nil {
			return nil, nil, err
		}
		fns[g] = append(fns[g], f)
	}
	return kw, fns, rows.Err()
}

// xdbcType is one row of GetXdbcTypeInfo: how a DuckDB type appears to
// ODBC/JDBC-style clients.
type xdbcType struct {
	name           string
	dataType       int32 // java.sql.Types / XdbcDataType
	columnSize     int32
	prefix, suffix string
	params         []string
	caseSensitive  bool
	searchable     int32
	unsigned       *bool
	minScale       *int32
	maxScale       *int32
	sqlType        int32
	subcode        *int32
	radix          *int32
}

func p[T any](v T) *T { return &v }

var xdbcTypes = []xdbcType{
	{name: "BOOLEAN", dataType: 16, columnSize: 1, searchable: 2, sqlType: 16},
	{name: "TINYINT", dataType: -6, columnSize: 3, searchable: 2, unsigned: p(false), sqlType: -6, radix: p(int32(10))},
	{name: "SMALLINT", dataType: 5, columnSize: 5, searchable: 2, unsigned: p(false), sqlType: 5, radix: p(int32(10))},
	{name: "INTEGER", dataType: 4, columnSize: 10, searchable: 2, unsigned: p(false), sqlType: 4, radix: p(int32(10))},
	{name: "BIGINT", dataType: -5, columnSize: 19, searchable: 2, unsigned: p(false), sqlType: -5, radix: p(int32(10))},
	{name: "UTINYINT", dataType: -6, columnSize: 3, searchable: 2, unsigned: p(true), sqlType: -6, radix: p(int32(10))},
	{name: "USMALLINT", dataType: 5, columnSize: 5, searchable: 2, unsigned: p(true), sqlType: 5, radix: p(int32(10))},
	{name: "UINTEGER", dataType: 4, columnSize: 10, searchable: 2, unsigned: p(true), sqlType: 4, radix: p(int32(10))},
	{name: "UBIGINT", dataType: -5, columnSize: 20, searchable: 2, unsigned: p(true), sqlType: -5, radix: p(int32(10))},
	{name: "HUGEINT", dataType: 3, columnSize: 38, searchable: 2, unsigned: p(false), minScale: p(int32(0)), maxScale: p(int32(0)), sqlType: 3, radix: p(int32(10))},
	{name: "FLOAT", dataType: 7, columnSize: 24, searchable: 2, unsigned: p(false), sqlType: 7, radix: p(int32(2))},
	{name: "DOUBLE", dataType: 8, columnSize: 53, searchable: 2, unsigned: p(false), sqlType: 8, radix: p(int32(2))},
	{name: "DECIMAL", dataType: 3, columnSize: 38, params: []string{"precision", "scale"}, searchable: 2, unsigned: p(false), minScale: p(int32(0)), maxScale: p(int32(38)), sqlType: 3, radix: p(int32(10))},
	{name: "VARCHAR", dataType: 12, columnSize: 1 << 30, prefix: "'", suffix: "'", caseSensitive: true, searchable: 3, sqlType: 12},
	{name: "BLOB", dataType: -3, columnSize: 1 << 30, prefix: "'", suffix: "'::BLOB", searchable: 2, sqlType: -3},
	{name: "DATE", dataType: 91, columnSize: 10, prefix: "DATE '", suffix: "'", searchable: 2, sqlType: 9, subcode: p(int32(1))},
	{name: "TIME", dataType: 92, columnSize: 15, prefix: "TIME '", suffix: "'", searchable: 2, sqlType: 9, subcode: p(int32(2))},
	{name: "TIMESTAMP", dataType: 93, columnSize: 26, prefix: "TIMESTAMP '", suffix: "'", searchable: 2, sqlType: 9, subcode: p(int32(3))},
	{name: "TIMESTAMP WITH TIME ZONE", dataType: 2014, columnSize: 32, prefix: "TIMESTAMPTZ '", suffix: "'", searchable: 2, sqlType: 9, subcode: p(int32(3))},
	{name: "UUID", dataType: 12, columnSize: 36, prefix: "'", suffix: "'::UUID", searchable: 2, sqlType: 12},
	{name: "INTERVAL", dataType: 1111, columnSize: 0, prefix: "INTERVAL '", suffix: "'", searchable: 2, sqlType: 10},
	{name: "JSON", dataType: 12, columnSize: 1 << 30, prefix: "'", suffix: "'::JSON", caseSensitive: true, searchable: 2, sqlType: 12},
}

// GetFlightInfoXdbcTypeInfo answers CommandGetXdbcTypeInfo.
func (s *Server) GetFlightInfoXdbcTypeInfo(_ context.Context, _ flightsql.GetXdbcTypeInfo, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.XdbcTypeInfo)
}

// DoGetXdbcTypeInfo lists DuckDB's types, optionally only one data type.
func (s *Server) DoGetXdbcTypeInfo(_ context.Context, cmd flightsql.GetXdbcTypeInfo) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	b := array.NewRecordBuilder(s.mem, schema_ref.XdbcTypeInfo)
	defer b.Release()
	str := func(i int) *array.StringBuilder { return b.Field(i).(*array.StringBuilder) }
	i32 := func(i int) *array.Int32Builder { return b.Field(i).(*array.Int32Builder) }
	boolean := func(i int) *array.BooleanBuilder { return b.Field(i).(*array.BooleanBuilder) }
	opt32 := func(i int, v *int32) {
		if v == nil {
			i32(i).AppendNull()
		} else {
			i32(i).Append(*v)
		}
	}
	for _, t := range xdbcTypes {
		if dt := cmd.GetDataType(); dt != nil && *dt != t.dataType {
			continue
		}
		str(0).Append(t.name)
		i32(1).Append(t.dataType)
		i32(2).Append(t.columnSize)
		for i, v := range []string{t.prefix, t.suffix} {
			if v == "" {
				str(3 + i).AppendNull()
			} else {
				str(3 + i).Append(v)
			}
		}
		lb := b.Field(5).(*array.ListBuilder)
		if t.params == nil {
			lb.AppendNull()
		} else {
			lb.Append(true)
			for _, pname := range t.params {
				lb.ValueBuilder().(*array.StringBuilder).Append(pname)
			}
		}
		i32(6).Append(1) // nullable: every DuckDB type takes NULL
		boolean(7).Append(t.caseSensitive)
		i32(8).Append(t.searchable)
		if t.unsigned == nil {
			boolean(9).AppendNull()
		} else {
			boolean(9).Append(*t.unsigned)
		}
		boolean(10).Append(false)
		boolean(11).Append(false)
		str(12).Append(t.name)
		opt32(13, t.minScale)
		opt32(14, t.maxScale)
		i32(15).Append(t.sqlType)
		opt32(16, t.subcode)
		opt32(17, t.radix)
		i32(18).AppendNull()
	}
	return schema_ref.XdbcTypeInfo, sendAll([]arrow.RecordBatch{b.NewRecordBatch()}), nil
}
