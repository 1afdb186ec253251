package duck

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/duckdb/duckdb-go/v2"
	"github.com/duckdb/duckdb-go/v2/arrowmapping"
	"github.com/duckdb/duckdb-go/v2/mapping"
)

// Stmt is a prepared statement on one connection.
type Stmt struct {
	conn   *Conn
	raw    *duckdb.Stmt
	handle mapping.PreparedStatement
	// Schema is the result schema exactly as DuckDB's Arrow export gives it.
	Schema *arrow.Schema
	// ReturnsRows is false for DDL and DML: DuckDB would answer them with a
	// single "Count" column, which Flight SQL reports as an update count.
	ReturnsRows bool
	// Params describes the parameters ($1...$n) in order; a parameter whose
	// type DuckDB cannot infer has the null type.
	Params *arrow.Schema
	// Resolved is false when a result type depends on the parameters' types
	// (SELECT $1): Schema then has null-typed columns, and ResultSchema
	// learns the real one once parameters are bound.
	Resolved bool
	// changes: a statement other than a SELECT, which may change what a
	// name binds to (CatalogVersion).
	changes bool
	// writes: an INSERT, UPDATE, DELETE or COPY (WritesRows).
	writes bool
	// commits: COMMIT (or END), whatever sent it (EndTransaction, SQL).
	commits bool
	// controls: BEGIN, COMMIT, ROLLBACK or the like (TxnStatements).
	controls bool
	// sets: USE, SET VARIABLE or RESET (boundVariables).
	sets bool
	// countInResult: a CREATE TABLE ... AS, whose rows DuckDB says in its
	// result's Count, not in its rows changed (0 for any CREATE).
	countInResult bool
	// returning: an INSERT, UPDATE or DELETE ... RETURNING, whose rows
	// changed are the rows it returns (its rows changed say 0).
	returning bool
	// text is the query of a statement prepared alone from it, "" for
	// one of several; version, the catalog version it was prepared at
	// (for PrepareAgain, which clears text on a statement it cannot
	// reuse).
	text    string
	version CatalogVersion
	// Held is how much memory DuckDB took while it prepared the
	// statement (touched): what it keeps in its plan beyond what its text
	// suggests, constants it folded (SELECT repeat('x', 50000000) holds
	// 50 MB). The lesser of the preparing thread's page faults and the
	// process's growth meanwhile: other work at the same time adds
	// nothing to it, and may take from it.
	Held int64
	// Memo is its user's, kept with the statement while PrepareAgain and
	// Keep hand it from run to run: what the user derives from Schema
	// once (the Flight server, the schema serialized for a FlightInfo).
	Memo any
	// columns are the result's columns as DuckDB typed them when it was
	// prepared, when every one is of a type whose Arrow form its id and
	// alias fix (sameColumns); nil otherwise.
	columns []column
	// declared are the parameters' types as DuckDB inferred them when it
	// prepared the statement (AsDeclared).
	declared []mapping.Type
}

// column is one result column's name, type id and, for the string and
// binary types (JSON is an alias of VARCHAR, exported as arrow.json),
// alias.
type column struct {
	name  string
	typ   mapping.Type
	alias string
}

// Prepare prepares query. Statements before the last one in a
// multi-statement string are executed, as DuckDB does; each is checked by
// the guard before it runs, so a refused statement stops the string there.
func (c *Conn) Prepare(ctx context.Context, query string) (*Stmt, error) {
	return c.prepare(ctx, query, true)
}

// Describe prepares a single statement and runs nothing: a string of
// several statements is refused, since the last one's schema depends on
// the others having run.
func (c *Conn) Describe(ctx context.Context, query string) (*Stmt, error) {
	return c.prepare(ctx, query, false)
}

func (c *Conn) prepare(ctx context.Context, query string, runLeading bool) (*Stmt, error) {
	if err := checkText(query, c.policy.ReadOnly, c.db.recursiveJSON, c.db.editCells > 0); err != nil {
		return nil, err
	}
	if err := c.boundFor(ctx, query); err != nil {
		return nil, err
	}
	return c.prepareOwn(ctx, query, runLeading)
}

