"""Before and after for scale-out on a shared machine: Skein clusters of separate processes (a
coordinator with --threads N and N executors with --threads 1, as `make bench` runs them) from
several binaries, run in rotation query by query (the order reversed every other round, so that
other load hits all alike), every answer checked against in-process DuckDB's (as multisets).
Prints each query's median seconds and median CPU seconds of the cluster's processes (coordinator
and executors, user + system from /proc: less disturbed by other load than the wall time), and of
the coordinator alone.

    BUILD_DIR=... $BUILD_DIR/benchenv/bin/python bench/interleave_scale.py DATA_DIR ROUNDS QUERIES LABEL=BINARY:EXECUTORS...

QUERIES is `all` or query numbers (20,16,9); e.g. main1=build/skein-main:1 new2=bin/skein:2.
LABEL=BINARY:EXECUTORS:FLAGS gives that coordinator more flags, separated by spaces, e.g.
'split2=bin/skein:2:--split-min-rows 0'.
SKEIN_LOG_LEVEL (default warn) is every process's --log-level; their logs stay under
$BUILD_DIR/interleave/scale/LABEL."""
import contextlib, math, os, pathlib, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import answers, skeinproc, systems, tpch

data, rounds, which = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "scale"
texts = dict(tpch.queries())
numbers = sorted(texts) if which == "all" else [int(n) for n in which.split(",")]
syss = systems.clusters(sys.argv[4:], work, files, data)


def cpu(s):
    return sum(skeinproc.proc_cpu_seconds(p) or 0 for p in s.server.pids().values())


def coordinator_cpu(s):
    return skeinproc.proc_cpu_seconds(list(s.server.pids().values())[0]) or 0


def geomean(values):
    return math.exp(statistics.mean(math.log(max(v, 1e-3)) for v in values))


wall = {s.label: {} for s in syss}
used = {s.label: {} for s in syss}
coord = {s.label: {} for s in syss}
with contextlib.ExitStack() as st:
    ref = st.enter_context(systems.InProcessDuckDB("DuckDB 1 thread", files, threads=1).open())
    runners = [st.enter_context(s.open()) for s in syss]
    for n in numbers:
        sql = texts[n]
        want = ref.query(sql)
        for s, r in zip(syss, runners):  # warm-up + check
            diff = answers.compare(want, r.query(sql), ordered=False)
            assert not diff, (s.label, n, diff)
        times = {s.label: [] for s in syss}
        cpus = {s.label: [] for s in syss}
        coords = {s.label: [] for s in syss}
        for i in range(rounds):
            order = list(zip(syss, runners))
            for s, r in order if i % 2 == 0 else reversed(order):
                k0, c0, t0 = coordinator_cpu(s), cpu(s), time.perf_counter()
                r.query(sql)
                times[s.label].append(time.perf_counter() - t0)
                cpus[s.label].append(cpu(s) - c0)
                coords[s.label].append(coordinator_cpu(s) - k0)
        for s in syss:
            wall[s.label][n] = statistics.median(times[s.label])
            used[s.label][n] = statistics.median(cpus[s.label])
            coord[s.label][n] = statistics.mean(coords[s.label])  # /proc counts 10 ms ticks
        print(f"Q{n:02d} " + "  ".join(f"{s.label}={wall[s.label][n]:.4f}" for s in syss) + "   cpu " +
              "  ".join(f"{s.label}={used[s.label][n]:.3f}" for s in syss) + "   coordinator cpu " +
              "  ".join(f"{s.label}={coord[s.label][n]:.3f}" for s in syss), flush=True)
    for s in syss:
        print(f"{s.label}: geomean {geomean(wall[s.label].values()):.4f} s, cpu {geomean(used[s.label].values()):.3f} s, "
              f"coordinator cpu {statistics.mean(coord[s.label].values()) * 1e3:.1f} ms a query (mean)")
