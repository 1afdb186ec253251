"""The workloads. Each takes the Bench (settings, data, reference answers)
and returns a plain dict (it goes into the JSON results and the report).

Every answer a system gives is checked against in-process DuckDB's before its
time counts; a mismatch or an error is recorded in the workload's result and
in bench.problems, which makes the run exit non-zero.
"""

import contextlib
import json
import math
import os
import pathlib
import subprocess
import threading
import time

import answers
import peers
import s3
import skeinproc
import systems
import tpch as tpch_data
from measure import Stats, percentile, timed

FETCH_SQL = "SELECT * FROM lineitem"
FETCH_SIGNATURE = ["l_orderkey", "l_partkey", "l_extendedprice"]
CONCURRENCY_MIX = [1, 3, 5, 6, 10, 12, 14, 19]
CONCURRENCY_CLIENTS = [8, 32]
GROUPBY_SQL = "SELECT l_orderkey, sum(l_quantity), count(*) FROM lineitem GROUP BY l_orderkey"
BIG_QUERIES = [9, 18, 21]


def first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


# ---------------------------------------------------------------- deployments

def skein_cluster(bench, label, executors, result_mode=None, flags=(), executor_flags=()):
    """Coordinator plus `executors` executor processes with 1 DuckDB thread
    each; the coordinator gets as many threads as the executors have in
    total, for the queries it runs whole (so N threads are busy at a time).
    Every process also gets the flags the bench was given (--skein-flag,
    --executor-flag) after the workload's own."""
    return systems.Skein(label, bench.binary, bench.deployment_dir(label), bench.files, bench.data_dir,
                         executors=executors, threads=1, coordinator_threads=executors,
                         result_mode=result_mode, separate=True,
                         flags=[*flags, *bench.skein_flags],
                         executor_flags=[*executor_flags, *bench.executor_flags],
                         profile=bench.profile_target(label))


def skein_serve(bench, label="Skein serve (defaults)"):
    return systems.Skein(label, bench.binary, bench.deployment_dir(label), bench.files, bench.data_dir,
                         flags=bench.skein_flags, profile=bench.profile_target(label))


def duckdb_inprocess(bench, threads, label=None):
    label = label or (f"DuckDB {threads} thread{'s' if threads != 1 else ''}" if threads
                      else "DuckDB (default threads)")
    return systems.InProcessDuckDB(label, bench.files, threads=threads)


def _open_together(bench, stack, workload, systems_, recs):
    """Opens every system on stack, all up together for a workload whose
    systems take turns; (rec, runner, system) of those that opened, the
    error of the others in their rec."""
    live = []
    for sys_, rec in zip(systems_, recs):
        bench.log(f"{workload}: open {sys_.label}")
        try:
            live.append((rec, stack.enter_context(sys_.open()), sys_))
        except Exception as e:
            rec["error"] = first_line(e)
    return live


def _turn(i, n):
    """The order n systems take round i in: starting at system i (mod n),
    so that each is first as often as the others."""
    return [(i + k) % n for k in range(n)]


# ---------------------------------------------------------------- 1. fetch

def fetch(bench):
    """SELECT * over lineitem, fully fetched as an Arrow table, through Skein
    (2 executors x 1 thread; direct endpoints and proxy mode) and through
    in-process DuckDB with 2 threads. Throughput is the in-process result's
    Arrow size over the time, so the ratio is the ratio of times. The
    systems are up together and take turns round by round (round i
    starting at system i), as in the TPC-H workload: run one after the
    other, the direct ratio moved from 0.83x to 0.91x between two full runs
    of one build, the VM's speed drifting under them. In each turn the
    system fetches twice and only the second is timed: a 1 GB result leaves
    garbage behind (the ADBC driver's Go heap, DuckDB's allocator), and the
    timed run follows the system's own run, as a run repeated back to back
    does, not another system's (timed right after another system's turn,
    Skein direct took 1.58 to 1.91 s where it takes 1.85 to 1.96 s back to
    back)."""
    out = {"sql": FETCH_SQL, "systems": []}
    systems_ = [duckdb_inprocess(bench, 2)] + [
        skein_cluster(bench, f"Skein {mode} (2 executors x 1 thread)", 2, result_mode=mode)
        for mode in ("direct", "proxy")]
    recs = [{"label": s.label, "describe": s.describe(), "seconds": [], "cpu": []} for s in systems_]
    out["systems"] = recs
    with contextlib.ExitStack() as stack:
        live = [(rec, runner, _client_and(sys_.server.pids() if sys_.kind == "skein" else {}))
                for rec, runner, sys_ in _open_together(bench, stack, "fetch", systems_, recs)]
        if recs[0].get("error"):
            raise RuntimeError(f"in-process DuckDB, the reference, failed: {recs[0]['error']}")
        signature = None
        for i in range(bench.warmup + bench.runs):
            for j in _turn(i, len(live)):
                rec, runner, pids = live[j]
                if rec.get("mismatch") or rec.get("error"):
                    continue
                try:
                    if i >= bench.warmup:
                        runner.query(FETCH_SQL)  # the turn's untimed run (see above)
                    before = _cpu_seconds(pids)
                    t, table = timed(lambda: runner.query(FETCH_SQL))
                except Exception as e:
                    rec["error"] = first_line(e)
                    continue
                after = _cpu_seconds(pids)
                got = answers.quick_signature(table, FETCH_SIGNATURE)
                if rec is recs[0]:  # in-process DuckDB: the reference (round 0 starts with it)
                    out["bytes"], out["rows"], signature = table.nbytes, table.num_rows, got
                else:
                    diff = bench.counted(None if got == signature else f"rows and sums {got} != DuckDB's {signature}")
                    if diff:
                        rec["mismatch"], rec["seconds"], rec["cpu"] = diff, [], []
                        continue
                table = None  # freed before the next run fetches
                if i >= bench.warmup:
                    rec["seconds"].append(t)
                    rec["cpu"].append({n: after[n] - before[n] for n in pids if None not in (after[n], before[n])})
        for rec, runner, _ in live[1:]:
            rec["plan"] = runner.plans().get(FETCH_SQL, "")
    for rec in recs:
        _note_problem(bench, "fetch", rec)
    if recs[0].get("error") or not recs[0]["seconds"]:
        raise RuntimeError(f"in-process DuckDB, the reference, failed: {recs[0].get('error')}")
    base = Stats(recs[0]["seconds"]).median
    for rec in recs:
        s = Stats(rec.get("seconds", []))
        rec["mb_per_s"] = out["bytes"] / 1e6 / s.median if s.ok else None
        rec["ratio"] = base / s.median if s.ok else None
    return out


