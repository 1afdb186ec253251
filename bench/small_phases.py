"""A few small queries' two calls timed apart, on running Skein clusters alternated (views made, as
by bench/interleave_small.py): GetFlightInfo (parse, plan, tasks dispatched) and DoGet of every
endpoint through the coordinator (a one-task plan's executor run and relay, or a local run), raw
pyarrow.flight calls. Prints each call's median of N per query and cluster.

    $BUILD_DIR/benchenv/bin/python bench/small_phases.py N LABEL=URI ..."""
import pathlib, statistics, sys, time
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration" / "python"))
import pyarrow as pa, pyarrow.flight as flight
import flightsql_raw as raw
n = int(sys.argv[1]); cl = [(a.split("=",1)[0], flight.FlightClient(a.split("=",1)[1])) for a in sys.argv[2:]]
qs = {"preview": "SELECT * FROM lineitem LIMIT 10",
      "supp": "SELECT * FROM supplier WHERE s_suppkey = 77",
      "nation_region": "SELECT n_name, r_name FROM nation JOIN region ON n_regionkey = r_regionkey ORDER BY 1",
      "corr": "SELECT s_suppkey, (SELECT count(*) FROM partsupp WHERE ps_suppkey = s_suppkey) FROM supplier ORDER BY 1 LIMIT 5"}
res = {}
for i in range(n):
    for k, q in qs.items():
        for l, c in (cl if i % 2 == 0 else cl[::-1]):
            t0 = time.perf_counter()
            info = c.get_flight_info(flight.FlightDescriptor.for_command(raw.statement_query(q)))
            t1 = time.perf_counter()
            tab = pa.concat_tables([c.do_get(ep.ticket).read_all() for ep in info.endpoints])
            t2 = time.perf_counter()
            res.setdefault((k, l), []).append((t1 - t0, t2 - t1))
for (k, l), v in res.items():
    print(f"{k:14s} {l:5s} GetFlightInfo {statistics.median(a for a, _ in v)*1e3:6.2f} ms  DoGet {statistics.median(b for _, b in v)*1e3:6.2f} ms  total {statistics.median(a+b for a, b in v)*1e3:6.2f} ms")
