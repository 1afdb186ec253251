package coordinator

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/skeindb/skein/internal/duck"
	"github.com/skeindb/skein/internal/ducktest"
)

var update = flag.Bool("update", false, "rewrite the golden plans in testdata")

// stageData writes a fact table (big, several files), an orders-like table
// it joins to by key (big too) and a dimension (small), with views.
func stageData(t *testing.T, dir string) []string {
	t.Helper()
	conn := ducktest.Open(t, dir)
	for f := range 3 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range * 3 + %[1]d)::BIGINT AS k, (range %% 500)::INTEGER AS o, (range %% 7)::INTEGER AS d,
  (range %% 1000) * 0.5 AS x, 'c' || (range %% 9) AS c FROM range(6000)) TO '%[2]s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`,
			f, filepath.Join(dir, fmt.Sprintf("fact-%d.parquet", f))))
	}
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::INTEGER AS o, (range %% 7)::BIGINT AS od, range %% 3 = 0 AS urgent
FROM range(5000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`, filepath.Join(dir, "ord.parquet")))
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::INTEGER AS d, 'dim ' || range AS name FROM range(7)) TO '%s' (FORMAT parquet)`,
		filepath.Join(dir, "dim.parquet")))
	// acct: one row per fact.k up to 15,000, fewer rows than fact but more
	// than four times what DuckDB estimates fact gives filtered.
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::BIGINT AS k, range %% 5 = 0 AS flag FROM range(15000))
TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 2500)`, filepath.Join(dir, "acct.parquet")))
	// seq: fact's rows in three files of disjoint, sorted k ranges, o
	// (order) clustered with them; seqord: orders sorted by o in two files.
	for f := range 3 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (%[1]d * 6000 + range)::BIGINT AS k, ((%[1]d * 6000 + range) // 4)::INTEGER AS o,
  (range %% 7)::INTEGER AS d, (range %% 1000) * 0.5 AS x FROM range(6000)) TO '%[2]s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`,
			f, filepath.Join(dir, fmt.Sprintf("seq-%d.parquet", f))))
	}
	for f := range 2 {
		ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (%[1]d * 2250 + range)::INTEGER AS o, (range %% 7)::BIGINT AS od, range %% 3 = 0 AS urgent
FROM range(2250)) TO '%[2]s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`, f, filepath.Join(dir, fmt.Sprintf("seqord-%d.parquet", f))))
	}
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT range::INTEGER AS c, (range %% 7)::INTEGER AS g, 'cust ' || range AS name
FROM range(3000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`, filepath.Join(dir, "cust.parquet")))
	// wide: fewer rows than fact, and eight strings beside its key.
	ducktest.Exec(t, conn, fmt.Sprintf(`COPY (SELECT (range * 3)::BIGINT AS k, 'a' || range AS a, 'b' || range AS b, 'c' || range AS c,
  'd' || range AS d, 'e' || range AS e, 'f' || range AS f, 'g' || range AS g, 'h' || range AS h
FROM range(5000)) TO '%s' (FORMAT parquet, ROW_GROUP_SIZE 1000)`, filepath.Join(dir, "wide.parquet")))
	return []string{
		fmt.Sprintf("CREATE VIEW wide AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "wide.parquet")),
		fmt.Sprintf("CREATE VIEW cust AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "cust.parquet")),
		fmt.Sprintf("CREATE VIEW seq AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "seq-*.parquet")),
		fmt.Sprintf("CREATE VIEW seqord AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "seqord-*.parquet")),
		fmt.Sprintf("CREATE VIEW fact AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "fact-*.parquet")),
		fmt.Sprintf("CREATE VIEW ord AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "ord.parquet")),
		fmt.Sprintf("CREATE VIEW dim AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "dim.parquet")),
		fmt.Sprintf("CREATE VIEW acct AS SELECT * FROM read_parquet('%s')", filepath.Join(dir, "acct.parquet")),
		"CREATE VIEW fact_by_d AS SELECT d, sum(x) AS s FROM fact GROUP BY d",
		"CREATE VIEW top_by_d AS SELECT * FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC, k) AS r FROM fact) WHERE r = 1",
	}
}

// stageQueries are the golden plan cases: each query's stages (or why it
// stays local) are in testdata/stages.json; go test -run TestGoldenStages
// -update rewrites it, and a reviewer reads the plans' diff.
var stageQueries = []string{
	"SELECT k, x FROM fact WHERE d = 3",
	"SELECT d, count(*), sum(x) FROM fact GROUP BY d",
	"SELECT k, sum(x) FROM fact GROUP BY k",
	"SELECT d, sum(x) AS s FROM fact GROUP BY d ORDER BY s DESC LIMIT 3",
	"SELECT count(*), sum(x) FROM fact",
	"SELECT d, median(x), string_agg(c, ',' ORDER BY k) FROM fact GROUP BY d",
	// A struct's * ships the struct alone (not every column of the
	// subquery) to one task: its fields are no key; the row as a value,
	// or the subquery's *, ships every column.
	"SELECT s.*, median(x) FROM (SELECT {'a': d % 2, 'b': c} AS s, x, k FROM fact) AS f GROUP BY ALL",
	"SELECT f, median(x) FROM (SELECT d % 2 AS a, x FROM fact) AS f GROUP BY ALL",
	"SELECT f.*, median(x) FROM (SELECT d % 2 AS a, x FROM fact) AS f GROUP BY ALL",
	"SELECT d, c, count(*) FROM fact GROUP BY ALL",
	"SELECT d % 3, count(*) FROM fact GROUP BY 1 ORDER BY 1",
	"SELECT count(DISTINCT c), min(x) FROM fact",
	"SELECT stddev_pop(x) FROM fact",
	"SELECT name, count(*) FROM fact JOIN dim USING (d) GROUP BY name ORDER BY name",
	"SELECT f.k, o.urgent FROM fact f, ord o WHERE f.o = o.o AND o.od = 2 AND f.x > 100",
	"SELECT o.urgent, dim.name, sum(f.x) FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d GROUP BY ALL",
	"SELECT f.k FROM fact f LEFT JOIN dim ON f.d = dim.d AND dim.name = 'dim 3' WHERE dim.name IS NULL",
	"SELECT count(*) FROM fact WHERE o IN (SELECT o FROM ord WHERE urgent)",
	"SELECT d, count(*) FROM fact f WHERE EXISTS (SELECT 1 FROM ord WHERE ord.o = f.o AND od = 1) GROUP BY d",
	"SELECT d, sum(x) FROM fact GROUP BY d HAVING sum(x) > (SELECT avg(x) * 100 FROM fact)",
	"SELECT k, row_number() OVER (PARTITION BY d ORDER BY k) FROM fact",
	"SELECT * FROM fact f FULL JOIN ord o ON f.o = o.o",
	"SELECT f.k, o.od FROM ord o RIGHT JOIN fact f ON f.o = o.o AND o.urgent",
	// An ON conjunct on the null-supplying side alone filters that side's
	// stage (its column not shipped); one on the preserved side stays in
	// the ON; an inner join's filters its input.
	// (The first two: ord's count computed below the join, its filter in
	// that stage, partition/eagerleft.go; COUNT(*) is not, and ord's stage
	// filters what it ships to the co-partitioned join.)
	"SELECT dim.d, count(o.o) FROM dim LEFT JOIN ord o ON dim.d = o.od AND NOT o.urgent GROUP BY dim.d",
	"SELECT dim.d, count(*) FROM dim LEFT JOIN ord o ON dim.d = o.od AND NOT o.urgent GROUP BY dim.d",
	"SELECT f.k, dim.name FROM fact f LEFT JOIN dim ON f.d = dim.d AND f.x > 400 AND dim.name <> 'dim 2'",
	"SELECT f.k, o.od FROM fact f JOIN ord o ON f.o = o.o AND o.urgent AND f.c = 'c2'",
	// ASOF joins: the left input splits; the right is co-partitioned with
	// it by the equalities of the ON (ord, over the broadcast threshold),
	// else read whole by every task (dim). ASOF RIGHT and FULL joins run
	// on one node (TestAsofRightAndFullJoinsRunOnOneNode).
	"SELECT f.k, f.o, o.o AS prior FROM fact f ASOF JOIN ord o ON f.d = o.od AND f.o >= o.o WHERE f.x > 10",
	"SELECT f.d, count(*), count(dim.d) FROM fact f ASOF LEFT JOIN dim ON f.o >= dim.d * 80 GROUP BY f.d",
	// An aggregate that does not decompose, or a window, over a join: the
	// query over the join's rows, shuffled by its keys (partition/joinraw.go).
	"SELECT dim.name, median(f.x), list(f.k ORDER BY f.k)[1:2] AS firsts FROM fact f JOIN dim ON f.d = dim.d GROUP BY dim.name",
	"SELECT f.k, o.urgent, row_number() OVER (PARTITION BY o.od ORDER BY f.k) FROM fact f JOIN ord o ON f.o = o.o",
	// A PIVOT with an IN list is DuckDB's grouped SELECT of filtered
	// aggregates (partition/pivot.go), grouped without GROUP BY by the
	// source's other columns; one of a DECIMAL value stays local.
	"SELECT * FROM fact PIVOT (sum(x) AS s, count(*) AS n FOR d IN (1, 2 AS two) c IN ('c1', 'c3') GROUP BY o)",
	"SELECT * FROM (SELECT o, d, x FROM fact) PIVOT (sum(x) FOR d IN (1, 2))",
	"SELECT * FROM fact PIVOT (count(*) FOR x IN (0.5, 1.5) GROUP BY d)",
	// A FULL join on a DECIMAL and an INTEGER: both sides co-partitioned by
	// the keys cast to DOUBLE.
	"SELECT count(*), count(f.k), count(o.o) FROM fact f FULL JOIN ord o ON f.x = o.o",
	// SELECT DISTINCT with a window: the windowed query in stages, its rows
	// grouped by every output column; ORDER BY ALL as positions.
	"SELECT DISTINCT d, rank() OVER (PARTITION BY d ORDER BY o) AS r FROM fact ORDER BY ALL DESC",
	// An UNPIVOT splits its scan as a FROM subquery that filters does
	// (partition/unpivot.go); one of a join's rows stays local.
	"SELECT col, count(*), max(val) FROM (SELECT d, o, x FROM fact WHERE x > 1) UNPIVOT (val FOR col IN (o, x)) GROUP BY col",
	"SELECT * FROM (SELECT f.k, dim.d FROM fact f JOIN dim ON f.d = dim.d) UNPIVOT (val FOR col IN (k, d))",
	// TPC-H Q12's shape: fact has more rows than acct but few pass its
	// filters, so acct is the split scan; fact's files hold more than
	// four times --broadcast-rows, so it is co-partitioned with acct
	// (TestSplitScanByFilteredRows: broadcast under a larger threshold).
	"SELECT a.flag, count(*) FROM acct a, fact f WHERE a.k = f.k AND f.d = 3 AND f.x < 50 GROUP BY a.flag",
	// ord gives more rows than fact filtered is estimated to, but not 4
	// times as many: fact stays the split scan.
	"SELECT o.urgent, count(*) FROM ord o, fact f WHERE o.o = f.o AND f.d = 3 GROUP BY o.urgent",
	// A GROUP BY of the co-partitioned join's key is finished in each
	// partition: the split scan's key, or the other input's in an inner
	// join; not the key of a null-supplying side (its NULLs are in every
	// partition), nor one of two keys the inputs are shuffled by.
	"SELECT o.o, count(*), sum(f.x) FROM fact f JOIN ord o ON f.o = o.o GROUP BY o.o",
	// (count(f.k) is computed below the join, partition/eagerleft.go;
	// sum(f.x * 2) is not, an expression of the null-supplying side.)
	"SELECT o.o, count(f.k) FROM ord o LEFT JOIN fact f ON f.o = o.o AND f.d = 1 GROUP BY o.o ORDER BY 2 DESC, 1 LIMIT 5",
	"SELECT o.o, sum(f.x * 2) FROM ord o LEFT JOIN fact f ON f.o = o.o AND f.d = 1 GROUP BY o.o ORDER BY 2 DESC, 1 LIMIT 5",
	"SELECT f.o, count(*) FROM ord o LEFT JOIN fact f ON f.o = o.o AND f.d = 1 GROUP BY f.o",
	"SELECT f.o, sum(f.x) FROM fact f JOIN ord o ON f.o = o.o AND f.d = o.od GROUP BY f.o",
	// Beside a subquery the join stage keeps its inputs' filters (DuckDB
	// decorrelates it for the rows that pass them).
	"SELECT f.k FROM fact f JOIN dim ON f.d = dim.d WHERE dim.name = 'dim 3' AND f.x > (SELECT avg(x) FROM fact g WHERE g.d = f.d)",
	"SELECT k, random() FROM fact",
	"WITH big AS (SELECT k, o FROM fact WHERE x > 400) SELECT o.od, count(*) FROM big JOIN ord o USING (o) GROUP BY o.od ORDER BY 1",
	"SELECT d, count(*) FROM fact WHERE x > (SELECT avg(x) FROM fact) GROUP BY d ORDER BY d",
	"SELECT d, count(*) FROM fact WHERE x > (SELECT min(x) + 100 FROM ord JOIN fact USING (o)) AND k > (SELECT min(x) + 100 FROM ord JOIN fact USING (o)) GROUP BY d",
	"SELECT n, count(*) FROM (SELECT o, count(*) AS n FROM fact GROUP BY o) GROUP BY n",
	"SELECT d, x FROM fact WHERE d IN (1, 2) UNION SELECT d, 0 FROM dim",
	"SELECT d, c FROM fact WHERE x > 100 INTERSECT SELECT d, 'c' || d FROM fact",
	"SELECT o FROM fact EXCEPT ALL SELECT o FROM ord WHERE urgent ORDER BY 1 LIMIT 5",
	"SELECT d, count(*) FROM fact GROUP BY d UNION ALL SELECT d, count(*) FROM dim GROUP BY d",
	// A UNION ALL of aggregates: one stage reads each branch's, not a
	// chain of stages each reading the one below; its rows hash as their
	// branch's types (sum(x) is a DECIMAL(38,1), whose cast it once refused).
	"SELECT count(*) FROM fact UNION ALL SELECT sum(x) FROM fact UNION ALL SELECT max(x) FROM fact UNION ALL SELECT min(x) FROM fact",
	// The chain stops where the types change: the first two branches'
	// UNION is BIGINT, hashed as such, the whole VARCHAR; and at a UNION
	// ALL under a UNION.
	"SELECT d FROM fact UNION SELECT o FROM ord UNION SELECT c FROM fact UNION SELECT name FROM dim",
	"SELECT d FROM fact UNION ALL SELECT d FROM dim UNION SELECT o FROM ord",
	"SELECT k, x, c FROM fact WHERE d <> 3 ORDER BY x DESC, k",
	"SELECT k, c FROM fact ORDER BY 2 NULLS FIRST, k DESC",
	"SELECT f.k, o.od, dim.name FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d WHERE o.urgent ORDER BY o.od DESC, f.k",
	"SELECT k, [k, d] AS l FROM fact ORDER BY l",
	"SELECT k, x FROM fact ORDER BY x DESC, k LIMIT 5",
	// Shapes an analyst writes that ran local: LIMIT without ORDER BY (any
	// n rows: each task's, cut again by the merge); DISTINCT ON as a top-1
	// per group (each slice's, then again over them; range-partitioned by
	// its key when sorted by it, partition/distincton.go); a DISTINCT
	// subquery counted as its GROUP BY, and DISTINCT over a GROUP BY as a
	// GROUP BY of the output over the query (distinctgroups.go).
	"SELECT k, c FROM fact WHERE x > 100 LIMIT 10",
	// Without WHERE, a table's preview: one task reads its first rows.
	"SELECT * FROM fact LIMIT 5",
	"SELECT DISTINCT d FROM fact LIMIT 3 OFFSET 1",
	"SELECT DISTINCT ON (d) d, k, x FROM fact ORDER BY d, x DESC, k",
	"SELECT DISTINCT ON (o) o, k FROM fact ORDER BY o, k LIMIT 5",
	"SELECT DISTINCT ON (d) d, k FROM fact ORDER BY k",
	"SELECT count(*) FROM (SELECT DISTINCT o FROM fact)",
	"SELECT c, count(*) FROM (SELECT DISTINCT c, d FROM fact) GROUP BY c",
	"SELECT DISTINCT d, c FROM fact GROUP BY d, c, o",
	"SELECT DISTINCT d, count(*) AS n FROM fact GROUP BY d, c ORDER BY n DESC, d LIMIT 4",
	// FILTER kept on the partial aggregates (partition/aggfilter.go).
	"SELECT d, count(*) FILTER (WHERE x > 100) AS n, avg(x) FILTER (WHERE c = 'c1') FROM fact GROUP BY d",
	// arg_max and kin: each slice's, with the value it was found at
	// (partition/argmax.go).
	"SELECT d, arg_max(c, k), min_by(x, k) FILTER (WHERE o > 10), arg_max_null(c, x) FROM fact GROUP BY d",
	// Its top-n form does not split: rows shuffled by d.
	"SELECT d, arg_max(c, k, 2) FROM fact GROUP BY d",
	// Nor do min's and max's (the max of the slices' top-n lists was
	// taken for the merge of them, found 2026-12-05).
	"SELECT d, max(x, 3), min(k, 2) FROM fact GROUP BY d",
	"SELECT max(x, 3) AS m FROM fact",
	// A sorted subquery's order is kept where its last stage's tasks run
	// the query over it; lost in an exchange, so local.
	"SELECT k FROM (SELECT k, x FROM fact ORDER BY x DESC, k) AS s WHERE k > 10",
	"SELECT k FROM (SELECT k FROM fact ORDER BY x DESC, k) LIMIT 3",
	// Still local: a sample, and a DISTINCT ON a value not selected.
	"SELECT k FROM fact USING SAMPLE 10 ROWS",
	"SELECT DISTINCT ON (o) k FROM fact ORDER BY o",
	// A WITH read twice is computed once and broadcast to both readers
	// (TPC-H Q15's shape: in FROM and in a scalar subquery); one that only
	// filters files is inlined.
	"WITH r AS (SELECT o AS ok, sum(x) AS s FROM fact WHERE d < 5 GROUP BY ok) SELECT ord.o, r.s FROM ord, r WHERE ord.o = r.ok AND r.s = (SELECT max(s) FROM r) ORDER BY ord.o",
	"WITH r AS (SELECT d, count(*) AS n FROM fact GROUP BY d) SELECT a.d, b.n FROM r AS a JOIN r AS b ON a.d = b.d + 1",
	"WITH r AS (SELECT d, sum(x) AS s FROM fact GROUP BY d) SELECT d FROM r WHERE s > 1000 UNION SELECT d + 1 FROM r",
	"WITH big AS (SELECT k, o FROM fact WHERE x > 400) SELECT count(*) FROM big WHERE o IN (SELECT o FROM big WHERE k > 100)",
	// So is a view that aggregates, read twice.
	"SELECT d, s FROM fact_by_d WHERE s = (SELECT max(s) FROM fact_by_d)",
	// A subquery over a WITH its reader holds is evaluated by the reader
	// (partition/subhere.go), by each of its tasks when it reads one table;
	// one joining two WITHs keeps its stage for a reader of several tasks.
	"WITH r AS (SELECT d, sum(x) AS s FROM fact GROUP BY d) SELECT f.k FROM fact f JOIN r USING (d) WHERE r.s > (SELECT avg(s) FROM r) AND f.x > 450",
	"WITH r AS (SELECT d, sum(x) AS s FROM fact GROUP BY d), q AS (SELECT o, count(*) AS n FROM fact GROUP BY o) " +
		"SELECT f.k FROM fact f JOIN r USING (d) JOIN q USING (o) WHERE r.s + q.n > (SELECT max(r.s) + max(q.n) FROM r, q WHERE r.d = q.o)",
	// A HAVING over the query's own rows is answered from its partial
	// aggregates (TPC-H Q11's shape).
	"SELECT d, sum(k) AS s FROM fact WHERE x > 10 GROUP BY d HAVING sum(k) > (SELECT sum(k) / 10 FROM fact WHERE x > 10) ORDER BY s DESC",
	// TPC-H Q16's shape: a join to a broadcast dimension and an
	// uncorrelated NOT IN, count(DISTINCT) by group, ordered.
	"SELECT dim.name, count(DISTINCT o.od) AS n FROM ord o, dim WHERE dim.d = o.o % 7 AND o.o NOT IN (SELECT o FROM fact WHERE x > 495) GROUP BY dim.name ORDER BY n DESC, dim.name",
	// Files sorted by the key (ranges.go): seqord read by each join task
	// in its slice's o range, not co-partitioned; a GROUP BY holding the
	// key (or a key equal to it through the join) finished in each slice.
	"SELECT s.o, so.od, sum(s.x) FROM seq s JOIN seqord so ON s.o = so.o GROUP BY s.o, so.od",
	// An aggregate over that one: each slice's query keyed for the shuffle.
	"SELECT n, count(*) FROM (SELECT s.o, count(*) AS n FROM seq s JOIN seqord so ON s.o = so.o GROUP BY s.o) GROUP BY n",
	"SELECT so.o, count(*) FROM seq s JOIN seqord so ON s.o = so.o WHERE so.urgent GROUP BY so.o ORDER BY count(*) DESC, so.o LIMIT 5",
	"SELECT so.od, count(so.o) FROM seq s LEFT JOIN seqord so ON s.o = so.o AND so.urgent GROUP BY so.od",
	"SELECT o, sum(x) FROM seq GROUP BY o",
	// DISTINCT aggregates finished there: over the rows, not the values.
	"SELECT o, count(DISTINCT x), max(x) FROM seq GROUP BY o HAVING count(DISTINCT x) > 1",
	// k's ranges are disjoint, but not d's: the aggregate by d is shuffled.
	"SELECT d, count(*) FROM seq GROUP BY d",
	// fact's files each span all of o: no ranges, co-partitioned as before.
	"SELECT f.o, sum(f.x) FROM fact f JOIN seqord so ON f.o = so.o GROUP BY f.o",
	// A correlated subquery over a table larger than the outer scan
	// (TPC-H Q22's shape) is evaluated by the scan's tasks, each reading
	// that table whole: restricting the table to the outer rows' keys, or
	// co-partitioning both by them, measured slower at TPC-H SF1 (README,
	// Performance).
	"SELECT o.od, count(*) FROM ord o WHERE o.urgent AND NOT EXISTS (SELECT * FROM fact f WHERE f.o = o.o AND f.x > 400) GROUP BY o.od",
	// A scalar one of SUM, MIN or MAX compared in the WHERE (TPC-H Q20's
	// shape) is decorrelated (partition/decorrelate.go): its aggregate by
	// the correlated keys over slices of its table, finished after a
	// shuffle, broadcast to the outer scan's join; the outer query's IN
	// and comparisons with constants on a correlated column restrict the
	// table's key column alike.
	"SELECT o.o FROM ord o WHERE o.od > 3 AND o.od > (SELECT 0.01 * sum(f.x) FROM fact f WHERE f.o = o.o AND f.d = 2)",
	"SELECT c.name FROM cust c WHERE c.c IN (SELECT o.o FROM ord o WHERE o.o IN (SELECT d * 100 FROM dim WHERE d > 2) AND o.od > (SELECT 0.001 * sum(f.x) FROM fact f WHERE f.o = o.o AND f.d = o.od)) ORDER BY c.name",
	"SELECT o.o, o.od FROM ord o WHERE o.o < 100 AND o.od >= (SELECT min(f.d) FROM fact f WHERE f.o = o.o)",
	// More groups than a broadcast input may give (DuckDB's estimate):
	// the final step after a shuffle by the key, its rows broadcast; not
	// finished by the join (partition/aggleaf.go).
	"SELECT o.o FROM ord o WHERE o.od * 100 > (SELECT max(f.x) FROM fact f WHERE f.k = o.o)",
	// So is a join input that is an aggregating FROM subquery as written.
	"SELECT o.o, t.s FROM ord o, (SELECT o, sum(x) AS s FROM fact GROUP BY o) AS t WHERE o.o = t.o AND o.urgent",
	// FROM subqueries without an alias plan as named ones: DuckDB's names
	// for them (unnamed_subquery, unnamed_subquery2, ...) are written in
	// as aliases first (partition/unnamed.go); they ran local, "a join
	// input without a name" and "window functions, over an unnamed
	// subquery".
	"SELECT count(*) FROM fact NATURAL JOIN (SELECT o, od FROM ord)",
	"SELECT * FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC, k) AS r FROM fact) WHERE r = 1 ORDER BY 1 LIMIT 3",
	"SELECT unnamed_subquery2.od, count(*) FROM (SELECT k, o FROM fact) JOIN (SELECT o, od FROM ord) ON unnamed_subquery.o = unnamed_subquery2.o GROUP BY 1",
	// And in a view's query, named in the view's definition once: the
	// view's query is planned on its own (it ran local, the window two
	// subqueries deep).
	"SELECT * FROM top_by_d ORDER BY 1 LIMIT 3",
	// A window in a FROM subquery is computed by the subquery's own
	// stages, after a shuffle by its PARTITION BY (it ran local, and
	// before that in each slice's task, a wrong answer); a query that only
	// filters its rows runs in the window's tasks, one that sorts or
	// aggregates them in a task of its own.
	"SELECT k, d FROM (SELECT k, d, row_number() OVER (PARTITION BY d ORDER BY x DESC, k) AS r FROM fact) t WHERE r <= 2",
	"SELECT d, count(*) FROM (SELECT d, x, avg(x) OVER (PARTITION BY d) AS m FROM fact) t WHERE x > m GROUP BY d",
	// When the rows kept are the first n of each window partition by
	// rank, dense_rank or row_number, each slice keeps only its own first
	// n (by rank, or dense_rank for a bound on it) before the shuffle
	// (partition/topn.go): the two queries above and these.
	"SELECT k, d, r FROM (SELECT k, d, dense_rank() OVER (PARTITION BY d ORDER BY x DESC) AS r FROM fact) t WHERE 3 > t.r AND k > 10",
	"SELECT k, d FROM fact QUALIFY rank() OVER (PARTITION BY d ORDER BY x DESC, k) <= 2",
	// Not cut: a window that reads the whole partition (count), a bound
	// on a window over another order, a LIMIT in the subquery before the
	// bound.
	"SELECT k, d FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC) AS r, count(*) OVER (PARTITION BY d) AS c FROM fact) t WHERE r <= 2",
	"SELECT k, d FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC) AS r, rank() OVER (PARTITION BY d ORDER BY k) AS r2 FROM fact) t WHERE r <= 2",
	"SELECT k, d FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC) AS r FROM fact LIMIT 100) t WHERE r <= 2",
	// Joins of two inputs neither of which splits (aggregates, or a scan
	// on the side an outer join fills with NULLs) are co-partitioned
	// whole by their ON equalities, each input computed by stages of its
	// own (they ran local: "no scan in the join can be split").
	"SELECT a.o, a.s, b.n FROM (SELECT o, sum(x) AS s FROM fact GROUP BY o) a FULL JOIN (SELECT o, count(*) AS n FROM fact WHERE d < 3 GROUP BY o) b ON a.o = b.o",
	"SELECT count(*), sum(a.s), count(o.od) FROM (SELECT o, sum(x) AS s FROM fact GROUP BY o) a LEFT JOIN ord o ON a.o = o.o AND o.urgent",
	"SELECT a.d, sum(a.s * b.n) FROM (SELECT o, d, sum(x) AS s FROM fact GROUP BY o, d) a JOIN (SELECT o, count(*) AS n FROM fact GROUP BY o) b ON a.o = b.o GROUP BY a.d",
	// UNION BY NAME: each side selects the result's columns by name, NULL
	// for one it lacks, and the plain UNION is planned (it ran local).
	"SELECT k, x FROM fact WHERE d = 1 UNION ALL BY NAME SELECT od, o AS K FROM ord",
	"SELECT count(*), count(od) FROM (SELECT d, o FROM fact UNION BY NAME SELECT o, od FROM ord)",
	// A set operation in a FROM subquery: its stages, the query over
	// them.
	"SELECT d, count(*) FROM (SELECT d FROM fact WHERE x > 100 INTERSECT ALL SELECT d FROM fact WHERE k % 2 = 0) GROUP BY d",
	// An aggregate over a UNION ALL: each branch's tasks compute its
	// partials, all shuffled into one final aggregate (unionagg.go); a
	// branch of another type cast to the union's. One that does not
	// decompose runs local (the rows would be shuffled only to be read);
	// a query that filters its rows is the UNION ALL of it over each
	// branch, split branch by branch.
	"SELECT d, count(*) FROM (SELECT d FROM fact WHERE x > 100 UNION ALL SELECT d FROM fact WHERE k % 2 = 0) GROUP BY d",
	"SELECT count(*), sum(v), max(v) FROM (SELECT x AS v FROM fact UNION ALL SELECT od FROM ord WHERE urgent UNION ALL SELECT d FROM dim)",
	"SELECT u.d, avg(u.x) FROM (SELECT d, x FROM fact UNION ALL SELECT f.d, o.od FROM fact f JOIN ord o ON f.o = o.o) AS u WHERE u.x > 10 GROUP BY u.d HAVING count(*) > 2 ORDER BY 2 DESC LIMIT 3",
	"SELECT d, median(x) FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim) GROUP BY d",
	"SELECT u.d, count(DISTINCT u.x), sum(u.x) FROM (SELECT d, x FROM fact WHERE k % 2 = 0 UNION ALL SELECT o % 7, od FROM ord) AS u GROUP BY u.d",
	"SELECT d, x, rank() OVER (PARTITION BY d ORDER BY x) AS r FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim)",
	// Each slice's first rows, or distinct rows, then the query's over
	// all of them; a sort without LIMIT range-partitioned by the same bounds.
	"SELECT d, x FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim) ORDER BY x DESC, d LIMIT 5",
	"SELECT DISTINCT u.d FROM (SELECT d FROM fact WHERE x > 100 UNION ALL SELECT o % 7 FROM ord) AS u",
	"SELECT d, x FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim) ORDER BY x DESC, d",
	"SELECT * FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim) ORDER BY x, d",
	// Sorted by values not selected: each task adds them as columns of its
	// own (skein_o0, ...), the final sort reads and drops them; an
	// expression of a select-list alias stays local.
	"SELECT k FROM fact ORDER BY x DESC, k LIMIT 5",
	"SELECT f.k FROM fact f JOIN ord o ON f.o = o.o ORDER BY o.od, f.x DESC, f.k LIMIT 4",
	"SELECT k, d FROM fact WHERE c = 'c1' ORDER BY x, k",
	"SELECT k AS kk FROM fact ORDER BY kk % 10, k LIMIT 3",
	// BY NAME: each side selects the result's columns by name.
	"SELECT d, count(*), sum(x), median(k) FROM (SELECT d, x, k FROM fact WHERE x > 100 UNION ALL BY NAME SELECT o AS k, o % 7 AS d FROM ord) GROUP BY d",
	"SELECT * FROM (SELECT d, x FROM fact UNION ALL SELECT d, 0 FROM dim) WHERE x > 100",
	// Nor a bound from below, nor one that is not an integer.
	"SELECT k, d FROM (SELECT k, d, rank() OVER (PARTITION BY d ORDER BY x DESC) AS r FROM fact) t WHERE r > 1 AND r <= 2.5",
	// A join input with a window is computed by stages of its own (it ran
	// local): never the scan the join splits.
	"SELECT count(*) FROM (SELECT d, o, lag(o) OVER (PARTITION BY d ORDER BY k) AS p FROM fact) t JOIN ord USING (o) WHERE t.p IS NOT NULL",
	// COUNT (0 over no rows, not NULL) and AVG (its partials' quotient
	// may round otherwise than DuckDB's AVG) stay in the scan's task.
	"SELECT o.o FROM ord o WHERE o.od < (SELECT count(*) FROM fact f WHERE f.o = o.o AND f.d = 2)",
	"SELECT o.o FROM ord o WHERE o.od > (SELECT avg(f.d) FROM fact f WHERE f.o = o.o)",
	// So do a SUM of doubles (its value depends on the order it adds
	// them), a subquery under an OR (its NULL does not drop the row), and
	// a query selecting * (which would see the grouped item's columns).
	"SELECT o.o FROM ord o WHERE o.od > (SELECT sum(f.x::DOUBLE) FROM fact f WHERE f.o = o.o)",
	"SELECT o.o FROM ord o WHERE o.urgent OR o.od > (SELECT sum(f.d) FROM fact f WHERE f.o = o.o)",
	"SELECT * FROM ord o WHERE o.od > (SELECT sum(f.d) FROM fact f WHERE f.o = o.o)",
	// A join restricting the keys with no IN or constant on them (TPC-H
	// Q17's shape with SUM) is left as it was too.
	"SELECT sum(f.x) FROM fact f JOIN dim ON f.d = dim.d WHERE dim.name = 'dim 3' AND f.x > (SELECT 0.5 * sum(x) FROM fact g WHERE g.d = f.d)",
	// TPC-H Q10's shape: fact's sums and counts by f.o computed below the
	// join (its 500 values fewer than cust's 3,000 rows), cust split in
	// ranges of c and the aggregate finished in each slice.
	"SELECT c.c, c.name, dim.name AS dname, sum(f.x) AS s, count(*) FROM fact f, cust c, dim WHERE f.o = c.c AND c.g = dim.d AND f.d < 5 GROUP BY c.c, c.name, dim.name ORDER BY s DESC, c.c LIMIT 5",
	// TPC-H Q13's shape (partition/eagerleft.go): fact's counts by f.o,
	// the null-supplying side of a LEFT join, computed below the join in
	// one task a slot and broadcast to cust's join in ranges of c (its
	// 3,000 rows more than the two tasks' 500 partial rows each; dim's 7,
	// above, are joined in one task), then the query over the subquery.
	"SELECT n, count(*) AS custdist FROM (SELECT c.c, count(f.k) AS n FROM cust c LEFT JOIN fact f ON c.c = f.o AND f.d < 5 GROUP BY c.c) AS co GROUP BY n ORDER BY custdist DESC, n DESC",
	// Not below the join: f.k has 18,000 values, more than cust's rows;
	// an aggregate reads cust.
	"SELECT c.g, sum(f.x) FROM fact f, cust c WHERE f.k = c.c GROUP BY c.g",
	"SELECT c.g, sum(f.x * c.g) FROM fact f, cust c WHERE f.o = c.c GROUP BY c.g",
	// TPC-H Q17's shape (partition/keyset.go): the subquery reads fact by
	// o, the key fact joins the broadcast ord by (filtered; its 5,000
	// rows too many to be read in place by each task, inplace.go): fact's
	// rows whose o is in ord computed once, in slices, and the join and
	// its subquery run over them as one task; the same through the
	// scan's column and the join's ON.
	"SELECT sum(f.x) FROM fact f, ord o WHERE o.o = f.o AND o.od = 3 AND f.x < (SELECT 0.5 * avg(g.x) FROM fact g WHERE g.o = o.o)",
	"SELECT f.k FROM fact f JOIN ord o ON f.o = o.o WHERE o.od = 3 AND f.x > (SELECT avg(x) FROM fact g WHERE g.o = f.o)",
	// Not rewritten: ord unfiltered (its keys may be every row's), the
	// subquery's key not the one the scan joins ord by, the scan the
	// preserved side of a LEFT join.
	"SELECT o.urgent, count(*) FROM fact f JOIN ord o ON f.o = o.o WHERE NOT EXISTS (SELECT * FROM fact g WHERE g.o = f.o AND g.x > f.x + 400) GROUP BY o.urgent",
	"SELECT sum(f.x) FROM fact f, ord o WHERE o.o = f.o AND o.od = 3 AND f.x < (SELECT avg(g.x) FROM fact g WHERE g.d = o.o)",
	"SELECT sum(f.x) FROM fact f LEFT JOIN ord o ON o.o = f.o AND o.od = 3 WHERE f.x < (SELECT avg(g.x) FROM fact g WHERE g.o = o.o)",
	// The same shapes over dim, whose 7 rows each task reads itself
	// (inplace.go): no broadcast, so no key set.
	"SELECT sum(f.x) FROM fact f, dim WHERE dim.d = f.d AND dim.name = 'dim 3' AND f.x < (SELECT 0.5 * avg(g.x) FROM fact g WHERE g.d = dim.d)",
	"SELECT dim.name, count(*) FROM fact f JOIN dim ON f.d = dim.d WHERE NOT EXISTS (SELECT * FROM fact g WHERE g.d = f.d AND g.x > f.x + 400) GROUP BY dim.name",
	// The query's instant, taken once by the coordinator (partition/now.go):
	// a parameter after the task's others, in the tasks, the stages and
	// the merge.
	"SELECT k, now() AS t, current_date AS day FROM fact WHERE d = 3",
	"SELECT count(*), max(localtimestamp) = localtimestamp AS same FROM fact WHERE d > 3",
	"SELECT d, max(get_current_time()) AS t, count(*) FROM fact WHERE today() > DATE '2000-01-01' GROUP BY d",
	// Aggregates of one row each cross joined (TPC-DS Q28, Q88, Q90):
	// each computed by stages of its own, one task joining them
	// (partition/gathered.go); one grouped, it stays local.
	"SELECT a.s / b.n AS r, a.s, b.n FROM (SELECT sum(x) AS s FROM fact WHERE d < 3) a, (SELECT count(*) AS n FROM fact f JOIN ord o ON f.o = o.o WHERE o.urgent) b",
	"SELECT a.s, b.n FROM (SELECT sum(x) AS s FROM fact WHERE d < 3) a, (SELECT d, count(*) AS n FROM fact GROUP BY d) b",
	// Three grouped aggregates joined by their keys (TPC-DS Q58, Q83):
	// co-partitioned by them, a filter on a group key applied before the
	// aggregate (partition/aggleaf.go's groupFilters); LEFT joined, the
	// same (partition/gathered.go's coJoinable), and a filter on the
	// preserved side's key moves through the ONs' equalities into the
	// others (TPC-DS Q78: partition/join.go's transferred).
	"SELECT a.o, a.s, b.n, c.m FROM (SELECT o, sum(x) AS s FROM fact GROUP BY o) a, (SELECT o.o, count(*) AS n FROM ord o JOIN fact f ON f.o = o.o GROUP BY o.o) b, " +
		"(SELECT o, max(x) AS m FROM fact WHERE d > 2 GROUP BY o) c WHERE a.o = b.o AND c.o = a.o AND a.o < 40 ORDER BY a.o",
	"SELECT count(*), count(b.n) FROM (SELECT o, sum(x) AS s FROM fact GROUP BY o) a LEFT JOIN (SELECT o, count(*) AS n FROM fact GROUP BY o) b ON a.o = b.o LEFT JOIN (SELECT o, max(x) AS m FROM fact GROUP BY o) c ON c.o = a.o",
	"SELECT a.o, a.s, b.n, c.m FROM (SELECT o, sum(x) AS s FROM fact GROUP BY o) a LEFT JOIN (SELECT o, count(*) AS n FROM fact WHERE d > 2 GROUP BY o) b ON b.o = a.o " +
		"LEFT JOIN (SELECT o, max(x) AS m FROM fact GROUP BY o) c ON c.o = a.o WHERE a.o < 40 AND coalesce(b.n, 0) + coalesce(c.m, 0) > 0 ORDER BY a.o",
	// Windows over the groups of a ROLLUP, GROUPING() among their keys
	// (TPC-DS Q86): the rollup lifted into a FROM subquery, in
	// stages, GROUPING() computed there (partition/liftagg.go).
	"SELECT d, c, sum(x) AS s, grouping(d) + grouping(c) AS lvl, rank() OVER (PARTITION BY grouping(d) + grouping(c), CASE WHEN grouping(c) = 0 THEN d END ORDER BY sum(x) DESC) AS r FROM fact GROUP BY ROLLUP (d, c) ORDER BY lvl DESC, d, r LIMIT 20",
	// GROUPING() of a select alias the ROLLUP names, as BI tools write
	// it: the alias spelled out as its expression (normalizeGroups).
	"SELECT d AS dd, grouping(dd) AS gg, sum(x) AS s FROM fact GROUP BY ROLLUP (dd) HAVING grouping(dd) = 0 OR sum(x) > 0 ORDER BY gg, dd",
	// A UNION ALL of aggregates summed again (TPC-DS Q33, Q56, Q60): the
	// union planned in stages of its own, each branch its aggregate's;
	// with a join both branches share (an inlined CTE: Q27), local.
	"SELECT d, sum(s) AS s FROM (SELECT d, sum(x) AS s FROM fact WHERE k % 2 = 0 GROUP BY d UNION ALL SELECT o.od AS d, count(*) AS s FROM ord o JOIN fact f ON f.o = o.o GROUP BY o.od) AS t GROUP BY d ORDER BY s DESC LIMIT 3",
	"WITH j AS (SELECT f.d, f.x, o.urgent FROM fact f JOIN ord o ON f.o = o.o) SELECT d, sum(s) FROM (SELECT d, sum(x) AS s FROM j GROUP BY d UNION ALL SELECT d, count(*) AS s FROM j WHERE urgent GROUP BY d) AS t GROUP BY d",
	// Two grouped aggregates of joins FULL joined by their keys (TPC-DS
	// Q97): co-partitioned whole by them (pairedScan).
	"SELECT count(*), count(a.o), count(b.o) FROM (SELECT f.o, sum(f.x) AS s FROM fact f JOIN dim ON f.d = dim.d GROUP BY f.o) a FULL JOIN (SELECT o.o, count(*) AS n FROM ord o JOIN fact f ON f.o = o.o WHERE o.urgent GROUP BY o.o) b ON a.o = b.o",
}

type goldenPlan struct {
	SQL    string   `json:"sql"`
	Mode   string   `json:"mode"`
	Reason string   `json:"reason,omitempty"` // why a local query is not split
	Stages []string `json:"stages,omitempty"`
	Merge  string   `json:"merge_sql,omitempty"`
	// FinalHere: the merge with the last stage's query, run instead of
	// its tasks when their input is small.
	FinalHere string `json:"final_here_sql,omitempty"`
	// Rounds: a LIMIT's tasks run in rounds (firstrows.go).
	Rounds string `json:"limit_rounds,omitempty"`
}

// stageCluster starts 2 executors over stageData's files in dir, its
// views created, configured by opt.
func stageCluster(t *testing.T, opt func(*Config)) (cl *flightsql.Client, dir string, views []string) {
	t.Helper()
	_, cl, dir, views = stageCoordinator(t, opt)
	return cl, dir, views
}

// forgetPace waits until query qid's tasks have ended (when it has any;
// those a LIMIT holds for its later rounds aside, which run only when it
// is read, see firstrows.go) and forgets the executors' pace they measured: the next plan is cut as
// on executors never measured, whatever speeds the test's equal executors
// showed on a loaded machine (see scheduler.unequal).
func forgetPace(t *testing.T, c *Coordinator, qid string) {
	t.Helper()
	s := c.dist.sched
	eventually(t, 30*time.Second, func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if j := s.jobs[qid]; j != nil && j.left > j.held {
			return false, fmt.Sprintf("query %s: %d tasks not ended", qid, j.left-j.held)
		}
		clear(s.pace)
		return true, ""
	})
}

// stageCoordinator is stageCluster with its coordinator.
func stageCoordinator(t *testing.T, opt func(*Config)) (c *Coordinator, cl *flightsql.Client, dir string, views []string) {
	t.Helper()
	dir = t.TempDir()
	views = stageData(t, dir)
	c, cl, _ = startCluster(t, 2, "direct", func(c *Config) {
		c.AllowDirs = append(c.AllowDirs, dir)
		opt(c)
	})
	for _, v := range views {
		if _, err := cl.ExecuteUpdate(context.Background(), v); err != nil {
			t.Fatal(err)
		}
	}
	return c, cl, dir, views
}

func TestGoldenStages(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	goldenStages(t, "stages.json", stageQueries, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
}

// oneThreadQueries are planned on one executor of one thread, where an
// exchange between two stages of one task each moves rows for nothing:
// those stages run as one (partition/fuse.go).
var oneThreadQueries = []string{
	// A join's partial aggregate and its final one: one task.
	"SELECT o.urgent, dim.name, sum(f.x) FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d GROUP BY ALL",
	// TPC-H Q16's shape: the NOT IN's rows still broadcast, the join
	// and both steps of count(DISTINCT) in one task.
	"SELECT dim.name, count(DISTINCT o.od) AS n FROM ord o, dim WHERE dim.d = o.o % 7 AND o.o NOT IN (SELECT o FROM fact WHERE x > 495) GROUP BY dim.name ORDER BY n DESC, dim.name",
	// An aggregate over an aggregating subquery: its final step and the
	// outer query's in one task, after the scan's three.
	"SELECT n, count(*) FROM (SELECT o, count(*) AS n FROM fact GROUP BY o) GROUP BY n",
	// Not fused: the scan has three tasks; a HAVING's subquery is an input
	// of the final step.
	"SELECT d, count(*), sum(x) FROM fact GROUP BY d",
	"SELECT d, sum(x) FROM fact f JOIN dim USING (d) GROUP BY d HAVING sum(x) > (SELECT avg(x) * 100 FROM fact)",
}

func TestGoldenStagesOneThread(t *testing.T) {
	goldenStages(t, "stages_one_thread.json", oneThreadQueries, func(c *Config) {
		c.Executors = 1
		c.TaskRows = 1 << 20
		c.BroadcastRows = 4000
	})
}

// goldenStages plans each query on a cluster that opt configures and
// compares what --explain shows with testdata/file (-update rewrites it).
func goldenStages(t *testing.T, file string, queries []string, opt func(*Config)) {
	t.Helper()
	c, cl, dir, _ := stageCoordinator(t, opt)
	ctx := context.Background()
	var got []goldenPlan
	for _, q := range queries {
		info, err := cl.Execute(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var e explanation
		g := goldenPlan{SQL: q, Mode: "local"}
		if len(info.AppMetadata) > 0 {
			if err := json.Unmarshal(info.AppMetadata, &e); err != nil {
				t.Fatal(err)
			}
			forgetPace(t, c, e.QueryID)
			g.Mode, g.Merge, g.Reason = e.Mode, e.Merge, strings.ReplaceAll(e.Reason, dir, "$DIR")
			g.FinalHere = e.FinalHere
			if r := e.Rounds; r != nil {
				g.Rounds = fmt.Sprintf("%d of %d tasks first, more until %d rows (%d partial rows at least)", r.First, e.Tasks, r.Limit, r.Want)
			}
			for _, s := range e.Stages {
				line := fmt.Sprintf("%d: %s; %d tasks; %s", s.Stage, s.What, s.Tasks, s.Output)
				if s.Keys != "" {
					line += " by " + s.Keys
				}
				if s.Output != "gather" {
					line += fmt.Sprintf(" to %d", s.Consumer)
				}
				for _, c := range s.Also {
					line += fmt.Sprintf(", %d", c)
				}
				if len(s.Loads) > 0 {
					line += "; loads " + strings.Join(s.Loads, ", ")
				}
				line += "; " + s.SQL
				g.Stages = append(g.Stages, strings.ReplaceAll(line, dir, "$DIR"))
			}
		}
		got = append(got, g)
	}
	path := filepath.Join("testdata", file)
	out, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile(path, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != string(out) {
		var w []goldenPlan
		_ = json.Unmarshal(want, &w)
		for i := range got {
			if i >= len(w) || fmt.Sprint(w[i]) != fmt.Sprint(got[i]) {
				t.Errorf("plan of %s:\n got %+v\nwant %+v", got[i].SQL, got[i], w[min(i, len(w)-1)])
			}
		}
		t.Fatalf("the plans differ from %s (go test -run %s -update rewrites it; review the diff)", path, t.Name())
	}
}

// TestPlanCacheKeyIgnoresViewOrder plans one query over three views many
// times: the planner meets the views in no fixed order (it walks the AST's
// JSON objects), and each order used to be a cache entry of its own, so
// the query was planned again (its rewrite prepared, its sort keys
// sampled) until every order had been seen. It asserts on the cache: one
// entry for the query, however many times it is planned.
func TestPlanCacheKeyIgnoresViewOrder(t *testing.T) {
	t.Parallel() // run beside the package's other slow tests, after its quick ones (make test's time)
	c, cl, _, _ := stageCoordinator(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	ctx := context.Background()
	q := "SELECT f.k, o.od, dim.name FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d WHERE o.urgent ORDER BY o.od DESC, f.k"
	before, _ := c.dist.plans.size()
	for i := range 30 {
		// A text of its own each time (trailing spaces), planned again
		// rather than taken from the plans kept by text (textplan.go).
		info, err := cl.Execute(ctx, q+strings.Repeat(" ", i))
		if err != nil {
			t.Fatal(err)
		}
		var e explanation
		if err := json.Unmarshal(info.AppMetadata, &e); err != nil || e.Mode != "stages" {
			t.Fatalf("run %d: planned %q (%v), want stages", i, e.Mode, err)
		}
		rows, _ := readEndpoints(t, cl, info.Endpoint)
		if rows == 0 {
			t.Fatalf("run %d: no rows", i)
		}
		forgetPace(t, c, e.QueryID) // the same slices each time
	}
	if after, _ := c.dist.plans.size(); after-before != 1 {
		t.Fatalf("one query planned 30 times left %d plan cache entries, want 1", after-before)
	}
	var hits dto.Metric
	if err := c.dist.planLookups.WithLabelValues("hit").Write(&hits); err != nil || hits.GetCounter().GetValue() < 29 {
		t.Fatalf("%v plan cache hits (%v), want at least 29 of 30", hits.GetCounter().GetValue(), err)
	}
}

// TestOuterJoinFilterAndSide plans TPC-H Q13's shape (customer LEFT JOIN
// orders ON ... AND o_comment NOT LIKE ...): the ON's conjunct on the
// null-supplying side alone is applied by that side's own stage, which
// ships only the columns the rest of the query reads, and that side,
// larger than the split scan though under --broadcast-rows, is
// co-partitioned with it rather than broadcast whole to its few slices.
// The answer is DuckDB's. With count(o.o), which ignores the NULL
// extension, ord's counts are computed below the join instead
// (partition/eagerleft.go), by a stage filtered the same way.
func TestOuterJoinFilterAndSide(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	for _, c := range []struct{ agg, stage, output string }{
		{"count(*)", "input o,", "shuffle"},
		{"count(o.o)", "pre-aggregate skein_pre,", "broadcast"},
	} {
		q := "SELECT CAST(dim.d AS BIGINT) * 100000 + " + c.agg + " AS v FROM dim LEFT JOIN ord o ON dim.d = o.od AND NOT o.urgent GROUP BY dim.d"
		info, e := plannedStages(t, cl, q)
		found := false
		for _, s := range e.Stages {
			switch {
			case strings.HasPrefix(s.What, c.stage):
				found = true
				if s.Output != c.output || !strings.Contains(s.SQL, "WHERE (NOT o.urgent)") || strings.Contains(s.SQL, "AS urgent") {
					t.Errorf("%s: ord's stage is %s, want a %s of ord filtered by NOT urgent without the column: %s", c.agg, s.Output, c.output, s.SQL)
				}
			case strings.HasPrefix(s.What, "join"):
				if strings.Contains(s.SQL, "urgent") {
					t.Errorf("%s: the join stage still reads urgent: %s", c.agg, s.SQL)
				}
			}
		}
		if !found {
			t.Fatalf("%s: no stage computes ord: %+v", c.agg, e.Stages)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
}

// anyBroadcast configures slices of 6,000 rows and no input too large to
// broadcast.
func anyBroadcast(c *Config) {
	c.TaskRows = 6000
	c.BroadcastRows = 1 << 30
}

// plannedStages plans q, which must run in stages, and gives its
// FlightInfo and the plan it explains.
func plannedStages(t *testing.T, cl *flightsql.Client, q string) (*flight.FlightInfo, explanation) {
	t.Helper()
	info, err := cl.Execute(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var e explanation
	if err := json.Unmarshal(info.AppMetadata, &e); err != nil || e.Mode != "stages" {
		t.Fatalf("planned %q (%v), want stages", e.Mode, err)
	}
	return info, e
}

// sameAsDuckDB reads a query's answer, one BIGINT column v, from its
// endpoints and compares its rows and their sum (0 for none) with
// DuckDB's over the same views.
func sameAsDuckDB(t *testing.T, cl *flightsql.Client, dir string, views []string, q string, info *flight.FlightInfo) {
	t.Helper()
	rows, sum := readEndpoints(t, cl, info.Endpoint)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	if wantRows, wantSum := duckSum(t, ref, q); rows != wantRows || sum != wantSum {
		t.Fatalf("got %d rows summing to %d, DuckDB %d rows summing to %d", rows, sum, wantRows, wantSum)
	}
}

// duckSum is the rows of q, one BIGINT column v, and their sum (0 for
// none), from DuckDB.
func duckSum(t *testing.T, ref *duck.Conn, q string) (rows, sum int64) {
	t.Helper()
	r, err := ref.QueryRows(context.Background(), "SELECT count(*), coalesce(sum(v), 0) FROM ("+q+")")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Next() {
		t.Fatal("no reference answer")
	}
	if err := r.Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	return rows, sum
}

// TestSplitScanByFilteredRows plans TPC-H Q12's shape: fact has more rows
// in its files than acct, but its filters keep few of them (DuckDB
// estimates a fifth; 258 of 18,000 pass). The split scan is acct, the input
// giving the most rows after its own filters, and fact is computed once,
// filtered, and broadcast: each task's DuckDB builds its hash table on
// fact's rows and pushes the join's filters into acct's Parquet scan.
// Split by its files' rows, fact had all of acct broadcast to every task,
// probed whole. The answer is DuckDB's.
func TestSplitScanByFilteredRows(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	q := "SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a, fact f WHERE a.k = f.k AND f.d = 3 AND f.x < 50 GROUP BY a.flag"
	info, e := plannedStages(t, cl, q)
	var split, fact string
	for _, s := range e.Stages {
		switch {
		case strings.HasPrefix(s.What, "join"):
			split = s.What
		case strings.HasPrefix(s.What, "input f,"):
			fact = s.Output
			if !strings.Contains(s.SQL, "(f.d = 3)") {
				t.Errorf("fact's stage does not apply its filters: %s", s.SQL)
			}
		}
	}
	if !strings.HasPrefix(split, "join over slices of a") || fact != "broadcast" {
		t.Fatalf("the join stage is %q and fact's stage %q, want a join over slices of acct with fact broadcast: %+v",
			split, fact, e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// TestSplitScanByEachFiltersShare plans TPC-DS Q26's shape: fact's two
// equality filters keep 288 of its 18,000 rows, and DuckDB estimates the
// two together as it does either alone, a fifth (partition's
// estimateSize). Estimated by the product of each one's share, fact gives
// fewer rows than ord's 5,000, so ord is the split scan and fact's few
// rows are broadcast, instead of ord broadcast whole to fact's slices.
// The answer is DuckDB's.
func TestSplitScanByEachFiltersShare(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	const q = "SELECT CAST(f.k AS BIGINT) AS v FROM fact f, ord o WHERE f.o = o.o AND f.c = 'c1' AND f.d = 3 GROUP BY ALL"
	info, e := plannedStages(t, cl, q)
	var split, fact bool
	for _, s := range e.Stages {
		split = split || strings.HasPrefix(s.What, "join over slices of o,")
		fact = fact || strings.HasPrefix(s.What, "input f,") && s.Output == "broadcast"
	}
	if !split || !fact {
		t.Fatalf("want ord split and fact's filtered rows broadcast: %+v", e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// TestSplitScanByBytes plans TPC-DS Q18's shape: fact has more rows than
// wide, but the query reads one column of fact and nine of wide, so wide,
// the input giving the most bytes, is the split scan (it was fact, by
// rows, and wide went whole to each of its tasks). The answer is DuckDB's.
func TestSplitScanByBytes(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	for _, q := range []string{
		"SELECT length(w.a || w.b || w.c || w.d || w.e || w.f || w.g || w.h) + w.k AS v FROM fact f, wide w WHERE f.k = w.k",
		// By rows, acct (its key only) over fact, filtered to few rows;
		// then by bytes, wide over acct.
		"SELECT length(w.a || w.b || w.c || w.d || w.e || w.f || w.g || w.h) + w.k AS v FROM fact f, acct a, wide w " +
			"WHERE f.k = a.k AND a.k = w.k AND f.x < 10 AND f.d = 3",
	} {
		info, e := plannedStages(t, cl, q)
		var join string
		for _, s := range e.Stages {
			if strings.HasPrefix(s.What, "join") {
				join = s.What
			}
		}
		if !strings.HasPrefix(join, "join of w ") && !strings.HasPrefix(join, "join over slices of w") {
			t.Fatalf("%s: the join stage is %q, want wide as the split scan: %+v", q, join, e.Stages)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
}

// TestSplitScanReadsTheOtherInRange plans TPC-H Q12's own shape: seq's
// filters leave few rows by DuckDB's estimate, fewer than a quarter of
// seqord's, which splitLargest would split instead, broadcasting seq's
// filtered rows; but seq's slices can read seqord in their key ranges (both
// sorted by o), so seq stays the split scan and no input is shipped. The
// answer is DuckDB's.
func TestSplitScanReadsTheOtherInRange(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	q := "SELECT CAST(s.d AS BIGINT) * 100000 + count(*) AS v FROM seq s, seqord so WHERE s.o = so.o AND s.x < 10 AND s.d = 3 AND s.k % 3 = 0 AND s.k % 5 = 0 GROUP BY s.d"
	info, e := plannedStages(t, cl, q)
	if len(e.Stages) == 0 || !strings.HasPrefix(e.Stages[0].What, "join over slices of s by ranges") ||
		!strings.Contains(e.Stages[0].What, "so by o read in each slice's range") {
		t.Fatalf("the first stage is not a join over slices of seq reading seqord in range: %+v", e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// TestBroadcastInputReducedBySemiJoin plans TPC-DS Q17's shape: fact,
// broadcast to the tasks splitting acct, is equated with dim, a small
// input with a filter of its own, so fact's stage keeps only its rows
// whose d is among dim's filtered values (an IN over dim, read by each of
// its tasks) instead of shipping every one. The answer is DuckDB's, and
// so for an outer join's null-supplying dim, whose WHERE equality still
// needs a dim row.
func TestBroadcastInputReducedBySemiJoin(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	for _, q := range []string{
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a, fact f, dim WHERE a.k = f.k AND f.x < 400 AND f.d = dim.d AND dim.name = 'dim 3' GROUP BY a.flag",
		// The same shape, its plan reused with the constants' new values
		// in fact's stage too.
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a, fact f, dim WHERE a.k = f.k AND f.x < 400 AND f.d = dim.d AND dim.name = 'dim 5' GROUP BY a.flag",
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a JOIN fact f ON a.k = f.k LEFT JOIN dim ON dim.name = 'dim 3' AND dim.d > 1 WHERE f.x < 400 AND f.d = dim.d GROUP BY a.flag",
		// An inner join's ON equality holds for every output row too.
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a JOIN fact f ON a.k = f.k JOIN dim ON f.d = dim.d WHERE f.x < 400 AND dim.name = 'dim 3' GROUP BY a.flag",
		// A left join's does not: fact's rows meeting no dim row are kept.
		"SELECT CAST(a.flag AS BIGINT) * 100000 + count(*) AS v FROM acct a JOIN fact f ON a.k = f.k LEFT JOIN dim ON f.d = dim.d AND dim.name = 'dim 3' WHERE f.x < 400 GROUP BY a.flag",
	} {
		info, e := plannedStages(t, cl, q)
		var fact stageInfo
		for _, s := range e.Stages {
			if strings.HasPrefix(s.What, "input f,") {
				fact = s
			}
		}
		want := !strings.Contains(q, "LEFT JOIN dim ON f.d")
		if got := strings.HasSuffix(fact.What, "rows meeting dim") && strings.Contains(fact.SQL, "ANY(SELECT dim.d AS d FROM"); got != want {
			t.Fatalf("%s: fact's stage is %q, want it reduced by dim: %v: %+v", q, fact.What, want, e.Stages)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
}

// TestSmallInputsReadInPlace plans TPC-H Q5's shape: dim's file holds
// far fewer rows than a join task's share of fact, so each join task
// reads it itself, as the query names it, and no stage computes it to
// broadcast (where DuckDB would get its rows as Arrow, without the
// statistics it plans joins and pushes filters by, and the join stage
// would wait for that stage); ord, larger, is still computed once and
// broadcast. So in an outer join, where dim supplies NULLs. The answers
// are DuckDB's.
func TestSmallInputsReadInPlace(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	for _, q := range []string{
		"SELECT CAST(o.urgent AS BIGINT) * 10000000 + CAST(sum(f.x) AS BIGINT) AS v FROM fact f JOIN ord o ON f.o = o.o JOIN dim ON dim.d = f.d WHERE dim.name <> 'dim 2' GROUP BY o.urgent, dim.name",
		"SELECT f.k AS v FROM fact f LEFT JOIN dim ON f.d = dim.d AND dim.name = 'dim 3' WHERE dim.name IS NULL",
	} {
		info, e := plannedStages(t, cl, q)
		var join string
		for _, s := range e.Stages {
			switch {
			case strings.HasPrefix(s.What, "input dim"):
				t.Errorf("%s: a stage computes dim: %+v", q, s)
			case strings.HasPrefix(s.What, "input o,") && s.Output != "broadcast":
				t.Errorf("%s: ord's stage is %s, want broadcast", q, s.Output)
			case strings.HasPrefix(s.What, "join"):
				join = s.What
				if !strings.Contains(s.SQL, "dim.parquet") {
					t.Errorf("%s: the join stage does not read dim's file: %s", q, s.SQL)
				}
			}
		}
		if !strings.Contains(join, "dim read whole by each task") {
			t.Fatalf("%s: the join stage is %q, want dim read whole by each task: %+v", q, join, e.Stages)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
}

// TestAggregateBelowJoin plans TPC-H Q10's shape: fact's aggregates
// grouped by the one column joining it to cust (whose 3,000 rows were
// broadcast to every task of fact's join) are computed first, below the
// join, and broadcast; cust is then split in ranges of c and its join
// finishes the aggregate in each slice. Without the rule cust is
// broadcast to fact's join. The answer is DuckDB's, ordered and not.
func TestAggregateBelowJoin(t *testing.T) {
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	for _, q := range []string{
		"SELECT CAST(c.c AS BIGINT) * 1000000 + CAST(sum(f.x) AS BIGINT) * 100 + count(*) + min(f.k) AS v FROM fact f, cust c, dim WHERE f.o = c.c AND c.g = dim.d AND f.d < 5 GROUP BY c.c, dim.name",
		"SELECT CAST(sum(f.x) AS BIGINT) * 1000 + c.c AS v FROM fact f JOIN cust c ON f.o = c.c WHERE f.x > 10 GROUP BY c.c, c.name ORDER BY v DESC LIMIT 7",
	} {
		info, e := plannedStages(t, cl, q)
		var pre, join string
		for _, s := range e.Stages {
			switch {
			case strings.HasPrefix(s.What, "pre-aggregate skein_pre, "):
				pre = s.Output
				if !strings.Contains(s.What, "partial aggregate by o (below the join)") {
					t.Errorf("the aggregate below the join is %q, want fact's partial aggregate by o", s.What)
				}
			case strings.HasPrefix(s.What, "join over slices of c "):
				join = s.What
			}
		}
		if pre != "broadcast" || !strings.Contains(join, "by ranges of c (") || !strings.Contains(join, "aggregate finished in each slice") {
			t.Fatalf("%s: the aggregate below the join goes %q, cust's join is %q; want it broadcast to a join over ranges of cust finishing the aggregate: %+v",
				q, pre, join, e.Stages)
		}
		sameAsDuckDB(t, cl, dir, views, q, info)
	}
	// Rewritten, this one reads g0 of both cust's subquery and the
	// partial rows, which does not prepare: the plan it replaced is used.
	q := "SELECT CAST(g0 AS BIGINT) * 100000 + CAST(sum(f.x) AS BIGINT) AS v FROM fact f, (SELECT c AS g0, g FROM cust) AS c2 WHERE f.o = c2.g0 GROUP BY g0"
	info, e := plannedStages(t, cl, q)
	for _, s := range e.Stages {
		if strings.HasPrefix(s.What, "pre-aggregate") {
			t.Fatalf("%s: planned below the join, whose rewrite reads an ambiguous column: %+v", q, e.Stages)
		}
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// TestViewRedefinedInWith plans a query whose WITH, read twice and so
// computed once, reads a view; the view is then redefined. The stage
// planner reads that view after the query's analysis, and the plan cache
// key once held only the views read before it: the query planned again
// hit the cache and read the old definition.
func TestViewRedefinedInWith(t *testing.T) {
	_, cl, dir, views := stageCoordinator(t, anyBroadcast)
	q := `WITH r AS (SELECT d, count(*) AS n FROM fact WHERE x < 300 GROUP BY d)
SELECT CAST(d AS BIGINT) * 100000 + n AS v FROM r WHERE n = (SELECT max(n) FROM r)`
	info, _ := plannedStages(t, cl, q)
	sameAsDuckDB(t, cl, dir, views, q, info)
	redefined := fmt.Sprintf("CREATE OR REPLACE VIEW fact AS SELECT * FROM read_parquet('%s') WHERE d %% 2 = 1",
		filepath.Join(dir, "fact-*.parquet"))
	if _, err := cl.ExecuteUpdate(context.Background(), redefined); err != nil {
		t.Fatal(err)
	}
	info, _ = plannedStages(t, cl, q)
	sameAsDuckDB(t, cl, dir, append(views, redefined), q, info)
}

// TestRangeSortOfOneTaskFused plans TPC-H Q15's shape: the join under
// its ORDER BY runs as one task (its split scan is one slice), whose few
// rows were range-partitioned to two sorting tasks, a stage and a hop
// for nothing. The join's task now sorts its rows itself: one stage
// fewer, one ordered endpoint, DuckDB's answer.
func TestRangeSortOfOneTaskFused(t *testing.T) {
	cl, dir, views := stageCluster(t, func(c *Config) {
		c.TaskRows = 6000
		c.BroadcastRows = 4000
	})
	q := `WITH r AS (SELECT o AS ok, sum(x) AS s FROM fact WHERE d < 5 GROUP BY ok)
SELECT CAST(ord.o AS BIGINT) AS v FROM ord, r WHERE ord.o = r.ok AND r.s = (SELECT max(s) FROM r) ORDER BY v`
	info, e := plannedStages(t, cl, q)
	last := e.Stages[len(e.Stages)-1]
	for _, s := range e.Stages {
		if s.Output == "range" {
			t.Errorf("stage %d range-partitions a sort: %+v", s.Stage, s)
		}
	}
	if !strings.HasPrefix(last.What, "sort; in the same task: join") || last.Tasks != 1 || len(info.Endpoint) != 1 || !info.Ordered {
		t.Fatalf("the last stage is %q of %d tasks, %d endpoints (ordered %v); want the join sorting in its one task, one ordered endpoint",
			last.What, last.Tasks, len(info.Endpoint), info.Ordered)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// TestOrOfJoinConditionsFiltersEachInput plans TPC-DS Q48's shape: an OR
// whose every branch joins fact to ord and keeps some ord rows. ord's
// stage keeps only the rows one branch or another keeps (resolver.implied)
// and the join applies the OR whole. A branch with no condition on ord
// alone leaves ord whole; so does an outer join's NULL-supplying side,
// whose rows a filter would turn into NULLs meeting `o.od IS NULL`. The
// answers are DuckDB's.
func TestOrOfJoinConditionsFiltersEachInput(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	for _, c := range []struct {
		q    string
		kept bool // whether ord's stage keeps only the rows of od 1, or 3 and urgent
	}{
		{"SELECT CAST(f.k AS BIGINT) AS v FROM fact f, ord o WHERE (f.o = o.o AND o.od = 1 AND f.x < 100) OR (f.o = o.o AND o.od = 3 AND o.urgent AND f.x > 400)", true},
		{"SELECT CAST(f.k AS BIGINT) AS v FROM fact f, ord o WHERE (f.o = o.o AND o.od = 1 AND f.x < 100) OR (f.o = o.o AND f.x > 400)", false},
		{"SELECT CAST(f.k AS BIGINT) AS v FROM fact f LEFT JOIN ord o ON f.o = o.o AND o.o < 300 WHERE (o.od = 1 AND f.x < 100) OR (o.od IS NULL AND f.x > 140)", false},
	} {
		info, e := plannedStages(t, cl, c.q)
		var ord *stageInfo
		for i, s := range e.Stages {
			if strings.HasPrefix(s.What, "input o,") {
				ord = &e.Stages[i]
			}
		}
		if ord == nil {
			t.Fatalf("%s: no stage computes ord: %+v", c.q, e.Stages)
		}
		if kept := strings.Contains(ord.SQL, "((o.od = 1) OR ((o.od = 3) AND o.urgent))"); kept != c.kept || !kept && strings.Contains(ord.SQL, "(o.od = 1)") {
			t.Errorf("%s: ord's stage is %s, want it to keep only the rows the OR may keep: %v", c.q, ord.SQL, c.kept)
		}
		sameAsDuckDB(t, cl, dir, views, c.q, info)
	}
}

// TestSameBroadcastComputedOnce plans TPC-DS Q33's shape: each branch of
// a UNION ALL joins its scan to ord filtered alike, which each planned as
// a stage of its own. One stage computes it, read by both joins
// (partition/dedupe.go); the answer is DuckDB's.
func TestSameBroadcastComputedOnce(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	const q = "SELECT CAST(sum(f.x) AS BIGINT) AS v FROM fact f, ord o WHERE f.o = o.o AND o.urgent AND f.x < 200 GROUP BY o.od " +
		"UNION ALL SELECT CAST(sum(f.x) AS BIGINT) FROM fact f, ord o WHERE f.o = o.o AND o.urgent AND f.x >= 200 GROUP BY o.od"
	info, e := plannedStages(t, cl, q)
	var ord []stageInfo
	for _, s := range e.Stages {
		if strings.HasPrefix(s.What, "input o,") {
			ord = append(ord, s)
		}
	}
	if len(ord) != 1 || len(ord[0].Also) != 1 {
		t.Fatalf("want one stage computing ord, read by both joins: %+v", e.Stages)
	}
	sameAsDuckDB(t, cl, dir, views, q, info)
}

// An input each join task reads itself names the files the planner
// listed, not its pattern: a file copied into its directory after the
// query was planned is not read (DuckDB lists a pattern once, when it
// binds the statement). Each task listed the pattern as it ran: a file
// added while a client read the endpoints one at a time gave an answer
// neither before nor after it, and an executor whose mount showed fewer
// files answered with rows missing (a tester's).
func TestInPlaceInputsNameTheirListedFiles(t *testing.T) {
	cl, dir, views := stageCluster(t, anyBroadcast)
	ref := ducktest.Open(t, dir)
	ducktest.Exec(t, ref, views...)
	for i := range 2 {
		ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT * FROM dim WHERE d %% 2 = %d) TO '%s/dimg-%d.parquet'", i, dir, i))
	}
	q := fmt.Sprintf("SELECT f.k AS v FROM fact f JOIN read_parquet('%s/dimg-*.parquet') g ON f.d = g.d", dir)
	info, e := plannedStages(t, cl, q)
	for _, s := range e.Stages {
		if strings.HasPrefix(s.What, "join") && (strings.Contains(s.SQL, "dimg-*") || !strings.Contains(s.SQL, "dimg-0.parquet") || !strings.Contains(s.SQL, "dimg-1.parquet")) {
			t.Fatalf("the join stage does not name the input's listed files: %s", s.SQL)
		}
	}
	want, wantSum := duckSum(t, ref, q)
	ducktest.Exec(t, ref, fmt.Sprintf("COPY (SELECT * FROM dim) TO '%s/dimg-2.parquet'", dir))
	if rows, sum := readEndpoints(t, cl, info.Endpoint); rows != want || sum != wantSum {
		t.Fatalf("got %d rows summing to %d, DuckDB over the files listed %d rows summing to %d", rows, sum, want, wantSum)
	}
}