def _timed_runs(bench, runner, sql, check, pids=None):
    """Warm-up and timed runs of sql; returns ({"seconds": [...]}, last table).
    With pids ({name: pid}), also "cpu": each timed run's CPU seconds by process."""
    rec = {"seconds": []}
    if pids:
        rec["cpu"] = []
    table = None
    for i in range(bench.warmup + bench.runs):
        table = None  # free the previous result before fetching the next
        before = _cpu_seconds(pids)
        t, table = timed(lambda: runner.query(sql))
        if pids and i >= bench.warmup:
            after = _cpu_seconds(pids)
            rec["cpu"].append({k: after[k] - before[k] for k in pids if None not in (after[k], before[k])})
        if check:
            diff = bench.counted(check(table))
            if diff:
                rec["mismatch"] = diff
                rec["seconds"] = []
                break
        if i >= bench.warmup:
            rec["seconds"].append(t)
    return rec, table


def _cpu_seconds(pids):
    """{name: CPU seconds so far} of the processes {name: pid} (None: gone)."""
    return {k: skeinproc.proc_cpu_seconds(p) for k, p in (pids or {}).items()}


def _client_and(pids):
    """pids and the harness's own process (the client, or in-process DuckDB), as "client"."""
    return {**pids, "client": os.getpid()}


def _note_problem(bench, workload, rec, what=""):
    for key in ("error", "mismatch"):
        if rec.get(key):
            bench.problems.append(f"{workload}: {rec.get('label', '')}{what}: {key}: {rec[key]}")


# ---------------------------------------------------------------- 2. TPC-H

def tpch_systems(bench):
    return [
        duckdb_inprocess(bench, 1),
        duckdb_inprocess(bench, 2),
        skein_cluster(bench, "Skein 1 executor x 1 thread", 1),
        skein_cluster(bench, "Skein 2 executors x 1 thread", 2),
        skein_serve(bench),
    ]


def tpch(bench, only=None):
    """The 22 queries on every system (or on the systems `only`). The systems
    are all open at once and take turns run by run (each query's warm-ups,
    then its timed runs, each round starting at another system), so that a
    change in the machine's load during the workload falls on every system
    alike rather than on whichever ran its 22 queries then. Only the running
    system does work; the others' processes idle."""
    systems_ = list(only if only is not None else tpch_systems(bench))
    recs = [{"label": s.label, "kind": s.kind, "describe": s.describe(), "queries": {}} for s in systems_]
    with contextlib.ExitStack() as stack:
        # (rec, runner) of the systems still answering
        live = [(rec, runner) for rec, runner, _ in _open_together(bench, stack, "tpch", systems_, recs)]
        for n, sql in bench.queries:
            qs = _run_query_interleaved(bench, live, n, sql)
            for (rec, runner), q in zip(list(live), qs):
                rec["queries"][n] = q
                bench.log(f"  Q{n:02d} {rec['label']}: " + (q.get("error") or q.get("mismatch") or f"{Stats(q['seconds']).median:.3f}s"))
                _note_problem(bench, "tpch", dict(q, label=rec["label"]), f" Q{n}")
                try:
                    runner.check_alive(grace=3.0 if q.get("error") else 0.0)
                except Exception as e:
                    rec["error"] = first_line(e)
                    live.remove((rec, runner))
        for rec, runner in live:
            plans = runner.plans()
            for n, sql in bench.queries:
                if sql in plans:
                    rec["queries"][n]["plan"] = plans[sql]
    for rec in recs:
        _note_problem(bench, "tpch", rec)
    return {"systems": recs}