// prepareOwn is prepare without the text's checks: for the server's own
// SQL (QueryText), which calls what a client may not
// (json_deserialize_sql).
func (c *Conn) prepareOwn(ctx context.Context, query string, runLeading bool) (*Stmt, error) {
	var ex mapping.ExtractedStatements
	n := mapping.ExtractStatements(c.handle, query, &ex)
	defer mapping.DestroyExtracted(&ex)
	if n == 0 {
		if msg := mapping.ExtractStatementsError(ex); msg != "" {
			return nil, extractError(msg)
		}
		return nil, &Error{Kind: KindInvalid, Msg: "Parser Error: empty query: no statement to run"}
	}
	if n > 1 && !runLeading {
		return nil, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: %d statements given where one is expected", n)}
	}
	g := &stmtGuard{query: query, n: int(n)}
	if c.policy.ReadOnly && n > 1 && g.expands() {
		// Refused before any of it runs: its first statement, DuckDB's
		// BEGIN, ran, the write after it was refused, and the reader's
		// session was left in an aborted transaction (a tester's).
		return nil, &Error{Kind: KindPermission, Msg: "Permission Error: read-only access: DuckDB runs this statement as several " +
			"of its own making (COPY FROM DATABASE; a PIVOT without an IN list creates a type), which write"}
	}
	var before bool // a transaction was open before the text's statements ran
	if n > 1 {
		var err error
		if before, err = c.InTransaction(ctx); err != nil {
			return nil, err
		}
	}
	if n > 1 {
		c.txnStatements.Add(1) // any of those run here may be one
		c.lastCommit.Store(false)
	}
	for i := range n - 1 {
		if err := c.runExtracted(ctx, ex, i, g); err != nil {
			return nil, c.failedInText(ctx, i > 0, before, err)
		}
	}
	st, err := c.prepareExtracted(ctx, ex, n-1, g)
	if err != nil && n > 1 {
		err = c.failedInText(ctx, true, before, err)
	}
	if err == nil && n == 1 {
		st.text = query
	}
	return st, err
}

// extractError is the error of a text DuckDB could not split into
// statements: a parser's, unless its message names another type (a parser
// out of memory says "Out of Memory Error", and was InvalidArgument: a
// tester's 550,000-key IN list).
func extractError(msg string) error {
	t := errorTypeOf(msg)
	if t == duckdb.ErrorTypeInvalid {
		t = duckdb.ErrorTypeParser
	}
	return newError(t, msg)
}

// prepareExtracted prepares statement i of ex, if the guard allows it.
func (c *Conn) prepareExtracted(ctx context.Context, ex mapping.ExtractedStatements, i mapping.IdxT, g *stmtGuard) (*Stmt, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := c.checkBeforeBind(g, int(i)); err != nil {
		return nil, err
	}
	p := new(mapping.PreparedStatement)
	var state mapping.State
	stop := c.db.watch(ctx, "preparing")
	held := touched(func() { state = mapping.PrepareExtractedStatement(c.handle, ex, i, p) })
	stop()
	if state == mapping.StateError {
		msg := mapping.PrepareError(*p)
		mapping.DestroyPrepare(p)
		return nil, newError(errorTypeOf(msg), msg)
	}
	if n := mapping.PreparedStatementColumnCount(*p); n > MaxResultColumns {
		mapping.DestroyPrepare(p)
		return nil, &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: the statement returns %d columns, "+
			"over the server's limit of %d", n, MaxResultColumns)}
	}
	if err := c.check(ctx, duckdb.StmtType(mapping.PreparedStatementType(*p)), g, int(i)); err != nil {
		mapping.DestroyPrepare(p)
		return nil, err
	}
	raw, err := newStmt(c.raw, p)
	if err != nil {
		mapping.DestroyPrepare(p)
		return nil, err
	}
	st := &Stmt{conn: c, raw: raw, handle: *p, Held: held}
	if duckdb.StmtType(mapping.PreparedStatementType(*p)) == duckdb.STATEMENT_TYPE_TRANSACTION {
		st.controls = true
		if toks, err := g.statement(int(i)); err == nil && len(toks) > 0 && toks[0].kind == 'w' {
			w := strings.ToUpper(toks[0].text)
			st.commits = w == "COMMIT" || w == "END"
		}
	}
	if err := st.describe(); err != nil {
		_ = raw.Close()
		return nil, err
	}
	return st, nil
}

