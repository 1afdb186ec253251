"""Peer systems (Apache DataFusion, Apache Arrow Ballista in standalone mode)
on the same Parquet files and the same 22 query texts.

Each peer runs in a child process (this file run as a script), so that a
crash, a hang or a runaway allocation in a peer cannot take the harness
down, and so that no peer's threads are left behind to compete with the
next system. The child appends one JSON line per query to a progress file
and writes each query's first answer as an Arrow IPC file; the parent
checks the answers against DuckDB's and restarts the child after a query
that times out.
"""

import argparse
import json
import pathlib
import subprocess
import sys
import time
import traceback

# package: (label in the report, what exactly runs)
PEERS = {
    "datafusion": ("DataFusion", "Apache DataFusion, Python `datafusion`: one SessionContext in a "
                                 "child process, target_partitions = cores"),
    "ballista": ("Ballista", "Apache Arrow Ballista, Python `ballista`, standalone mode "
                             "(`setup_test_cluster`: scheduler and executor in a child process), "
                             "target_partitions = cores"),
}


# ---------------------------------------------------------------- child side

def _open_context(system, data_dir, partitions):
    from datafusion import SessionConfig, SessionContext

    import tpch

    if system == "datafusion":
        ctx = SessionContext(SessionConfig().with_target_partitions(partitions))
    elif system == "ballista":
        from ballista import BallistaSessionContext, setup_test_cluster

        host, port = setup_test_cluster()
        ctx = BallistaSessionContext(
            f"df://{host}:{port}",
            cluster_config={"datafusion.execution.target_partitions": str(partitions)})
    else:
        raise ValueError(f"unknown peer {system}")
    for table in tpch.TABLES:
        # A directory: every Parquet file in it is one table.
        ctx.register_parquet(table, str(pathlib.Path(data_dir) / table) + "/")
    return ctx


def peer_version(system):
    import importlib.metadata as md

    return md.version(system)


def _child(args):
    import pyarrow as pa

    import tpch

    out = pathlib.Path(args.out)
    texts = dict(tpch.queries())
    progress = open(out / "progress.jsonl", "a", buffering=1)
    try:
        ctx = _open_context(args.system, args.data_dir, args.partitions)
    except Exception as e:
        progress.write(json.dumps({"fatal": _first_line(e), "trace": traceback.format_exc()}) + "\n")
        return 1
    for n in args.queries:
        progress.write(json.dumps({"start": n}) + "\n")
        record = {"query": n, "seconds": []}
        try:
            for i in range(args.warmup + args.runs):
                start = time.perf_counter()
                table = ctx.sql(texts[n]).to_arrow_table()
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
    return 0


def _first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0][:300]


# ---------------------------------------------------------------- parent side

def available(system):
    """(version, None) when the peer's package imports here, else (None, reason)."""
    code = (f"import {system}, importlib.metadata as m; print(m.version({system!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    if r.returncode == 0:
        return r.stdout.strip(), None
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    return None, (lines[-1] if lines else f"import {system} exited with {r.returncode}")


def run_peer(system, data_dir, queries, warmup, runs, work_dir, partitions, query_timeout, log=print):
    """Run the queries on a peer; returns {"queries": {n: {...}}, "fatal": reason or None}.
    A query that takes longer than query_timeout seconds (all its runs) is
    recorded as timed out and the child is restarted for the rest."""
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    progress = work_dir / "progress.jsonl"
    if progress.exists():
        progress.unlink()
    results = {}
    remaining = list(queries)
    seen_lines = 0
    while remaining:
        argv = [sys.executable, __file__, "--child", "--system", system, "--data-dir", str(data_dir),
                "--out", str(work_dir), "--warmup", str(warmup), "--runs", str(runs),
                "--partitions", str(partitions), "--queries", *map(str, remaining)]
        stderr = open(work_dir / "child.stderr", "ab")
        child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)
        current, started = None, time.monotonic()
        try:
            while True:
                lines = progress.read_text().splitlines() if progress.exists() else []
                for line in lines[seen_lines:]:
                    rec = json.loads(line)
                    if "fatal" in rec:
                        return {"queries": results, "fatal": rec["fatal"]}
                    if "start" in rec:
                        current, started = rec["start"], time.monotonic()
                    else:
                        results[rec["query"]] = rec
                        remaining.remove(rec["query"])
                        log(f"  {system} Q{rec['query']:02d} "
                            + (rec.get("error") or f"{min(rec['seconds'] or [0]):.3f}s"))
                        current = None
                seen_lines = len(lines)
                if child.poll() is not None:
                    break
                if current is not None and time.monotonic() - started > query_timeout:
                    child.kill()
                    child.wait()
                    break
                time.sleep(0.05)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            stderr.close()
        if current is not None and current in remaining:
            results[current] = {"query": current, "seconds": [],
                                "error": _why_stopped(child.returncode, time.monotonic() - started,
                                                      query_timeout)}
            remaining.remove(current)
            log(f"  {system} Q{current:02d} {results[current]['error']}")
        elif remaining:
            tail = (work_dir / "child.stderr").read_text(errors="replace").strip().splitlines()
            return {"queries": results,
                    "fatal": f"exited with {child.returncode}: {tail[-1] if tail else 'no output'}"}
    return {"queries": results, "fatal": None}


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
    p.add_argument("--system", required=True, choices=sorted(PEERS))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--partitions", type=int, default=2)
    p.add_argument("--queries", type=int, nargs="+", required=True)
    sys.exit(_child(p.parse_args()))


if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    main()