def _run_query_interleaved(bench, live, n, sql):
    """Query n's warm-ups and timed runs on each of the live systems, taking
    turns: round i starts at system i (mod their number). A system that gives a
    wrong answer or an error runs it no more; its entry says which."""
    qs = [{"seconds": []} for _ in live]
    rounds, warm, i = bench.warmup + bench.runs, 0.0, 0
    while i < rounds:
        for j in _turn(i, len(live)):
            q, runner = qs[j], live[j][1]
            if q.get("error") or q.get("mismatch"):
                continue
            try:
                t, table = timed(lambda: runner.query(sql))
            except Exception as e:
                qs[j] = {"seconds": [], "error": bench.counted(first_line(e))}
                continue
            diff = bench.counted(answers.compare(bench.reference[n], table, bench.ordered[n]))
            table = None
            if diff:
                qs[j] = {"seconds": [], "mismatch": diff}
            elif i >= bench.warmup:
                q["seconds"].append(t)
            else:
                warm += t
        i += 1
        if i == bench.warmup:
            rounds = bench.warmup + timed_rounds(bench, warm / bench.warmup)
    return qs


def timed_rounds(bench, round_seconds):
    """How many timed rounds a query gets whose warm-up round (each system
    once) took round_seconds: --runs, or for a short query more, up to five
    times as many, so that they last about --short-query-seconds together.
    With 3 runs a 50 ms query's median strayed from its minimum by 15%
    (TPC-H Q22 on 2 executors, results of 2e23124: median 0.0734 s,
    minimum 0.0636 s, 1 executor's median 0.0645 s), enough to put its
    ratios on either side of their goals."""
    if bench.short_query_seconds <= 0 or round_seconds <= 0:
        return bench.runs
    want = math.ceil(bench.short_query_seconds / round_seconds)
    return min(max(bench.runs, want), 5 * bench.runs)


def _run_tpch(bench, runner, rec, workload):
    """The 22 queries on an open system, into rec["queries"], with Skein's plans."""
    for n, sql in bench.queries:
        q = _run_query(bench, runner, n, sql)
        rec["queries"][n] = q
        bench.log(f"  Q{n:02d} " + (q.get("error") or q.get("mismatch") or f"{Stats(q['seconds']).median:.3f}s"))
        _note_problem(bench, workload, dict(q, label=rec["label"]), f" Q{n}")
        runner.check_alive(grace=3.0 if q.get("error") else 0.0)
    plans = runner.plans()
    for n, sql in bench.queries:
        if sql in plans:
            rec["queries"][n]["plan"] = plans[sql]


def _run_query(bench, runner, n, sql):
    return _run_query_interleaved(bench, [(None, runner)], n, sql)[0]


# ---------------------------------------------------------------- object storage

S3_LABEL = "Skein 2 executors x 1 thread, s3://"


def object_storage(bench):
    """The fetch and the 22 TPC-H queries with the Parquet files in object
    storage: moto's S3 server on loopback, the files uploaded to one bucket,
    and a Skein coordinator with 2 executors x 1 thread (as in the tpch
    workload) reading views of s3:// paths, with --allow-prefix and no
    --allow-dir (nothing local to read). Every answer is checked as the
    local runs' are: the fetch by row count and column sums, the queries
    against in-process DuckDB over the local files."""
    out = {"sql": FETCH_SQL, "systems": []}
    with duckdb_inprocess(bench, 2).open() as runner:
        table = runner.query(FETCH_SQL)
        signature = answers.quick_signature(table, FETCH_SIGNATURE)
        out["rows"], out["bytes"] = table.num_rows, table.nbytes
        del table
    with s3.MotoS3(bench.build_dir, bench.work_dir / "s3" / "moto.stderr") as server, s3.credentials():
        bench.log(f"s3: uploading the TPC-H files to moto at {server.url}")
        out["upload_seconds"], files = timed(lambda: server.upload(bench.files))
        flags = server.skein_flags(s3.extension_dir(bench.binary, bench.build_dir, bench.repo))
        sys_ = systems.Skein(S3_LABEL, bench.binary, bench.deployment_dir(S3_LABEL), files, None,
                             executors=2, threads=1, coordinator_threads=2, separate=True,
                             flags=[*flags, *bench.skein_flags], executor_flags=[*flags, *bench.executor_flags],
                             profile=bench.profile_target(S3_LABEL))
        rec = {"label": sys_.label, "kind": sys_.kind, "describe": sys_.describe(), "queries": {},
               "prefix": f"s3://{s3.BUCKET}/{s3.PREFIX}"}
        try:
            with sys_.open() as runner:
                def check(t):
                    got = answers.quick_signature(t, FETCH_SIGNATURE)
                    return None if got == signature else f"rows and sums {got} != DuckDB's {signature}"
                bench.log(f"s3: fetch, {sys_.label}")
                rec["fetch"] = _timed_runs(bench, runner, FETCH_SQL, check)[0]
                s = Stats(rec["fetch"].get("seconds", []))
                rec["fetch"]["mb_per_s"] = out["bytes"] / 1e6 / s.median if s.ok else None
                _note_problem(bench, "s3", dict(rec["fetch"], label=sys_.label), " fetch")
                bench.log(f"s3: tpch, {sys_.label}")
                _run_tpch(bench, runner, rec, "s3")
        except Exception as e:
            rec["error"] = first_line(e)
            _note_problem(bench, "s3", rec)
        out["systems"].append(rec)
    return out


