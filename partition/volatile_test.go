package partition_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
	"github.com/skeindb/skein/partition"
)

// TestVolatileCoversDuckDB asks DuckDB which of its functions give
// another value in another query (stability VOLATILE or
// CONSISTENT_WITHIN_QUERY), and which of its macros call one, directly
// or through another macro: each must keep a split query local or be
// one of the instant's, bound once. A DuckDB that adds one fails here
// until the planner knows it.
func TestVolatileCoversDuckDB(t *testing.T) {
	conn := ducktest.Open(t)
	unstable := map[string]string{} // name: why
	for _, r := range ducktest.Strings(t, conn, `SELECT DISTINCT lower(function_name), stability FROM duckdb_functions()
WHERE function_type NOT IN ('macro', 'table_macro') AND stability IS NOT NULL AND stability <> 'CONSISTENT'`) {
		name, stability := r[0], r[1]
		if stability != "VOLATILE" && stability != "CONSISTENT_WITHIN_QUERY" {
			t.Errorf("%s: stability %s, which this test does not know", name, stability)
		}
		if stability == "VOLATILE" && partition.IsNow(name) {
			t.Errorf("%s is VOLATILE: binding it once per query is not DuckDB's answer", name)
		}
		if partition.IsEvaluatedAlike(name) {
			continue
		}
		unstable[name] = stability
	}
	if unstable["random"] == "" || unstable["now"] == "" {
		t.Fatalf("duckdb_functions() lists no random or now as unstable: %v", unstable)
	}

	// Macros: the names their bodies call (functions and macros, and
	// keywords the parser writes as columns, current_timestamp).
	calls := map[string][]string{}
	for _, m := range ducktest.Strings(t, conn, `SELECT lower(function_name), function_type, macro_definition FROM duckdb_functions()
WHERE function_type IN ('macro', 'table_macro') AND macro_definition IS NOT NULL`) {
		name, kind, body := m[0], m[1], m[2]
		query := body
		if kind == "macro" {
			query = "SELECT " + body
		}
		var doc any
		if err := json.Unmarshal([]byte(serialize(t, conn, query)), &doc); err != nil {
			t.Fatal(err)
		}
		if e, _ := doc.(map[string]any)["error"].(bool); e {
			t.Errorf("macro %s: its body does not parse: %s", name, body)
			continue
		}
		walk(doc, func(n map[string]any) {
			switch n["class"] {
			case "FUNCTION":
				calls[name] = append(calls[name], strings.ToLower(n["function_name"].(string)))
			case "COLUMN_REF":
				if names, _ := n["column_names"].([]any); len(names) == 1 {
					calls[name] = append(calls[name], strings.ToLower(names[0].(string)))
				}
			}
		})
	}
	for changed := true; changed; {
		changed = false
		for name, called := range calls {
			for _, c := range called {
				if _, ok := unstable[name]; !ok && (unstable[c] != "" || partition.IsNow(c)) {
					unstable[name] = "a macro calling " + c
					changed = true
				}
			}
		}
	}
	if unstable["ago"] == "" {
		t.Errorf("the macro ago (current_timestamp - i) was not found to read the instant: %v", calls["ago"])
	}
	for name, why := range unstable {
		if !partition.IsVolatile(name) && !partition.IsNow(name) {
			t.Errorf("%s (%s) is neither volatile nor bound once (partition/volatile.go)", name, why)
		}
	}
}

