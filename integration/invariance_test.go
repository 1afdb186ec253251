package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/rs/zerolog"
	"github.com/skeindb/skein/coordinator"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

// The partition-invariance suite: every query of the corpus, run on plain
// DuckDB and through clusters of 1, 2 and 3 executors with task sizes that
// give one, a few and many tasks, must give the same answer (as a
// multiset; floats within a relative 1e-9).

// dataset writes Parquet files with several row groups each, NULLs and
// skew, and returns the glob and a view definition over them.
func dataset(t testing.TB, ctx context.Context, dir string) string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	for f := range 4 {
		q := fmt.Sprintf(`COPY (SELECT
  (range + %[1]d * 10000)::BIGINT AS id,
  (range %% 7)::INTEGER AS g,
  CASE WHEN range %% 11 = 0 THEN NULL ELSE 'k' || (range %% 5) END AS s,
  CASE WHEN range %% 13 = 0 THEN NULL ELSE (range %% 1000) * 0.25 END::DOUBLE AS x,
  ((range * 37) %% 10007)::DECIMAL(12, 2) / 100 AS amount,
  range %% 3 = 0 AS flag,
  DATE '2024-01-01' + INTERVAL (range %% 400) DAY AS day
FROM range(%[2]d)) TO '%[3]s' (FORMAT parquet, ROW_GROUP_SIZE %[4]d)`,
			f, 3000+f*1500, filepath.Join(dir, fmt.Sprintf("part-%d.parquet", f)), 1000)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	// An empty file contributes nothing, but must not break anything.
	if _, err := conn.Exec(ctx, fmt.Sprintf(`COPY (SELECT * FROM read_parquet('%s') LIMIT 0) TO '%s' (FORMAT parquet)`,
		filepath.Join(dir, "part-0.parquet"), filepath.Join(dir, "part-9.parquet"))); err != nil {
		t.Fatal(err)
	}
	// The same rows as CSV and newline-delimited JSON, one file each.
	for f := range 4 {
		for _, format := range []string{"csv", "json"} {
			if _, err := conn.Exec(ctx, fmt.Sprintf(`COPY (SELECT * FROM read_parquet('%s')) TO '%s' (FORMAT %s)`,
				filepath.Join(dir, fmt.Sprintf("part-%d.parquet", f)), filepath.Join(dir, fmt.Sprintf("part-%d.%s", f, format)),
				format)); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(dir, "*.parquet")
}

// keyedData writes files sorted or clustered by a key, as fact tables are
// (by time or id), for the key-range plans (partition/ranges.go): sk in
// three files of disjoint BIGINT key ranges, each key twice, some keys NULL;
// so, INTEGER keys in two files whose ranges share 100 keys; mild, two
// files overlapping by a sixth of their range (clustered, not disjoint);
// ov, three files each spanning all the keys (not clustered). It returns
// their views.
func keyedData(t testing.TB, ctx context.Context, dir string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	tables := map[string][]string{}
	for f := range 3 {
		tables["sk"] = append(tables["sk"], fmt.Sprintf(`SELECT CASE WHEN %[1]d = 1 AND range %% 97 = 5 THEN NULL
  ELSE (%[1]d * 3000 + range // 2)::BIGINT END AS k, (range %% 10)::INTEGER AS x, 's' || (range %% 4) AS s FROM range(6000)`, f))
		tables["ov"] = append(tables["ov"], fmt.Sprintf(`SELECT (range * 3 + %d)::BIGINT AS k, (range %% 7)::INTEGER AS x FROM range(3000)`, f))
	}
	// nk: the null-supplying side of outer joins to so counted below the
	// join (partition/eagerleft.go): 300 INTEGER keys and NULLs, so's
	// keys from 300 up matching none.
	for f := range 2 {
		tables["nk"] = append(tables["nk"], fmt.Sprintf(`SELECT CASE WHEN range %% 13 = %[1]d THEN NULL ELSE (range %% 300)::INTEGER END AS k,
  CASE WHEN range %% 17 = 0 THEN NULL ELSE (range %% 50)::BIGINT END AS x, 's' || (range %% 7) AS s FROM range(3000)`, f))
	}
	for f := range 2 {
		tables["so"] = append(tables["so"], fmt.Sprintf(`SELECT (%d * 4500 + range)::INTEGER AS k, (range %% 13)::INTEGER AS y,
  range %% 5 = 0 AS urgent FROM range(4600)`, f))
		tables["mild"] = append(tables["mild"], fmt.Sprintf(`SELECT (%d * 3700 + range)::BIGINT AS k, (range %% 3)::INTEGER AS x FROM range(5000)`, f))
	}
	var views []string
	for _, name := range []string{"sk", "so", "mild", "ov", "nk"} {
		for f, q := range tables[name] {
			if _, err := conn.Exec(ctx, fmt.Sprintf(`COPY (%s) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`, q,
				filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", name, f)))); err != nil {
				t.Fatal(err)
			}
		}
		views = append(views, fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s')", name,
			filepath.Join(dir, name+"-*.parquet")))
	}
	return views
}

// textScans are CSV and JSON reads of the data set's files: those with
// columns and auto_detect = false split by file, the others run local.
func textScans(dir string) []string {
	cols := `columns = {'id': 'BIGINT', 'g': 'INTEGER', 's': 'VARCHAR', 'x': 'DOUBLE', 'amount': 'DECIMAL(18,4)',
  'flag': 'BOOLEAN', 'day': 'TIMESTAMP'}`
	csv := fmt.Sprintf("read_csv('%s', %s, auto_detect = false, header = true)", filepath.Join(dir, "*.csv"), cols)
	json := fmt.Sprintf("read_json(['%s', '%s'], %s, auto_detect = false, format = 'newline_delimited')",
		filepath.Join(dir, "part-1.json"), filepath.Join(dir, "part-2.json"), cols)
	auto := fmt.Sprintf("read_csv('%s')", filepath.Join(dir, "*.csv"))
	return []string{
		"SELECT * FROM " + csv,
		"SELECT g, count(*), sum(x), min(s), max(day) FROM " + csv + " GROUP BY g ORDER BY g",
		"SELECT count(DISTINCT s), avg(amount) FROM " + csv + " WHERE flag",
		"SELECT * FROM " + csv + " ORDER BY id DESC LIMIT 9",
		"SELECT c.id, c.x, p.s FROM " + csv + " AS c JOIN v AS p USING (id) WHERE c.g = 4",
		"SELECT id, s FROM " + json + " WHERE x > 200",
		"SELECT s, sum(amount), count(x) FROM " + json + " GROUP BY s ORDER BY s NULLS LAST",
		"SELECT id FROM " + csv + " WHERE g = 1 UNION ALL SELECT id FROM " + json + " WHERE g = 2",
		"SELECT g, count(*) FROM " + auto + " GROUP BY g ORDER BY g",
	}
}

// staged are the shapes that need exchanges between executors: joins of
// two large inputs (co-partitioned) and small ones (broadcast), each join
// kind, aggregates that do not decompose, GROUP BY forms, windows,
// subqueries and CTEs. Each must be planned in stages, and give DuckDB's
// answer.
var staged = []string{
	// GEOMETRY through a shuffle, as its WKT text (its Arrow form,
	// geoarrow.wkb, crashed the consumers).
	"SELECT gm::VARCHAR AS t, count(*) AS n FROM (SELECT ('POINT(' || g || ' 0.30000000000000004)')::GEOMETRY AS gm FROM v) GROUP BY gm",
	// One with a coordinate reference system keeps it (typeof says it),
	// in the result's type too.
	"SELECT typeof(gm) AS ty, gm, count(*) AS n FROM (SELECT ('POINT(' || g || ' 1)')::GEOMETRY('OGC:CRS84') AS gm FROM v) GROUP BY gm",
	// Join keys of two types co-partitioned by the type DuckDB compares
	// them as: hashed as DOUBLEs, a BIGINT and a DECIMAL(38,0) past 2^53,
	// and a FLOAT and a DECIMAL, rounded equal keys apart.
	"SELECT count(*), sum(a.g) FROM (SELECT (id - 9007199254800000)::BIGINT AS k, g FROM v) AS a JOIN (SELECT (id - 9007199254800000)::DECIMAL(38,0) AS k FROM v) AS b ON a.k = b.k",
	"SELECT a.t, count(*) FROM (SELECT ((id % 100) / 100)::FLOAT AS t, id FROM v) AS a JOIN (SELECT ((id % 100) / 100)::DECIMAL(4,2) AS t, id FROM v) AS b ON a.t = b.t AND a.id = b.id GROUP BY a.t",
	// A struct's * over a subquery: the struct alone ships, to one task
	// (a view's long strings shipped to partitions took 120 s, DuckDB
	// 0.9 s); the subquery's * ships every column.
	"SELECT st.*, median(x), count(*) FROM (SELECT {'g': g, 'd': day} AS st, x, s FROM v) AS q GROUP BY ALL",
	"SELECT q.*, count(*) FROM (SELECT g, id % 3 AS m FROM v) AS q GROUP BY ALL",
	// Aggregates of one row each cross joined (TPC-DS Q28, Q88, Q90):
	// each input computed by stages of its own, one task joining them;
	// two grouped aggregates of joins FULL joined by their keys (Q97),
	// co-partitioned whole.
	"SELECT a.s / b.n AS r, a.s, b.n, c.m FROM (SELECT sum(l_extendedprice) AS s FROM lineitem WHERE l_discount > 0.05) a, " +
		"(SELECT count(*) AS n FROM lineitem, orders WHERE l_orderkey = o_orderkey AND o_orderpriority = '1-URGENT') b, " +
		"(SELECT avg(l_quantity) AS m, count(DISTINCT l_suppkey) AS ds FROM lineitem WHERE l_shipmode = 'AIR') c",
	// Windows over a ROLLUP's groups, GROUPING() in their keys (TPC-DS
	// Q86).
	"SELECT l_returnflag, l_linestatus, sum(l_quantity) AS s, grouping(l_returnflag) + grouping(l_linestatus) AS lvl, " +
		"rank() OVER (PARTITION BY grouping(l_returnflag) + grouping(l_linestatus), CASE WHEN grouping(l_linestatus) = 0 THEN l_returnflag END " +
		"ORDER BY sum(l_quantity) DESC) AS r FROM lineitem WHERE l_discount > 0.02 GROUP BY ROLLUP (l_returnflag, l_linestatus)",
	// A UNION ALL of branches of other types (INTEGER and BIGINT, DECIMAL
	// and DOUBLE), each cast to the union's.
	"SELECT l_orderkey::INTEGER AS k, l_quantity AS q FROM lineitem WHERE l_orderkey < 2000 UNION ALL " +
		"SELECT o_orderkey, o_totalprice::DOUBLE FROM orders WHERE o_orderkey < 2000",
	// GROUPING() of the select aliases a CUBE names, as BI tools write it.
	"SELECT l_returnflag AS f, l_linestatus AS st, grouping(f, st) AS g, grouping(st) AS gs, count(*) AS n, sum(l_quantity) AS s " +
		"FROM lineitem GROUP BY CUBE (f, st) HAVING grouping(f) = 0 OR count(*) > 0",
	// Three grouped aggregates joined by their keys (TPC-DS Q58, Q83), one
	// filtered on its key: co-partitioned by it.
	"SELECT a.k, a.s, b.n, c.m FROM (SELECT l_suppkey AS k, sum(l_quantity) AS s FROM lineitem GROUP BY 1) a, " +
		"(SELECT ps_suppkey AS k, count(*) AS n FROM partsupp JOIN part ON ps_partkey = p_partkey WHERE p_size < 20 GROUP BY 1) b, " +
		"(SELECT s_suppkey AS k, max(s_acctbal) AS m FROM supplier GROUP BY 1) c WHERE a.k = b.k AND c.k = a.k AND a.k % 7 = 3",
	// Grouped aggregates LEFT and RIGHT joined by their keys (TPC-DS
	// Q78): co-partitioned, the WHERE's filter on the preserved side's
	// key moved into the others through the ONs' equalities; rows no
	// match found kept once, NULL keys (l_partkey % 50 = 7 as NULL)
	// matching nothing.
	"SELECT a.k, a.s, b.n, c.m FROM (SELECT NULLIF(l_partkey % 50, 7) AS k, sum(l_quantity) AS s FROM lineitem GROUP BY 1) a " +
		"LEFT JOIN (SELECT ps_partkey % 60 AS k, count(*) AS n FROM partsupp WHERE ps_availqty > 5000 GROUP BY 1) b ON b.k = a.k " +
		"LEFT JOIN (SELECT p_partkey % 40 AS k, max(p_retailprice) AS m FROM part GROUP BY 1) c ON c.k = a.k WHERE (a.k < 45 OR a.k IS NULL) AND coalesce(b.n, 0) + coalesce(c.m, 0) >= 0",
	"SELECT count(*), count(a.k), count(b.k), sum(c.m) FROM (SELECT l_suppkey % 700 AS k, sum(l_quantity) AS s FROM lineitem GROUP BY 1) a " +
		"RIGHT JOIN (SELECT s_suppkey % 900 AS k, count(*) AS n FROM supplier GROUP BY 1) b ON a.k = b.k " +
		"JOIN (SELECT ps_suppkey % 800 AS k, max(ps_supplycost) AS m FROM partsupp GROUP BY 1) c ON c.k = b.k WHERE b.k BETWEEN 100 AND 750",
	// A UNION ALL of aggregates, aggregated again (TPC-DS Q33, Q56, Q60).
	"SELECT k, sum(s) AS s, count(*) AS n FROM (SELECT l_suppkey % 10 AS k, sum(l_quantity) AS s FROM lineitem WHERE l_partkey IN (SELECT p_partkey FROM part WHERE p_size < 10) GROUP BY 1 " +
		"UNION ALL SELECT s_nationkey % 10 AS k, count(*) AS s FROM partsupp JOIN supplier ON ps_suppkey = s_suppkey WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_size < 10) GROUP BY 1) AS t GROUP BY k",
	"SELECT count(*), count(a.k), count(b.k), sum(a.s), sum(b.n) FROM " +
		"(SELECT o_custkey AS k, sum(l_quantity) AS s FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE l_returnflag = 'R' GROUP BY 1) a FULL JOIN " +
		"(SELECT c_custkey AS k, count(*) AS n FROM customer JOIN orders ON c_custkey = o_custkey WHERE o_orderstatus = 'F' GROUP BY 1) b ON a.k = b.k",
	// A HUGEINT (a sum of integers) through two exchanges: a median over
	// it interpolates as over a HUGEINT, not a DECIMAL(38,0) (which
	// Arrow's decimal128(38, 0) would make it: internal/duck/kept.go).
	"WITH w AS (SELECT g, sum(g + id % 7) AS m FROM v GROUP BY g) SELECT median(m), quantile_cont(m, 0.3), count(*) FROM w WHERE m > (SELECT min(m) FROM w)",
	// INTERVALs (16 bytes a value, which arrow-go's take does not move)
	// beside lists through shuffles, and in the result (executor/take.go).
	"SELECT d::VARCHAR AS d, count(*) AS n, min([g]) AS m FROM (SELECT INTERVAL 1 HOUR * (id % 50) AS d, g FROM v) GROUP BY d",
	"SELECT g, max(INTERVAL 1 DAY * id) - min(INTERVAL 1 HOUR * id) AS span, list(INTERVAL 1 MINUTE * id ORDER BY id)[1:2] AS l, " +
		"{'i': max(INTERVAL 1 SECOND * x)} AS st FROM v GROUP BY g",
	// UHUGEINTs of 2^127 and more through two exchanges: Arrow carries
	// them as negative decimals, read back by their bits.
	"WITH w AS (SELECT id % 5 AS k, max(id::UHUGEINT + 170141183460469231731687303715884105700::UHUGEINT) AS u FROM v GROUP BY 1) " +
		"SELECT k, u, u - 170141183460469231731687303715884105700::UHUGEINT AS d FROM w WHERE u > (SELECT min(u) FROM w)",
	// FULL joins on numbers of two types (DECIMAL and INTEGER, DOUBLE and
	// INTEGER): both sides co-partitioned by the keys as DOUBLE.
	"SELECT count(*), count(l_orderkey), count(p_partkey), sum(p_size) FROM lineitem FULL JOIN part ON l_quantity = p_size",
	"SELECT b, count(*), count(p_partkey) FROM renamed FULL JOIN part ON b = p_size GROUP BY b",
	// Joins of the TPC-H views: lineitem and orders co-partitioned, the
	// others broadcast, or read by each join task itself when their files
	// are small (partition/inplace.go).
	"SELECT l_orderkey, l_linenumber, o_orderdate FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE l_quantity > 45",
	"SELECT o_orderpriority, count(*), sum(l_extendedprice) FROM orders, lineitem WHERE o_orderkey = l_orderkey GROUP BY o_orderpriority",
	"SELECT c_mktsegment, o_orderstatus, count(*) FROM customer, orders, lineitem WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_discount > 0.05 GROUP BY ALL ORDER BY ALL",
	"SELECT l_orderkey, sum(l_quantity) AS q FROM lineitem GROUP BY l_orderkey HAVING sum(l_quantity) > 200",
	"SELECT l_orderkey, count(DISTINCT l_suppkey) AS n, max(l_suppkey) FROM lineitem GROUP BY l_orderkey HAVING count(DISTINCT l_suppkey) > 2",
	"SELECT p_brand, count(DISTINCT l_suppkey) FROM part JOIN lineitem ON p_partkey = l_partkey GROUP BY p_brand ORDER BY 2 DESC, 1 LIMIT 5",
	"SELECT c_custkey, count(o_orderkey) FROM customer LEFT JOIN orders ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%' GROUP BY c_custkey",
	// ASOF joins (each right row chosen is the only one of its keys and
	// inequality value, so the answer is one): the left input split, the
	// right co-partitioned with it by the ON's equalities, or read whole
	// by every task; NULL keys meet nothing.
	"SELECT a.id, a.g, b.id AS prev FROM v a ASOF JOIN vv b ON a.g = b.g AND a.id > b.id WHERE a.x > 1",
	"SELECT a.s, count(*), count(b.id), sum(b.id) FROM v a ASOF LEFT JOIN vv b ON a.s = b.s AND a.id >= b.id + 5 GROUP BY a.s",
	"SELECT a.id, b.k FROM v a ASOF JOIN mild b ON a.id >= b.k",
	// (ASOF RIGHT and FULL joins run on one node:
	// TestAsofRightAndFullJoinsRunOnOneNode.)
	"SELECT o_orderkey, l_shipdate FROM orders ASOF LEFT JOIN lineitem ON o_orderkey = l_orderkey AND o_orderdate + INTERVAL 30 DAY >= l_shipdate",
	// PIVOT with an IN list and GROUP BY: DuckDB's own filtered
	// aggregates (partition/pivot.go), named as DuckDB names them.
	"SELECT * FROM v PIVOT (sum(x) FOR g IN (1, 2, 5) GROUP BY s)",
	"SELECT * FROM v PIVOT (count(*) AS n, max(amount) AS top FOR g IN (0 AS zero, 3) s IN ('k1', 'k4') GROUP BY flag, day)",
	"PIVOT lineitem ON l_linestatus IN ('F', 'O') USING sum(l_extendedprice * (1 - l_discount)) GROUP BY l_returnflag, l_shipmode",
	"SELECT * FROM (SELECT o_orderpriority, l_shipmode, l_quantity FROM orders JOIN lineitem ON o_orderkey = l_orderkey) PIVOT (sum(l_quantity) + 1 FOR l_shipmode IN ('MAIL', 'SHIP', 'AIR') GROUP BY o_orderpriority)",
	"SELECT p.prio, p.f + p.o FROM orders PIVOT (count(*) FOR o_orderstatus IN ('F', 'O') GROUP BY o_orderpriority) AS p(prio, f, o) WHERE p.f > 0",
	// Aggregates that do not decompose and windows over a join: the
	// query over the join's rows (partition/joinraw.go).
	"SELECT n_name, median(c_acctbal), list(c_name ORDER BY c_acctbal DESC, c_custkey)[1:2] AS top2 FROM customer JOIN nation ON c_nationkey = n_nationkey GROUP BY 1",
	"SELECT a.g, median(b.x) + 1, count(DISTINCT b.s), sum(a.id) FROM v AS a JOIN vv AS b ON a.id = b.id + 1 WHERE a.x > 3 GROUP BY a.g HAVING count(*) > 2",
	"SELECT a.id, b.s, rank() OVER (PARTITION BY a.g ORDER BY b.x DESC NULLS LAST, a.id) AS r FROM v AS a JOIN vv AS b USING (id) WHERE a.g < 3",
	"SELECT o_orderpriority, string_agg(DISTINCT l_shipmode, ',' ORDER BY l_shipmode) FROM orders JOIN lineitem ON o_orderkey = l_orderkey GROUP BY ALL",
	// (a select item's alias named in GROUP BY, HAVING or QUALIFY, which
	// no column of the join is named)
	"SELECT a.g AS grp, median(b.x) AS med FROM v AS a JOIN vv AS b USING (id) GROUP BY grp HAVING med > 100",
	"SELECT a.id, b.s, row_number() OVER (PARTITION BY a.s ORDER BY b.x DESC NULLS LAST, a.id) AS rn FROM v AS a JOIN vv AS b USING (id) QUALIFY rn <= 2",
	// Without GROUP BY: grouped by the source's columns not named.
	"SELECT * FROM (SELECT g, s, x FROM v) PIVOT (sum(x) FOR s IN ('k1', 'k2'))",
	"SELECT * FROM vv PIVOT (max(amount) FILTER (WHERE flag) FOR G IN (1, 2))",
	"SELECT n_name, o_orderkey FROM orders JOIN customer ON o_custkey = c_custkey LEFT JOIN nation ON c_nationkey = n_nationkey AND n_regionkey = 1 WHERE o_totalprice > 250000",
	// ON conjuncts on one side alone: the null-supplying side's filter
	// that side's stage, the preserved side's stay in the ON.
	"SELECT c_custkey, count(o_orderkey), count(*) FROM customer LEFT JOIN orders ON c_custkey = o_custkey AND o_orderstatus IS DISTINCT FROM 'F' AND o_totalprice > 100000 WHERE c_acctbal > 0 GROUP BY c_custkey",
	"SELECT c_custkey, o_orderkey IS NULL FROM customer LEFT JOIN orders ON c_custkey = o_custkey AND coalesce(o_orderpriority, 'x') = '1-URGENT' AND c_nationkey < 10 WHERE c_custkey % 50 = 0",
	"SELECT count(*), sum(l_quantity) FROM lineitem JOIN orders ON l_orderkey = o_orderkey AND o_orderstatus = 'O' AND l_shipmode = 'AIR'",
	"SELECT o_orderkey FROM orders WHERE NOT EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_returnflag = 'R')",
	"SELECT count(*) FROM orders WHERE o_custkey NOT IN (SELECT c_custkey FROM customer WHERE c_acctbal > 5000)",
	"SELECT count(*) FROM v WHERE g NOT IN (SELECT g FROM v WHERE x > 240 OR x IS NULL)",
	"SELECT s, count(*) FROM v WHERE id IN (SELECT id * 2 FROM vv WHERE flag) GROUP BY s",
	"SELECT a.id, b.x FROM v AS a JOIN vv AS b ON a.id = b.id + 1 WHERE a.g = 2",
	"SELECT a.g, count(*) FROM v AS a JOIN vv AS b USING (id) GROUP BY a.g",
	"SELECT o_orderkey, c_name FROM customer RIGHT JOIN orders ON c_custkey = o_custkey AND c_acctbal > 0 WHERE o_totalprice < 20000",
	// GROUP BY a co-partitioned join's key, finished in each partition:
	// not the null-supplying side's key (a NULL group from every
	// partition), nor one of two keys.
	"SELECT o_custkey, count(*), count(c_custkey) FROM customer LEFT JOIN orders ON c_custkey = o_custkey AND o_orderstatus = 'F' GROUP BY o_custkey",
	"SELECT o_custkey, count(*), sum(c_acctbal) FROM orders JOIN customer ON o_custkey = c_custkey WHERE o_totalprice > 100000 GROUP BY o_custkey ORDER BY 3 DESC, 1 LIMIT 10",
	"SELECT ps_partkey, count(*), sum(l_quantity) FROM lineitem JOIN partsupp ON l_partkey = ps_partkey AND l_suppkey = ps_suppkey GROUP BY ps_partkey",
	"SELECT count(*), count(a.id), sum(b.x) FROM v AS a RIGHT JOIN vv AS b ON a.id = b.id * 2",
	"SELECT a.id, b.id, a.x, b.x FROM v AS a FULL JOIN vv AS b ON a.id = b.id AND b.g = 1 AND a.x > 100",
	"SELECT count(*), count(c_custkey), count(o_orderkey) FROM customer FULL JOIN orders ON c_custkey = o_custkey AND o_orderstatus = 'F'",
	// A FULL join as a join's input, computed by its own stage: whole, not
	// by slices of one side with the other read whole by every task (which
	// gave the other side's unmatched rows once a task: found by
	// TestRandomQueriesMatchDuckDB, seed 31).
	"SELECT count(*), count(r.c) FROM orders AS o JOIN (SELECT o_totalprice AS c, l_orderkey AS k FROM orders FULL JOIN lineitem ON o_orderkey = l_orderkey AND l_partkey > 500) AS r ON o.o_orderkey = r.k",
	"SELECT count(*), sum(w.bid) FROM v JOIN (SELECT a.id, b.id AS bid FROM v AS a FULL JOIN vv AS b ON a.id = b.id + 5) AS w ON v.id = w.bid",
	// Aggregates that do not decompose, and GROUP BY forms.
	"SELECT g, median(x), quantile_cont(x, 0.9), stddev_samp(x), var_pop(amount) FROM v GROUP BY g",
	"SELECT s, string_agg(CAST(id AS VARCHAR), ',' ORDER BY id), approx_count_distinct(g) FROM v WHERE id % 97 = 0 GROUP BY s",
	"SELECT count(DISTINCT s), min(x), sum(amount) FROM v",
	"SELECT g, flag, count(*), sum(x) FROM v GROUP BY ALL",
	"SELECT g % 3, flag, count(*) FROM v GROUP BY 1, 2 ORDER BY 1, 2",
	"SELECT g, s, count(*), sum(amount) FROM v GROUP BY ROLLUP (g, s)",
	"SELECT g, flag, count(*) FROM v GROUP BY GROUPING SETS ((g, flag), (g))",
	"SELECT id % 5000 AS k, count(*), sum(x) FROM v GROUP BY k",
	// Windows.
	"SELECT id, g, row_number() OVER (PARTITION BY g ORDER BY id) AS rn, sum(x) OVER (PARTITION BY g) FROM v WHERE id % 7 = 0",
	"SELECT id, rank() OVER (PARTITION BY g, flag ORDER BY x, id) FROM v QUALIFY rank() OVER (PARTITION BY g, flag ORDER BY x, id) <= 3",
	"SELECT id, lag(x) OVER (ORDER BY id) FROM v WHERE g = 1",
	// Windows over the query's own groups: the aggregate lifted into a
	// FROM subquery (partition/liftagg.go).
	"SELECT g, sum(x) AS s, rank() OVER (ORDER BY sum(x) DESC, g) AS r FROM v GROUP BY g",
	"SELECT g, flag, count(*) - lag(count(*)) OVER (PARTITION BY flag ORDER BY g) AS d FROM v GROUP BY g, flag",
	"SELECT g, sum(amount) / sum(sum(amount)) OVER () AS share FROM v WHERE x > 100 GROUP BY g HAVING count(*) > 10",
	"SELECT g % 3 AS m, count(*) AS n FROM v GROUP BY m QUALIFY row_number() OVER (ORDER BY count(*) DESC, m) <= 2",
	"SELECT o_orderpriority, count(*) AS n, rank() OVER (ORDER BY count(*) DESC) FROM orders, lineitem WHERE o_orderkey = l_orderkey AND l_quantity > 49 GROUP BY o_orderpriority",
	// FROM subqueries without an alias, named as DuckDB names them
	// (partition/unnamed.go): a join input, and two read by those names.
	"SELECT count(*) FROM lineitem NATURAL JOIN (SELECT o_orderkey AS l_orderkey, o_orderdate FROM orders)",
	"SELECT unnamed_subquery2.o_orderpriority, count(*) FROM (SELECT l_orderkey FROM lineitem WHERE l_quantity > 45) JOIN (SELECT o_orderkey, o_orderpriority FROM orders) ON unnamed_subquery.l_orderkey = unnamed_subquery2.o_orderkey GROUP BY 1",
	// A window in a FROM subquery (top-1 per group), computed by the
	// subquery's stages after a shuffle by its PARTITION BY: they once
	// computed it in each slice's task, a first row per slice. The query
	// over it runs in the window's tasks when it only filters, else in
	// stages of its own.
	"SELECT * FROM (SELECT l_orderkey, l_linenumber, rank() OVER (PARTITION BY l_orderkey ORDER BY l_extendedprice DESC) r FROM lineitem) WHERE r = 1 ORDER BY 1 LIMIT 3",
	"SELECT g, id FROM (SELECT g, id, rank() OVER (PARTITION BY g ORDER BY x, id) AS r FROM v) AS t WHERE r = 1",
	"WITH w AS (SELECT s, id, row_number() OVER (PARTITION BY s ORDER BY amount DESC, id) AS r FROM v) SELECT s, id FROM w WHERE r <= 2",
	"SELECT s, count(*), sum(x) FROM (SELECT s, x, avg(x) OVER (PARTITION BY s) AS m FROM v) AS t WHERE x > m GROUP BY s",
	"SELECT id, d FROM (SELECT id, x - lag(x) OVER (ORDER BY id) AS d FROM v WHERE g = 2) AS t WHERE d > 0",
	// The first n of each window partition, cut in each slice before the
	// shuffle (partition/topn.go), over orders with many ties: ranks,
	// dense ranks, row numbers whose tied rows select the same values,
	// bounds written every way, and no PARTITION BY.
	"SELECT g, id, r FROM (SELECT g, id, rank() OVER (PARTITION BY g ORDER BY x % 10) AS r FROM v) AS t WHERE r <= 2",
	"SELECT g, x % 10 AS m, r FROM (SELECT g, x, dense_rank() OVER (PARTITION BY g ORDER BY x % 10 DESC) AS r FROM v) AS t WHERE 3 > t.r",
	"SELECT s, x FROM (SELECT s, x, row_number() OVER (PARTITION BY s ORDER BY x DESC) AS r FROM v WHERE flag) AS t WHERE r < 4",
	"SELECT g, id FROM (SELECT g, id, rank() OVER (PARTITION BY g ORDER BY amount, id) AS r FROM v) AS t WHERE r = 3 AND id % 2 = 0",
	"SELECT id, x FROM (SELECT id, x, rank() OVER (ORDER BY x DESC, id) AS r FROM v) AS t WHERE r <= 5",
	"SELECT g, id, r FROM (SELECT g, id, row_number() OVER (PARTITION BY g ORDER BY x DESC, id) AS r FROM v) AS t WHERE r >= 2 AND r <= 3",
	"SELECT g, id, rank() OVER (PARTITION BY g ORDER BY x % 5) AS r FROM v QUALIFY r <= 2 ORDER BY g, id LIMIT 40",
	// Two subqueries down (a view of a windowed subquery, read in a
	// query's FROM): the outer subquery is planned on its own.
	"SELECT * FROM (SELECT g, id FROM (SELECT g, id, rank() OVER (PARTITION BY g ORDER BY x, id) AS r FROM v) AS t WHERE r <= 2) AS u WHERE id % 3 = 0",
	"SELECT g, count(*), max(id) FROM (SELECT g, id FROM (SELECT g, id, dense_rank() OVER (PARTITION BY g ORDER BY x % 7) AS r FROM v) AS t WHERE r = 2) AS u GROUP BY g",
	"SELECT count(*), sum(n) FROM (SELECT g, n FROM (SELECT g, count(*) AS n FROM v GROUP BY g) AS a WHERE n > 5) AS b",
	// Joins of inputs neither of which splits, co-partitioned whole by
	// the ON equalities: two aggregates (inner, FULL), an aggregate and a
	// scan on the side an outer join fills with NULLs, NULL keys on both.
	"SELECT a.g, a.s, b.n FROM (SELECT g, sum(x) AS s FROM v GROUP BY g) AS a FULL JOIN (SELECT g, count(*) AS n FROM vv WHERE x > 300 GROUP BY g) AS b ON a.g = b.g",
	"SELECT a.k, a.n, b.m FROM (SELECT id % 13 AS k, count(*) AS n FROM v GROUP BY 1) AS a JOIN (SELECT id % 17 AS k, max(x) AS m FROM vv GROUP BY 1) AS b ON a.k = b.k",
	"SELECT count(*), count(b.id), sum(a.s) FROM (SELECT id % 100 AS k, sum(amount) AS s FROM v GROUP BY 1) AS a LEFT JOIN vv AS b ON a.k = b.id AND b.flag",
	"SELECT a.x, b.c FROM (SELECT x, count(*) AS c FROM v WHERE g = 1 GROUP BY x) AS b RIGHT JOIN (SELECT DISTINCT x FROM vv WHERE g = 2) AS a ON a.x = b.x",
	"SELECT a.id, b.id FROM (SELECT id, x FROM v WHERE g = 5) AS a FULL JOIN (SELECT id, x FROM vv WHERE g = 6 LIMIT 1000000) AS b ON a.x = b.x",
	// USING: its equalities co-partition as an ON's, and its columns are
	// the two sides' coalesced (they ran local).
	"SELECT g, a.s, b.n FROM (SELECT g, sum(x) AS s FROM v GROUP BY g) AS a FULL JOIN (SELECT g, count(*) AS n FROM vv WHERE x > 300 GROUP BY g) AS b USING (g)",
	"SELECT count(*), count(a.x), count(b.x), sum(id), count(DISTINCT id) FROM v AS a FULL JOIN (SELECT * FROM vv WHERE g < 5) AS b USING (id)",
	// SEMI and ANTI JOIN, planned as the EXISTS and NOT EXISTS they are
	// (they ran local).
	"SELECT a.g, count(*), sum(a.x) FROM v AS a SEMI JOIN vv AS b ON a.id = b.id AND b.x > 500 WHERE a.g < 8 GROUP BY a.g",
	"SELECT a.id, a.x FROM v AS a ANTI JOIN (SELECT id, g FROM vv WHERE x % 3 = 0) AS b ON a.id = b.id AND a.g = b.g",
	// UNION BY NAME, ALL or not, chained, over sides with columns in
	// other orders, others missing, names in another case.
	"SELECT id, g, x FROM v WHERE g = 1 UNION ALL BY NAME SELECT x AS X, flag, id FROM vv WHERE g = 2",
	"SELECT g, count(*), count(flag), sum(x) FROM (SELECT g, x FROM v UNION BY NAME SELECT flag, g FROM vv UNION ALL BY NAME SELECT s, g FROM v WHERE id % 5 = 0) GROUP BY g",
	// A set operation in a FROM subquery: its own stages, the query
	// over them.
	"SELECT g, count(*), sum(x) FROM (SELECT g, x FROM v WHERE id % 3 = 0 UNION SELECT g, x FROM vv WHERE flag) AS u GROUP BY g",
	"SELECT count(*), count(DISTINCT s) FROM (SELECT g, s FROM v INTERSECT SELECT g, s FROM vv WHERE x > 100) AS t",
	"SELECT * FROM (SELECT id, g FROM v EXCEPT ALL SELECT id, g FROM vv WHERE g < 3) AS t WHERE id % 11 = 0",
	// A windowed join input: stages of its own, or read whole by every
	// task, never split.
	"SELECT t.g, count(*), sum(vv.x) FROM (SELECT g, id, rank() OVER (PARTITION BY g ORDER BY x DESC, id) AS r FROM v) AS t JOIN vv USING (id) WHERE t.r <= 50 GROUP BY t.g",
	"SELECT vv.id, t.p FROM vv JOIN (SELECT id, lag(x) OVER (ORDER BY id) AS p FROM v WHERE g = 3) AS t ON vv.id = t.id + 1 WHERE vv.x > 400",
	// An aggregate over a subquery with a window: its planning once
	// recursed until the coordinator ran out of memory.
	"SELECT count(DISTINCT t), count(*) FROM (SELECT g AS t, sum(x) OVER (PARTITION BY g) AS s FROM v)",
	// Subqueries and CTEs.
	"SELECT g, sum(x) FROM v GROUP BY g HAVING sum(x) > (SELECT avg(x) * 1000 FROM vv)",
	"SELECT id, x FROM v WHERE x > (SELECT avg(x) FROM v) AND g = 4",
	// One subquery's rows read twice by a stage: loaded, not streamed (a
	// stream scanned again is spent).
	"SELECT g, count(*) FROM v WHERE x > (SELECT min(x) + 10 FROM vv) AND id > (SELECT min(x) + 10 FROM vv) GROUP BY g",
	"WITH big AS (SELECT id, x FROM v WHERE x > 200) SELECT count(*), sum(big.x) FROM big JOIN vv USING (id)",
	// HAVING over a subquery aggregating the query's own rows, answered
	// from its partials (TPC-H Q11's shape).
	"SELECT l_suppkey, sum(l_quantity) AS q FROM lineitem, supplier WHERE l_suppkey = s_suppkey AND s_nationkey < 5 GROUP BY l_suppkey " +
		"HAVING sum(l_quantity) > (SELECT sum(l_quantity) / 50 FROM lineitem, supplier WHERE l_suppkey = s_suppkey AND s_nationkey < 5)",
	"SELECT g, count(*) FROM v WHERE x IS NOT NULL GROUP BY g HAVING count(*) * 8 > (SELECT count(*) FROM v WHERE x IS NOT NULL)",
	// A WITH read twice, computed once (withOnce).
	cteScalar, cteJoin, cteUnion, cteNested, viewTwice, cteMinAvg, cteEmpty, cteEachTask,
	// Set operations: both sides shuffled by all their columns.
	"SELECT g, s FROM v WHERE x > 100 INTERSECT SELECT g, s FROM vv WHERE flag",
	"SELECT id % 100 AS k FROM v EXCEPT SELECT id % 50 FROM vv WHERE g = 1",
	"SELECT g, count(*) FROM v GROUP BY g UNION ALL SELECT g, count(*) FROM vv WHERE flag GROUP BY g",
	"SELECT s, g FROM v INTERSECT ALL SELECT s, g FROM vv WHERE id % 2 = 0",
	"SELECT x FROM v WHERE g = 1 UNION SELECT x FROM vv WHERE g = 2 ORDER BY x NULLS FIRST LIMIT 30",
	// Runs of one UNION (or UNION ALL) are one stage reading each
	// branch's (a chain of stages made tickets grow with each branch);
	// the run stops where the branches' types change.
	"SELECT count(*) FROM v UNION ALL SELECT sum(x) FROM v UNION ALL SELECT max(x) FROM vv UNION ALL SELECT min(amount) FROM vv " +
		"UNION ALL SELECT avg(x) FROM v WHERE flag UNION ALL SELECT count(DISTINCT g) FROM vv",
	"SELECT g, count(*) FROM v GROUP BY g UNION ALL SELECT g, count(*) FROM vv GROUP BY g UNION ALL SELECT g + 10, count(*) FROM v WHERE flag GROUP BY g " +
		"UNION ALL SELECT g + 20, sum(id) FROM vv GROUP BY g",
	"SELECT g FROM v UNION SELECT id % 7 FROM vv UNION SELECT s FROM v WHERE g = 1 UNION SELECT s FROM vv WHERE flag UNION ALL SELECT s FROM v WHERE id % 5 = 0",
	// An aggregate over a UNION ALL in a FROM subquery: each branch's
	// tasks compute its partials, shuffled into one final aggregate
	// (partition/unionagg.go); branches filtered, joined, and of types
	// cast to the union's.
	"SELECT g, count(*), sum(x), avg(x), min(s), max(id) FROM (SELECT g, x, s, id FROM v WHERE x > 5 UNION ALL SELECT g, x, s, id FROM vv WHERE g < 3) GROUP BY g ORDER BY g",
	"SELECT count(*), sum(x), min(x), max(x) FROM (SELECT x FROM v UNION ALL SELECT id FROM vv WHERE flag UNION ALL SELECT a FROM renamed WHERE b > 100)",
	"SELECT t.k, count(DISTINCT t.y) FROM (SELECT g AS k, x AS y FROM v UNION ALL SELECT a, b FROM renamed) AS t WHERE t.y IS NOT NULL " +
		"GROUP BY t.k HAVING count(DISTINCT t.y) > 1 ORDER BY 2 DESC, 1 LIMIT 3",
	"SELECT n, count(*), sum(q) FROM (SELECT o_orderpriority AS n, l_quantity AS q FROM lineitem JOIN orders ON l_orderkey = o_orderkey " +
		"UNION ALL SELECT 'none', l_quantity FROM lineitem WHERE l_discount > 0.05) GROUP BY n ORDER BY n",
	// An aggregate that does not decompose, and window functions, over
	// such a union: every branch's rows shuffled by the key into one
	// stage, which reads them as the union (partition/stage.go,
	// rawStages).
	"SELECT g, median(x), count(DISTINCT s), sum(x) FROM (SELECT g, x, s FROM v WHERE x > 5 UNION ALL SELECT g, amount, s FROM vv WHERE flag) AS u GROUP BY g",
	"SELECT k, y, rank() OVER (PARTITION BY k ORDER BY y) AS r FROM (SELECT g AS k, x AS y FROM v UNION ALL SELECT a, b FROM renamed WHERE b > 200)",
	// Each slice's first rows by ORDER BY and LIMIT, or its distinct
	// rows, then the query's over all of them in one task.
	"SELECT k, y FROM (SELECT g AS k, x AS y FROM v UNION ALL SELECT a, b FROM renamed WHERE b > 100) ORDER BY y DESC NULLS LAST, k LIMIT 7 OFFSET 2",
	"SELECT DISTINCT s, g FROM (SELECT s, g FROM v WHERE x > 5 UNION ALL SELECT s, g FROM vv WHERE flag)",
	// A sort without LIMIT: every branch range-partitioned by the same
	// bounds, sampled over all of them (compared in order).
	unionSorted, unionStarSorted,
	// BY NAME: each side selects the result's columns by name, NULL for
	// one it lacks (a filter of it is the scatter below).
	"SELECT g, count(*), sum(x), count(flag), median(id) FROM (SELECT g, x, id FROM v WHERE x > 5 UNION ALL BY NAME SELECT flag, id, g FROM vv WHERE id % 3 = 0) GROUP BY g",
	"SELECT k, p FROM (SELECT l_orderkey AS k, l_extendedprice AS p FROM lineitem WHERE l_shipmode = 'AIR' UNION ALL " +
		"SELECT o_orderkey, o_totalprice FROM orders JOIN customer ON o_custkey = c_custkey WHERE c_mktsegment = 'BUILDING') ORDER BY 2 DESC, 1 LIMIT 5",
	// Sorts without LIMIT, range-partitioned (compared in order).
	sortedScan,
	"SELECT id, s, day FROM v WHERE g <> 2 ORDER BY s NULLS FIRST, day DESC, id",
	"SELECT amount, id FROM vv ORDER BY 1, 2 DESC",
	sortedJoin,
	"SELECT a.id, b.x FROM v AS a JOIN vv AS b ON a.id = b.id + 1 WHERE a.g = 2 ORDER BY b.x DESC NULLS FIRST, a.id",
	// Files sorted or clustered by the join or group key (keyedData): a
	// join input read by each task in its slice's key range, a GROUP BY
	// of the key finished in each slice where the ranges are disjoint;
	// NULL keys, outer joins, overlapping ranges.
	"SELECT a.k, a.x, b.y FROM sk AS a JOIN so AS b ON a.k = b.k WHERE a.x > 5",
	"SELECT a.k, count(*), sum(b.y), count(b.y) FROM sk AS a LEFT JOIN so AS b ON a.k = b.k AND b.urgent GROUP BY a.k",
	"SELECT b.k, count(a.x), sum(a.x) FROM so AS b LEFT JOIN sk AS a ON a.k = b.k GROUP BY b.k",
	"SELECT a.k, a.s, b.y FROM sk AS a RIGHT JOIN so AS b ON a.k = b.k AND a.x < 3",
	"SELECT count(*), count(a.k), count(b.k) FROM sk AS a FULL JOIN so AS b ON a.k = b.k",
	"SELECT k, count(*), sum(x) FROM sk GROUP BY k HAVING count(*) > 1 ORDER BY sum(x) DESC, k LIMIT 50",
	"SELECT k, count(*) FROM so GROUP BY k",
	"SELECT b.k, b.y, sum(a.x) FROM sk AS a, so AS b WHERE a.k = b.k AND b.y < 10 GROUP BY b.k, b.y",
	"SELECT a.k, sum(a.x), count(b.y) FROM mild AS a JOIN so AS b ON a.k = b.k GROUP BY a.k",
	"SELECT k, sum(x) FROM mild GROUP BY k",
	"SELECT a.k, sum(a.x), max(b.y) FROM ov AS a JOIN so AS b ON a.k = b.k GROUP BY a.k",
	"SELECT k, sum(x) FROM ov GROUP BY k",
	"SELECT s, count(*) FROM sk WHERE k IN (SELECT k FROM so WHERE urgent) GROUP BY s",
	// Correlated subqueries correlated by equalities, over a table at
	// least as large as the outer scan: NULL keys (sk's) and keys of
	// different types (so's INTEGER, sk's BIGINT); EXISTS and NOT EXISTS,
	// IN and NOT IN, COUNT over no rows, an empty scalar, two keys, an
	// outer scan in a FROM subquery, and one nested in an uncorrelated IN
	// (TPC-H Q20's shape); and over ov, whose files are not clustered by
	// k, a key no row of it has. A plan that decorrelates them across
	// executors must give these answers.
	corrExists, corrNotExists, corrCountZero, corrCount, corrAvg, corrIn, corrNotIn, corrGrouped, corrInFrom, corrTwoKeys, corrNested,
	// Scalar ones of SUM, MIN, MAX decorrelated (partition/decorrelate.go:
	// the aggregate by the correlated keys across executors, joined to the
	// outer rows): outer rows no row matches (so's keys from 9,000), NULL
	// keys and NULL values on both sides (nk), keys of two types, the
	// outer query's IN and constant comparison restricting the key
	// column, the subquery on the left of its comparison.
	corrNoMatch, corrNullKeys, corrRestricted, corrFlipped,
	// TPC-H Q17's shape (partition/keyset.go): the scan joined to a
	// broadcast input by the key its subquery correlates with the input
	// on, both read as the scan's rows whose key is in the input: NULL
	// keys (sk's), keys of two types (so's INTEGER), COUNT over no rows,
	// NOT EXISTS, the key reached through the scan's column, a *.
	"SELECT sum(a.x), count(*) FROM sk AS a, so AS b WHERE a.k = b.k AND b.urgent AND a.x <= (SELECT 0.5 * avg(c.x) + 1 FROM sk AS c WHERE c.k = b.k)",
	"SELECT b.y, count(*) FROM sk AS a JOIN so AS b ON a.k = b.k WHERE (SELECT count(*) FROM sk AS c WHERE c.k = a.k AND c.x > a.x) = 0 GROUP BY b.y",
	"SELECT a.k, a.x FROM sk AS a, so AS b WHERE b.k = a.k AND b.y < 4 AND NOT EXISTS (SELECT * FROM sk AS c WHERE c.k = b.k AND c.s <> a.s)",
	"SELECT * FROM sk AS a, so AS b WHERE b.k = a.k AND b.y = 2 AND a.x > (SELECT min(c.x) FROM sk AS c WHERE c.k = a.k)",
	"SELECT b.k, b.y FROM so AS b WHERE b.y < 6 AND NOT EXISTS (SELECT * FROM ov AS o WHERE o.k = b.k AND o.x > 2)",
	"SELECT b.k, b.y FROM so AS b WHERE b.y > (SELECT count(*) FROM ov AS o WHERE o.k = b.k AND o.x < 3)",
	// Aggregates computed below the join (partition/eager.go; with
	// broadcast-rows 10000, where customer and so are broadcast): COUNT,
	// SUM, MIN, MAX and AVG of lineitem's by o_custkey, then joined with
	// customer; a key of few values (sk.x), MIN over NULLs, ORDER BY ALL;
	// TPC-H Q10's shape with its top rows.
	"SELECT c_nationkey, count(*), sum(l_quantity), min(l_discount), max(l_extendedprice), avg(l_quantity) FROM customer, orders, lineitem WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND l_returnflag <> 'N' GROUP BY c_nationkey ORDER BY c_nationkey",
	"SELECT so.urgent, so.y, count(*), sum(sk.x), max(sk.s), min(sk.k) FROM sk, so WHERE sk.x = so.y AND so.k < 3000 GROUP BY so.urgent, so.y ORDER BY ALL",
	// Aggregates of an outer join's null-supplying side computed below the
	// join (partition/eagerleft.go): COUNT (0 where nothing matched), SUM,
	// MIN, MAX (NULL there), NULL keys on both sides (nk's, and so's
	// unmatched keys grouped above the join), TPC-H Q13's shape, a RIGHT
	// join; COUNT(*) beside them keeps the plan as it was.
	"SELECT so.y, count(nk.x), sum(nk.x), min(nk.s), max(nk.k) FROM so LEFT JOIN nk ON nk.k = so.k AND nk.x > 3 GROUP BY so.y",
	"SELECT c, count(*) AS n FROM (SELECT so.k, count(nk.x) AS c FROM so LEFT JOIN nk ON so.k = nk.k AND nk.s <> 's2' GROUP BY so.k) GROUP BY c ORDER BY n DESC, c DESC",
	"SELECT nk.k, count(nk.s), sum(nk.x) FROM nk RIGHT JOIN so ON nk.k = so.k WHERE so.urgent GROUP BY nk.k",
	"SELECT so.y, count(nk.x), count(*) FROM so LEFT JOIN nk ON nk.k = so.k GROUP BY so.y",
	"SELECT c_custkey, c_name, sum(l_extendedprice * (1 - l_discount)) AS revenue FROM customer, orders, lineitem WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND o_orderdate < DATE '1994-01-01' GROUP BY c_custkey, c_name ORDER BY revenue DESC, c_custkey LIMIT 10",
}

const (
	corrExists    = "SELECT b.k, b.y FROM so AS b WHERE EXISTS (SELECT 1 FROM sk AS a WHERE a.k = b.k AND a.x > 7)"
	corrNotExists = "SELECT a.k, a.x, a.s FROM sk AS a WHERE NOT EXISTS (SELECT * FROM sk AS b WHERE b.k = a.k AND b.x > a.x)"
	corrCountZero = "SELECT a.k, a.s FROM sk AS a WHERE (SELECT count(*) FROM sk AS b WHERE b.k = a.k AND b.x > 8) = 0"
	corrCount     = "SELECT a.k, a.x FROM sk AS a WHERE a.x < (SELECT count(b.s) + 1 FROM sk AS b WHERE b.k = a.k AND b.x < 5)"
	corrAvg       = "SELECT a.k, a.x FROM sk AS a WHERE a.x >= (SELECT avg(b.x) FROM sk AS b WHERE b.k = a.k AND b.s <> a.s)"
	corrIn        = "SELECT a.k, a.x FROM sk AS a WHERE a.x + 1 IN (SELECT b.x FROM sk AS b WHERE b.k = a.k)"
	corrNotIn     = "SELECT count(*), count(a.k), sum(a.x) FROM sk AS a WHERE a.x NOT IN (SELECT CASE WHEN b.x = 3 THEN NULL ELSE b.x END FROM sk AS b WHERE a.k = b.k AND b.s = 's1')"
	corrGrouped   = "SELECT a.s, count(*), sum(a.x) FROM sk AS a WHERE EXISTS (SELECT 1 FROM sk AS b WHERE b.k = a.k AND b.x <> a.x) GROUP BY a.s"
	corrInFrom    = "SELECT s, count(*) FROM (SELECT a.s, a.x FROM sk AS a WHERE a.x > 2 AND NOT EXISTS (SELECT * FROM sk AS b WHERE b.k = a.k AND b.x > a.x)) GROUP BY s ORDER BY s"
	corrTwoKeys   = "SELECT a.k, a.s, a.x FROM sk AS a WHERE a.x > (SELECT 0.5 * sum(b.x) FROM sk AS b WHERE b.k = a.k AND b.s = a.s)"
	corrNested    = "SELECT count(*), sum(y) FROM so WHERE so.k IN (SELECT b.k FROM sk AS b WHERE b.x > (SELECT avg(c.x) FROM sk AS c WHERE c.k = b.k AND c.s = b.s))"

	corrNoMatch    = "SELECT b.k, b.y FROM so AS b WHERE b.y > (SELECT sum(o.x) + 3 FROM ov AS o WHERE o.k = b.k)"
	corrNullKeys   = "SELECT n.k, n.x, n.s FROM nk AS n WHERE n.x <= (SELECT min(c.x) + 2 FROM nk AS c WHERE c.k = n.k AND c.s = n.s)"
	corrRestricted = "SELECT count(*), sum(y) FROM so WHERE so.k IN (SELECT b.k FROM so AS b WHERE b.k IN (SELECT k FROM nk WHERE s = 's3') AND b.y < (SELECT max(a.x) FROM sk AS a WHERE a.k = b.k AND a.x < 9))"
	corrFlipped    = "SELECT a.k, a.x FROM sk AS a WHERE a.k < 4000 AND (SELECT max(b.x) FROM sk AS b WHERE b.k = a.k AND b.s <> 's1') > a.x"
)

// decorrelates are the corpus's correlated subqueries planned as an
// aggregate by their keys joined to the outer rows (decorrelate.go).
var decorrelates = map[string]bool{corrTwoKeys: true, corrNoMatch: true, corrNullKeys: true, corrRestricted: true, corrFlipped: true}

const (
	sortedScan = "SELECT id, x, s FROM v ORDER BY x DESC NULLS LAST, id"
	sortedJoin = "SELECT l_orderkey, l_linenumber, o_orderdate FROM lineitem JOIN orders ON l_orderkey = o_orderkey WHERE l_quantity > 40 ORDER BY o_orderdate DESC, l_orderkey, l_linenumber"
)

// WITH queries read twice: in FROM and in a scalar subquery (TPC-H Q15's
// shape), both sides of a join, both sides of a UNION, and by a later
// WITH that is itself read twice.
const (
	cteScalar = "WITH r AS (SELECT g AS grp, sum(amount) AS total FROM v WHERE x > 10 GROUP BY grp) " +
		"SELECT a.id, r.total FROM vv AS a, r WHERE a.g = r.grp AND a.id % 500 = 0 AND r.total = (SELECT max(total) FROM r) ORDER BY a.id"
	cteJoin  = "WITH r AS (SELECT s, count(*) AS n, min(x) AS lo FROM v GROUP BY s) SELECT a.s, b.n, a.lo FROM r AS a JOIN r AS b ON a.n = b.n - 1 OR a.s = b.s"
	cteUnion = "WITH r AS (SELECT g, flag, sum(x) AS t FROM v GROUP BY ALL) SELECT g FROM r WHERE t > 1000 UNION SELECT g + 1 FROM r WHERE flag"
	// r is read once, by q, which is read twice: q is computed once.
	cteNested = "WITH r AS (SELECT id % 10 AS k, count(*) AS c FROM v GROUP BY k), q AS (SELECT k, c * 2 AS d FROM r WHERE c > 1) " +
		"SELECT count(*), sum(d) FROM q WHERE d >= (SELECT avg(d) FROM q)"
	// A view read twice is computed once too.
	viewTwice = "SELECT grp, n FROM by_g WHERE t > (SELECT avg(t) FROM by_g) OR grp = (SELECT min(grp) FROM by_g)"
	// Two subqueries over the WITH its reader holds (min, avg), and one
	// over a WITH with no rows (max is NULL): evaluated by the reader.
	cteMinAvg = "WITH r AS (SELECT g AS grp, sum(amount) AS total, count(*) AS n FROM v WHERE x > 10 GROUP BY grp) " +
		"SELECT grp, n FROM r WHERE total = (SELECT min(total) FROM r) OR n > (SELECT avg(n) FROM r) ORDER BY grp"
	cteEmpty = "WITH r AS (SELECT g AS grp, sum(x) AS total FROM v WHERE x > 1000000 GROUP BY grp) " +
		"SELECT a.id, r.total, (SELECT max(total) FROM r) AS top FROM vv AS a LEFT JOIN r ON a.g = r.grp WHERE a.id % 700 = 0"
	// Evaluated by each task of a reader of several (a join over slices).
	cteEachTask = "WITH r AS (SELECT g AS grp, sum(x) AS total FROM v GROUP BY grp) " +
		"SELECT a.id FROM vv AS a JOIN r ON a.g = r.grp WHERE r.total > (SELECT avg(total) FROM r) AND a.id % 300 = 0"
)

// subqueryHere are the queries whose subqueries over a WITH result their
// reader holds are evaluated by that reader, with no stage of their own
// (partition/subhere.go).
var subqueryHere = map[string]bool{cteScalar: true, cteNested: true, viewTwice: true, cteMinAvg: true, cteEmpty: true, cteEachTask: true}

// withOnce are the queries whose WITH (or view) must be computed by one
// stage ("WITH <name>, ..." or "view <name>, ...") read by every stage
// that needs it, not inlined.
var withOnce = map[string]string{cteScalar: "WITH r", cteJoin: "WITH r", cteUnion: "WITH r", cteNested: "WITH q",
	viewTwice: "view by_g", cteMinAvg: "WITH r", cteEmpty: "WITH r", cteEachTask: "WITH r"}

// localShapes are shapes an analyst writes that once ran local and now
// split (partition/distincton.go, distinctgroups.go): a top-1 per group
// with DISTINCT ON, DISTINCT FROM subqueries counted, DISTINCT with
// GROUP BY, an aggregate over a join's aggregate, grouping sets, columns
// named after subqueries. Their answers are
// DuckDB's; none may run local.
var localShapes = []string{
	// SELECT DISTINCT with window functions: the query without DISTINCT,
	// its rows grouped by every output column (partition/distinctgroups.go).
	"SELECT DISTINCT g, rank() OVER (PARTITION BY g ORDER BY s) AS r FROM v ORDER BY ALL",
	"SELECT DISTINCT s, count(*) OVER (PARTITION BY s) AS n FROM v WHERE x > 10 ORDER BY 2 DESC, 1 LIMIT 3",
	"SELECT DISTINCT flag FROM vv QUALIFY row_number() OVER (PARTITION BY flag ORDER BY id) <= 2",
	// ORDER BY ALL: by the select items' positions (partition/orderall.go).
	"SELECT id, s, EXISTS (SELECT 1 FROM vv WHERE vv.id = v.id + 1) AS nxt FROM v WHERE g = 2 ORDER BY ALL DESC LIMIT 7 OFFSET 2",
	"SELECT DISTINCT a.g, b.s FROM v AS a JOIN vv AS b USING (id) ORDER BY ALL NULLS FIRST",
	// UNPIVOT: each task unpivots its slice's rows (partition/unpivot.go).
	"SELECT * FROM v UNPIVOT (val FOR col IN (g, id))",
	"SELECT col, count(*), count(val), min(val), max(val) FROM v UNPIVOT INCLUDE NULLS (val FOR col IN (x, amount)) GROUP BY col",
	"SELECT k, v, count(*) FROM (UNPIVOT (SELECT s, g, id FROM v WHERE flag) ON g, id INTO NAME k VALUE v) WHERE v < 100 GROUP BY ALL",
	"SELECT * FROM (SELECT id, g, x FROM vv WHERE x > 10) UNPIVOT (val FOR name IN (COLUMNS(* EXCLUDE id))) ORDER BY id, name LIMIT 12",
	// A filter of a UNION ALL in a FROM subquery: the UNION ALL of it over
	// each branch, each split over its own files (partition/unionagg.go).
	"SELECT * FROM (SELECT id, x FROM v WHERE g = 1 UNION ALL SELECT id, amount FROM vv WHERE flag) AS u WHERE u.x > 10",
	"SELECT * FROM (SELECT id, x FROM v WHERE g = 1 UNION ALL BY NAME SELECT amount AS X, id FROM vv WHERE flag) AS u WHERE u.x > 10",
	"SELECT k * 2, s FROM (SELECT id AS k, s FROM v UNION ALL SELECT l_orderkey, l_shipmode FROM lineitem WHERE l_quantity > 45) WHERE k % 3 = 0",
	distinctOnSorted,
	"SELECT DISTINCT ON (s) s, id FROM v WHERE x > 10 ORDER BY s NULLS FIRST, id DESC LIMIT 3 OFFSET 1",
	"SELECT DISTINCT ON (l_suppkey) l_suppkey, l_orderkey, l_linenumber FROM lineitem ORDER BY l_suppkey, l_orderkey DESC, l_linenumber",
	"SELECT count(*) FROM (SELECT DISTINCT s FROM v)",
	"SELECT count(*), sum(g) FROM (SELECT DISTINCT g, flag FROM v WHERE x > 5) AS t",
	"SELECT count(*) FROM (SELECT DISTINCT l_suppkey FROM lineitem)",
	"SELECT flag, count(*) FROM (SELECT DISTINCT flag, s FROM vv) GROUP BY flag",
	"SELECT count(*), sum(c) FROM (SELECT DISTINCT g % 3 AS m, 7 AS c, 2 AS p FROM v)",
	"SELECT DISTINCT g, flag FROM v GROUP BY g, flag, s",
	distinctGroupedTop,
	"SELECT DISTINCT l_returnflag, l_linestatus FROM lineitem GROUP BY l_returnflag, l_linestatus, l_shipmode",
	// A GROUP BY over a join's aggregate (where a join by key ranges
	// finishes it in each slice, its tasks' query by slice once lost the
	// shuffle's keys and the query ran local: the golden stages hold it).
	"SELECT n, count(*) FROM (SELECT a.k, count(*) AS n FROM sk AS a JOIN so AS b ON a.k = b.k GROUP BY a.k) GROUP BY n",
	"SELECT n, count(*) FROM (SELECT o_orderkey, count(*) AS n FROM orders JOIN lineitem ON o_orderkey = l_orderkey GROUP BY o_orderkey) GROUP BY n",
	// Aggregates over an aggregating subquery, partial in its last stage
	// (partition/overagg.go): a WHERE, HAVING, ORDER BY and LIMIT, a
	// total, DISTINCT, renamed columns, AVG.
	"SELECT n, count(*), sum(t) FROM (SELECT g, s, count(*) AS n, sum(x) AS t FROM v GROUP BY g, s) WHERE s IS NOT NULL GROUP BY n HAVING count(*) > 1 ORDER BY n DESC LIMIT 4",
	"SELECT count(*), avg(n), max(t) FROM (SELECT id % 997 AS k, count(*) AS n, min(day) AS t FROM v GROUP BY k)",
	"SELECT b, count(DISTINCT a), avg(c) FROM (SELECT g, flag, count(x) FROM vv GROUP BY g, flag) AS q(a, b, c) GROUP BY b",
	"SELECT q.n % 3, count(*) FROM (SELECT o_custkey, count(*) AS n FROM orders GROUP BY o_custkey) AS q GROUP BY 1 ORDER BY 1",
	// GROUPING SETS, ROLLUP and CUBE (partition/groupsets.go): partials by
	// every key, rolled up into each set; a total over no rows (count 0),
	// GROUPING(), DISTINCT, a key in every set, over a join.
	"SELECT g, s, count(*), sum(x), avg(amount), grouping(g), grouping_id(g, s) FROM v GROUP BY ROLLUP (g, s)",
	"SELECT g, flag, min(day), max(id), count(x) FROM v GROUP BY CUBE (g, flag) HAVING count(*) > 10 ORDER BY ALL NULLS FIRST LIMIT 7",
	"SELECT g, count(*), count(x), sum(x) FROM v WHERE id < 0 GROUP BY ROLLUP (g)",
	"SELECT g, count(DISTINCT s), count(*) FROM v GROUP BY ROLLUP (g)",
	// Sorted and cut, its partials may be merged by the coordinator.
	"SELECT g, s, count(*) FROM v GROUP BY CUBE (g, s) ORDER BY ALL LIMIT 20",
	"SELECT g, flag, s, count(*) FROM v GROUP BY GROUPING SETS ((g, flag), (g, s))",
	"SELECT a.s, b.flag, count(*), sum(b.x) FROM v AS a JOIN vv AS b ON a.id = b.id GROUP BY GROUPING SETS ((a.s), (b.flag), ())",
	"SELECT l_returnflag, l_linestatus, count(*), sum(l_quantity) FROM lineitem GROUP BY CUBE (l_returnflag, l_linestatus)",
	// Columns named after a subquery the plan rewrites (partition/outnames.go).
	"SELECT a.k, (SELECT count(*) FROM so AS b WHERE b.k = a.k) FROM sk AS a WHERE a.x = 3",
	"SELECT (SELECT max(x) FROM vv) - x, id FROM v WHERE g = 4",
	// Named after an INTERVAL, which DuckDB's parser writes as a call the
	// AST's round trip prints otherwise (partition/outnames.go).
	"SELECT id, day - INTERVAL 3 HOUR, day + INTERVAL 1 MONTH FROM v WHERE g = 4",
	"SELECT id, sum(x) OVER (PARTITION BY g ORDER BY day RANGE BETWEEN INTERVAL 30 DAY PRECEDING AND CURRENT ROW) FROM v WHERE g < 3",
}

// nowShapes read the query's instant, which the coordinator takes once
// for every task and the merge (partition/now.go): answers that do not
// depend on its value (dates compared with days far from it, how many
// distinct instants the rows see, rows joined on it) are DuckDB's; none
// may run local.
var nowShapes = []string{
	"SELECT id, day FROM v WHERE day > current_date - INTERVAL 10000 DAY AND g = 2",
	"SELECT count(DISTINCT t) AS n FROM (SELECT now() AS t FROM v)",
	// The keywords, unaliased, as a subquery's key: taken for the
	// subquery's own column, they ran per task (8 instants for 1).
	"SELECT count(*) AS n FROM (SELECT DISTINCT current_timestamp FROM v)",
	"SELECT count(*) AS n FROM (SELECT localtimestamp, g FROM v GROUP BY ALL)",
	"SELECT g, count(*) FILTER (WHERE day < today()) AS n, max(day) < current_date AS past, count(DISTINCT localtime) AS k FROM v GROUP BY g",
	"SELECT count(*) FROM (SELECT id, now() AS t FROM v) AS a JOIN (SELECT id, get_current_timestamp() AS t FROM vv) AS b ON a.id = b.id AND a.t = b.t",
	"SELECT id FROM v WHERE day <= current_date AND localtimestamp > TIMESTAMP '2000-01-01' ORDER BY id DESC LIMIT 5",
	"SELECT g, count(*) AS n FROM v WHERE s = 'k1' GROUP BY g HAVING max(day) < current_date - INTERVAL 1 DAY",
	// Named with their schema (and catalog): DuckDB's own functions still.
	"SELECT count(DISTINCT t) AS n FROM (SELECT main.now() AS t FROM v)",
	`SELECT g, count(DISTINCT t) AS n, count(DISTINCT d) AS k FROM (SELECT g, system.main.get_current_timestamp() AS t, "system"."main".today() AS d FROM v) GROUP BY g`,
}

// volatileShapes call what DuckDB gives another value in another query
// (partition/volatile.go) or sample rows: evaluated in each task (a
// partial aggregate by g), they would count a value or a sample per
// task; they stay on one node. (With exchanges, the samples below were
// each taken once, by one task, already: partition's
// TestDeterministicTasks has them split without.)
var volatileShapes = []string{
	"SELECT g, count(DISTINCT current_query_id()) AS n FROM v GROUP BY g",
	"SELECT g, count(DISTINCT current_connection_id()) AS n FROM v GROUP BY g",
	"SELECT g, count(DISTINCT ago(INTERVAL 1 DAY)) AS n FROM v GROUP BY g",
	"SELECT g, count(DISTINCT pg_catalog.pg_conf_load_time()) AS n FROM v GROUP BY g",
	"SELECT count(*) FROM (SELECT id FROM v USING SAMPLE 10 ROWS)",
	"SELECT count(*) FROM v WHERE id IN (SELECT id FROM vv USING SAMPLE 10 ROWS)",
	"SELECT count(*), count(DISTINCT v.g) <= 7 FROM v JOIN (SELECT id FROM vv USING SAMPLE 10 ROWS) AS s USING (id)",
	"SELECT count(*) FROM v AS a JOIN vv AS b TABLESAMPLE 10 ROWS USING (id)",
}

// macroAggregates call DuckDB's macros over aggregates (geomean is
// exp(avg(ln(x)))): taken for scalar functions, each task gave its
// slice's row.
var macroAggregates = []string{
	"SELECT geomean(amount + 1) AS m, length(json_group_array(g)) AS n FROM v",
	"SELECT g, weighted_avg(x, id) AS w, geometric_mean(amount + 1) AS m FROM v GROUP BY g",
}

const (
	distinctOnSorted   = "SELECT DISTINCT ON (g) g, id, x FROM v ORDER BY g, x DESC NULLS LAST, id"
	distinctGroupedTop = "SELECT DISTINCT g, count(*) AS n FROM v GROUP BY g, flag ORDER BY n DESC, g LIMIT 5"
)

// anyRows are queries whose answer is any n rows (LIMIT without ORDER
// BY) or any row of each group (DISTINCT ON without ORDER BY), each with
// the query whose rows they are: the answer is checked by its row count
// (DuckDB's), by every row being one of those, and, under DISTINCT, by no
// row repeating. None may run local.
var anyRows = map[string]string{
	"SELECT id, s FROM v LIMIT 25":                                                "SELECT id, s FROM v",
	"SELECT * FROM v WHERE g = 2 LIMIT 10 OFFSET 5":                               "SELECT * FROM v WHERE g = 2",
	"SELECT id FROM v WHERE g = 1 LIMIT 100000":                                   "SELECT id FROM v WHERE g = 1",
	"SELECT id FROM v WHERE id < 0 LIMIT 5":                                       "SELECT id FROM v WHERE id < 0",
	"SELECT DISTINCT g, flag FROM vv LIMIT 4":                                     "SELECT DISTINCT g, flag FROM vv",
	"SELECT DISTINCT ON (g) g, id FROM v":                                         "SELECT g, id FROM v",
	"SELECT * FROM (SELECT id, x FROM v WHERE x > 100) LIMIT 7":                   "SELECT id, x FROM v WHERE x > 100",
	"SELECT l_orderkey, l_quantity FROM lineitem WHERE l_quantity > 45 LIMIT 100": "SELECT l_orderkey, l_quantity FROM lineitem WHERE l_quantity > 45",
	// Run in rounds (coordinator/firstrows.go), none of the first
	// round's slices holding a row (ids 0-2999 of each file), or DISTINCT
	// finding two rows in them where four are asked for (only the last
	// file has ids over 30000): more rounds must run.
	limitWidens:         "SELECT id, g FROM v WHERE id % 10000 >= 5500",
	limitWidensDistinct: "SELECT DISTINCT g < 3 AS low, id >= 30000 AS late FROM v",
	limitWidensOffset:   "SELECT id FROM v WHERE id % 10000 >= 4000",
}

// The LIMITs of anyRows whose first round of tasks cannot give the
// answer: planned in rounds where they split into more tasks than any
// configuration here has executor threads (3).
const (
	limitWidens         = "SELECT id, g FROM v WHERE id % 10000 >= 5500 LIMIT 30"
	limitWidensDistinct = "SELECT DISTINCT g < 3 AS low, id >= 30000 AS late FROM v LIMIT 4"
	limitWidensOffset   = "SELECT id FROM v WHERE id % 10000 >= 4000 LIMIT 20 OFFSET 600"
)

// unionSorted and unionStarSorted sort a UNION ALL in a FROM subquery
// without LIMIT, by a named column and by a column of a lone *.
const (
	unionSorted     = "SELECT id, g, x FROM (SELECT id, g, x FROM v WHERE g = 1 UNION ALL SELECT id, g, amount FROM vv WHERE flag) ORDER BY x DESC NULLS FIRST, id, g"
	unionStarSorted = "SELECT * FROM (SELECT id, x FROM v WHERE g = 1 UNION ALL SELECT id, amount FROM vv WHERE flag) ORDER BY x NULLS FIRST, id"
)

// pivotIDs are 21 values of an IN list: a PIVOT past DuckDB's
// pivot_filter_threshold.
const pivotIDs = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21"

// hiddenSorts sort by values they do not select (partition/hidden.go):
// each must split, and is compared in order.
var hiddenSorts = []string{
	"SELECT id, s FROM v ORDER BY x DESC NULLS LAST, id LIMIT 7",
	"SELECT id FROM v WHERE g = 2 ORDER BY day, x DESC NULLS FIRST, id",
	"SELECT * EXCLUDE (x) FROM vv WHERE g = 3 ORDER BY x + id NULLS FIRST, id LIMIT 20 OFFSET 5",
	"SELECT a.id FROM v AS a JOIN vv AS b ON a.id = b.id + 1 ORDER BY b.x NULLS FIRST, a.id LIMIT 10",
	"SELECT o_orderkey FROM orders ORDER BY o_totalprice DESC, o_orderkey LIMIT 10",
}

// besideStar sort by an item after a star (or an unnest), whose output
// column is not at its place in the select list: the partial results
// were sorted by the star's column at that place (SELECT *, -g AS ng ...
// ORDER BY ng sorted by the second column), wrong rows and order.
var besideStar = []string{
	"SELECT *, -g AS ng FROM vv ORDER BY ng, id LIMIT 7",
	"SELECT *, x * 2 AS x2 FROM v ORDER BY x2 DESC NULLS LAST, id",
	"SELECT * EXCLUDE (x), -x AS x FROM vv ORDER BY x NULLS FIRST, id LIMIT 5",
	"SELECT *, id * -1 AS k FROM (SELECT id, g FROM v) ORDER BY k",
}

// mergedTypes merge partial HUGEINTs and UHUGEINTs on the coordinator
// (an ungrouped aggregate): read as Arrow's decimal128(38, 0), a sum of
// integers was a DECIMAL(38,0) (typeof, // and hex said so) and a
// UHUGEINT of 2^127 or more negative.
var mergedTypes = []string{
	"SELECT typeof(sum(g)), sum(g) // 2, hex(sum(g)), max(id::HUGEINT) // 7, " +
		"max(CASE WHEN id % 1000 = 7 THEN 170141183460469231731687303715884105733::UHUGEINT ELSE id::UHUGEINT END), " +
		"min(CASE WHEN id % 2 = 0 THEN 170141183460469231731687303715884105733::UHUGEINT ELSE 170141183460469231731687303715884105999::UHUGEINT END) FROM v",
}

// inOrder are the queries whose ORDER BY fixes every row's place: their
// answers are compared in order, not only as multisets.
var inOrder = map[string]bool{
	unionSorted: true, unionStarSorted: true,
	sortedScan: true,
	"SELECT id, s, day FROM v WHERE g <> 2 ORDER BY s NULLS FIRST, day DESC, id": true,
	"SELECT amount, id FROM vv ORDER BY 1, 2 DESC":                               true,
	sortedJoin: true, distinctOnSorted: true, distinctGroupedTop: true,
	"SELECT a.id, b.x FROM v AS a JOIN vv AS b ON a.id = b.id + 1 WHERE a.g = 2 ORDER BY b.x DESC NULLS FIRST, a.id": true,
}

// corpus builds the queries over table expression src.
func corpus(src string) []string {
	aggs := []string{
		"count(*)", "count(x)", "count(s)", "sum(id)", "sum(x)", "sum(amount)", "min(x)", "max(x)", "min(s)",
		"max(day)", "avg(x)", "avg(id)", "avg(amount)", "bool_and(flag)", "bool_or(flag)",
		"sum(x) / count(*)", "max(id) - min(id)", "count(*) FILTER (WHERE flag)", "count(DISTINCT g)",
		"avg(x) FILTER (WHERE g > 2) + sum(id) FILTER (WHERE s IS NULL)",
		// amount's ties are rows of one range value, whose s is one too.
		"arg_max(s, amount)", "coalesce(arg_max_null(s, amount), '-') || min_by(s, amount) FILTER (WHERE flag)",
		"median(x)", "stddev_pop(x)", "string_agg(s, ',' ORDER BY id)",
		// The n largest and smallest: lists, not one value a slice.
		"list_concat(max(id, 3), min(x, 2))",
		"count(DISTINCT s)", "count(DISTINCT x)", "sum(DISTINCT x)", "count(DISTINCT g % 3) + 1",
	}
	filters := []string{"", " WHERE id % 3 = 1", " WHERE x > 100 AND s IS NOT NULL", " WHERE id < 0"}
	groups := []string{"", "g", "s", "g, flag", "g % 3"}
	var qs []string
	for _, a := range aggs {
		for _, f := range filters {
			for _, g := range groups {
				if g == "" {
					qs = append(qs, fmt.Sprintf("SELECT %s AS v FROM %s%s", a, src, f))
					continue
				}
				qs = append(qs, fmt.Sprintf("SELECT %s, %s AS v FROM %s%s GROUP BY %s", g, a, src, f, g))
			}
		}
	}
	qs = append(qs,
		"SELECT * FROM "+src,
		"SELECT id, s, x FROM "+src+" WHERE g = 3",
		"SELECT id * 2 AS twice, upper(s) AS u, x IS NULL AS missing FROM "+src+" WHERE id % 17 = 0",
		"SELECT * FROM "+src+" WHERE id < 0",
		"SELECT g, count(*) AS n FROM "+src+" GROUP BY g HAVING count(*) > 2000",
		"SELECT g, sum(x) AS total FROM "+src+" GROUP BY g HAVING sum(x) > 10 ORDER BY total DESC",
		"SELECT g, count(*) AS n FROM "+src+" GROUP BY g ORDER BY g LIMIT 3",
		"SELECT g, count(*) AS n FROM "+src+" GROUP BY g ORDER BY g LIMIT 3 OFFSET 2",
		"SELECT s, g, min(id), max(id), count(*) FROM "+src+" GROUP BY s, g ORDER BY s NULLS FIRST, g",
		"SELECT g + 1 AS h, count(*) * 2 AS n2 FROM "+src+" GROUP BY g + 1",
		"SELECT count(*) + 1, sum(id) + sum(g) FROM "+src,
		"SELECT g, count(DISTINCT s), min(s), max(s) FROM "+src+" GROUP BY g ORDER BY g",
		"SELECT count(DISTINCT s), count(s) FROM "+src,
		"SELECT g, count(DISTINCT s) AS n FROM "+src+" GROUP BY g HAVING count(DISTINCT s) > 4",
		"SELECT CASE WHEN g < 3 THEN 'low' ELSE 'high' END AS band, avg(x) FROM "+src+" GROUP BY band",
		"SELECT DISTINCT g FROM "+src,
		"SELECT DISTINCT s, flag FROM "+src+" WHERE id % 2 = 0",
		"SELECT DISTINCT g % 3 AS m FROM "+src+" ORDER BY m",
		"SELECT id FROM "+src+" ORDER BY id DESC LIMIT 5",
		"SELECT id, s FROM "+src+" ORDER BY id LIMIT 7 OFFSET 3000",
		"SELECT id * 2 AS twice FROM "+src+" WHERE s IS NULL ORDER BY twice DESC LIMIT 4",
		"SELECT id, x FROM "+src+" ORDER BY x DESC NULLS LAST, id LIMIT 10",
		"SELECT * FROM "+src+" ORDER BY x DESC NULLS LAST, id LIMIT 6 OFFSET 2",
		"SELECT g, s FROM "+src+" GROUP BY g, s",
		"SELECT g % 3 AS m, flag FROM "+src+" WHERE x > 10 GROUP BY m, flag HAVING m > 0",
		"SELECT count(*) FROM (SELECT g, s FROM "+src+" GROUP BY ALL)",
		"SELECT id FROM "+src+" WHERE g = 1 ORDER BY 1 LIMIT 3",
		"SELECT id, g FROM "+src+" ORDER BY g, id DESC",
		"SELECT id FROM "+src+" ORDER BY id LIMIT 0",
		"SELECT DISTINCT g FROM "+src+" ORDER BY g DESC LIMIT 2 OFFSET 1",
		"SELECT id FROM "+src+" ORDER BY x NULLS FIRST, id LIMIT 5",
		"SELECT g, avg(x) OVER (PARTITION BY g) FROM "+src+" WHERE id < 50",
		"SELECT g, count(*) FROM "+src+" GROUP BY ALL",
		"SELECT g, s, count(*) FROM "+src+" GROUP BY ROLLUP (g, s)",
		"SELECT a.g, count(*) FROM "+src+" a JOIN (SELECT DISTINCT g FROM "+src+" WHERE g < 3) b ON a.g = b.g GROUP BY a.g",
		"SELECT count(*) FROM "+src+" WHERE g IN (SELECT g FROM "+src+" WHERE id = 5)",
		"SELECT a.id, b.s FROM "+src+" a JOIN "+src+" b ON a.id = b.id + 1 WHERE a.g = 2",
		"SELECT a.g, count(*), sum(b.x) FROM "+src+" a JOIN "+src+" b USING (id) GROUP BY a.g",
		"SELECT a.id, b.id FROM "+src+" a LEFT JOIN (SELECT * FROM "+src+" WHERE g = 1) b ON a.id = b.id + 7 WHERE a.id % 97 = 0",
		"SELECT b.g, count(a.id) FROM (SELECT * FROM "+src+" WHERE g = 1) b RIGHT JOIN "+src+" a ON a.id = b.id GROUP BY b.g",
		"SELECT a.g, m.mx FROM "+src+" a, (SELECT max(id) AS mx FROM "+src+") m WHERE a.id % 1000 = 1",
		"SELECT a.g, count(*) FROM "+src+" a FULL JOIN "+src+" b ON a.id = b.id AND b.g = 3 GROUP BY a.g",
		"SELECT a.g, count(DISTINCT b.s) FROM "+src+" a JOIN "+src+" b ON a.g = b.g AND a.id = b.id GROUP BY a.g",
		"SELECT count(*) FROM (SELECT id FROM "+src+" UNION ALL SELECT id FROM "+src+")",
		"WITH t AS (SELECT * FROM "+src+") SELECT count(*) FROM t",
	)
	return qs
}

// anyRowsOf checks an answer that may be any n of the rows in whole:
// n rows (sorted, as canonical gives them), each one of whole's, none
// repeated when distinct.
func anyRowsOf(got []string, n int, whole map[string]bool, distinct bool) error {
	if len(got) != n {
		return fmt.Errorf("%d rows, want %d", len(got), n)
	}
	for i, r := range got {
		if !whole[r] {
			return fmt.Errorf("row %s is not a row of the whole answer", r)
		}
		if distinct && i > 0 && got[i-1] == r {
			return fmt.Errorf("row %s twice under DISTINCT", r)
		}
	}
	return nil
}

type result struct {
	rows []string
	seq  []string // rows in the order they came
	info string
	err  error
}

// canonical renders rows as sorted strings, floats to 9 significant
// digits, and the same in their order.
func canonical(recs []arrow.RecordBatch) (sorted, seq []string) {
	for _, r := range recs {
		seq = appendRows(seq, r)
	}
	sorted = slices.Clone(seq)
	slices.Sort(sorted)
	return sorted, seq
}

// appendRows appends r's rows rendered as canonical does, in their order.
func appendRows(rows []string, r arrow.RecordBatch) []string {
	for i := 0; i < int(r.NumRows()); i++ {
		cells := make([]string, r.NumCols())
		for j, c := range r.Columns() {
			switch {
			case c.IsNull(i):
				cells[j] = "NULL"
			case c.DataType().ID() == arrow.FLOAT64:
				cells[j] = roundFloat(c.(*array.Float64).Value(i))
			case c.DataType().ID() == arrow.FLOAT32:
				cells[j] = roundFloat(float64(c.(*array.Float32).Value(i)))
			default:
				cells[j] = strings.Clone(c.ValueStr(i)) // the buffer may be DuckDB's, freed on release
			}
		}
		rows = append(rows, strings.Join(cells, "|"))
	}
	return rows
}

func roundFloat(f float64) string {
	if f == 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', 9, 64)
}

func runDuck(ctx context.Context, conn *duck.Conn, q string) result {
	return runDuckUpTo(ctx, conn, q, -1)
}

// runDuckUpTo is runDuck reading at most maxRows rows (-1: all), an error
// past them: a generated query can multiply its inputs (a many-to-many
// join joined to itself) into billions of rows, which no test compares.
func runDuckUpTo(ctx context.Context, conn *duck.Conn, q string, maxRows int64) result {
	st, err := conn.Prepare(ctx, q)
	if err != nil {
		return result{err: err}
	}
	defer st.Close()
	rdr, err := st.Query(ctx, memory.DefaultAllocator, nil, duck.DefaultBatchSize)
	if err != nil {
		return result{err: err}
	}
	defer rdr.Release()
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	var n int64
	for rdr.Next() {
		r := rdr.RecordBatch()
		r.Retain()
		recs = append(recs, r)
		if n += r.NumRows(); maxRows >= 0 && n > maxRows {
			return result{err: fmt.Errorf("more rows than the test compares: over %d", maxRows)}
		}
	}
	if err := rdr.Err(); err != nil {
		return result{err: err}
	}
	rows, seq := canonical(recs)
	return result{rows: rows, seq: seq}
}

func runFlight(ctx context.Context, cl *flightsql.Client, q string) result {
	info, err := cl.Execute(ctx, q)
	if err != nil {
		return result{err: err}
	}
	var recs []arrow.RecordBatch
	defer func() {
		for _, r := range recs {
			r.Release()
		}
	}()
	for _, ep := range info.Endpoint {
		rdr, err := cl.DoGet(ctx, ep.Ticket)
		if err != nil {
			return result{err: err}
		}
		for rdr.Next() {
			r := rdr.RecordBatch()
			r.Retain()
			recs = append(recs, r)
		}
		err = rdr.Err()
		rdr.Release()
		if err != nil {
			return result{err: err}
		}
	}
	rows, seq := canonical(recs)
	return result{rows: rows, seq: seq, info: string(info.AppMetadata)}
}

// fullMatrix says whether the corpus runs on the in-process cluster of this
// many executors and this task size. make soak (SKEIN_SOAK=1) runs all nine;
// make test runs one (one executor, one-row tasks) which, with the
// configurations below (three executors of 4,000-row tasks, the planner's
// own task sizes of whole files, whole queries as one task, separate
// processes), gives every executor count (1, 2, 3) and every task size (a
// whole file, 4,000 rows, one row) at least once: the nine took over half
// of CI's time, and three executors of whole-file tasks another 106 s of
// the group's 828 s.
func fullMatrix(executors int, taskRows int64) bool {
	if os.Getenv("SKEIN_SOAK") == "1" {
		return true
	}
	return executors == 1 && taskRows == 1
}

// corpusData writes the corpus's files, dataset's in dir and the TPC-H and
// keyed tables' in tdir, and returns both, the table expression of
// dataset's Parquet files and the views over them all (v, vv, renamed,
// by_g, the TPC-H tables, sk, so, mild, ov, nk).
func corpusData(t testing.TB, ctx context.Context) (dir, tdir, src string, views []string) {
	t.Helper()
	dir, tdir = t.TempDir(), t.TempDir()
	src = fmt.Sprintf("read_parquet('%s')", dataset(t, ctx, dir))
	views = append([]string{"CREATE VIEW v AS SELECT * FROM " + src,
		// Views over views, and a view that renames its columns (a
		// subquery when seen through).
		"CREATE VIEW vv AS SELECT * FROM v", "CREATE VIEW renamed (a, b) AS SELECT g, x FROM v WHERE x IS NOT NULL",
		// A view that aggregates (read twice by viewTwice).
		"CREATE VIEW by_g (grp, n, t) AS SELECT g, count(*), sum(x) FROM v GROUP BY g"},
		append(tpchData(t, ctx, tdir), keyedData(t, ctx, tdir)...)...)
	return dir, tdir, src, views
}

// startInProcess starts a coordinator of cfg with in-process executors,
// its DuckDB and theirs on one thread, reading dirs, and returns a client
// of it on which views are created. It shuts down when t ends.
func startInProcess(t testing.TB, ctx context.Context, cfg coordinator.Config, views []string, dirs ...string) *flightsql.Client {
	t.Helper()
	cfg.Addr, cfg.DataDir, cfg.AllowDirs = "127.0.0.1:0", t.TempDir(), dirs
	cfg.Threads, cfg.ShutdownGrace = 1, 5*time.Second
	c, err := coordinator.Start(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown() })
	cl := dial(t, c.URI())
	createViews(t, ctx, cl, views)
	return cl
}

func createViews(t testing.TB, ctx context.Context, cl *flightsql.Client, views []string) {
	t.Helper()
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
}

// planMeta is what a FlightInfo's app metadata says of the plan.
type planMeta struct {
	Mode       string
	Reason     string // why a query runs local
	ResultMode string `json:"result_mode"`
	Endpoints  int
	Tasks      int
	Rounds     *struct{} `json:"limit_rounds"`
	Stages     []struct {
		What string
	}
}

// parsePlanMeta reads info (a result's info); a query run by the
// coordinator itself says no mode: "local".
func parsePlanMeta(info string) planMeta {
	var meta planMeta
	_ = json.Unmarshal([]byte(info), &meta)
	if meta.Mode == "" {
		meta.Mode = "local"
	}
	return meta
}

func TestPartitionInvariance(t *testing.T) {
	if testing.Short() {
		t.Skip("the corpus takes a while")
	}
	ctx := context.Background()
	dir, tdir, src, views := corpusData(t, ctx)
	// TPC-H Q1 and Q6 also read lineitem's files directly.
	lineitem := fmt.Sprintf("read_parquet('%s')", filepath.Join(tdir, "lineitem-*.parquet"))
	direct := []string{strings.Replace(tpchQueries[0], "FROM lineitem", "FROM "+lineitem, 1),
		strings.Replace(tpchQueries[5], "FROM lineitem", "FROM "+lineitem, 1),
		// The files named as a table (DuckDB's replacement scan).
		strings.Replace(tpchQueries[0], "FROM lineitem", "FROM '"+filepath.Join(tdir, "lineitem-*.parquet")+"'", 1)}
	overViews := []string{"SELECT count(*), sum(x) FROM vv", "SELECT g, max(x) FROM vv GROUP BY g ORDER BY g",
		"SELECT * FROM vv AS t WHERE t.x > 10 ORDER BY ALL LIMIT 7", "SELECT a, count(b) FROM renamed GROUP BY a ORDER BY a",
		"SELECT count(*) FROM v JOIN vv USING (id)", "WITH v AS (SELECT 1 AS g) SELECT * FROM v",
		// GROUP BY () without aggregates is one row (each task gave its
		// own); GROUP BY ALL leaves out the items that read no column (it
		// grouped by the constant: one row for a row per row).
		"SELECT 1 AS one FROM v GROUP BY ()", "SELECT count(*) FROM (SELECT 1 AS one FROM v GROUP BY ())",
		"SELECT count(*) FROM (SELECT 1 AS one FROM v GROUP BY ALL)", "SELECT 1 AS one, count(*) AS n FROM v WHERE false GROUP BY ALL",
		// ... but groups by an item whose column is in a subquery
		// (correlated, or IN's left side): it left them out too.
		"SELECT (SELECT g) AS x FROM v GROUP BY ALL", "SELECT g IN (SELECT 1) AS x FROM v GROUP BY ALL",
		// FROM subqueries that filter and project split; others do not.
		"SELECT g, sum(y) FROM (SELECT g, x * 2 AS y FROM v WHERE x > 1) AS t GROUP BY g ORDER BY g",
		"SELECT count(*), count(x) FROM (SELECT * FROM (SELECT id, x FROM vv) WHERE x IS NULL OR x > 100)",
		"SELECT * FROM (SELECT id, s FROM v WHERE g = 3) ORDER BY id DESC LIMIT 5",
		"SELECT sum(x) FROM (SELECT x FROM v ORDER BY id LIMIT 100)",
		// A LIMIT over a sorted subquery takes its first rows, as DuckDB.
		"SELECT id FROM (SELECT id FROM v ORDER BY x DESC NULLS LAST, id) LIMIT 5",
		"SELECT g, sum(c) FROM (SELECT g, count(*) AS c FROM v GROUP BY g) GROUP BY g ORDER BY g",
		"SELECT avg(d), min(d) FROM (SELECT a.x - b.x AS d FROM v AS a JOIN vv AS b USING (id) WHERE a.g < 3)",
		"SELECT y, count(*) FROM (SELECT b AS y FROM renamed WHERE a > 2) GROUP BY y ORDER BY y NULLS FIRST LIMIT 20",
		// UNION ALL of scatter branches splits; other set operations do not.
		"SELECT id, x FROM v WHERE g = 1 UNION ALL SELECT id * 2, x + 1 AS y FROM vv WHERE g = 2",
		"SELECT * FROM v UNION ALL SELECT * FROM vv WHERE flag UNION ALL SELECT * FROM v WHERE x IS NULL",
		"SELECT g, x FROM v UNION ALL SELECT id, amount FROM vv",
		"SELECT a, b FROM renamed UNION ALL SELECT g, x FROM v WHERE s = 'k1'",
		"SELECT s FROM v UNION SELECT s FROM vv",
		"SELECT count(*), sum(id) FROM (SELECT id FROM v UNION ALL SELECT id FROM vv)",
		"SELECT id FROM v UNION ALL SELECT 1 ORDER BY 1 LIMIT 3",
		"SELECT id FROM v EXCEPT ALL SELECT id FROM vv WHERE g = 3",
		// An aggregate that does not decompose over a join, naming
		// outside its FROM what is both a select item's alias and a
		// column of the join, runs local.
		"SELECT a.g AS s, median(b.x) FROM v AS a JOIN vv AS b ON a.id = b.id GROUP BY a.g ORDER BY s",
		// A PIVOT DuckDB does not bind as filtered aggregates runs local:
		// one of more than 20 values.
		"SELECT * FROM v PIVOT (count(*) FOR id IN (" + pivotIDs + ") GROUP BY g)",
		// An UNPIVOT of a join's rows runs local.
		"SELECT * FROM (SELECT a.id, a.x, b.amount FROM v AS a JOIN vv AS b USING (id)) UNPIVOT (val FOR col IN (x, amount))",
		// An aggregate over an aggregate subquery runs local for now.
		"WITH t AS (SELECT g, count(*) AS n FROM v GROUP BY g) SELECT * FROM t WHERE n > (SELECT min(n) FROM t)"}
	split := map[string]bool{}          // may not run local
	split[direct[len(direct)-1]] = true // files named as a table
	for _, q := range append(append(slices.Clone(localShapes), nowShapes...), hiddenSorts...) {
		split[q] = true
	}
	for _, q := range append(slices.Clone(hiddenSorts), besideStar...) {
		inOrder[q] = true
	}
	var anyQueries []string
	for q := range anyRows {
		anyQueries = append(anyQueries, q)
		split[q] = true
	}
	slices.Sort(anyQueries)
	queries := append(append(append(append(append(append(append(append(append(append(append(append(append(append(corpus(src), corpus("v")...), direct...), overViews...),
		textScans(dir)...), localShapes...), nowShapes...), volatileShapes...), macroAggregates...), anyQueries...), staged...), hiddenSorts...), besideStar...), mergedTypes...), tpchQueries...)
	isStaged := map[string]bool{}
	for _, q := range staged {
		isStaged[q] = true
	}
	once := maps.Clone(withOnce)
	once[tpchQueries[14]] = "WITH revenue0" // TPC-H Q15
	here := maps.Clone(subqueryHere)
	here[tpchQueries[14]] = true

	rconn := ducktest.Open(t, dir, tdir)
	ducktest.Exec(t, rconn, views...)
	want := make([]result, len(queries))
	whole := map[string]map[string]bool{} // anyRows: the rows each may give
	for i, q := range queries {
		want[i] = runDuck(ctx, rconn, q)
		if want[i].err != nil {
			t.Fatalf("reference %s: %v", q, want[i].err)
		}
		if wq, ok := anyRows[q]; ok {
			w := runDuck(ctx, rconn, wq)
			if w.err != nil {
				t.Fatalf("reference %s: %v", wq, w.err)
			}
			whole[q] = map[string]bool{}
			for _, r := range w.rows {
				whole[q][r] = true
			}
		}
		if tq := i - (len(queries) - len(tpchQueries)); tq >= 0 && len(want[i].rows) == 0 {
			t.Logf("TPC-H Q%d has an empty answer on this data", tq+1)
		}
	}
	t.Logf("%d queries", len(queries))

	// The configurations run two at a time (go test's -parallel, the
	// machine's cores): each counts its own runs, added to these after.
	var mu sync.Mutex
	modes := map[string]int{}
	tpchSplit := map[int]int{} // TPC-H query number: configurations that distributed it
	// check runs the corpus on cl and returns what its runs counted by
	// mode and shape.
	check := func(t *testing.T, cl *flightsql.Client) map[string]int {
		mine := map[string]int{}
		var tpch []int
		defer func() {
			mu.Lock()
			defer mu.Unlock()
			for k, n := range mine {
				modes[k] += n
			}
			for _, q := range tpch {
				tpchSplit[q]++
			}
		}()
		for i, q := range queries {
			got := runFlight(ctx, cl, q)
			if got.err != nil {
				t.Errorf("%s: %v", q, got.err)
				continue
			}
			if rows, ok := whole[q]; ok {
				if err := anyRowsOf(got.rows, len(want[i].rows), rows, strings.Contains(q, "DISTINCT")); err != nil {
					t.Errorf("%s (%s): %v", q, got.info, err)
				}
			} else if !slices.Equal(got.rows, want[i].rows) {
				t.Errorf("%s (%s):\n got %d rows %.300v\nwant %d rows %.300v", q, got.info,
					len(got.rows), got.rows, len(want[i].rows), want[i].rows)
			} else if inOrder[q] && !slices.Equal(got.seq, want[i].seq) {
				t.Errorf("%s (%s): the rows are DuckDB's, not in its order", q, got.info)
			}
			meta := parsePlanMeta(got.info)
			mine[meta.Mode]++
			if meta.ResultMode == "single" {
				mine["single endpoint"]++
				if meta.Endpoints != 1 {
					t.Errorf("%s: result mode single with %d endpoints (%s)", q, meta.Endpoints, got.info)
				}
			}
			// A shape the stages cover may not fall back to one node.
			if isStaged[q] && meta.Mode != "stages" {
				t.Errorf("%s: planned %s, want stages (%s)", q, meta.Mode, got.info)
			}
			if (q == limitWidens || q == limitWidensDistinct || q == limitWidensOffset) && meta.Mode == "scatter-merge" &&
				meta.Tasks > 3 && meta.Rounds == nil {
				t.Errorf("%s: not run in rounds (%s)", q, got.info)
			}
			if meta.Rounds != nil {
				mine["limit in rounds"]++
			}
			if split[q] && meta.Mode == "local" {
				t.Errorf("%s: planned local (%s)", q, got.info)
			}
			whole := len(meta.Stages) == 1 && strings.HasPrefix(meta.Stages[0].What, "whole query in one task: ")
			if name, ok := once[q]; ok && !whole { // run whole, DuckDB computes what it will once
				n := 0
				for _, st := range meta.Stages {
					if strings.HasPrefix(st.What, name+", ") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %d stages compute %s, want 1 (%s)", q, n, name, got.info)
				}
			}
			if here[q] && !whole {
				for _, st := range meta.Stages {
					if strings.HasPrefix(st.What, "subquery, ") {
						t.Errorf("%s: a stage computes a subquery its reader holds the rows of (%s)", q, got.info)
					}
				}
			}
			if decorrelates[q] && !whole && !slices.ContainsFunc(meta.Stages, func(st struct{ What string }) bool {
				return strings.Contains(st.What, "input skein_sq")
			}) {
				t.Errorf("%s: not decorrelated (%s)", q, got.info)
			}
			for _, st := range meta.Stages {
				if strings.HasPrefix(st.What, "pre-aggregate ") {
					mine["aggregated below a join"]++
					if strings.HasSuffix(st.What, "(below the outer join)") {
						mine["aggregated below an outer join"]++ // partition/eagerleft.go
					}
					break
				}
			}
			for _, st := range meta.Stages {
				if strings.HasPrefix(st.What, "rows of ") && strings.Contains(st.What, " is in a broadcast input's ") {
					mine["read through a key set"]++ // partition/keyset.go
					break
				}
			}
			if tq := i - (len(queries) - len(tpchQueries)); tq >= 0 && meta.Mode != "local" {
				tpch = append(tpch, tq+1)
			}
		}
		return mine
	}
	// inProcess checks the corpus on a coordinator of cfg with in-process
	// executors, its DuckDB and theirs on one thread.
	// then, if any, checks what the run counted.
	inProcess := func(t *testing.T, name string, cfg coordinator.Config, then ...func(t *testing.T, counted map[string]int)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl := startInProcess(t, ctx, cfg, views, dir, tdir)
			counted := check(t, cl)
			for _, f := range then {
				f(t, counted)
			}
		})
	}
	configs := 0
	// The group ends when every configuration, run in parallel, has.
	t.Run("configurations", func(t *testing.T) {
		for _, executors := range []int{1, 2, 3} {
			for _, taskRows := range []int64{1 << 30, 4000, 1} {
				if !fullMatrix(executors, taskRows) {
					continue
				}
				configs++
				inProcess(t, fmt.Sprintf("executors=%d/task-rows=%d", executors, taskRows),
					coordinator.Config{Executors: executors, TaskRows: taskRows})
			}
		}
		// --task-rows 0, the planner's choice: planned for one slot
		// (Config.PlanSlots), a plain scan of more than two whole files has
		// them read two tasks of consecutive files (partition.Coalesce).
		configs++
		inProcess(t, "executors=2/task-rows=0/plan-slots=1", coordinator.Config{Executors: 2, PlanSlots: 1})
		// Inputs of some thousand rows broadcast and aggregates computed below
		// the join that broadcast them (partition/eager.go: the broadcast
		// inputs must give an 80th of --broadcast-rows), and a scan and its
		// correlated subquery read through a broadcast key set (keyset.go).
		configs++
		inProcess(t, "executors=2/task-rows=4000/broadcast-rows=10000", coordinator.Config{Executors: 2, TaskRows: 4000, BroadcastRows: 10000},
			func(t *testing.T, counted map[string]int) {
				if counted["aggregated below a join"] == 0 {
					t.Error("no query aggregated below a join")
				}
				if counted["aggregated below an outer join"] == 0 {
					t.Error("no query aggregated below an outer join (partition/eagerleft.go)")
				}
				if counted["read through a key set"] == 0 {
					t.Error("no query read its scan and its subquery through a key set (partition/keyset.go)")
				}
			})
		// Through one endpoint that streams every task's result in order
		// (--result-mode single), as SQLAlchemy clients read it; and every
		// merged query's last stage on executors, however few rows it reads
		// (elsewhere this corpus's small answers have the coordinator run
		// most of them in its merge, coordinator/finalhere.go).
		configs++
		inProcess(t, "executors=3/task-rows=4000/result-mode=single", coordinator.Config{Executors: 3, TaskRows: 4000, ResultMode: "single", FinalHereRows: -1})
		// Every query that splits run whole as one task on one of two
		// executors (--split-min-rows above every input): the query as
		// written, views inlined, at an executor.
		configs++
		inProcess(t, "executors=2/split-min-rows=max", coordinator.Config{Executors: 2, SplitMinRows: math.MaxInt64})
		// The same corpus against separate processes: a coordinator and two
		// executors started from the skein binary.
		configs++
		t.Run("processes/executors=2/task-rows=4000", func(t *testing.T) {
			t.Parallel()
			probe := fmt.Sprintf("SELECT count(*) FROM %s", src)
			cl := dial(t, startProcessCluster(t, ctx, 2, 4000, probe, dir, tdir))
			createViews(t, ctx, cl, views)
			check(t, cl)
		})
	})
	t.Logf("runs by mode: %v", modes)
	// The suite proves nothing if nothing was split.
	if modes["scatter"] == 0 || modes["scatter-merge"] == 0 || modes["single endpoint"] == 0 {
		t.Fatalf("no query was distributed: %v", modes)
	}
	// The TPC-H queries read views: Q1 and Q6 must split through them.
	t.Logf("TPC-H queries distributed (query: configurations): %v", tpchSplit)
	// Every one of the 22 runs on executors, in every configuration.
	for q := 1; q <= len(tpchQueries); q++ {
		if tpchSplit[q] != configs {
			t.Errorf("TPC-H Q%d over views ran local in %d of %d configurations", q, configs-tpchSplit[q], configs)
		}
	}

}