# ---------------------------------------------------------------- 3. latency

def latency(bench):
    """SELECT 1 and point lookups on orders (one key each, keys spread over
    the files), p50 and p99, through `skein serve` and in-process DuckDB;
    SELECT 1 also through bench/floor (a Flight SQL server answering from
    memory: the driver's own share). The systems are up together and take
    turns statement by statement (statement i starting at system i), so
    that the machine's speed drifting falls on each alike. Then the same
    statements from Go (bench/golatency): arrow-go's Flight SQL client
    against the serve and the floor, and DuckDB's Arrow export in a Go
    process."""
    keys = bench.point_keys(bench.latency_runs)
    cases = [("SELECT 1", ["SELECT 1"] * bench.latency_runs),
             ("point lookup", [f"SELECT * FROM orders WHERE o_orderkey = {k}" for k in keys])]
    out = {"cases": [c for c, _ in cases], "systems": []}
    go = _GoLatency(bench, cases)
    go.run("in-process DuckDB (Go, Arrow export)", None)
    systems_ = [duckdb_inprocess(bench, None), skein_serve(bench)]
    floor_bin = os.environ.get("FLOOR_BIN")
    if floor_bin:  # SELECT 1 only
        systems_.append(systems.Floor("Flight SQL floor (ADBC)", floor_bin, bench.deployment_dir("floor")))
    recs = [{"label": s.label, "describe": s.describe(), "cases": {}} for s in systems_]
    with contextlib.ExitStack() as stack:
        live = [(rec, runner, _client_and(sys_.server.pids() if sys_.kind == "skein" else {}), sys_)
                for rec, runner, sys_ in _open_together(bench, stack, "latency", systems_, recs)]
        for case, sqls in cases:
            members = [m for m in live if case == "SELECT 1" or m[3].kind != "floor"]
            for rec, r in zip([m[0] for m in members], _latency_turns(bench, members, sqls)):
                rec["cases"][case] = r
        for rec, _, _, sys_ in live:
            if sys_.kind == "skein":
                go.run(sys_.label, sys_.server.uri)
            elif sys_.kind == "floor":
                go.run("Flight SQL floor", sys_.uri, only="SELECT 1")
    for rec in recs:
        for case, r in rec["cases"].items():
            _note_problem(bench, "latency", dict(r, label=rec["label"]), f" {case}")
        _note_problem(bench, "latency", rec)
    out["systems"] = [rec for rec, sys_ in zip(recs, systems_) if sys_.kind != "floor"]
    if floor_bin:
        out["floor"] = recs[-1]
    out["go"] = go.systems
    return out


def _latency_turns(bench, members, sqls):
    """Times each statement on every member (rec, runner, pids, system),
    taking turns: statement i starts at member i. A statement's first
    answer is the one the others' are checked against. Also the CPU time
    per statement of each process of a member's pids (the answer checks'
    included in the client's), summed over its own statements."""
    for _, runner, _, _ in members:
        for sql in sqls[:bench.latency_warmup]:
            runner.query(sql)
    seconds = [[] for _ in members]
    cpu = [{} for _ in members]
    failed = [None] * len(members)
    for i, sql in enumerate(sqls):
        expected = None
        for j in _turn(i, len(members)):
            _, runner, pids, _ = members[j]
            if failed[j]:
                continue
            before = _cpu_seconds(pids)
            try:
                t, table = timed(lambda: runner.query(sql))
            except Exception as e:
                failed[j] = {"error": first_line(e)}
                continue
            after = _cpu_seconds(pids)
            for n in pids:
                if None not in (after[n], before[n]):
                    cpu[j][n] = cpu[j].get(n, 0.0) + after[n] - before[n]
            if expected is None:
                expected = table
            else:
                diff = bench.counted(answers.compare(expected, table, ordered=False))
                if diff:
                    failed[j] = {"mismatch": f"{sql}: {diff}"}
                    continue
            seconds[j].append(t)
    out = []
    for j in range(len(members)):
        if failed[j]:
            out.append(failed[j])
            continue
        s = seconds[j]
        out.append({"p50": percentile(s, 50), "p99": percentile(s, 99), "min": min(s), "max": max(s),
                    "n": len(s), "cpu_per_query": {n: v / len(s) for n, v in cpu[j].items()}})
    return out


