"""Round trips on a shared machine: SELECT 1 and point lookups on orders, in-process DuckDB and
`skein serve` (defaults) from each binary named, through ADBC and through a raw pyarrow.flight
client (the same GetFlightInfo + DoGet without the ADBC driver), in rotation statement by statement.
Also the CPU per statement: this process's ("client": the ADBC driver or pyarrow.flight, or in-process
DuckDB itself) and the server's (/proc, summed over the statements; the raw clients' statements count
against the same server as ADBC's).

    $BUILD_DIR/benchenv/bin/python bench/interleave_latency.py DATA_DIR RUNS NAME=BIN [NAME=BIN ...]"""
import os, pathlib, sys, statistics, time, contextlib
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here)); sys.path.insert(0, str(here.parent / "integration" / "python"))
import systems, tpch
from skeinproc import proc_cpu_seconds
import pyarrow.flight as flight
import flightsql_raw as raw

data = pathlib.Path(sys.argv[1]); runs = int(sys.argv[2])
bins = [a.split("=", 1) for a in sys.argv[3:]]
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "latency"; work.mkdir(parents=True, exist_ok=True)
syss = [systems.InProcessDuckDB("in-process DuckDB", files)] + [
    systems.Skein(name, b, work / name, files, data) for name, b in bins]
with contextlib.ExitStack() as st:
    runners = [st.enter_context(s.open()) for s in syss]
    keys = [k for (k,) in runners[0].con.execute(f"SELECT o_orderkey FROM orders USING SAMPLE {runs} ROWS (reservoir, 7)").fetchall()]
    # raw Flight clients: one per server, no ADBC
    raws = []
    for s in syss[1:]:
        c = flight.FlightClient(s.server.uri)
        raws.append((s.label + " raw pyarrow.flight", c))
    def rawq(c, sql):
        info = c.get_flight_info(flight.FlightDescriptor.for_command(raw.statement_query(sql)))
        import pyarrow as pa
        return pa.concat_tables([c.do_get(ep.ticket).read_all() for ep in info.endpoints])
    cases = [("SELECT 1", ["SELECT 1"] * runs),
             ("point lookup", [f"SELECT * FROM orders WHERE o_orderkey = {k}" for k in keys])]
    for case, sqls in cases:
        names = [s.label for s in syss] + [n for n, _ in raws]
        fns = [r.query for r in runners] + [(lambda sql, c=c: rawq(c, sql)) for _, c in raws]
        pids = [None] + [s.server.pids()["serve"] for s in syss[1:]] + [s.server.pids()["serve"] for s in syss[1:]]
        for f in fns:
            for sql in sqls[:20]:
                f(sql)
        t = {n: [] for n in names}
        cpu = {n: [0.0, 0.0] for n in names}  # client, server
        for sql in sqls:
            for n, f, pid in zip(names, fns, pids):
                p0 = proc_cpu_seconds(pid) if pid else 0.0
                c0 = time.process_time(); s0 = time.perf_counter()
                tab = f(sql)
                t[n].append(time.perf_counter() - s0); cpu[n][0] += time.process_time() - c0
                cpu[n][1] += (proc_cpu_seconds(pid) - p0) if pid else 0.0
                assert tab.num_rows == 1, (n, sql, tab.num_rows)
        for n in names:
            v = sorted(t[n])
            print(f"{case:13s} {n:45s} p50 {statistics.median(v)*1e3:7.3f} ms  p99 {v[int(len(v)*0.99)-1]*1e3:7.3f} ms  "
                  f"CPU/stmt client {cpu[n][0]/len(v)*1e3:6.2f} ms server {cpu[n][1]/len(v)*1e3:6.2f} ms", flush=True)