// runExtracted runs statement i of ex, discarding any result.
// failedInText is err, a statement of a text of several failing after
// others of it ran (ran), which may have begun a transaction (DuckDB runs
// a write that pivots in one of its own: BEGIN, its types, the write,
// COMMIT). A transaction they began is left as DuckDB leaves it when a
// statement of it fails, aborted: every statement but ROLLBACK then fails.
// Left open, the session's next writes, each acknowledged, ran in it and
// were never committed.
func (c *Conn) failedInText(ctx context.Context, ran, before bool, err error) error {
	if !ran || before {
		return err
	}
	now, terr := c.InTransaction(context.WithoutCancel(ctx))
	if terr == nil && now {
		terr = c.AbortTransaction("a statement of the text failed: " + err.Error())
	}
	return errors.Join(err, terr)
}

func (c *Conn) runExtracted(ctx context.Context, ex mapping.ExtractedStatements, i mapping.IdxT, g *stmtGuard) error {
	st, err := c.prepareExtracted(ctx, ex, i, g)
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Exec(ctx, nil)
	return err
}

func (s *Stmt) describe() error {
	t, err := s.raw.StatementType()
	if err != nil {
		return wrap(err)
	}
	s.changes = t != duckdb.STATEMENT_TYPE_SELECT
	s.sets = t == duckdb.STATEMENT_TYPE_SET
	switch t {
	case duckdb.STATEMENT_TYPE_INSERT, duckdb.STATEMENT_TYPE_UPDATE, duckdb.STATEMENT_TYPE_DELETE, duckdb.STATEMENT_TYPE_COPY:
		s.writes = true
	}
	switch t {
	case duckdb.STATEMENT_TYPE_SELECT, duckdb.STATEMENT_TYPE_EXPLAIN, duckdb.STATEMENT_TYPE_PRAGMA,
		duckdb.STATEMENT_TYPE_CALL, duckdb.STATEMENT_TYPE_RELATION, duckdb.STATEMENT_TYPE_EXECUTE,
		duckdb.STATEMENT_TYPE_ANALYZE, duckdb.STATEMENT_TYPE_LOGICAL_PLAN:
		s.ReturnsRows = true
	case duckdb.STATEMENT_TYPE_INSERT, duckdb.STATEMENT_TYPE_UPDATE, duckdb.STATEMENT_TYPE_DELETE, duckdb.STATEMENT_TYPE_COPY:
		// DML with RETURNING produces rows, and a COPY with RETURN_FILES
		// its count and files; without, a single Count.
		s.ReturnsRows = !s.isCountOnly()
		s.returning = s.ReturnsRows && t != duckdb.STATEMENT_TYPE_COPY
	case duckdb.STATEMENT_TYPE_CREATE:
		s.countInResult = s.isCountOnly()
	}
	n := int(mapping.PreparedStatementColumnCount(s.handle))
	fields := make([]arrow.Field, n)
	s.Resolved = true
	cols := make([]column, 0, n)
	for i := range n {
		name := mapping.PreparedStatementColumnName(s.handle, mapping.IdxT(i))
		typ := mapping.PreparedStatementColumnType(s.handle, mapping.IdxT(i))
		switch typ {
		case mapping.TypeInvalid, mapping.TypeAny, mapping.TypeSQLNull:
			fields[i] = arrow.Field{Name: name, Type: arrow.Null, Nullable: true}
			s.Resolved = false
			continue
		}
		lt := mapping.PreparedStatementColumnLogicalType(s.handle, mapping.IdxT(i))
		if holdsType(mapping.TypeInvalid, lt) || holdsType(mapping.TypeAny, lt) {
			// A parameter's type nested in the column's, {'a': ?}: known
			// once values are bound, as SELECT ?'s (its Prepare failed,
			// "Unsupported Arrow type UNKNOWN").
			mapping.DestroyLogicalType(&lt)
			fields[i] = arrow.Field{Name: name, Type: arrow.Null, Nullable: true}
			s.Resolved = false
			continue
		}
		sc, err := s.conn.preparedSchema([]mapping.LogicalType{lt}, []string{name})
		if cols != nil && flatTypes[typ] {
			cols = append(cols, column{name: name, typ: typ, alias: aliasOf(typ, lt)})
		} else {
			cols = nil
		}
		mapping.DestroyLogicalType(&lt)
		if err != nil {
			return err
		}
		fields[i] = sc.Field(0)
	}
	if s.Resolved {
		s.columns = cols
	}
	if s.ReturnsRows {
		for _, f := range fields {
			if d := typeDepth(f.Type); d > MaxResultNesting {
				return &Error{Kind: KindInvalid, Msg: fmt.Sprintf("Invalid Input Error: result column %.60q nests its type %d levels deep; "+
					"Arrow IPC carries at most %d", f.Name, d, MaxResultNesting)}
			}
		}
	}
	s.Schema = arrow.NewSchema(fields, nil)
	if !s.ReturnsRows {
		s.Schema = arrow.NewSchema(nil, nil)
	}
	return s.describeParams()
}