class _GoLatency:
    """Runs bench/golatency ($GOLATENCY_BIN, which bench/run.sh builds) on
    the workload's statements; the first system's answers (row counts and
    value digests, statement by statement) are the others' expected ones."""

    def __init__(self, bench, cases):
        self.bench, self.cases = bench, cases
        self.binary = os.environ.get("GOLATENCY_BIN")
        self.systems = []
        self.expected = {}

    def run(self, label, uri, only=None):
        if not self.binary:
            return
        cases = [(c, sqls) for c, sqls in self.cases if only in (None, c)]
        job = {"warmup": self.bench.latency_warmup, "setup": [] if uri else tpch_data.view_statements(self.bench.files),
               "cases": [{"name": c, "sqls": sqls} for c, sqls in cases]}
        argv = [self.binary] + (["-uri", uri] if uri else ["-allow-dir", str(self.bench.data_dir)])
        rec = {"label": label, "cases": {}}
        try:
            p = subprocess.run(argv, input=json.dumps(job), capture_output=True, text=True,
                               timeout=self.bench.query_timeout, check=False)
            if p.returncode != 0:
                raise RuntimeError((p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1])
            for case, sqls in cases:
                r = json.loads(p.stdout)["cases"][case]
                got = list(zip(r.pop("rows"), r.pop("digests")))
                want = self.expected.setdefault(case, got)
                bad = [sql for sql, g, w in zip(sqls, got, want)
                       if self.bench.counted(None if g == w else f"rows, digest {g} where {w}")]
                if bad:
                    r["mismatch"] = f"{len(bad)} answers differ, first: {bad[0]}"
                rec["cases"][case] = r
        except Exception as e:
            rec["error"] = first_line(e)
        for case, r in rec["cases"].items():
            _note_problem(self.bench, "latency", dict(r, label=f"{label} (Go)"), f" {case}")
        _note_problem(self.bench, "latency", dict(rec, label=f"{label} (Go)"))
        self.systems.append(rec)


# ---------------------------------------------------------------- 4. concurrency

def concurrency(bench):
    """8 and 32 clients (--clients), each on its own connection, cycling
    through a mix of TPC-H queries (each client starting at a different one)
    for a fixed time; queries per second and latency percentiles, and the
    RSS of each process serving them, sampled every second (the harness's
    own for in-process DuckDB): start, peak, end and slope.

    The systems are open together and each one's time is cut into
    --rounds rounds, the systems taking turns round by round (round i
    starting at system i), as the TPC-H workload does run by run: one
    system's 30 s after the other's, the ratio of their throughputs moved
    from 0.81x to 1.00x between full runs of one build, the VM's speed
    drifting under them. Only the running system does work."""
    out = {"mix": CONCURRENCY_MIX, "duration": bench.duration, "rounds": bench.rounds,
           "clients": bench.clients, "systems": []}
    texts = dict(bench.queries)
    mix = [(n, texts[n]) for n in CONCURRENCY_MIX]
    systems_ = [skein_serve(bench)] if bench.skein_only else [duckdb_inprocess(bench, None), skein_serve(bench)]
    recs = [{"label": s.label, "describe": s.describe(), "runs": {}} for s in systems_]
    out["systems"] = recs
    with contextlib.ExitStack() as stack:
        live = [(rec, runner, sys_.server.pids() if sys_.kind == "skein" else {"harness (in-process DuckDB)": os.getpid()})
                for rec, runner, sys_ in _open_together(bench, stack, "concurrency", systems_, recs)]
        for rec in recs:
            _note_problem(bench, "concurrency", rec)  # those that did not open
        for clients in bench.clients:
            rounds = {id(rec): [] for rec, _, _ in live}
            with contextlib.ExitStack() as samplers:
                rss = {id(rec): samplers.enter_context(_RSSSeries(_rss_probe(pids))) for rec, _, pids in live}
                for i in range(bench.rounds):
                    for j in _turn(i, len(live)):
                        rec, runner, _ = live[j]
                        done = rounds[id(rec)]
                        if done and done[-1].get("error"):
                            continue  # it failed: it runs no more rounds
                        bench.log(f"concurrency: {rec['label']}, {clients} clients, round {i + 1} of {bench.rounds}")
                        done.append(_concurrent(bench, runner, mix, clients, bench.duration / bench.rounds))
                        try:
                            runner.check_alive(grace=3.0 if done[-1].get("error") else 0.0)
                        except Exception as e:
                            done[-1]["error"] = done[-1].get("error") or first_line(e)
            for rec, _, _ in live:
                r = _pooled(rounds[id(rec)])
                r["rss"] = rss[id(rec)].summary()
                rec["runs"][clients] = r
                _note_problem(bench, "concurrency", dict(r, label=rec["label"]), f" {clients} clients")
    return out


def _pooled(rounds):
    """One system's rounds as one run: queries over the time they took
    together, the latency percentiles of all of them, the first failure."""
    lat = [t for r in rounds for t in r.pop("latencies")]
    queries, elapsed = sum(r["queries"] for r in rounds), sum(r["elapsed"] for r in rounds)
    r = {"queries": queries, "elapsed": elapsed, "qps": queries / elapsed if elapsed else 0.0,
         "p50": percentile(lat, 50) if lat else None, "p99": percentile(lat, 99) if lat else None,
         "rounds": [{"queries": r["queries"], "elapsed": r["elapsed"]} for r in rounds]}
    errors = [r["error"] for r in rounds if r.get("error")]
    if errors:
        r["error"] = errors[0]
    return r


