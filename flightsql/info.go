package flightsql

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
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
		flightsql.SqlInfoDefaultTransactionIsolation:                int64(4), // SERIALIZABLE: DuckDB is snapshot isolated and serialisable for writes
		flightsql.SqlInfoSupportedTransactionsIsolationlevels:       int32(1 << 4),
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
