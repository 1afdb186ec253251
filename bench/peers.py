"""Peer systems on the same Parquet files and the same 22 query texts:
Apache DataFusion, Apache Arrow Ballista (standalone), Sail (local and
local-cluster) and Apache Spark (local[N] and local-cluster).

Each peer configuration runs in a child process (this file run as a script,
by the Python of the peer's venv: Sail and Spark live in venvs of their own,
see requirements-sail.txt and requirements-spark.txt), so that a crash, a
hang or a runaway allocation in a peer cannot take the harness down. The
child is the leader of its own process group, which is killed when it is
done, so that no JVM or server it started outlives it. The parent writes a
job file (each table's directory, the query texts); the child appends one
JSON line per query to a progress file and writes each query's first
answer as an Arrow IPC file; the parent checks the answers against
DuckDB's and restarts the child after a query that times out.

This file imports nothing outside the standard library at the top: the
child runs in venvs that have no duckdb and none of the harness's modules.
"""

import argparse
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import traceback
from typing import NamedTuple, Optional

# The Skein configurations a peer is compared with (report.py's labels).
AGAINST_SERVE = "Skein serve (defaults)"
AGAINST_TWO = "Skein 2 executors x 1 thread"

# 2-worker configurations: 2 workers (executors) with one task slot (core) each,
# as Skein's 2 executors have one DuckDB thread each.
CLUSTER_WORKERS = 2
SPARK_EXECUTOR_MB = 2048


class Peer(NamedTuple):
    key: str                 # the child's --system, and its scratch directory's name
    label: str               # in the report
    packages: tuple          # distributions whose versions are reported; the first is imported
    venv: Optional[str]      # its venv under $BUILD_DIR, None: the bench's own
    gate: Optional[str]      # the env variable that must be 1 for it to run (bench/run.sh sets it
                             # to 1 when it installed the venv); None: it runs wherever it imports
    against: str             # the Skein configuration it is compared with
    env: dict                # extra environment of the child (Sail reads its settings from it)
    describe: str


def configurations(partitions):
    """Every peer configuration, in the order they run. partitions is the
    number of threads a single-process peer gets (the cores, as DuckDB and
    Skein serve have)."""
    n = partitions
    sail_local = {"SAIL_MODE": "local", "SAIL_EXECUTION__DEFAULT_PARALLELISM": str(n)}
    sail_cluster = {"SAIL_MODE": "local-cluster",
                    "SAIL_CLUSTER__WORKER_INITIAL_COUNT": str(CLUSTER_WORKERS),
                    "SAIL_CLUSTER__WORKER_MAX_COUNT": str(CLUSTER_WORKERS),
                    "SAIL_CLUSTER__WORKER_TASK_SLOTS": "1",
                    "SAIL_EXECUTION__DEFAULT_PARALLELISM": str(CLUSTER_WORKERS)}
    quiet = {"RUST_LOG": "warn"}
    return [
        Peer("datafusion", "DataFusion", ("datafusion",), None, None, AGAINST_SERVE, {},
             f"Apache DataFusion, Python `datafusion`: one SessionContext in a child process, "
             f"target_partitions = {n}"),
        Peer("ballista", "Ballista", ("ballista",), None, None, AGAINST_SERVE, {},
             f"Apache Arrow Ballista, Python `ballista`, standalone mode (`setup_test_cluster`: "
             f"scheduler and executor in a child process), target_partitions = {n}"),
        Peer("sail", "Sail local", ("pysail", "pyspark-client"), "benchenv-sail", "BENCH_SAIL",
             AGAINST_SERVE, {**sail_local, **quiet},
             "Sail (`pysail`), its Spark Connect server started in a child process "
             "(`pysail.spark.SparkConnectServer` on 127.0.0.1) and driven by the PySpark Connect "
             "client (`spark.sql(text).toArrow()`); " + _env_text(sail_local)),
        Peer("sail-cluster", f"Sail local-cluster ({CLUSTER_WORKERS} workers x 1 slot)",
             ("pysail", "pyspark-client"), "benchenv-sail", "BENCH_SAIL", AGAINST_TWO,
             {**sail_cluster, **quiet},
             "Sail as above in its local-cluster mode (a driver and the workers in the server's "
             "process, talking over loopback gRPC, shuffles through Arrow Flight); "
             + _env_text(sail_cluster)),
        Peer("spark", f"Spark local[{n}]", ("pyspark",), "benchenv-spark", "BENCH_SPARK",
             AGAINST_SERVE, {},
             f"Apache Spark (`pyspark` with its bundled jars) on the machine's JDK, master "
             f"`local[{n}]` (driver and executor threads in one JVM), spark.driver.memory=4g, "
             f"spark.sql.shuffle.partitions={n}, driven through Py4J (`spark.sql(text).toArrow()`)"),
        Peer("spark-cluster", f"Spark local-cluster ({CLUSTER_WORKERS} executors x 1 core)",
             ("pyspark",), "benchenv-spark", "BENCH_SPARK", AGAINST_TWO, {},
             f"Apache Spark as above, master `local-cluster[{CLUSTER_WORKERS},1,{SPARK_EXECUTOR_MB}]` "
             f"(a standalone master and {CLUSTER_WORKERS} workers in the driver's JVM, each "
             f"worker's executor a JVM of its own with 1 core and {SPARK_EXECUTOR_MB} MB), "
             f"spark.driver.memory=2g, spark.sql.shuffle.partitions={CLUSTER_WORKERS}"),
    ]


