package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// paramRecord is one row of parameter values, each column of the Arrow
// type of its Go value (nil: the null type), as a client may send them.
func paramRecord(t *testing.T, vals ...any) arrow.RecordBatch {
	t.Helper()
	fields := make([]arrow.Field, len(vals))
	cols := make([]arrow.Array, len(vals))
	for i, v := range vals {
		if ta, ok := v.(timeArg); ok {
			fields[i], cols[i] = arrow.Field{Name: fmt.Sprintf("$%d", i+1), Type: ta.typ, Nullable: true}, ta.array()
			continue
		}
		typ := map[string]arrow.DataType{"<nil>": arrow.Null, "bool": arrow.FixedWidthTypes.Boolean, "int32": arrow.PrimitiveTypes.Int32,
			"int64": arrow.PrimitiveTypes.Int64, "float64": arrow.PrimitiveTypes.Float64, "string": arrow.BinaryTypes.String}[fmt.Sprintf("%T", v)]
		js, err := json.Marshal([]any{v})
		if typ == nil || err != nil {
			t.Fatalf("no Arrow type for %T (%v)", v, err)
		}
		if cols[i], _, err = array.FromJSON(memory.DefaultAllocator, typ, bytes.NewReader(js)); err != nil {
			t.Fatal(err)
		}
		fields[i] = arrow.Field{Name: fmt.Sprintf("$%d", i+1), Type: typ, Nullable: true}
	}
	rec := array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, 1)
	for _, c := range cols {
		c.Release()
	}
	return rec
}

// timeArg is a date or time parameter value t, sent as the Arrow type typ.
type timeArg struct {
	t   time.Time
	typ arrow.DataType
}

func (a timeArg) array() arrow.Array {
	b := array.NewBuilder(memory.DefaultAllocator, a.typ)
	defer b.Release()
	switch b := b.(type) {
	case *array.Date32Builder:
		b.Append(arrow.Date32FromTime(a.t))
	case *array.TimestampBuilder:
		ts, err := arrow.TimestampFromTime(a.t, a.typ.(*arrow.TimestampType).Unit)
		if err != nil {
			panic(err)
		}
		b.Append(ts)
	case *array.Time64Builder:
		b.Append(arrow.Time64(a.t.Sub(a.t.Truncate(24 * time.Hour)).Microseconds()))
	}
	return b.NewArray()
}