// MaxResultColumns is how many columns a statement may return. DuckDB's
// C API copies every column's type (and name) to give one, so
// describing a result costs the square of its width: 3 s of a core at
// 10,000 columns, 12 s at 20,000, and SELECT 1 AS c0, ..., 1 AS c99999
// (1.4 MB of SQL) held one past its client's cancel and its timeout for
// minutes.
const MaxResultColumns = 10000

// MaxResultNesting is how deeply a result column's type may nest (a
// list, struct or map is a level; a map two): Arrow's IPC writer
// refuses a deeper column (its max recursion depth, 64), so
// SELECT [[...[1]...]] of 64 levels was prepared and planned and failed
// as Internal when its first batch was written.
const MaxResultNesting = 63

// typeDepth is how many nested types t holds, itself included, on its
// deepest path.
func typeDepth(t arrow.DataType) int {
	n, ok := t.(arrow.NestedType)
	if !ok {
		return 0
	}
	d := 0
	for _, f := range n.Fields() {
		d = max(d, typeDepth(f.Type))
	}
	return d + 1
}

// WritesRows says the statement writes (INSERT, UPDATE, DELETE, COPY) and
// returns rows (RETURNING, RETURN_FILES): its write is done when it
// runs, which its client expects of the call that runs it, whether or
// not it reads the rows.
func (s *Stmt) WritesRows() bool { return s.writes && s.ReturnsRows }

// isCountOnly reports whether a DML statement answers with DuckDB's single
// "Count" column, rather than RETURNING rows.
func (s *Stmt) isCountOnly() bool {
	if mapping.PreparedStatementColumnCount(s.handle) != 1 {
		return false
	}
	return mapping.PreparedStatementColumnName(s.handle, 0) == "Count" &&
		mapping.PreparedStatementColumnType(s.handle, 0) == mapping.TypeBigInt
}

