"""Point lookups on clusters of separate processes (a coordinator with --threads 2 and two executors
with --threads 2) from several binaries, run in rotation: ROUNDS rounds of N lookups
(`SELECT * FROM orders WHERE o_orderkey = K`, a new random existing key each, the same keys for every
binary), the order reversed every other round. Every answer is checked to be the one row of its key.
Prints each binary's p50 and p99 and the cluster's CPU per lookup (coordinator and executors, user +
system from /proc), of which the coordinator's. ADBC with autocommit on, as the harness connects.
With --select1, the statement is `SELECT 1` instead (one SQL text, nothing read: the round trip).

    $BUILD_DIR/benchenv/bin/python bench/interleave_lookups.py DATA_DIR ROUNDS N [--select1] LABEL=BINARY ..."""
import contextlib, os, pathlib, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import duckdb
import skeinproc, systems, tpch

data, rounds, n = pathlib.Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
select1 = sys.argv[4:5] == ["--select1"]
if select1:
    del sys.argv[4]
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "lookups"
syss = []
for spec in sys.argv[4:]:
    label, binary = spec.split("=", 1)
    syss.append(systems.Skein(label, binary, work / label, files, data, executors=2, threads=2,
                              coordinator_threads=2, separate=True))


def cpu(pids):
    return sum(skeinproc.proc_cpu_seconds(p) or 0 for p in pids)


# Existing keys, drawn from the files themselves (TPC-H's order keys are sparse).
drawn = [k for (k,) in duckdb.sql(
    f"SELECT o_orderkey FROM read_parquet({[str(f) for f in files['orders']]}) "
    f"USING SAMPLE reservoir({rounds * n} ROWS) REPEATABLE (1)").fetchall()]
keys = [drawn[r * n:(r + 1) * n] for r in range(rounds)]
times = {s.label: [] for s in syss}
used = {s.label: [0.0, 0.0] for s in syss}  # cluster, coordinator
with contextlib.ExitStack() as st:
    runners = [st.enter_context(s.open()) for s in syss]
    for r in range(rounds):
        order = list(zip(syss, runners))
        for s, run in order if r % 2 == 0 else reversed(order):
            pids = list(s.server.pids().values())
            c0, k0 = cpu(pids), cpu(pids[:1])
            for k in keys[r]:
                t0 = time.perf_counter()
                tab = run.query("SELECT 1 AS k" if select1 else f"SELECT * FROM orders WHERE o_orderkey = {k}")
                times[s.label].append(time.perf_counter() - t0)
                if select1:
                    assert tab.num_rows == 1 and tab.column("k")[0].as_py() == 1, (s.label, tab.num_rows)
                else:
                    assert tab.num_rows == 1 and tab.column("o_orderkey")[0].as_py() == k, (s.label, k, tab.num_rows)
            used[s.label][0] += cpu(pids) - c0
            used[s.label][1] += cpu(pids[:1]) - k0
for s in syss:
    ts = sorted(times[s.label])
    m = len(ts)
    print(f"{s.label:10s} {m} {'SELECT 1' if select1 else 'lookups'}  p50 {ts[m // 2] * 1e3:7.2f} ms  p99 {ts[min(m - 1, int(m * 0.99))] * 1e3:7.2f} ms  "
          f"cluster CPU {used[s.label][0] / m * 1e3:6.2f} ms a statement (coordinator {used[s.label][1] / m * 1e3:.2f})")
