"""Where a TPC-H query's time goes in a Skein cluster, against DuckDB's own, on a shared machine:
in-process DuckDB with 1 and 2 threads and Skein clusters of separate processes (a coordinator with
--threads N and N executors with --threads 1, as `make bench` runs them) take turns query by query
(the order reversed every other round), every answer checked against DuckDB's (as multisets).

    BUILD_DIR=... $BUILD_DIR/benchenv/bin/python bench/task_cpu.py DATA_DIR ROUNDS QUERIES LABEL=BINARY:EXECUTORS...

QUERIES is `all` or query numbers (2,22); LABEL=BINARY:EXECUTORS:FLAGS as in interleave_scale.py.
Per query it prints the median seconds of each system and, for each cluster, from its task history
(skein.tasks cpu_us: the executor thread's own CPU time, measured where an executor has one DuckDB
thread), the median over its runs of the CPU of all its tasks and of its longest task, each over
DuckDB's CPU time on one thread for the whole query (this process's, median of its runs), and how
many task runs that was (a straggler's task run again on another executor counts, and its CPU).
CPU time moves far less than wall time with other load on the machine: a plan whose tasks add up
to much more than 1.0 repeats work in every task (an input read whole by each); one whose longest
task is near 1.0 leaves the other executors idle (a query run whole as one task, or a slice
holding most of the rows)."""
import contextlib, os, pathlib, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import answers, systems, tpch

data, rounds, which = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "task_cpu"
texts = dict(tpch.queries())
numbers = sorted(texts) if which == "all" else [int(n) for n in which.split(",")]
duck = [systems.InProcessDuckDB("duckdb1", files, threads=1), systems.InProcessDuckDB("duckdb2", files, threads=2)]
skein = systems.clusters(sys.argv[4:], work, files, data)
syss = duck + skein

HISTORY = """SELECT q.query_id, sum(t.cpu_us) AS cpu, max(t.cpu_us) AS longest, count(*) AS tasks
FROM skein.tasks t JOIN skein.queries q USING (query_id)
WHERE q.sql = {sql} AND q.started_at >= make_timestamp({since}) AND t.status = 'ok'
GROUP BY q.query_id"""


def task_cpu(runner, sql, since):
    """Per run of sql since `since` (microseconds since the epoch): the CPU seconds of its tasks in
    all and of its longest, and its tasks (the history is written asynchronously: retried)."""
    literal = "'" + sql.replace("'", "''") + "'"
    for _ in range(20):
        rows = runner.query(HISTORY.format(sql=literal, since=since)).to_pylist()
        if rows and all(r["cpu"] is not None for r in rows):
            return [(float(r["cpu"]) / 1e6, float(r["longest"]) / 1e6, r["tasks"]) for r in rows]
        time.sleep(0.1)
    return []


def median(values):
    return statistics.median(values) if values else float("nan")


with contextlib.ExitStack() as st:
    runners = [st.enter_context(s.open()) for s in syss]
    for n in numbers:
        sql = texts[n]
        want = runners[0].query(sql)
        for s, r in zip(syss, runners):  # warm-up + check
            diff = answers.compare(want, r.query(sql), ordered=False)
            assert not diff, (s.label, n, diff)
        since = int(time.time() * 1e6)
        wall = {s.label: [] for s in syss}
        duck_cpu = []
        for i in range(rounds):
            order = list(zip(syss, runners))
            for s, r in order if i % 2 == 0 else reversed(order):
                c0, t0 = time.process_time(), time.perf_counter()
                r.query(sql)
                wall[s.label].append(time.perf_counter() - t0)
                if s.label == "duckdb1":
                    duck_cpu.append(time.process_time() - c0)
        one = median(duck_cpu)
        line = [f"Q{n:02d}"] + [f"{s.label}={median(wall[s.label]):.4f}" for s in syss]
        d2 = median(wall["duckdb2"])
        for s, r in zip(skein, runners[len(duck):]):
            runs = task_cpu(r, sql, since)
            cpu, longest = median([c for c, _, _ in runs]), median([m for _, m, _ in runs])
            tasks = median([k for _, _, k in runs])
            line.append(f"| {s.label}: {median(wall[s.label]) / d2:.2f}x duckdb2, tasks {tasks:g} cpu "
                        f"{cpu / one:.2f}x duckdb1 cpu, longest {longest / one:.2f}x")
        print("  ".join(line), flush=True)