def _concurrent(bench, runner, mix, clients, duration):
    clients_runners = [runner.cursor_runner() for _ in range(clients)]
    latencies, failures = [], []
    lock = threading.Lock()
    start_gate = threading.Barrier(clients + 1)
    box = {}

    def client(i, r):
        mine = []
        start_gate.wait()
        k = i
        while time.perf_counter() < box["deadline"]:
            n, sql = mix[k % len(mix)]
            k += 1
            try:
                t, table = timed(lambda: r.query(sql))
            except Exception as e:
                with lock:
                    failures.append(f"Q{n}: error: {bench.counted(first_line(e))}")
                break  # this client stops; the others go on
            diff = bench.counted(answers.compare(bench.reference[n], table, bench.ordered[n]))
            if diff:
                with lock:
                    failures.append(f"Q{n}: wrong answer: {diff}")
                continue
            mine.append(t)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i, r), daemon=True)
               for i, r in enumerate(clients_runners)]
    for t in threads:
        t.start()
    box["deadline"] = time.perf_counter() + duration
    started = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    for c in clients_runners:
        c.close()  # a round's connections end with it (closing again later is a no-op)
    r = {"queries": len(latencies), "elapsed": elapsed, "latencies": latencies}
    if failures:
        r["error"] = f"{len(failures)} failed, first: {failures[0]}"
    return r


# ---------------------------------------------------------------- 5. memory

def memory(bench):
    """Peak RSS (VmHWM) of the coordinator and of one executor, in fresh
    processes for each result mode, while a client streams all of lineitem
    batch by batch (so the client holds little); RSS is also sampled every
    50 ms during the stream."""
    out = {"sql": FETCH_SQL, "systems": []}
    for mode in ("direct", "proxy"):
        sys_ = skein_cluster(bench, f"Skein {mode} (2 executors x 1 thread)", 2, result_mode=mode)
        rec = {"label": sys_.label, "mode": mode, "describe": sys_.describe()}
        try:
            with sys_.open() as runner:
                pids = sys_.server.pids()
                watched = {"coordinator": pids["coordinator"], "executor": pids["executor0"]}
                rec["before_kb"] = {k: skeinproc.proc_status(p, "VmRSS") for k, p in watched.items()}
                sampler = _PeakSampler(_rss_probe(watched))
                with sampler:
                    rows, nbytes = runner.stream(FETCH_SQL)
                rec["rows"], rec["bytes"] = rows, nbytes
                rec["sampled_peak_kb"] = sampler.peak
                rec["hwm_kb"] = {k: skeinproc.proc_status(p, "VmHWM") for k, p in watched.items()}
                if rows != bench.lineitem_rows:
                    rec["mismatch"] = f"streamed {rows} rows, lineitem has {bench.lineitem_rows}"
        except Exception as e:
            rec["error"] = first_line(e)
        _note_problem(bench, "memory", rec)
        out["systems"].append(rec)
    return out


def _rss_probe(pids):
    """{name: VmRSS kB} of the processes {name: pid} still running."""
    def probe():
        return {k: skeinproc.proc_status(p, "VmRSS") for k, p in pids.items()}
    return probe


class _PeakSampler:
    """Calls probe() ({name: number or None}) every `interval` seconds on a
    thread, and keeps each name's highest value in `peak`."""

    def __init__(self, probe, interval=0.05):
        self.probe = probe
        self.interval = interval
        self.peak = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def _sample(self):
        for k, v in self.probe().items():
            if v is not None:
                self.peak[k] = max(self.peak.get(k, 0), v)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        return False


class _RSSSeries(_PeakSampler):
    """Samples probe() every second and keeps the series, for the slope."""

    def __init__(self, probe, interval=1.0):
        super().__init__(probe, interval)
        self.samples = []  # (seconds since start, {name: kB})
        self._t0 = time.monotonic()

    def _sample(self):
        values = {k: v for k, v in self.probe().items() if v is not None}
        self.samples.append((time.monotonic() - self._t0, values))

    def summary(self):
        """{name: {start_kb, peak_kb, end_kb, slope_kb_per_min, late_slope_kb_per_min, samples}}:
        the slope by least squares over the whole run and over its second
        half (after the caches and pools have filled)."""
        out = {}
        names = sorted({k for _, v in self.samples for k in v})
        for name in names:
            series = [(t, v[name]) for t, v in self.samples if name in v]
            if not series:
                continue
            half = [(t, kb) for t, kb in series if t >= series[-1][0] / 2]
            out[name] = {"start_kb": series[0][1], "peak_kb": max(kb for _, kb in series),
                         "end_kb": series[-1][1], "seconds": series[-1][0],
                         "slope_kb_per_min": _slope(series) * 60,
                         "late_slope_kb_per_min": _slope(half) * 60,
                         "samples": [[round(t, 1), kb] for t, kb in series]}
        return out


