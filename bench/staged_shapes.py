"""Shapes planned in stages since 2026-12-03, staged against run whole: joins of two inputs neither
of which splits (co-partitioned whole by their ON equalities) and aggregates over a UNION ALL in a
FROM subquery (each branch's tasks computing its partials, partition/unionagg.go), over TPC-H SF1
Parquet, on running `skein serve` processes. Per query and server it prints the median wall time
of ROUNDS runs.

    python bench/staged_shapes.py DATA_DIR ROUNDS LABEL=grpc://127.0.0.1:PORT ...

As run for the README (2026-12-03): `local=` a `skein serve --executors 2 --threads 1`, `staged=`
the same with `--in-process-plan distribute` (the UNION ALL through a build before it was kept
local), DATA_DIR the SF1 files of bench/tpch.py, ROUNDS 3."""
import statistics, sys, time
import adbc_driver_flightsql.dbapi as flightsql

data, rounds = sys.argv[1], int(sys.argv[2])
servers = dict(a.split("=", 1) for a in sys.argv[3:])
O, L, C = (f"read_parquet('{data}/{t}/*.parquet')" for t in ("orders", "lineitem", "customer"))
queries = {
    "two aggregates joined": f"SELECT count(*), sum(n), sum(m) FROM (SELECT o_custkey, count(*) n FROM {O} GROUP BY 1) a JOIN (SELECT l_suppkey, count(*) m FROM {L} GROUP BY 1) b ON a.o_custkey = b.l_suppkey",
    "two aggregates FULL joined": f"SELECT count(*), count(a.o_custkey), count(b.l_suppkey) FROM (SELECT o_custkey, count(*) n FROM {O} GROUP BY 1) a FULL JOIN (SELECT l_suppkey, count(*) m FROM {L} GROUP BY 1) b ON a.o_custkey = b.l_suppkey",
    "orders FULL joined to an aggregate": f"SELECT count(*), count(a.o_orderkey), sum(b.m) FROM {O} a FULL JOIN (SELECT l_orderkey, count(*) m FROM {L} WHERE l_quantity > 45 GROUP BY 1) b ON a.o_orderkey = b.l_orderkey",
    "an aggregate RIGHT joined to customer": f"SELECT c_mktsegment, count(*), sum(t.s) FROM (SELECT o_custkey, sum(o_totalprice) s FROM {O} GROUP BY 1) t RIGHT JOIN {C} ON t.o_custkey = c_custkey GROUP BY 1 ORDER BY 1",
    "an aggregate over a UNION ALL": f"SELECT l_returnflag, count(*), sum(l_quantity) FROM (SELECT l_returnflag, l_quantity FROM {L} WHERE l_shipdate < DATE '1995-01-01' UNION ALL SELECT l_returnflag, l_quantity FROM {L} WHERE l_shipdate >= DATE '1997-01-01') GROUP BY 1 ORDER BY 1",
    "1.5M groups over a UNION ALL": f"SELECT k, sum(v) FROM (SELECT l_orderkey AS k, l_extendedprice AS v FROM {L} UNION ALL SELECT o_orderkey, o_totalprice FROM {O}) GROUP BY k ORDER BY 2 DESC, 1 LIMIT 5",
}
cursors = {label: flightsql.connect(uri).cursor() for label, uri in servers.items()}
for name, q in queries.items():
    answers = {}
    for label, cur in cursors.items():
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            cur.execute(q)
            answers[label] = cur.fetchall()
            times.append(time.perf_counter() - start)
        print(f"{name:40s} {label:8s} {statistics.median(times):6.2f} s")
    if len({repr(sorted(map(repr, a))) for a in answers.values()}) > 1:
        sys.exit(f"{name}: the servers' answers differ")