// A prepared query with one row of parameters is planned as the query
// with their values in its AST (bound.go): it splits, and its answer is
// DuckDB's for the statement with those values bound, as DuckDB 1.5 binds
// each type: a DOUBLE compared with an INTEGER column as a DOUBLE (o > 1.5
// keeps 2), a VARCHAR as a string literal cast to the column's type
// ('1.5' is 2 for an INTEGER), NULL as NULL, a date, time or timestamp
// as its own type, as DuckDB's Arrow clients bind it (a timestamp of noon
// compared with DATEs is not its day: the dates are cast to TIMESTAMP).
func TestBoundParametersAnswerAsDuckDBBinds(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	_, cl, ref := stagedCluster(t, "direct")
	ctx := context.Background()
	for _, c := range []struct {
		sql   string
		args  []any
		split bool
	}{
		{"SELECT d, count(*), sum(x) FROM fact WHERE k >= ? GROUP BY d", []any{int64(3000)}, true},
		{"SELECT count(*), min(o) FROM fact WHERE o > ?", []any{1.5}, true},
		{"SELECT count(*), min(o) FROM fact WHERE o > ?", []any{"1.5"}, true},
		{"SELECT c, count(*) FROM fact WHERE c = ? OR d = ? GROUP BY c", []any{"c3", int32(4)}, true},
		{"SELECT f.d, count(*), sum(f.x) FROM fact f JOIN ord o ON f.o = o.o WHERE o.urgent = ? AND f.x BETWEEN ? AND ? GROUP BY f.d",
			[]any{true, int64(10), 250.5}, true},
		{"SELECT k FROM fact WHERE d = ?", []any{nil}, true},
		{"SELECT d, count(*) AS n FROM fact WHERE x > ? GROUP BY d HAVING count(*) > ?", []any{100.25, int64(100)}, true},
		{"SELECT d, count(*) FROM fact WHERE DATE '2024-01-01' + (k % 400)::INTEGER >= ? GROUP BY d",
			[]any{timeArg{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), arrow.FixedWidthTypes.Date32}}, true},
		{"SELECT d, count(*) FROM fact WHERE DATE '2024-01-01' + (k % 400)::INTEGER BETWEEN ? AND ? GROUP BY d",
			[]any{timeArg{time.Date(2024, 2, 1, 12, 0, 0, 0, time.UTC), &arrow.TimestampType{Unit: arrow.Microsecond}},
				timeArg{time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC), arrow.FixedWidthTypes.Date32}}, true},
		{"SELECT count(*), max(k) FROM fact WHERE TIMESTAMP '2024-01-01' + to_minutes(k) < ?",
			[]any{timeArg{time.Date(2024, 1, 3, 10, 15, 30, 500000000, time.UTC), &arrow.TimestampType{Unit: arrow.Microsecond}}}, true},
		{"SELECT count(*), max(k) FROM fact WHERE TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_minutes(k) >= ?",
			[]any{timeArg{time.Date(2024, 1, 5, 7, 0, 0, 0, time.UTC), &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}}}, true},
		{"SELECT d, count(*) FROM fact WHERE TIME '00:00:00' + to_seconds(k) < ? GROUP BY d",
			[]any{timeArg{time.Date(1970, 1, 1, 1, 30, 0, 0, time.UTC), arrow.FixedWidthTypes.Time64us}}, true},
		{"SELECT count(*), max(k) FROM fact WHERE CAST(TIMESTAMP '2024-01-01' + to_minutes(k) AS TIMESTAMP_S) < ?",
			[]any{timeArg{time.Date(2024, 1, 3, 10, 15, 30, 900000000, time.UTC), &arrow.TimestampType{Unit: arrow.Millisecond}}}, true},
		// A NUL byte cannot be written into SQL: bound here by DuckDB. Cut
		// at it in the tasks' SQL, the value answered as 'c3', and the
		// text, the plan's cache key, answered 'c3' after as it had.
		{"SELECT count(*) FROM fact WHERE c = ? AND d >= 0", []any{"c3\x00zzz"}, false},
		{"SELECT count(*) FROM fact WHERE c = ? AND d >= 0", []any{"c3"}, true},
		{"SELECT count(*) FILTER (WHERE c = ?), count(*) FROM fact", []any{"c3\x00zzz"}, false},
		// The result's type depends on the value's: bound here by DuckDB.
		{"SELECT k, ? AS tag FROM fact WHERE k < 30", []any{"t"}, false},
		// A column that takes a parameter's type takes the value's, of
		// another type than DuckDB inferred for the parameter: DuckDB
		// binds the statement again for it. The answer was refused,
		// "prepare it again".
		{"SELECT d, coalesce(?, 0) AS z, count(*) FROM fact GROUP BY d", []any{int64(1) << 40}, true},
		{"SELECT greatest(?, 1) AS g, count(*) FROM fact WHERE k < 100", []any{2.5}, true},
		{"SELECT k, [1, ?] AS l FROM fact WHERE k < 5", []any{2.5}, true},
		{"SELECT k, coalesce(?, 0) AS z FROM fact WHERE k < 5", []any{nil}, true},
	} {
		name := fmt.Sprintf("%s %v", c.sql, c.args)
		st, err := ref.Prepare(ctx, c.sql)
		if err != nil {
			t.Fatal(err)
		}
		// DuckDB binds the values RowArgs makes of the client's, each of
		// its Arrow type's DuckDB type.
		rec := paramRecord(t, c.args...)
		args, err := duck.RowArgs(rec, 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := st.Query(ctx, memory.DefaultAllocator, args, duck.DefaultBatchSize)
		if err != nil {
			t.Fatalf("%s: DuckDB: %v", name, err)
		}
		want, wantSchema := rowStrings(t, rdr), rdr.Schema()
		rdr.Release()
		_ = st.Close()
		slices.Sort(want)

		p, err := cl.Prepare(ctx, c.sql)
		if err != nil {
			t.Fatal(err)
		}
		p.SetParameters(rec)
		rec.Release()
		info, err := p.Execute(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var meta struct{ Mode, Reason string }
		_ = json.Unmarshal(info.AppMetadata, &meta)
		if split := meta.Mode != "" && meta.Mode != "local"; split != c.split {
			t.Errorf("%s: plan %q (%s), want split %v", name, meta.Mode, meta.Reason, c.split)
		}
		// The FlightInfo's column types and every stream's are DuckDB's.
		sameTypes := func(what string, sc *arrow.Schema) {
			t.Helper()
			if !slices.EqualFunc(sc.Fields(), wantSchema.Fields(), func(a, b arrow.Field) bool { return arrow.TypeEqual(a.Type, b.Type) }) {
				t.Errorf("%s: %s's columns %v, want DuckDB's %v", name, what, sc, wantSchema)
			}
		}
		sc, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		sameTypes("the FlightInfo", sc)
		var got []string
		for _, ep := range info.Endpoint {
			at := cl.Client
			if len(ep.Location) > 0 && ep.Location[0].Uri != reuseConnection {
				at = dialAt(t, ep.Location[0].Uri)
			}
			stream, err := at.DoGet(ctx, ep.Ticket)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r, err := flight.NewRecordReader(stream)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			sameTypes("a stream", r.Schema())
			got = append(got, rowStrings(t, r)...)
			r.Release()
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): %d rows %.200v, want DuckDB's %d %.200v", name, meta.Mode, len(got), got, len(want), want)
		}
		_ = p.Close(ctx)
	}
}