def _slope(series):
    """Least-squares slope of [(t, y)] in y per t (0 for fewer than 2 points)."""
    n = len(series)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in series) / n
    my = sum(y for _, y in series) / n
    var = sum((t - mt) ** 2 for t, _ in series)
    return sum((t - mt) * (y - my) for t, y in series) / var if var else 0.0


# ---------------------------------------------------------------- 6. group by

def tpcds(bench):
    """TPC-DS's 99 queries (DuckDB's tpcds extension, at the bench's scale;
    Parquet under the TPC-H data directory, which the deployment may read)
    on Skein 2 executors x 1 thread, each answer checked against in-process
    DuckDB's: how much of what analysts and BI tools write splits (each
    query's plan, or why it runs local, from `skein sql -explain`), and one
    run's time on each side. Issue 10 sets no time goal here."""
    import tpcds_probe

    data = bench.data_dir / "tpcds"
    bench.log(f"tpcds: data in {data}")
    tpcds_probe.ensure_data(data, bench.scale)
    views = tpcds_probe.view_statements(data)
    ref = duckdb_inprocess(bench, 2)
    sys_ = skein_cluster(bench, "Skein 2 executors x 1 thread", 2)
    out = {"scale": bench.scale, "reference": ref.describe(), "label": sys_.label, "describe": sys_.describe(),
           "queries": {}}
    with ref.open() as dr:
        for v in views:
            dr.con.execute(v)
        try:
            with sys_.open() as runner:
                for v in views:
                    runner.cur.execute(v)
                for n, sql in tpcds_probe.queries(data):
                    mode, reason = tpcds_probe.plan_of(bench.binary, sys_.server.uri, sql)
                    rec = {"mode": mode, "reason": reason}
                    rec["duckdb"], want = timed(lambda: dr.query(sql))
                    try:
                        rec["skein"], got = timed(lambda: runner.query(sql))
                        diff = answers.compare(want, got, ordered=answers.has_top_level_order(dr.con, sql))
                    except Exception as e:
                        diff = "error: " + first_line(e)
                    if bench.counted(diff):
                        rec["mismatch"] = diff
                        rec.pop("skein", None)
                        _note_problem(bench, "tpcds", dict(rec, label=f"Q{n:02d}"))
                    out["queries"][n] = rec
        except Exception as e:
            out["error"] = first_line(e)
            _note_problem(bench, "tpcds", dict(out, label=sys_.label))
    return out


def groupby(bench):
    """GROUP BY l_orderkey over lineitem (one group per order: 1.5M at SF1),
    fully fetched, on Skein 2 executors x 1 thread: the wall time, and the CPU
    time (user + system, from /proc/PID/stat before and after each run) of the
    coordinator and of each executor, so that the coordinator's share of the
    cluster's CPU shows whether the final aggregation left it. The client's
    own CPU is not counted. Checked by row count and every column's sum
    against in-process DuckDB (2 threads, also timed)."""
    out = {"sql": GROUPBY_SQL, "systems": []}
    columns = [0, 1, 2]  # by position: the engines may name the aggregates differently
    ref = duckdb_inprocess(bench, 2)
    with ref.open() as runner:
        rec, table = _timed_runs(bench, runner, GROUPBY_SQL, check=None)
        signature = answers.quick_signature(table, columns)
        out["rows"] = table.num_rows
        del table
    rec.update(label=ref.label, describe=ref.describe())
    out["systems"].append(rec)

    sys_ = skein_cluster(bench, "Skein 2 executors x 1 thread", 2)
    rec = {"label": sys_.label, "describe": sys_.describe(), "seconds": [], "cpu": []}
    try:
        with sys_.open() as runner:
            pids = sys_.server.pids()
            for i in range(bench.warmup + bench.runs):
                before = {k: skeinproc.proc_cpu_seconds(p) for k, p in pids.items()}
                t, table = timed(lambda: runner.query(GROUPBY_SQL))
                after = {k: skeinproc.proc_cpu_seconds(p) for k, p in pids.items()}
                got = answers.quick_signature(table, columns)
                del table
                diff = bench.counted(None if got == signature else f"rows and sums {got} != DuckDB's {signature}")
                if diff:
                    rec["mismatch"] = diff
                    rec["seconds"], rec["cpu"] = [], []
                    break
                if i >= bench.warmup:
                    rec["seconds"].append(t)
                    rec["cpu"].append({k: after[k] - before[k] for k in pids})
            rec["plan"] = runner.plans().get(GROUPBY_SQL, "")
    except Exception as e:
        rec["error"] = first_line(e)
    if rec["cpu"]:
        coordinator = sum(c["coordinator"] for c in rec["cpu"])
        total = sum(sum(c.values()) for c in rec["cpu"])
        rec["coordinator_cpu_share"] = coordinator / total if total > 0 else None
    _note_problem(bench, "groupby", rec)
    out["systems"].append(rec)
    return out


# ---------------------------------------------------------------- 7. big queries

