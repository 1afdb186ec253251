package flightsql

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql/schema_ref"
	"github.com/skeindb/skein/internal/duck"
)

// Metadata commands are answered by SQL over DuckDB's catalog functions,
// with every filter bound as a parameter. Each query's columns have exactly
// the Arrow types of the Flight SQL reference schema; the records are then
// relabelled with the reference schema itself, so field names and
// nullability match byte for byte (ADBC compares them).

// metaInfo answers GetFlightInfo for a metadata command: one endpoint whose
// ticket is the command itself.
func (s *Server) metaInfo(desc *flight.FlightDescriptor, schema *arrow.Schema) (*flight.FlightInfo, error) {
	return s.flightInfo(desc, schema, desc.GetCmd(), -1), nil
}

// metaQuery runs a catalog query on the caller's session and streams its
// result under the reference schema ref.
func (s *Server) metaQuery(ctx context.Context, ref *arrow.Schema, query string, args ...any) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	recs, err := s.metaRecords(ctx, ref, query, args...)
	if err != nil {
		return nil, nil, err
	}
	return ref, sendAll(recs), nil
}

func (s *Server) metaRecords(ctx context.Context, ref *arrow.Schema, query string, args ...any) ([]arrow.RecordBatch, error) {
	sess, err := s.sessionFor(ctx, identityFrom(ctx))
	if err != nil {
		return nil, err
	}
	return withSession(ctx, sess, func() ([]arrow.RecordBatch, error) {
		st, err := sess.conn.Prepare(ctx, query)
		if err != nil {
			return nil, fmt.Errorf("metadata query: %w", err)
		}
		defer st.Close()
		rdr, err := st.Query(ctx, s.mem, args, s.cfg.Batch)
		if err != nil {
			return nil, err
		}
		defer rdr.Release()
		var out []arrow.RecordBatch
		for rdr.Next() {
			rec := rdr.RecordBatch()
			for i, f := range ref.Fields() {
				if !arrow.TypeEqual(f.Type, rec.Column(i).DataType()) {
					releaseAll(out)
					return nil, fmt.Errorf("metadata column %s is %s, the reference schema says %s", f.Name, rec.Column(i).DataType(), f.Type)
				}
			}
			out = append(out, array.NewRecordBatch(ref, rec.Columns(), rec.NumRows()))
		}
		if err := rdr.Err(); err != nil {
			releaseAll(out)
			return nil, err
		}
		return out, nil
	})
}

func releaseAll(recs []arrow.RecordBatch) {
	for _, r := range recs {
		r.Release()
	}
}

// sendAll streams records that are already in memory; the Flight routing
// releases each one it sends and drains the rest if the client goes away.
func sendAll(recs []arrow.RecordBatch) <-chan flight.StreamChunk {
	ch := make(chan flight.StreamChunk, len(recs))
	for _, r := range recs {
		ch <- flight.StreamChunk{Data: r}
	}
	close(ch)
	return ch
}