// A prepared statement's result schema bound to values of other types
// than its parameters' (coalesce(?, 0) bound to a BIGINT), or of a
// statement whose columns' types DuckDB leaves to the values (SELECT ?),
// is learnt without running the statement: learnt by running it to its
// first batch, then run at its DoGet, nextval() advanced twice, and the
// answer was 2 where DuckDB alone gives 1. The columns are named as
// DuckDB names them.
func TestBoundSchemaRunsNothing(t *testing.T) {
	_, cl, _ := startCluster(t, 1, "direct")
	ref := ducktest.Open(t)
	ctx := context.Background()
	for i, c := range []struct {
		sql string
		arg any
	}{
		{"SELECT coalesce(?, 0) AS z, nextval('s0') AS n", int64(1) << 40},
		{"SELECT [1, ?] AS l, nextval('s1') AS n", 2.5},
		// Unresolved: DuckDB names and types no column before the values.
		{"SELECT ? AS tag, nextval('s2') AS n", "t"},
		{"SELECT ?, nextval('s3') AS n", int32(7)},
		{"SELECT ? + 1 AS p, nextval('s4') AS n FROM range(3) ORDER BY 1 LIMIT 1", 2.5},
	} {
		if _, err := cl.ExecuteUpdate(ctx, fmt.Sprintf("CREATE SEQUENCE s%d", i)); err != nil {
			t.Fatal(err)
		}
		if _, err := ref.Exec(ctx, fmt.Sprintf("CREATE SEQUENCE r%d", i)); err != nil {
			t.Fatal(err)
		}
		p, info, got := executeBound(t, ctx, cl, c.sql, c.arg)
		if len(got) != 1 || !strings.HasSuffix(got[0], "|1") {
			t.Errorf("%s with %v: %q, want nextval's first value, 1", c.sql, c.arg, got)
		}
		sc, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Prepare(ctx, strings.ReplaceAll(c.sql, "nextval('s", "nextval('r"))
		if err != nil {
			t.Fatal(err)
		}
		rec := paramRecord(t, c.arg)
		args, err := duck.RowArgs(rec, 0, 1<<20)
		rec.Release()
		if err != nil {
			t.Fatal(err)
		}
		rdr, err := want.Query(ctx, memory.DefaultAllocator, args, duck.DefaultBatchSize)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(sc.Fields(), rdr.Schema().Fields(), func(a, b arrow.Field) bool { return a.Name == b.Name && arrow.TypeEqual(a.Type, b.Type) }) {
			t.Errorf("%s with %v: columns %v, want DuckDB's %v", c.sql, c.arg, sc, rdr.Schema())
		}
		rdr.Release()
		_ = want.Close()
		_ = p.Close(ctx)
	}
}

