"""A point lookup's calls, timed one by one: in-process DuckDB; `skein serve` (defaults) from each binary
named, through a raw pyarrow.flight client making ADBC's four calls for a new SQL text
(ClosePreparedStatement of the previous handle, CreatePreparedStatement, GetFlightInfo, DoGet), and
through ADBC (releasing the previous result, execute, fetch). RUNS lookups of existing keys, the
systems in rotation key by key. Prints each phase's p50, p99 and mean, ADBC's CPU a lookup (this
process's) and the server's (/proc).

    $BUILD_DIR/benchenv/bin/python bench/lookup_phases.py DATA_DIR RUNS NAME=BIN [NAME=BIN ...]"""
import contextlib, os, pathlib, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here)); sys.path.insert(0, str(here.parent / "integration" / "python"))
import pyarrow as pa
import pyarrow.flight as flight
import flightsql_raw as raw
import systems, tpch
from skeinproc import proc_cpu_seconds

data, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "phases"; work.mkdir(parents=True, exist_ok=True)
inproc = systems.InProcessDuckDB("in-process DuckDB", files)
skeins = [systems.Skein(name, b, work / name, files, data) for name, b in (a.split("=", 1) for a in sys.argv[3:])]
times = {}


def note(key, seconds):
    times.setdefault(key, []).append(seconds)


def raw_lookup(client, sql, prev):
    """ADBC's four calls for a new SQL text; returns the new handle and each call's time."""
    t = [time.perf_counter()]
    if prev is not None:
        list(client.do_action(flight.Action("ClosePreparedStatement",
                                            raw.any_message("ActionClosePreparedStatementRequest", raw.field_bytes(1, prev)))))
    t.append(time.perf_counter())
    res = list(client.do_action(flight.Action("CreatePreparedStatement",
                                              raw.any_message("ActionCreatePreparedStatementRequest", raw.field_bytes(1, sql)))))
    handle = raw.decode(raw.unpack_any(res[0].body.to_pybytes())[1])[1][0]
    t.append(time.perf_counter())
    info = client.get_flight_info(flight.FlightDescriptor.for_command(
        raw.any_message("CommandPreparedStatementQuery", raw.field_bytes(1, handle))))
    t.append(time.perf_counter())
    table = pa.concat_tables([client.do_get(ep.ticket).read_all() for ep in info.endpoints])
    t.append(time.perf_counter())
    assert table.num_rows == 1, sql
    return handle, [b - a for a, b in zip(t, t[1:])]


with contextlib.ExitStack() as st:
    duck = st.enter_context(inproc.open())
    runners = [st.enter_context(s.open()) for s in skeins]
    clients = [flight.FlightClient(s.server.uri) for s in skeins]
    pids = [s.server.pids()["serve"] for s in skeins]
    handles = [None] * len(skeins)
    keys = [k for (k,) in duck.con.execute(f"SELECT o_orderkey FROM orders USING SAMPLE {runs + 20} ROWS (reservoir, 7)").fetchall()]
    for i, k in enumerate(keys):
        sql = f"SELECT * FROM orders WHERE o_orderkey = {k}"
        warm = i < 20
        t0 = time.perf_counter()
        assert duck.query(sql).num_rows == 1
        if not warm:
            note("in-process DuckDB: lookup", time.perf_counter() - t0)
        for j, (s, r, c, pid) in enumerate(zip(skeins, runners, clients, pids)):
            s0 = proc_cpu_seconds(pid)
            handles[j], calls = raw_lookup(c, sql, handles[j])
            s1 = proc_cpu_seconds(pid)
            c0, t0 = time.process_time(), time.perf_counter()
            r.cur._clear()  # what execute does first: release the previous result
            t1 = time.perf_counter()
            r.cur.execute(sql)
            t2 = time.perf_counter()
            assert r.cur.fetch_arrow_table().num_rows == 1
            t3, c1, s2 = time.perf_counter(), time.process_time(), proc_cpu_seconds(pid)
            if warm:
                continue
            for name, v in zip(("ClosePreparedStatement", "CreatePreparedStatement", "GetFlightInfo", "DoGet"), calls):
                note(f"{s.label} raw: {name}", v)
            note(f"{s.label} raw: total", sum(calls))
            note(f"{s.label} raw: server CPU", s1 - s0)
            for name, v in (("release previous result", t1 - t0), ("execute", t2 - t1), ("fetch", t3 - t2), ("total", t3 - t0),
                            ("client CPU", c1 - c0), ("server CPU", s2 - s1)):
                note(f"{s.label} ADBC: {name}", v)
    for c in clients:
        c.close()
for key, v in times.items():
    v.sort()
    print(f"{key:48s} p50 {statistics.median(v) * 1e3:7.2f} ms  p99 {v[int(len(v) * .99) - 1] * 1e3:7.2f} ms  mean {statistics.mean(v) * 1e3:7.2f} ms")