func (s *Stmt) describeParams() error {
	n := s.raw.NumInput()
	fields := make([]arrow.Field, 0, max(n, 0))
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("$%d", i)
		if pn, err := s.raw.ParamName(i); err == nil && pn != "" && pn != fmt.Sprint(i) {
			name = pn
		}
		fields = append(fields, arrow.Field{Name: name, Type: s.paramType(i), Nullable: true})
	}
	s.Params = arrow.NewSchema(fields, nil)
	s.declared = make([]mapping.Type, max(n, 0))
	for i := range s.declared {
		s.declared[i] = mapping.ParamType(s.handle, mapping.IdxT(i+1))
	}
	return nil
}

// AsDeclared says whether args bind as the types DuckDB inferred for the
// parameters. DuckDB binds the statement again for arguments of other
// types, taking each parameter as its argument's type, and a result
// column that takes a parameter's type takes that one: coalesce(?, 0) is
// an INTEGER, and a BIGINT bound to it (every Python int) a BIGINT, as
// DuckDB alone answers. Bound as declared, a resolved statement's result
// has Schema.
func (s *Stmt) AsDeclared(args []any) bool {
	if len(args) != len(s.declared) {
		return false
	}
	for i, a := range args {
		if boundAs(a) != s.declared[i] {
			return false
		}
	}
	return true
}

// boundAs is the type duckdb-go binds a value of a Go type as; invalid
// for the values whose type it makes of more than their Go type.
func boundAs(v any) mapping.Type {
	switch v.(type) {
	case bool:
		return mapping.TypeBoolean
	case int8:
		return mapping.TypeTinyInt
	case int16:
		return mapping.TypeSmallInt
	case int32:
		return mapping.TypeInteger
	case int64, int:
		return mapping.TypeBigInt
	case uint8:
		return mapping.TypeUTinyInt
	case uint16:
		return mapping.TypeUSmallInt
	case uint32:
		return mapping.TypeUInteger
	case uint64:
		return mapping.TypeUBigInt
	case float32:
		return mapping.TypeFloat
	case float64:
		return mapping.TypeDouble
	case string:
		return mapping.TypeVarchar
	case []byte:
		return mapping.TypeBlob
	}
	return mapping.TypeInvalid
}

// paramType is the Arrow type a client should send for parameter i, as
// DuckDB's export would give the type DuckDB inferred for it. A parameter
// whose type DuckDB cannot infer (SELECT ?) has the null type: the client
// sends any type and DuckDB takes it as given.
func (s *Stmt) paramType(i int) arrow.DataType {
	switch mapping.ParamType(s.handle, mapping.IdxT(i)) {
	case mapping.TypeInvalid, mapping.TypeAny, mapping.TypeSQLNull:
		return arrow.Null
	}
	lt := mapping.ParamLogicalType(s.handle, mapping.IdxT(i))
	defer mapping.DestroyLogicalType(&lt)
	sc, err := s.conn.preparedSchema([]mapping.LogicalType{lt}, []string{"p"})
	if err != nil {
		return arrow.Null
	}
	t := sc.Field(0).Type
	// The JDBC driver (Arrow Java) writes java.sql.Timestamp and Time
	// parameters as milliseconds whatever unit the schema declares:
	// declaring milliseconds keeps its values right. A TIME was declared
	// in microseconds, and its 12:30:00 bound 00:00:45 (a TIMESTAMP_NS's
	// 2024 bound 1970, a TIMESTAMP_S's the year 56135), silently: a
	// tester's. Other clients send their own schema, and every unit
	// binds exactly.
	switch ts := t.(type) {
	case *arrow.TimestampType:
		return &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: ts.TimeZone}
	case *arrow.Time64Type:
		return arrow.FixedWidthTypes.Time32ms
	}
	return t
}