def _env_text(env):
    return ", ".join(f"`{k}={v}`" for k, v in env.items())


# ---------------------------------------------------------------- child side

class _Session:
    """One peer, open: sql(text) -> pyarrow.Table, close(), and what it runs on."""

    def __init__(self, sql, close=lambda: None, about=""):
        self.sql, self.close, self.about = sql, close, about


def _open_datafusion(system, tables, partitions):
    from datafusion import SessionConfig, SessionContext

    if system == "datafusion":
        ctx = SessionContext(SessionConfig().with_target_partitions(partitions))
    else:
        from ballista import BallistaSessionContext, setup_test_cluster

        host, port = setup_test_cluster()
        ctx = BallistaSessionContext(
            f"df://{host}:{port}",
            cluster_config={"datafusion.execution.target_partitions": str(partitions)})
    for table, directory in tables.items():
        # A directory: every Parquet file in it is one table.
        ctx.register_parquet(table, directory.rstrip("/") + "/")
    return _Session(lambda text: ctx.sql(text).to_arrow_table())


def _open_sail(tables):
    # The mode, workers and parallelism come from the SAIL_* environment the parent set.
    from pyspark.sql import SparkSession
    from pysail.spark import SparkConnectServer

    server = SparkConnectServer(ip="127.0.0.1", port=0)
    server.start()
    _, port = server.listening_address
    spark = SparkSession.builder.remote(f"sc://127.0.0.1:{port}").getOrCreate()
    _register_views(spark, tables)

    def close():
        spark.stop()
        server.stop()

    return _Session(lambda text: spark.sql(text).toArrow(), close)


def _open_spark(system, tables, partitions):
    from pyspark.sql import SparkSession

    b = (SparkSession.builder.appName("skeinbench")
         .config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         # Loopback only, and no lookups of the machine's name.
         .config("spark.driver.host", "127.0.0.1")
         .config("spark.driver.bindAddress", "127.0.0.1"))
    if system == "spark":
        b = (b.master(f"local[{partitions}]")
             .config("spark.driver.memory", "4g")
             .config("spark.sql.shuffle.partitions", str(partitions)))
    else:
        b = (b.master(f"local-cluster[{CLUSTER_WORKERS},1,{SPARK_EXECUTOR_MB}]")
             .config("spark.driver.memory", "2g")
             .config("spark.executor.memory", f"{SPARK_EXECUTOR_MB}m")
             .config("spark.sql.shuffle.partitions", str(CLUSTER_WORKERS)))
    spark = b.getOrCreate()
    _register_views(spark, tables)
    jvm = spark.sparkContext._jvm.System
    about = f"Java {jvm.getProperty('java.version')} ({jvm.getProperty('java.vm.name')})"
    return _Session(lambda text: spark.sql(text).toArrow(), spark.stop, about)


