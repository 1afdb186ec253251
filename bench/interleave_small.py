"""Small queries (point lookups, a correlated count, small dimension joins, TPC-H Q2 and Q11 and
queries of their size) on running Skein clusters, alternated: ROUNDS rounds, each query run REPS
times on each cluster in turn, the order reversed every other round. Creates the TPC-H views over
DATA on each cluster first (DATA: $SKEIN_BENCH_DATA, else build/bench-data/sf1). Prints each
query's median per cluster and its rows. Clusters from bench/cluster_at.sh, for instance.

    $BUILD_DIR/benchenv/bin/python bench/interleave_small.py [--only=a,b] ROUNDS REPS LABEL=URI ..."""
import os, pathlib, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import adbc_driver_flightsql.dbapi as fs
import tpch

Q = {
 "preview": "SELECT * FROM lineitem LIMIT 10",
 "corr": "SELECT s_suppkey, (SELECT count(*) FROM partsupp WHERE ps_suppkey = s_suppkey) FROM supplier ORDER BY 1 LIMIT 5",
 "lookup_orders": "SELECT * FROM orders WHERE o_orderkey = 4000001",
 "lookup_supp": "SELECT * FROM supplier WHERE s_suppkey = 77",
 "lookup_part": "SELECT p_name, p_retailprice FROM part WHERE p_partkey = 12345",
 "nation_region": "SELECT n_name, r_name FROM nation JOIN region ON n_regionkey = r_regionkey ORDER BY 1",
 "supp_nation": "SELECT n_name, count(*), sum(s_acctbal) FROM supplier JOIN nation ON s_nationkey = n_nationkey GROUP BY n_name ORDER BY 1",
 "cust_nation_top": "SELECT c_name, n_name, c_acctbal FROM customer JOIN nation ON c_nationkey = n_nationkey WHERE c_mktsegment = 'BUILDING' ORDER BY c_acctbal DESC LIMIT 10",
 "q11like": "SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value FROM partsupp, supplier, nation WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name = 'GERMANY' GROUP BY ps_partkey HAVING sum(ps_supplycost * ps_availqty) > (SELECT sum(ps_supplycost * ps_availqty) * 0.0001 FROM partsupp, supplier, nation WHERE ps_suppkey = s_suppkey AND s_nationkey = n_nationkey AND n_name = 'GERMANY') ORDER BY value DESC LIMIT 20",
}
tq = dict(tpch.queries())
Q["tpch2"] = tq[2]
Q["tpch11"] = tq[11]
only = None
args = sys.argv[1:]
if args and args[0].startswith("--only="):
    only = args[0][7:].split(",")
    args = args[1:]
rounds, reps = int(args[0]), int(args[1])
clusters = [a.split("=", 1) for a in args[2:]]
files = tpch.table_files(os.environ.get("SKEIN_BENCH_DATA", "build/bench-data/sf1"))
conns = {l: fs.connect(u, autocommit=True) for l, u in clusters}
curs = {l: c.cursor() for l, c in conns.items()}
for cur in curs.values():
    for stmt in tpch.view_statements(files):
        cur.execute(stmt)
names = [n for n in Q if not only or n in only]
times = {(l, n): [] for l, _ in clusters for n in names}
rows = {}
for r in range(rounds):
    order = clusters if r % 2 == 0 else clusters[::-1]
    for n in names:
        for l, _ in order:
            cur = curs[l]
            for _ in range(reps):
                t0 = time.perf_counter()
                cur.execute(Q[n])
                t = cur.fetch_arrow_table()
                times[(l, n)].append(time.perf_counter() - t0)
            rows.setdefault(n, {})[l] = t.num_rows
for n in names:
    line = f"{n:16s}"
    for l, _ in clusters:
        line += f" {l}: {statistics.median(times[(l, n)]) * 1e3:7.2f} ms"
    print(line, rows[n])
for c in list(curs.values()) + list(conns.values()):
    c.close()