// preparedSchema is arrowSchema of a prepared statement's types, with no
// result open on the connection. DuckDB looks a GEOMETRY's coordinate
// reference system up in the catalog, which needs a transaction: a
// statement is prepared outside the one it will run in.
func (c *Conn) preparedSchema(types []mapping.LogicalType, names []string) (*arrow.Schema, error) {
	sc, err := c.arrowSchema(types, names)
	if err == nil || !slices.ContainsFunc(types, func(lt mapping.LogicalType) bool { return holdsType(mapping.TypeGeometry, lt) }) {
		return sc, err
	}
	ctx := context.Background()
	if in, terr := c.InTransaction(ctx); terr != nil || in {
		return nil, err
	}
	if _, berr := c.Exec(ctx, "BEGIN TRANSACTION"); berr != nil {
		return nil, err
	}
	sc, err = c.arrowSchema(types, names)
	_, rerr := c.Exec(ctx, "ROLLBACK")
	if err == nil && rerr != nil {
		return nil, rerr
	}
	return sc, err
}

func (c *Conn) arrowSchema(types []mapping.LogicalType, names []string) (*arrow.Schema, error) {
	var opts arrowmapping.ArrowOptions
	arrowmapping.ConnectionGetArrowOptions(c.handle, &opts)
	defer arrowmapping.DestroyArrowOptions(&opts)
	sc, ed := arrowmapping.NewArrowSchema(opts, types, names)
	defer mapping.DestroyErrorData(&ed)
	if mapping.ErrorDataHasError(ed) {
		return nil, newError(duckdb.ErrorType(mapping.ErrorDataErrorType(ed)), mapping.ErrorDataMessage(ed))
	}
	return sc, nil
}

// Close releases the statement.
func (s *Stmt) Close() error { return wrap(s.raw.Close()) }

