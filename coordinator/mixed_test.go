package coordinator

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// mixedFiles writes, for each view, two Parquet files of 6144 rows in row
// groups of 2048 (the select lists of the first and of the second file)
// and the view reading them as one glob (with the view's read_parquet
// options).
func mixedFiles(t *testing.T, dir string, views map[string][3]string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	var out []string
	for name, v := range views {
		for f, cols := range v[:2] {
			ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT %s FROM range(6144)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2048)`,
				cols, filepath.Join(dir, fmt.Sprintf("mx%s-%d.parquet", name, f))))
		}
		out = append(out, fmt.Sprintf("CREATE VIEW mx%s AS SELECT * FROM read_parquet('%s'%s)", name,
			filepath.Join(dir, "mx"+name+"-*.parquet"), v[2]))
	}
	return out
}

// answer is a query's result: its columns' types and its rows (sorted),
// or the class of its error ("Binder Error", "Conversion Error", ...).
type answer struct {
	types []string
	rows  []string
	err   string
}

// errorClass is the DuckDB error class an error's text names.
func errorClass(err error) string {
	for _, c := range []string{"Binder Error", "Conversion Error", "Invalid Input Error", "IO Error", "Catalog Error", "Out of Range Error"} {
		if strings.Contains(err.Error(), c) {
			return c
		}
	}
	return "error: " + err.Error()
}

func duckAnswer(t *testing.T, conn *duck.Conn, q string) answer {
	t.Helper()
	ctx := context.Background()
	st, err := conn.Prepare(ctx, q)
	if err != nil {
		return answer{err: errorClass(err)}
	}
	defer st.Close()
	var a answer
	for _, f := range st.Schema.Fields() {
		a.types = append(a.types, f.Type.String())
	}
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize)
	if err != nil {
		return answer{err: errorClass(err)}
	}
	defer rdr.Release()
	for rdr.Next() {
		a.rows = append(a.rows, recordRows(rdr.RecordBatch())...)
	}
	if err := rdr.Err(); err != nil {
		return answer{err: errorClass(err)}
	}
	slices.Sort(a.rows)
	return a
}

// clusterAnswer is q's answer through the cluster, and its plan's mode
// ("" when it failed before planning) and task SQL (of every stage).
func clusterAnswer(t *testing.T, cl *flightsql.Client, q string) (a answer, mode, sql string) {
	t.Helper()
	ctx := context.Background()
	info, err := cl.Execute(ctx, q)
	if err != nil {
		return answer{err: errorClass(err)}, "", ""
	}
	plan := planOf(t, info)
	mode, sql = plan.Mode, plan.TaskSQL
	for _, s := range plan.Stages {
		sql += "\n" + s.SQL
	}
	schema, err := flight.DeserializeSchema(info.Schema, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range schema.Fields() {
		a.types = append(a.types, f.Type.String())
	}
	for _, ep := range info.Endpoint {
		r, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			return answer{err: errorClass(err)}, mode, sql
		}
		for r.Next() {
			rec := r.RecordBatch()
			if !rec.Schema().Equal(schema) {
				t.Errorf("%s: a stream's schema %s, the FlightInfo's %s", q, rec.Schema(), schema)
			}
			a.rows = append(a.rows, recordRows(rec)...)
		}
		err = r.Err()
		r.Release()
		if err != nil {
			return answer{err: errorClass(err)}, mode, sql
		}
	}
	slices.Sort(a.rows)
	return a, mode, sql
}

// A glob whose files store a column as different types (BIGINT and
// VARCHAR, INTEGER and BIGINT, BIGINT and DECIMAL, DECIMAL scales,
// TIMESTAMP units), its columns in another order, or lack a column, is
// read as DuckDB reads it whole: every slice is read as the first file's
// columns, by DuckDB itself, so every answer (its types and its rows) and
// every error class is DuckDB's, and the scan still splits. With
// union_by_name the scan runs local (read_parquet with options), as it
// does when the files hold a column named file_index (what the slice
// reader filters by), and DuckDB answers it.
func TestMixedFileTypesReadAsDuckDB(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	dir := t.TempDir()
	views := mixedFiles(t, dir, map[string][3]string{
		"str":   {"range::BIGINT AS k, range AS r", "range::VARCHAR AS k, 6144 + range AS r", ""},
		"int":   {"range::INTEGER AS k, range AS r", "range::BIGINT AS k, 6144 + range AS r", ""},
		"big":   {"range::INTEGER AS k, range AS r", "(range * 1000000)::BIGINT AS k, 6144 + range AS r", ""},
		"order": {"range AS k, range AS r", "6144 + range AS r, range AS k", ""},
		"dec":   {"(range / 4)::DECIMAL(18,2) AS k, range AS r", "(range / 8)::DECIMAL(18,4) AS k, 6144 + range AS r", ""},
		"ts": {"TIMESTAMP '2020-01-01' + to_seconds(range) AS k, range AS r",
			"(TIMESTAMP '2020-01-01' + to_seconds(range))::TIMESTAMP_NS AS k, 6144 + range AS r", ""},
		"bigdec": {"range::BIGINT AS k, range AS r", "(range / 4)::DECIMAL(18,2) AS k, 6144 + range AS r", ""},
		"miss":   {"range AS k, range AS r", "range AS k", ""},
		"union":  {"range AS k, range AS r", "range AS k", ", union_by_name = true"},
		"index":  {"range AS k, range AS r, 0 AS file_index", "range::VARCHAR AS k, 6144 + range AS r, 1 AS file_index", ""},
	})
	cl := pruneCluster(t, dir, views)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	for _, v := range []string{"str", "int", "big", "order", "dec", "bigdec", "ts", "miss", "union", "index"} {
		for _, q := range []string{
			"SELECT * FROM mx%s",
			"SELECT sum(k) AS s FROM mx%s",
			"SELECT * FROM mx%s WHERE k >= 3000",
			"SELECT r FROM mx%s WHERE k = 1500",
			"SELECT k, count(*) AS n FROM mx%s GROUP BY k",
			"SELECT a.k, a.r, b.r AS r2 FROM mx%[1]s a JOIN mx%[1]s b ON a.k = b.k",
		} {
			q := fmt.Sprintf(q, v)
			t.Run(q, func(t *testing.T) {
				want := duckAnswer(t, ref, q)
				got, mode, sql := clusterAnswer(t, cl, q)
				sameAnswer(t, got, want)
				local := mode == "local"
				if mode != "" && local != (v == "union" || v == "index") {
					t.Errorf("plan %s", mode)
				}
				first := filepath.Join(dir, "mx"+v+"-0.parquet")
				if mode != "" && !local && (!strings.Contains(sql, "file_index") || !strings.Contains(sql, first)) {
					t.Errorf("the slices are not read as %s: %s", first, sql)
				}
			})
		}
	}
}

// sameAnswer fails the test unless got is want: the same error class, or
// the same types and rows.
func sameAnswer(t *testing.T, got, want answer) {
	t.Helper()
	if got.err != want.err {
		t.Fatalf("error %q, DuckDB's %q", got.err, want.err)
	}
	if !slices.Equal(got.types, want.types) {
		t.Fatalf("types %v, DuckDB's %v", got.types, want.types)
	}
	if !slices.Equal(got.rows, want.rows) {
		t.Fatalf("%d rows, DuckDB %d; differing at %q", len(got.rows), len(want.rows), firstDiff(got.rows, want.rows))
	}
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return a[i] + " / " + b[i]
		}
	}
	return "the end"
}

// recordRows renders a record's rows, a cell a column joined by "|".
func recordRows(rec arrow.RecordBatch) []string {
	out := make([]string, rec.NumRows())
	for i := range out {
		cells := make([]string, rec.NumCols())
		for j, col := range rec.Columns() {
			cells[j] = col.ValueStr(i)
		}
		// A copy: a string read from an array aliases its buffer, which
		// DuckDB frees with the reader (strings.Join of one cell returns
		// the cell itself).
		out[i] = strings.Clone(strings.Join(cells, "|"))
	}
	return out
}