// TestDeterministicTasks: a query calling a volatile function or reading
// a sample anywhere stays local; the instant's functions named with
// DuckDB's schema and catalog are bound once, as their bare names are.
func TestDeterministicTasks(t *testing.T) {
	conn := ducktest.Open(t)
	aggs := partition.Aggregates{"count_star": true, "count": true, "sum": true, "min": true, "max": true}
	const f, g = "read_parquet('f.parquet')", "read_parquet('g.parquet')"
	local := []string{
		"SELECT current_query_id(), x FROM " + f,
		"SELECT count(DISTINCT txid_current()) FROM " + f,
		`SELECT "RANDOM"() FROM ` + f,
		"SELECT x FROM " + f + " ORDER BY main.random() LIMIT 3",
		"SELECT ago(INTERVAL 1 DAY), x FROM " + f,
		"SELECT x FROM " + f + " WHERE d > pg_catalog.pg_conf_load_time()",
		"SELECT count(*) FROM " + f + " AS a JOIN " + g + " AS b ON a.id = b.id AND b.x < uuidv7()::VARCHAR",
		// Not DuckDB's instant (an error in DuckDB 1.5): left to DuckDB.
		"SELECT current_timestamp(3), x FROM " + f,
		"SELECT pg_catalog.now(), x FROM " + f,
		// Samples: each task would sample its own rows.
		"SELECT count(*) FROM " + f + " WHERE id IN (SELECT id FROM " + g + " USING SAMPLE 10 ROWS)",
		"SELECT count(*) FROM " + f + " AS a JOIN (SELECT id FROM " + g + " USING SAMPLE 10 ROWS) AS b USING (id)",
		"SELECT count(*) FROM " + f + " AS a JOIN " + g + " AS b TABLESAMPLE 10 ROWS USING (id)",
		"SELECT count(*) FROM (SELECT id FROM " + f + " USING SAMPLE 10 ROWS)",
		"SELECT x FROM " + f + " WHERE x > (SELECT max(x) FROM " + g + " USING SAMPLE 5% (bernoulli, 7))",
		// Collations: a step's Arrow output carries none to the next.
		"SELECT s COLLATE NOCASE AS c, count(*) FROM " + f + " GROUP BY 1",
		"SELECT x, s COLLATE NOCASE AS c FROM " + f + " ORDER BY c, x",
		"SELECT count(DISTINCT s COLLATE NOACCENT) FROM " + f,
		// bitstring_agg of a column alone reads its statistics, which a
		// step's input (an exchange's rows) has not.
		"SELECT bitstring_agg(x) AS b FROM " + f,
		"SELECT y, BITSTRING_AGG(x) FROM " + f + " GROUP BY y",
		// A name spelled as the plan's own columns.
		"SELECT s AS skein_o0, x FROM " + f + " ORDER BY y DESC LIMIT 3",
		"SELECT skein_part, count(*) FROM " + f + " GROUP BY 1",
		// A UNION value: no exchange passes it exactly.
		"SELECT union_value(i := x) AS u, count(*) FROM " + f + " GROUP BY 1",
		"SELECT count(DISTINCT CAST(x AS UNION(i INTEGER, s VARCHAR))) FROM " + f,
		"SELECT count(DISTINCT from_json(s, '{\"u\": \"UNION(i INT, s VARCHAR)\"}')) FROM " + f,
		"SELECT count(*) FROM read_json('d.json', columns = {'u': 'union(i INT, s VARCHAR)'}) AS a JOIN " + g + " AS b ON a.u::VARCHAR = b.s",
	}
	bound := []string{
		"SELECT main.now(), x FROM " + f,
		`SELECT "system".main.today() AS d, x FROM ` + f,
		"SELECT x FROM " + f + " WHERE t < SYSTEM.Main.get_current_timestamp()",
		"SELECT count(*), max(main.transaction_timestamp()) FROM " + f,
	}
	// error() raises the same error for the same row in any task
	// (evaluatedAlike): it keeps nothing local.
	split := []string{
		"SELECT CASE WHEN x < 0 THEN error('negative') ELSE x END FROM " + f,
		"SELECT bitstring_agg(x, 0, 100) AS b FROM " + f + " WHERE x BETWEEN 0 AND 100",
		// A value or a path naming a union is no UNION type.
		"SELECT from_json('{\"union\": 1}', '{\"a\": \"INTEGER\"}') AS j, x FROM " + f,
		"SELECT count(*) FROM read_json('european_union/d.json', columns = {'a': 'INTEGER'}, auto_detect = false)",
	}
	for _, exchanges := range []bool{false, true} {
		env := partition.Env{Aggregates: aggs, Exchanges: exchanges}
		for _, q := range split {
			if _, err := partition.Analyze([]byte(serialize(t, conn, q)), env); err != nil {
				t.Errorf("exchanges %v: %s: %v, want it split", exchanges, q, err)
			}
		}
		for _, q := range local {
			a, err := partition.Analyze([]byte(serialize(t, conn, q)), env)
			if err == nil {
				t.Errorf("exchanges %v: %s: planned %s, want local", exchanges, q, a.Mode)
			} else if !errors.Is(err, partition.ErrLocal) {
				t.Errorf("exchanges %v: %s: %v", exchanges, q, err)
			}
		}
		for _, q := range bound {
			a, err := partition.Analyze([]byte(serialize(t, conn, q)), env)
			if err != nil {
				t.Errorf("exchanges %v: %s: %v", exchanges, q, err)
				continue
			}
			task, err := a.TaskAST(partition.Slice{File: "f.parquet", Last: -1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, uses, err := partition.NowParameter(task); err != nil || !uses {
				t.Errorf("exchanges %v: %s: the instant is not bound once (%v)", exchanges, q, err)
			}
		}
	}
}

// serialize is DuckDB's AST of query (json_serialize_sql).
func serialize(t *testing.T, conn *duck.Conn, query string) string {
	t.Helper()
	rows := ducktest.Strings(t, conn, "SELECT CAST(json_serialize_sql(CAST(? AS VARCHAR)) AS VARCHAR)", query)
	if len(rows) != 1 {
		t.Fatalf("json_serialize_sql gave %d rows", len(rows))
	}
	return rows[0][0]
}

func walk(v any, f func(map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(v)
		for _, x := range v {
			walk(x, f)
		}
	case []any:
		for _, x := range v {
			walk(x, f)
		}
	}
}