func (s *Stmt) bind(ctx context.Context, args []any) (err error) {
	// The Go binding panics on some values it cannot convert; a bad
	// parameter must be an error, never a crash.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: cannot bind %v", ErrBadParameter, r)
		}
	}()
	if n := s.raw.NumInput(); len(args) != n {
		return UnboundParams(n, len(args))
	}
	named := make([]driver.NamedValue, len(args))
	typed := false
	for i, a := range args {
		if _, ok := a.(Typed); ok {
			a, typed = nil, true // bound below
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	if err := s.raw.BindWithCtx(ctx, named); err != nil {
		return wrap(err)
	}
	if typed {
		return s.bindTyped(args)
	}
	return nil
}

// ran counts a statement that may begin or end a transaction as it runs
// (Conn.TxnStatements); a COMMIT that succeeds says so after
// (Conn.LastEndCommitted).
func (s *Stmt) ran() {
	if s.controls {
		s.conn.txnStatements.Add(1)
		s.conn.lastCommit.Store(false)
	}
}

// Exec runs the statement with args and returns the rows changed.
func (s *Stmt) Exec(ctx context.Context, args []any) (int64, error) {
	s.ran()
	if err := s.bind(ctx, args); err != nil {
		return 0, err
	}
	if s.changes {
		// Before and after: a planning that listed the catalog while it
		// ran is not kept under the version after it.
		s.conn.changed()
		defer s.conn.changed()
	}
	if s.commits {
		n, err := s.commitChecked(ctx)
		s.conn.lastCommit.Store(err == nil)
		return n, err
	}
	n, err := s.execBound(ctx)
	if s.sets {
		// Failed too: one interrupted at its deadline may have set its
		// variable all the same.
		if verr := s.conn.boundVariables(ctx); verr != nil && err == nil {
			err = verr
		}
	}
	return n, err
}

func (s *Stmt) execBound(ctx context.Context) (int64, error) {
	if s.countInResult {
		rows, err := s.raw.QueryBound(ctx)
		if err != nil {
			return 0, wrap(err)
		}
		defer rows.Close()
		v := make([]driver.Value, 1)
		if err := rows.Next(v); err != nil {
			if errors.Is(err, io.EOF) {
				return 0, nil
			}
			return 0, wrap(err)
		}
		n, _ := v[0].(int64)
		return n, nil
	}
	if s.returning {
		// Run as an update (a parameter batch, ExecuteUpdate), it said
		// 0 rows changed, as if it had written nothing (a tester's).
		rows, err := s.raw.QueryBound(ctx)
		if err != nil {
			return 0, wrap(err)
		}
		defer rows.Close()
		v := make([]driver.Value, len(rows.Columns()))
		n := int64(0)
		for {
			if err := rows.Next(v); errors.Is(err, io.EOF) {
				return n, nil
			} else if err != nil {
				return n, wrap(err)
			}
			n++
		}
	}
	res, err := s.raw.ExecBound(ctx)
	if err != nil {
		return 0, wrap(err)
	}
	n, err := res.RowsAffected()
	return n, wrap(err)
}

// Query runs the statement with args and streams its result. The statement
// stays busy until the reader is released; the connection must not run
// anything else meanwhile. Cancelling ctx interrupts the query.
func (s *Stmt) Query(ctx context.Context, mem memory.Allocator, args []any, batch BatchSize) (array.RecordReader, error) {
	s.ran()
	if err := s.bind(ctx, args); err != nil {
		return nil, err
	}
	// A resolved statement's result types were fixed when it was prepared,
	// but DuckDB binds it again as it runs it whenever the catalog changed
	// since (a table replaced) or it reads files (one rewritten): its
	// result may have other types than its Schema, which the client was
	// promised. The stream's types are converted and checked against
	// Schema, at its first run too: taken as they were, a result of INTEGER
	// read as BIGINT read past DuckDB's buffers (the coordinator crashed,
	// or sent other memory's bytes as values). A statement whose columns
	// are all of flat types (sameColumns) is checked by its columns' type
	// ids and names, cheaper than converting them; the connection's Arrow
	// options cannot change (lock_configuration).
	// Arguments of other types than the parameters' make DuckDB bind the
	// statement again, and its result may then have other types
	// (AsDeclared): the caller learnt them (ResultSchema) and checks them.
	var known *arrow.Schema
	var cols []column
	check := s.Resolved && s.ReturnsRows && (len(args) == 0 || s.AsDeclared(args))
	if check && s.columns != nil {
		known, cols = s.Schema, s.columns
	}
	if s.changes {
		s.conn.changed()
		defer s.conn.changed()
	}
	r, err := s.conn.stream(ctx, s.handle, mem, batch, known, cols)
	if err != nil || !check || r.Schema().Equal(s.Schema) {
		return r, err
	}
	got := r.Schema()
	r.Release()
	return nil, ResultChanged(got, s.Schema)
}

// ResultChanged is the error of a statement's run whose result columns
// are now, not was, as when it was prepared: a file or view it reads
// changed.
func ResultChanged(now, was *arrow.Schema) error {
	return &Error{Kind: KindConflict, err: ErrResultChanged, Msg: fmt.Sprintf("Invalid Input Error: the statement's "+
		"result columns are now (%s), not (%s) as when it was prepared (a file or view it reads changed): prepare it again",
		columns(now), columns(was))}
}

// columns lists a schema's fields as "name type, ...".
func columns(sc *arrow.Schema) string {
	cols := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		cols[i] = f.Name + " " + f.Type.String()
	}
	return strings.Join(cols, ", ")
}

// ErrResultChanged says that a prepared statement's result types changed
// between its preparation and a run (Query).
var ErrResultChanged = errors.New("duck: result types changed since the statement was prepared")

// ResultSchema is the result schema with args bound. For an unresolved
// statement, or one bound to arguments of other types than its
// parameters' (AsDeclared), DuckDB knows it only by running the
// statement, so ResultSchema starts it and stops at the first result
// chunk.
func (s *Stmt) ResultSchema(ctx context.Context, args []any) (*arrow.Schema, error) {
	if s.Resolved && (len(args) == 0 || s.AsDeclared(args)) {
		return s.Schema, nil
	}
	r, err := s.Query(ctx, memory.DefaultAllocator, args, BatchSize{Rows: 1, Bytes: 1})
	if err != nil {
		return nil, err
	}
	defer r.Release()
	return r.Schema(), nil
}
