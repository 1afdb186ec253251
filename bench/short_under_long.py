"""A short query's latency while a long one holds the cluster (issue 11, sharing the cluster): a
cluster of separate processes (a coordinator with --threads 2 and two executors with --threads 1, as
`make bench` runs them) answers N short queries alone, then N more while another client runs a long
TPC-H query over and over on its own connection. Prints the short queries' p50 and p99 in both
phases, and the long query's runs and median time alone and under the short ones. Every answer is
checked against in-process DuckDB's (as multisets).

    BUILD_DIR=... $BUILD_DIR/benchenv/bin/python bench/short_under_long.py DATA_DIR BINARY N [LONG [SHORT]]

LONG is a TPC-H query number (default 21, the longest at SF1); SHORT is `lookup` (a point lookup on
orders, a new existing key each time: the default) or a TPC-H query number. Extra coordinator flags
go in SKEIN_FLAGS (split by spaces)."""
import contextlib, os, pathlib, statistics, sys, threading, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import duckdb
import answers, systems, tpch

data, binary, n = pathlib.Path(sys.argv[1]), str(pathlib.Path(sys.argv[2]).resolve()), int(sys.argv[3])
long_nr = int(sys.argv[4]) if len(sys.argv) > 4 else 21
short = sys.argv[5] if len(sys.argv) > 5 else "lookup"
files = tpch.table_files(data)
texts = dict(tpch.queries())
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "short-under-long"
cluster = systems.Skein("cluster", binary, work, files, data, executors=2, threads=1, coordinator_threads=2,
                        separate=True, flags=os.environ.get("SKEIN_FLAGS", "").split())

if short == "lookup":
    keys = [k for (k,) in duckdb.sql(
        f"SELECT o_orderkey FROM read_parquet({[str(f) for f in files['orders']]}) "
        f"USING SAMPLE reservoir({2 * n} ROWS) REPEATABLE (1)").fetchall()]
    shorts = [(f"SELECT * FROM orders WHERE o_orderkey = {k}", k) for k in keys]
else:
    shorts = [(texts[int(short)], None)] * (2 * n)


def pct(ts, p):
    s = sorted(ts)
    return s[min(len(s) - 1, int(len(s) * p))]


with contextlib.ExitStack() as st:
    ref = st.enter_context(systems.InProcessDuckDB("DuckDB", files, threads=2).open())
    run = st.enter_context(cluster.open())
    wants = {}

    def check(r, sql, key):
        tab = r.query(sql)
        if key is not None:
            assert tab.num_rows == 1 and tab.column("o_orderkey")[0].as_py() == key, (key, tab.num_rows)
            return
        if sql not in wants:
            wants[sql] = ref.query(sql)
        diff = answers.compare(wants[sql], tab, ordered=False)
        assert not diff, (sql[:60], diff)

    long_sql = texts[long_nr]
    check(run, long_sql, None)  # warm-up and check
    alone_long = []
    for _ in range(3):
        t0 = time.perf_counter()
        run.query(long_sql)
        alone_long.append(time.perf_counter() - t0)

    def timed_shorts(part):
        ts = []
        for sql, key in part:
            t0 = time.perf_counter()
            check(run, sql, key)
            ts.append(time.perf_counter() - t0)
        return ts

    check(run, *shorts[0])  # warm-up
    alone = timed_shorts(shorts[:n])

    # The long query in a loop on a connection of its own.
    stop, busy, errors = threading.Event(), [], []
    other = run.cursor_runner()

    def loop():
        try:
            while not stop.is_set():
                t0 = time.perf_counter()
                check(other, long_sql, None)
                busy.append(time.perf_counter() - t0)
        except Exception as e:  # reported below
            errors.append(e)

    th = threading.Thread(target=loop, daemon=True)
    th.start()
    time.sleep(min(alone_long) / 2)  # the long query is running when the first short one starts
    under = timed_shorts(shorts[n:])
    stop.set()
    th.join()
    if errors:
        raise errors[0]

short_name = "point lookup" if short == "lookup" else f"Q{int(short):02d}"
print(f"short {short_name}, {n} each; long Q{long_nr:02d} on its own connection")
print(f"  alone:            p50 {statistics.median(alone) * 1e3:8.1f} ms  p99 {pct(alone, 0.99) * 1e3:8.1f} ms")
print(f"  while Q{long_nr:02d} runs:  p50 {statistics.median(under) * 1e3:8.1f} ms  p99 {pct(under, 0.99) * 1e3:8.1f} ms")
print(f"  Q{long_nr:02d}: alone {statistics.median(alone_long):.3f} s; "
      f"{len(busy)} runs beside the short ones, median {statistics.median(busy) if busy else float('nan'):.3f} s")