// optional binds a pattern or name that the client may leave unset.
func optional(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// Filter patterns (CommandGetDbSchemas, CommandGetTables: % any string, _
// any one character, \ escaping) were matched with DuckDB's LIKE, which
// backtracks: each '%_' multiplies its work by the name's length when
// the name does not match, and no interrupt stops it ("%_" eight times
// against a 64-character name: 25 s; a reader's 16 KB pattern against a
// 5,000-character table name held a core past --query-timeout and its
// client's cancel, and stalled the server's shutdown; found by a hostile
// client, 2026-12-04). They are matched as the regular expression of
// the same language instead (regexp_full_match: RE2, linear in the
// name), whose size is bounded.
const maxPatternBytes = 4096

// maxTableTypes bounds the distinct table types GetTables filters by
// (there are three: TABLE, VIEW, LOCAL TEMPORARY).
const maxTableTypes = 64

// patternRegexp is a filter pattern as an RE2 expression matching the
// same names, or nil for no pattern.
func patternRegexp(what string, p *string) (any, error) {
	if p == nil {
		return nil, nil
	}
	if len(*p) > maxPatternBytes {
		return nil, fmt.Errorf("%w: the %s filter pattern has %d bytes, over %d", ErrInvalid, what, len(*p), maxPatternBytes)
	}
	var b strings.Builder
	escaped := false
	for _, r := range *p {
		switch {
		case escaped:
			b.WriteString(regexp.QuoteMeta(string(r)))
			escaped = false
		case r == '\\':
			escaped = true
		case r == '%':
			b.WriteString(".*")
		case r == '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	if escaped { // a trailing escape stands for itself
		b.WriteString(regexp.QuoteMeta(`\`))
	}
	return b.String(), nil
}

// GetFlightInfoCatalogs answers CommandGetCatalogs.
func (s *Server) GetFlightInfoCatalogs(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.Catalogs)
}

// DoGetCatalogs lists the attached databases.
func (s *Server) DoGetCatalogs(ctx context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.metaQuery(ctx, schema_ref.Catalogs,
		`SELECT database_name FROM duckdb_databases() WHERE NOT internal OR database_name = 'temp' ORDER BY 1`)
}

// GetFlightInfoSchemas answers CommandGetDbSchemas.
func (s *Server) GetFlightInfoSchemas(_ context.Context, _ flightsql.GetDBSchemas, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.DBSchemas)
}

const userSchemas = `SELECT s.database_name AS catalog_name, s.schema_name AS db_schema_name
FROM duckdb_schemas() s JOIN duckdb_databases() d USING (database_name)
WHERE (NOT d.internal OR d.database_name = 'temp')`

// DoGetDBSchemas lists schemas, filtered by catalog and schema pattern.
func (s *Server) DoGetDBSchemas(ctx context.Context, cmd flightsql.GetDBSchemas) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schemas, err := patternRegexp("schema", cmd.GetDBSchemaFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	return s.metaQuery(ctx, schema_ref.DBSchemas, `SELECT * FROM (`+userSchemas+`) WHERE
 ($1::VARCHAR IS NULL OR catalog_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR regexp_full_match(db_schema_name, $2::VARCHAR, 's'))
ORDER BY 1, 2`, optional(cmd.GetCatalog()), schemas)
}

// GetFlightInfoTables answers CommandGetTables.
func (s *Server) GetFlightInfoTables(_ context.Context, cmd flightsql.GetTables, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	if cmd.GetIncludeSchema() {
		return s.metaInfo(desc, schema_ref.TablesWithIncludedSchema)
	}
	return s.metaInfo(desc, schema_ref.Tables)
}

// userTables reports DuckDB's 'BASE TABLE' as JDBC's "TABLE", the name BI
// tools ask for.
const userTables = `SELECT table_catalog AS catalog_name, table_schema AS db_schema_name, table_name,
 CASE table_type WHEN 'BASE TABLE' THEN 'TABLE' ELSE table_type END AS table_type
FROM information_schema.tables WHERE table_catalog <> 'system'`

// DoGetTables lists tables and views, with their Arrow schemas on request.
func (s *Server) DoGetTables(ctx context.Context, cmd flightsql.GetTables) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	schemas, err := patternRegexp("schema", cmd.GetDBSchemaFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	tables, err := patternRegexp("table name", cmd.GetTableNameFilterPattern())
	if err != nil {
		return nil, nil, err
	}
	q := `SELECT * FROM (` + userTables + `) WHERE
 ($1::VARCHAR IS NULL OR catalog_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR regexp_full_match(db_schema_name, $2::VARCHAR, 's'))
 AND ($3::VARCHAR IS NULL OR regexp_full_match(table_name, $3::VARCHAR, 's'))`
	args := []any{optional(cmd.GetCatalog()), schemas, tables}
	if types := slices.Compact(slices.Sorted(slices.Values(cmd.GetTableTypes()))); len(types) > 0 {
		// A placeholder each: a million of them (a 3 MB request) took
		// DuckDB's prepare 43 s and 3.2 GB, past every limit (a
		// tester's F5). There are three types.
		if len(types) > maxTableTypes {
			return nil, nil, fmt.Errorf("%w: GetTables asks for %d table types, over %d", ErrInvalid, len(types), maxTableTypes)
		}
		marks := make([]string, len(types))
		for i, t := range types {
			args = append(args, t)
			marks[i] = fmt.Sprintf("$%d::VARCHAR", len(args))
		}
		q += " AND table_type IN (" + strings.Join(marks, ", ") + ")"
	}
	q += " ORDER BY 1, 2, 3"
	recs, err := s.metaRecords(ctx, schema_ref.Tables, q, args...)
	if err != nil {
		return nil, nil, err
	}
	if !cmd.GetIncludeSchema() {
		return schema_ref.Tables, sendAll(recs), nil
	}
	defer releaseAll(recs)
	sess, err := s.sessionFor(ctx, identityFrom(ctx))
	if err != nil {
		return nil, nil, err
	}
	out, err := withSession(ctx, sess, func() (_ []arrow.RecordBatch, err error) {
		// Within --query-timeout, as a query: a listing binds every view
		// again, and one of views over large CSV files took 40 s past a
		// 2 s timeout (a tester's). A bind under way still ends first.
		ctx, timed := s.withinTimeout(ctx, "listing tables", &err)
		defer timed()
		// The columns of every table listed, in one query: one a table
		// read every column of every table, 900 tables taking 17.5 s (a
		// tester's).
		cols, err := tableColumns(ctx, sess, args[0], args[1], args[2])
		if err != nil {
			return nil, err
		}
		out := make([]arrow.RecordBatch, 0, len(recs))
		for _, rec := range recs {
			withSchema, err := s.addTableSchemas(ctx, sess, cols, rec)
			if err != nil {
				releaseAll(out)
				return nil, err
			}
			out = append(out, withSchema)
		}
		return out, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return schema_ref.TablesWithIncludedSchema, sendAll(out), nil
}

// addTableSchemas appends each table's serialized Arrow schema, as DuckDB
// would export a SELECT * from it. A table whose schema cannot be read (a
// view over a table dropped since, DuckDB allows it, or a table past the
// result's column limit) is listed with an empty one: the first such table
// failed the whole listing, every user's (a tester's).
func (s *Server) addTableSchemas(ctx context.Context, sess *session, cols map[tableRef]map[string]column, rec arrow.RecordBatch) (arrow.RecordBatch, error) {
	cats := rec.Column(0).(*array.String)
	schs := rec.Column(1).(*array.String)
	names := rec.Column(2).(*array.String)
	b := array.NewBinaryBuilder(s.mem, arrow.BinaryTypes.Binary)
	defer b.Release()
	for i := 0; i < int(rec.NumRows()); i++ {
		t := tableRef{cats.Value(i), schs.Value(i), names.Value(i)}
		sc, err := s.tableSchema(ctx, sess, t, cols[t])
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			s.log.Debug().Err(err).Str("table", t.name).Msg("a table's schema could not be read: listed empty")
			sc = arrow.NewSchema(nil, nil)
		}
		b.Append(flight.SerializeSchema(sc, s.mem))
	}
	col := b.NewArray()
	defer col.Release()
	all := append(append([]arrow.Array{}, rec.Columns()...), col)
	return array.NewRecordBatch(schema_ref.TablesWithIncludedSchema, all, rec.NumRows()), nil
}

// GetFlightInfoTableTypes answers CommandGetTableTypes.
func (s *Server) GetFlightInfoTableTypes(_ context.Context, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.TableTypes)
}

// DoGetTableTypes lists the table types information_schema reports.
func (s *Server) DoGetTableTypes(ctx context.Context) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.metaQuery(ctx, schema_ref.TableTypes,
		`SELECT * FROM (VALUES ('LOCAL TEMPORARY'), ('TABLE'), ('VIEW')) t(table_type)`)
}

// GetFlightInfoPrimaryKeys answers CommandGetPrimaryKeys.
func (s *Server) GetFlightInfoPrimaryKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.PrimaryKeys)
}

// DoGetPrimaryKeys lists a table's primary key columns in key order.
func (s *Server) DoGetPrimaryKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.metaQuery(ctx, schema_ref.PrimaryKeys, `SELECT database_name, schema_name, table_name,
 unnest(constraint_column_names) AS column_name,
 unnest(range(1, len(constraint_column_names) + 1))::INTEGER AS key_sequence,
 constraint_name AS key_name
FROM duckdb_constraints()
WHERE constraint_type = 'PRIMARY KEY' AND table_name = $3::VARCHAR
 AND ($1::VARCHAR IS NULL OR database_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR schema_name = $2::VARCHAR)
ORDER BY 1, 2, 3, 5`, optional(ref.Catalog), optional(ref.DBSchema), ref.Table)
}

// foreignKeys lists foreign key columns; the filters pick the referencing
// (fk) and referenced (pk) tables. DuckDB only has NO ACTION rules.
const foreignKeys = `SELECT * FROM (SELECT database_name AS pk_catalog_name, schema_name AS pk_db_schema_name,
 referenced_table AS pk_table_name, unnest(referenced_column_names) AS pk_column_name,
 database_name AS fk_catalog_name, schema_name AS fk_db_schema_name, table_name AS fk_table_name,
 unnest(constraint_column_names) AS fk_column_name,
 unnest(range(1, len(constraint_column_names) + 1))::INTEGER AS key_sequence,
 constraint_name AS fk_key_name, NULL::VARCHAR AS pk_key_name,
 3::UTINYINT AS update_rule, 3::UTINYINT AS delete_rule
FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY') WHERE `

// GetFlightInfoImportedKeys answers CommandGetImportedKeys.
func (s *Server) GetFlightInfoImportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.ImportedKeys)
}

// DoGetImportedKeys lists the foreign keys of a table.
func (s *Server) DoGetImportedKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.metaQuery(ctx, schema_ref.ImportedKeys, foreignKeys+`fk_table_name = $3::VARCHAR
 AND ($1::VARCHAR IS NULL OR fk_catalog_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR fk_db_schema_name = $2::VARCHAR)
ORDER BY 1, 2, 3, 9`, optional(ref.Catalog), optional(ref.DBSchema), ref.Table)
}

// GetFlightInfoExportedKeys answers CommandGetExportedKeys.
func (s *Server) GetFlightInfoExportedKeys(_ context.Context, _ flightsql.TableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.ExportedKeys)
}

// DoGetExportedKeys lists the foreign keys that reference a table.
func (s *Server) DoGetExportedKeys(ctx context.Context, ref flightsql.TableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	return s.metaQuery(ctx, schema_ref.ExportedKeys, foreignKeys+`pk_table_name = $3::VARCHAR
 AND ($1::VARCHAR IS NULL OR pk_catalog_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR pk_db_schema_name = $2::VARCHAR)
ORDER BY 5, 6, 7, 9`, optional(ref.Catalog), optional(ref.DBSchema), ref.Table)
}

// GetFlightInfoCrossReference answers CommandGetCrossReference.
func (s *Server) GetFlightInfoCrossReference(_ context.Context, _ flightsql.CrossTableRef, desc *flight.FlightDescriptor) (*flight.FlightInfo, error) {
	return s.metaInfo(desc, schema_ref.CrossReference)
}

// DoGetCrossReference lists the foreign keys from one table to another.
func (s *Server) DoGetCrossReference(ctx context.Context, ref flightsql.CrossTableRef) (*arrow.Schema, <-chan flight.StreamChunk, error) {
	pk, fk := ref.PKRef, ref.FKRef
	return s.metaQuery(ctx, schema_ref.CrossReference, foreignKeys+`pk_table_name = $3::VARCHAR AND fk_table_name = $6::VARCHAR
 AND ($1::VARCHAR IS NULL OR pk_catalog_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR pk_db_schema_name = $2::VARCHAR)
 AND ($4::VARCHAR IS NULL OR fk_catalog_name = $4::VARCHAR)
 AND ($5::VARCHAR IS NULL OR fk_db_schema_name = $5::VARCHAR)
ORDER BY 5, 6, 7, 9`, optional(pk.Catalog), optional(pk.DBSchema), pk.Table, optional(fk.Catalog), optional(fk.DBSchema), fk.Table)
}

// tableRef names a table in a listing.
type tableRef struct{ catalog, schema, name string }

// column is what the catalog says of a column beyond its Arrow type.
type column struct {
	nullable    bool
	typ         string
	prec, scale *int32
}

// tableColumns reads the columns of the tables a GetTables filter selects
// (the same filter arguments as the listing's), by table and name.
func tableColumns(ctx context.Context, sess *session, catalog, schemas, tables any) (map[tableRef]map[string]column, error) {
	rows, err := sess.conn.QueryRows(ctx, `SELECT database_name, schema_name, table_name, column_name,
 is_nullable, data_type, numeric_precision, numeric_scale
FROM duckdb_columns()
WHERE ($1::VARCHAR IS NULL OR database_name = $1::VARCHAR)
 AND ($2::VARCHAR IS NULL OR regexp_full_match(schema_name, $2::VARCHAR, 's'))
 AND ($3::VARCHAR IS NULL OR regexp_full_match(table_name, $3::VARCHAR, 's'))`, catalog, schemas, tables)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[tableRef]map[string]column{}
	for rows.Next() {
		var t tableRef
		var name string
		var c column
		if err := rows.Scan(&t.catalog, &t.schema, &t.name, &name, &c.nullable, &c.typ, &c.prec, &c.scale); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[string]column{}
		}
		out[t][name] = c
	}
	return out, rows.Err()
}

// tableSchema is the Arrow schema of SELECT * from a table, with each
// column's nullability and Flight SQL column metadata (origin, DuckDB type
// name, precision and scale) as JDBC's getColumns reads them. The SELECT
// is checked as a client's would be (checkQuery) before DuckDB prepares
// it: prepared unchecked, a view over a JSON file nesting too deep ended
// the process (DuckDB's recursion), and one of aggregates nesting past
// the bound held a core for minutes, from any reader's getColumns (a
// tester's). It is prepared on the session's connection only: prepared
// first on another, outside the session's transaction, the committed
// definition of a view the transaction replaced went unchecked, and a
// view over a JSON file nesting too deep ended the process (a tester's).
func (s *Server) tableSchema(ctx context.Context, sess *session, t tableRef, cols map[string]column) (*arrow.Schema, error) {
	q := "SELECT * FROM " + duck.Table{Catalog: t.catalog, Schema: t.schema, Name: t.name}.Quoted()
	if _, err := s.checkQuery(ctx, sess, q); err != nil {
		return nil, fmt.Errorf("schema of %s: %w", q, err)
	}
	st, err := sess.conn.Prepare(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", q, err)
	}
	fields := st.Schema.Fields()
	_ = st.Close()
	for i, f := range fields {
		c, ok := cols[f.Name]
		if !ok {
			continue
		}
		fields[i].Nullable = c.nullable
		mb := flightsql.NewColumnMetadataBuilder().CatalogName(t.catalog).SchemaName(t.schema).
			TableName(t.name).TypeName(c.typ)
		// A decimal's digits as its Arrow type has them, as a query's
		// column says: DuckDB lists a HUGEINT's precision in bits (128),
		// and JDBC's getColumns said COLUMN_SIZE 128 of a DECIMAL(38,0) (a
		// tester's).
		if d, dec := f.Type.(arrow.DecimalType); dec && c.prec != nil && c.scale != nil {
			mb.Precision(d.GetPrecision()).Scale(d.GetScale())
		}
		fields[i].Metadata = withMetadata(f.Metadata, mb.Metadata())
	}
	return arrow.NewSchema(fields, nil), nil
}

// withMetadata is a field's metadata with more's keys set: a column's
// extension type travels in its field's metadata (ARROW:extension:name),
// which the table's column metadata replaced, and GetTables gave DuckDB's
// VARINT and GEOMETRY as plain binary where a SELECT gives arrow.opaque
// and geoarrow.wkb (a tester's).
func withMetadata(md, more arrow.Metadata) arrow.Metadata {
	if md.Len() == 0 {
		return more
	}
	keys, vals := slices.Clone(more.Keys()), slices.Clone(more.Values())
	for i, k := range md.Keys() {
		if more.FindKey(k) < 0 {
			keys, vals = append(keys, k), append(vals, md.Values()[i])
		}
	}
	return arrow.NewMetadata(keys, vals)
}