def big_queries(bench):
    """The TPC-H queries that need the most memory (Q9, Q18, Q21) on Skein 2
    executors x 1 thread with --memory-limit on the coordinator and on each
    executor, so that they must spill; each query in fresh processes, so that
    each process's peak RSS (VmHWM) is that query's. Also samples VmRSS every
    50 ms and the scratch files (spools, DuckDB's spill files) under the
    deployment's directory every 0.5 s. `make bench SF=10` runs this alone."""
    limit = bench.big_memory_limit
    out = {"memory_limit": limit, "queries": {}, "reference_seconds": {}}
    texts = dict(bench.queries)
    for n in BIG_QUERIES:
        if n not in texts:
            continue
        out["reference_seconds"][n] = bench.reference_seconds.get(n)
        label = f"Skein 2 executors x 1 thread, --memory-limit {limit}"
        sys_ = skein_cluster(bench, f"{label} Q{n}", 2, flags=["--memory-limit", limit],
                             executor_flags=["--memory-limit", limit])
        rec = {"label": label, "describe": sys_.describe()}
        bench.log(f"big: Q{n} on {label}")
        try:
            with sys_.open() as runner:
                pids = sys_.server.pids()
                work = sys_.server.work_dir
                with _PeakSampler(_rss_probe(pids)) as rss, \
                        _PeakSampler(lambda: {"scratch": _tree_bytes(work)}, interval=0.5) as disk:
                    rec.update(_run_query(bench, runner, n, texts[n]))
                rec["hwm_kb"] = {k: skeinproc.proc_status(p, "VmHWM") for k, p in pids.items()}
                rec["sampled_peak_kb"] = rss.peak
                rec["scratch_peak_bytes"] = disk.peak.get("scratch", 0)
                rec["plan"] = runner.plans().get(texts[n], "")
        except Exception as e:
            rec["error"] = first_line(e)
        bench.log(f"  Q{n:02d} " + (rec.get("error") or rec.get("mismatch")
                                     or f"{Stats(rec['seconds']).median:.3f}s; peak RSS kB {rec['hwm_kb']}"))
        _note_problem(bench, "big", rec, f" Q{n}")
        out["queries"][n] = rec
    return out


def _tree_bytes(path):
    """Bytes of the files under path; files that vanish while it walks are skipped."""
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


# ---------------------------------------------------------------- 8. peers

def peer_systems(bench):
    """The same 22 queries on each peer configuration whose packages are
    installed here; one that is not is reported with the reason (and, where
    the bench knows why it was left out, that too). When this run has no
    tpch workload, the Skein configurations the peers are compared with
    (and DuckDB with as many threads) run here first, as the tpch workload
    runs them, so that the comparison is between figures of one run."""
    out = {"systems": [], "baselines": []}
    if "tpch" not in bench.workloads:
        wanted = {peers.AGAINST_SERVE, peers.AGAINST_TWO, "DuckDB 2 threads"}
        out["baselines"] = tpch(bench, [s for s in tpch_systems(bench) if s.label in wanted])["systems"]
    partitions = os.cpu_count() or 2
    tables = {t: str(pathlib.Path(bench.data_dir) / t) for t in tpch_data.TABLES}
    texts = dict(bench.queries)
    for peer in peers.configurations(partitions):
        rec = {"label": peer.label, "key": peer.key, "package": peer.packages[0],
               "describe": peer.describe, "against": peer.against, "queries": {}}
        out["systems"].append(rec)
        if peer.gate and os.environ.get(peer.gate) != "1":
            rec["not_run"] = bench.peer_notes.get(peer.key) or f"not requested ({peer.gate} is not 1)"
            bench.log(f"peers: {peer.label} not run: {rec['not_run']}")
            continue
        version, reason = peers.available(peer, bench.build_dir)
        if version is None:
            rec["not_run"] = reason
            if peer.key in bench.peer_notes:
                rec["not_run"] = f"{bench.peer_notes[peer.key]} ({reason})"
            bench.log(f"peers: {peer.label} not run: {rec['not_run']}")
            continue
        rec["version"] = version
        bench.log(f"peers: {peer.label}: {peer.packages[0]} {version}")
        work = bench.work_dir / "peers" / peer.key
        try:
            res = peers.run_peer(peer, bench.build_dir, tables, texts, bench.warmup, bench.runs, work,
                                 partitions, bench.query_timeout, log=bench.log)
        except Exception as e:
            rec["not_run"] = f"the harness failed to run it: {first_line(e)}"
            bench.problems.append(f"peers: {peer.label}: {rec['not_run']}")
            continue
        if res["fatal"]:
            rec["not_run"] = res["fatal"]
        rec["ready_seconds"], rec["about"] = res["ready_seconds"], res["about"]
        for n, q in res["queries"].items():
            entry = {"seconds": q.get("seconds", [])}
            if q.get("error"):
                entry = {"seconds": [], "error": q["error"]}
            else:
                table = peers.read_answer(work, n)
                diff = answers.compare(bench.reference[n], table, bench.ordered[n],
                                       rel_tol=bench.peer_rel_tol, names=False) \
                    if table is not None else "no answer"
                if diff:
                    entry = {"seconds": [], "mismatch": diff}
            rec["queries"][n] = entry
        rec["partitions"] = partitions
    return out
