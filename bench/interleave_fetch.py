"""Fetch throughput before and after on a shared machine: SELECT * FROM lineitem fully fetched
through ADBC from a coordinator and 2 executors of 1 thread each (the fetch workload's
deployment) for each binary and result mode, and from in-process DuckDB with 2 threads, in
rotation (each round starting at the next system), every answer checked by row count and
column sums. Prints each one's median time, throughput, ratio to in-process DuckDB and median
CPU seconds a fetch (this process's, the client or in-process DuckDB, plus the deployment's
processes'): on a loaded machine the CPU moves less than the time.

    $BUILD_DIR/benchenv/bin/python bench/interleave_fetch.py DATA_DIR BIN[,BIN...] ROUNDS [direct,proxy]

DATA_DIR is a TPC-H Parquet directory of bench/run.sh (build/bench-data/sf1)."""
import contextlib
import os
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import answers  # noqa: E402
import skeinproc  # noqa: E402
import systems  # noqa: E402
import tpch  # noqa: E402
from measure import timed  # noqa: E402

SQL = "SELECT * FROM lineitem"
COLUMNS = ["l_orderkey", "l_quantity", "l_extendedprice"]


def cpu_seconds(sys_):
    pids = [os.getpid()] + (list(sys_.server.pids().values()) if getattr(sys_, "server", None) else [])
    return sum(skeinproc.proc_cpu_seconds(p) or 0 for p in pids)


def main(data, bins, rounds, modes):
    files = tpch.table_files(data)
    work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "fetch"
    syss = [systems.InProcessDuckDB("DuckDB 2 threads", files, threads=2)]
    for i, b in enumerate(bins):
        for m in modes:
            syss.append(systems.Skein(f"{i}: {b} {m}", b, work / f"{i}-{m}", files, data, executors=2,
                                      threads=1, coordinator_threads=2, result_mode=m, separate=True))
    with contextlib.ExitStack() as st:
        runners = [st.enter_context(s.open()) for s in syss]
        ref = runners[0].query(SQL)
        nbytes, want = ref.nbytes, answers.quick_signature(ref, COLUMNS)
        del ref
        for s, r in zip(syss[1:], runners[1:]):  # warm-up and check
            t = r.query(SQL)
            assert answers.quick_signature(t, COLUMNS) == want, f"{s.label}: rows and sums differ"
            del t
        times = {s.label: [] for s in syss}
        cpus = {s.label: [] for s in syss}
        for k in range(rounds):
            order = list(zip(syss, runners))
            for s, r in order[k % len(order):] + order[:k % len(order)]:
                c0 = cpu_seconds(s)
                t, table = timed(lambda: r.query(SQL))
                del table
                cpus[s.label].append(cpu_seconds(s) - c0)
                times[s.label].append(t)
        base = statistics.median(times[syss[0].label])
        for s in syss:
            m = statistics.median(times[s.label])
            print(f"{s.label}: median {m:.3f} s, {nbytes / 1e6 / m:.0f} MB/s, {base / m:.2f}x in-process, "
                  f"CPU {statistics.median(cpus[s.label]):.2f} s a fetch; times "
                  + " ".join(f"{x:.2f}" for x in times[s.label]))
    print("load average", " ".join(f"{x:.1f}" for x in os.getloadavg()))


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(pathlib.Path(sys.argv[1]), sys.argv[2].split(","), int(sys.argv[3]),
         sys.argv[4].split(",") if len(sys.argv) > 4 else ["direct"])