def _register_views(spark, tables):
    for table, directory in tables.items():
        spark.read.parquet(directory).createOrReplaceTempView(table)


def _open(system, tables, partitions):
    if system in ("datafusion", "ballista"):
        return _open_datafusion(system, tables, partitions)
    if system in ("sail", "sail-cluster"):
        return _open_sail(tables)
    if system in ("spark", "spark-cluster"):
        return _open_spark(system, tables, partitions)
    raise ValueError(f"unknown peer {system}")


def _child(args):
    import pyarrow as pa

    out = pathlib.Path(args.out)
    job = json.loads((out / "job.json").read_text())
    texts = {int(n): text for n, text in job["queries"].items()}
    progress = open(out / "progress.jsonl", "a", buffering=1)
    try:
        start = time.perf_counter()
        session = _open(args.system, job["tables"], args.partitions)
        progress.write(json.dumps({"ready": time.perf_counter() - start, "about": session.about}) + "\n")
    except Exception as e:
        progress.write(json.dumps({"fatal": _first_line(e), "trace": traceback.format_exc()}) + "\n")
        return 1
    for n in args.queries:
        progress.write(json.dumps({"start": n}) + "\n")
        record = {"query": n, "seconds": []}
        try:
            for i in range(args.warmup + args.runs):
                start = time.perf_counter()
                table = session.sql(texts[n])
                elapsed = time.perf_counter() - start
                if i == 0:
                    with pa.OSFile(str(out / f"q{n:02d}.arrow"), "wb") as sink:
                        with pa.ipc.new_file(sink, table.schema) as w:
                            w.write_table(table)
                if i >= args.warmup:
                    record["seconds"].append(elapsed)
        except Exception as e:
            record["error"] = _first_line(e)
        progress.write(json.dumps(record) + "\n")
    try:
        session.close()
    except Exception:
        pass  # the parent kills the process group in any case
    return 0


def _first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


# ---------------------------------------------------------------- parent side

def python_of(peer, build_dir):
    """The interpreter that runs peer's child: its venv's, or this one."""
    if peer.venv is None:
        return sys.executable
    return str(pathlib.Path(build_dir) / peer.venv / "bin" / "python")


def available(peer, build_dir):
    """(version, None) when the peer's packages import in its venv, else
    (None, reason). The version names every package of peer.packages."""
    python = python_of(peer, build_dir)
    if not pathlib.Path(python).exists():
        return None, f"no venv at {pathlib.Path(python).parent.parent}"
    code = ("import importlib, importlib.metadata as m, sys\n"
            f"importlib.import_module({peer.packages[0].replace('-', '_')!r})\n"
            f"print(' '.join(m.version(p) for p in {list(peer.packages)!r}))")
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        versions = r.stdout.split()
        text = versions[0]
        if len(versions) > 1:
            text += " (" + ", ".join(f"{p} {v}" for p, v in zip(peer.packages[1:], versions[1:])) + ")"
        return text, None
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    return None, (lines[-1] if lines else f"import {peer.packages[0]} exited with {r.returncode}")