// A prepared statement bound to values of other types than its
// parameters' (a BIGINT for coalesce(?, 0)'s INTEGER), run again after
// the view it reads was redefined with its columns swapped, answers with
// the columns as they are now, named so: given the names of when it was
// prepared, each column came under the other's name (a tester's).
func TestBoundValuesOverAChangedViewKeepTheirNames(t *testing.T) {
	c, _, _ := startCluster(t, 1, "direct")
	cl := sessionClient(t, c)
	ctx := context.Background()
	for _, sql := range []string{
		"CREATE TABLE vt AS SELECT range::INTEGER AS a, (range + 1000)::INTEGER AS b FROM range(3)",
		"CREATE VIEW vv AS SELECT a, b FROM vt",
	} {
		if _, err := cl.ExecuteUpdate(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	p, err := cl.Prepare(ctx, "SELECT *, coalesce(?, 0) AS c FROM vv ORDER BY a LIMIT 1")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	run := func() (string, error) {
		t.Helper()
		rec := paramRecord(t, int64(5))
		p.SetParameters(rec)
		rec.Release()
		info, err := p.Execute(ctx)
		if err != nil {
			return "", err
		}
		var out []string
		for _, ep := range info.Endpoint {
			r, err := cl.DoGet(ctx, ep.Ticket)
			if err != nil {
				return "", err
			}
			for r.Next() {
				rec := r.RecordBatch()
				for i, f := range rec.Schema().Fields() {
					out = append(out, f.Name+"="+rec.Column(i).ValueStr(0))
				}
			}
			err = r.Err()
			r.Release()
			if err != nil {
				return "", err
			}
		}
		return strings.Join(out, " "), nil
	}
	if got, err := run(); err != nil || got != "a=0 b=1000 c=5" {
		t.Fatalf("before: %q, %v", got, err)
	}
	if _, err := cl.ExecuteUpdate(ctx, "CREATE OR REPLACE VIEW vv AS SELECT b, a FROM vt"); err != nil {
		t.Fatal(err)
	}
	got, err := run()
	if err == nil && got != "b=1000 a=0 c=5" {
		t.Fatalf("after the view's columns were swapped: %q, want DuckDB's b=1000 a=0 c=5 (or a refusal)", got)
	}
}

// A write returning rows, prepared and bound to values of other types
// than its parameters', runs once: its result schema was learnt by
// running it, and then it ran again (a tester's: INSERT ... RETURNING
// inserted two rows, UPDATE ctr SET n = n + ? RETURNING n gave 2).
func TestBoundWritesReturningRunOnce(t *testing.T) {
	_, cl, _ := startCluster(t, 1, "direct")
	ctx := context.Background()
	for _, stmt := range []string{"CREATE TABLE rt (id INTEGER, w VARCHAR)", "CREATE TABLE ctr AS SELECT 0::INTEGER AS n"} {
		if _, err := cl.ExecuteUpdate(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		sql, want string
	}{
		{"INSERT INTO rt VALUES (?, 'w') RETURNING id", "30"},
		{"UPDATE ctr SET n = n + ? RETURNING n", "30"},
	} {
		p, _, got := executeBound(t, ctx, cl, c.sql, int64(30))
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("%s: %q, want %s", c.sql, got, c.want)
		}
		_ = p.Close(ctx)
	}
	if n := queryInt(t, cl, "SELECT count(*) FROM rt"); n != 1 {
		t.Errorf("%d rows inserted, want 1", n)
	}
	if n := queryInt(t, cl, "SELECT n::BIGINT FROM ctr"); n != 30 {
		t.Errorf("the counter is %d, want 30", n)
	}
}

// executeBound prepares sql, binds arg, executes it and reads every
// endpoint: the statement (to close), its FlightInfo and its rows.
func executeBound(t *testing.T, ctx context.Context, cl *flightsql.Client, sql string, arg any) (*flightsql.PreparedStatement, *flight.FlightInfo, []string) {
	t.Helper()
	p, err := cl.Prepare(ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	rec := paramRecord(t, arg)
	p.SetParameters(rec)
	rec.Release()
	info, err := p.Execute(ctx)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var got []string
	for _, ep := range info.Endpoint {
		rows, _ := readCounted(t, ctx, cl.Client, ep.Ticket)
		got = append(got, rows...)
	}
	return p, info, got
}
