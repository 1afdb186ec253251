"""Whether a one-task query costs more when it does not run where it ran last (the executors' caches).
A cluster of separate processes (a coordinator with --threads 2 and two executors with --threads 1,
as `make bench` runs them) gives a query whose inputs hold fewer rows than --split-min-rows to its
executors in turn, so the same query run back to back alternates between them. Two such queries A
and B run in rounds of two sequences of the same 2K runs, in either order by round: A B A B ...
(pinned: each query on one executor every time, as an affinity by inputs would place them) and
A ... A B ... B (alternating: each run on the executor that did not run that query last). Prints,
per sequence, the medians over rounds of a run's wall time and of its CPU time by process (user +
system from /proc, the coordinator's and the executors' apart: less disturbed by other load than
the wall time), and how many runs were on the executor that ran that query last (from
skein.tasks). Each query's answer is checked once against in-process DuckDB's (as multisets).

    BUILD_DIR=... $BUILD_DIR/benchenv/bin/python bench/placement.py DATA_DIR BINARY ROUNDS K A,B [A,B...]

e.g. `... DATA bin/skein 8 6 2,22 11,16` (TPC-H Q2, Q11, Q16, Q22 are one task each at SF1). Extra
coordinator flags go in SKEIN_FLAGS (split by spaces)."""
import contextlib, os, pathlib, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import answers, skeinproc, systems, tpch

data, binary = pathlib.Path(sys.argv[1]), str(pathlib.Path(sys.argv[2]).resolve())
rounds, k = int(sys.argv[3]), int(sys.argv[4])
pairs = [tuple(int(n) for n in p.split(",")) for p in sys.argv[5:]]
files = tpch.table_files(data)
texts = dict(tpch.queries())
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "placement"
cluster = systems.Skein("cluster", binary, work, files, data, executors=2, threads=1, coordinator_threads=2,
                        separate=True, flags=os.environ.get("SKEIN_FLAGS", "").split())


def cpu(pids):
    """CPU seconds so far: the coordinator's, the executors' together."""
    c = {"coordinator": 0.0, "executors": 0.0}
    for name, pid in pids.items():
        c["coordinator" if name == "coordinator" else "executors"] += skeinproc.proc_cpu_seconds(pid) or 0
    return c


with contextlib.ExitStack() as st:
    ref = st.enter_context(systems.InProcessDuckDB("DuckDB", files, threads=2).open())
    run = st.enter_context(cluster.open())
    pids = cluster.server.pids()
    log = []  # (query, sequence) of every run, in order
    # A connection per query: the ADBC cursor prepares a statement again
    # whenever its text changes, which would cost the pinned sequences a
    # prepare a run on the coordinator.
    conns = {n: run.cursor_runner() for pair in pairs for n in pair}

    def once(n, seq):
        log.append((n, seq))
        t0 = time.perf_counter()
        conns[n].query(texts[n])
        return time.perf_counter() - t0

    for pair in pairs:
        for n in pair:  # warm-up and check
            diff = answers.compare(ref.query(texts[n]), conns[n].query(texts[n]), ordered=False)
            assert not diff, (n, diff)
            log.append((n, "warm-up"))
    per = {}
    for r in range(rounds):
        for a, b in pairs:
            for seq in (["pinned", "alternating"] if r % 2 == 0 else ["alternating", "pinned"]):
                order = [a, b] * k if seq == "pinned" else [a] * k + [b] * k
                time.sleep(0.3)  # what the last run left (its results' release) ends first
                c0, wall = cpu(pids), 0.0
                for n in order:
                    wall += once(n, seq)
                time.sleep(0.3)
                c1 = cpu(pids)
                per.setdefault((a, b, seq), []).append(
                    (wall / len(order), *((c1[p] - c0[p]) / len(order) for p in ("executors", "coordinator"))))
    time.sleep(2.5)  # the history is written asynchronously
    # Each run's executor, from the history: the runs of a text in the order they started.
    cur = run.cur
    where = {}
    for n in {n for n, _ in log}:
        count = sum(1 for m, _ in log if m == n)
        cur.execute("SELECT query_id, tasks FROM skein.queries WHERE sql = ? ORDER BY started_at DESC LIMIT ?",
                    parameters=[texts[n], count])
        got = cur.fetchall()[::-1]
        assert len(got) == count, f"Q{n}: {len(got)} of {count} runs in skein.queries"
        execs = []
        for qid, tasks in got:
            assert tasks == 1, f"Q{n} ran as {tasks} tasks, not one: pick queries whose inputs are small"
            cur.execute("SELECT executor FROM skein.tasks WHERE query_id = ?", parameters=[qid])
            execs.append(cur.fetchone()[0])
        where[n] = iter(execs)
    last, same = {}, {}
    for n, seq in log:
        e = next(where[n])
        if seq != "warm-up" and n in last:
            s = same.setdefault(seq, [0, 0])
            s[0] += last[n] == e
            s[1] += 1
        last[n] = e
    for (a, b, seq), v in per.items():
        print(f"Q{a}+Q{b} {seq:<11} {len(v)} rounds of {2 * k} runs; a run's medians: wall {statistics.median(x[0] for x in v) * 1000:6.1f} ms, "
              f"CPU executors {statistics.median(x[1] for x in v) * 1000:5.1f} ms, coordinator {statistics.median(x[2] for x in v) * 1000:5.1f} ms")
    for seq, (s, n) in same.items():
        print(f"{seq}: {s} of {n} runs on the executor that ran that query last")