def run_peer(peer, build_dir, tables, queries, warmup, runs, work_dir, partitions, query_timeout,
             log=print):
    """Run the queries ({n: text}) on a peer, each table a directory of
    Parquet files ({name: dir}); returns {"queries": {n: {...}}, "fatal":
    reason or None, "ready_seconds": [...], "about": str}. A query that takes
    longer than query_timeout seconds (all its runs), or a start that does,
    is recorded as timed out and the child is restarted for the rest."""
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    for old in [work_dir / "progress.jsonl", work_dir / "child.stderr", *work_dir.glob("q*.arrow")]:
        if old.exists():
            old.unlink()
    (work_dir / "job.json").write_text(json.dumps({"tables": tables, "queries": queries}))
    progress = work_dir / "progress.jsonl"
    env = dict(os.environ, **peer.env)
    out = {"queries": {}, "fatal": None, "ready_seconds": [], "about": ""}
    results = out["queries"]
    remaining = list(queries)
    seen_lines = 0
    while remaining:
        argv = [python_of(peer, build_dir), str(pathlib.Path(__file__).resolve()), "--child",
                "--system", peer.key, "--out", str(work_dir), "--warmup", str(warmup),
                "--runs", str(runs), "--partitions", str(partitions),
                "--queries", *map(str, remaining)]
        stderr = open(work_dir / "child.stderr", "ab")
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL,
                                 env=env, start_new_session=True)
        current, started, ready = None, time.monotonic(), False
        try:
            while True:
                lines = progress.read_text().splitlines() if progress.exists() else []
                for line in lines[seen_lines:]:
                    rec = json.loads(line)
                    if "fatal" in rec:
                        out["fatal"] = rec["fatal"]
                        return out
                    if "ready" in rec:
                        ready = True
                        out["ready_seconds"].append(rec["ready"])
                        out["about"] = rec.get("about") or out["about"]
                    elif "start" in rec:
                        current, started = rec["start"], time.monotonic()
                    else:
                        results[rec["query"]] = rec
                        remaining.remove(rec["query"])
                        log(f"  {peer.key} Q{rec['query']:02d} "
                            + (rec.get("error") or f"{min(rec['seconds'] or [0]):.3f}s"))
                        current = None
                seen_lines = len(lines)
                if child.poll() is not None:
                    break
                if time.monotonic() - started > query_timeout and (current is not None or not ready):
                    break
                time.sleep(0.05)
        finally:
            _stop(child)
            stderr.close()
        if not ready:
            out["fatal"] = (f"did not start within {query_timeout:.0f}s" if child.returncode == -signal.SIGKILL
                            else f"exited with {child.returncode} before it was ready: {_stderr_tail(work_dir)}")
            return out
        if current is not None and current in remaining:
            results[current] = {"query": current, "seconds": [],
                                "error": _why_stopped(child.returncode, time.monotonic() - started,
                                                      query_timeout)}
            remaining.remove(current)
            log(f"  {peer.key} Q{current:02d} {results[current]['error']}")
        elif remaining:
            out["fatal"] = f"exited with {child.returncode}: {_stderr_tail(work_dir)}"
            return out
    return out


def _stop(child):
    """Kills the child's process group (the child, and any JVM, server or
    worker it started) and reaps the child. A child that finished has closed
    its peer already; what is left of its group is killed all the same."""
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    child.wait()


def _stderr_tail(work_dir):
    tail = (pathlib.Path(work_dir) / "child.stderr").read_text(errors="replace").strip().splitlines()
    return tail[-1][:300] if tail else "no output"


def _why_stopped(returncode, elapsed, query_timeout):
    if elapsed > query_timeout:
        return f"timed out after {query_timeout:.0f}s"
    if returncode is not None and returncode < 0:
        return f"the process died (signal {-returncode})"
    return f"the process exited with {returncode}"


def read_answer(work_dir, n):
    import pyarrow as pa

    path = pathlib.Path(work_dir) / f"q{n:02d}.arrow"
    if not path.exists():
        return None
    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--child", action="store_true", required=True)
    p.add_argument("--system", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--queries", type=int, nargs="+", required=True)
    sys.exit(_child(p.parse_args()))


if __name__ == "__main__":
    main()
