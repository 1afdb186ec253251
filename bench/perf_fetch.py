"""Where a fetch of BenchmarkFetch spends its CPU, by part, from `perf
record` of the test binary's timed section only (not the building of its
table), DuckDB's own worker thread included: Go's CPU profile names
DuckDB's functions only where a Go thread ran them (the thread fetching
the result runs part of the scan) and shows its worker as
runtime._ExternalCode, so where the scan runs moves DuckDB's cost in it
(README, Performance).

    go test -tags duckdb_arrow -c -o T ./integration/
    python3 bench/perf_fetch.py T 'Fetch/server/batch=131072' [N] [FREQ]

runs `T -test.bench PATTERN -test.benchtime Nx` (N 3 by default) under
`perf record -g -F FREQ` (999) started disabled; the benchmark turns it on
around its timed loops (flighttest.PerfWindow, through SKEIN_PERF_CTL).
PATTERN must select one sub-benchmark: the testing package runs it once
with b.N = 1 and again with b.N = N, so the window holds 1 + N fetches.
Prints milliseconds of CPU a fetch by part, and how DuckDB's code splits
between its worker threads and the Go threads calling it (PERF_FETCH_LEAVES=K: and each
part's K busiest functions; PERF_FETCH_DATA=FILE keeps perf's data there,
for `perf report -i FILE`). Needs perf and
kernel.perf_event_paranoid <= 2 (user-space samples of one's own process).
"""

import collections
import os
import pathlib
import subprocess
import sys
import tempfile

# A sample goes to the first part whose test matches. DuckDB's C++ code has
# no frame pointers, so its stacks are cut short: its samples are sorted by
# their leaf (the function running), everything else by the Go frames
# under it (a write system call under gRPC's loopy writer is the server's
# gRPC writing).
PARTS = [
    ("DuckDB: conversion to Arrow", lambda leaf, stack: leaf.startswith("duckdb::Arrow")),
    ("DuckDB: scan and the rest", lambda leaf, stack: "duckdb" in leaf),
    ("malloc and free (C)", lambda leaf, stack: leaf.startswith(
        ("malloc", "_int_malloc", "_int_free", "cfree", "free", "sysmalloc", "unlink_chunk",
         "malloc_consolidate", "tcache"))),
    ("server: gRPC writes (copy, HTTP/2 framing, socket)", lambda leaf, stack: "loopyWriter" in stack),
    ("Skein: chunks imported as Arrow records (internal/duck)", lambda leaf, stack: "internal/duck." in stack),
    ("server: Skein's DoGet (IPC layout, send)", lambda leaf, stack: "skeindb/skein/" in stack
     and "integration." not in stack),
    ("client: gRPC reads", lambda leaf, stack: "http2Client" in stack),
    ("client: decoding (proto, IPC)", lambda leaf, stack: "integration." in stack),
    ("Go runtime: sysmon", lambda leaf, stack: "runtime.sysmon" in stack),
    ("Go runtime: GC", lambda leaf, stack: "gcBgMarkWorker" in stack or "bgsweep" in stack
     or "bgscavenge" in stack),
    ("Go runtime: scheduler", lambda leaf, stack: "runtime.schedule" in stack or "runtime.mcall" in stack),
]
OTHER = "other"


def part(frames):
    leaf = frames[0] if frames else "?"
    stack = " ".join(frames)
    for name, test in PARTS:
        if test(leaf, stack):
            return name
    return OTHER


def samples(data):
    """Yields each sample's thread id and frames (leaf first) from perf script."""
    out = subprocess.run(["perf", "script", "-i", data, "-F", "tid,ip,sym"], capture_output=True,
                         text=True, check=True).stdout
    for block in out.split("\n\n"):
        lines = block.strip().splitlines()
        frames = [line.split(None, 1)[1] for line in lines[1:] if len(line.split(None, 1)) == 2]
        if frames:
            yield lines[0].split()[0], frames


def main(binary, pattern, n=3, freq=999):
    with tempfile.TemporaryDirectory() as tmp:
        ctl, ack = os.path.join(tmp, "ctl"), os.path.join(tmp, "ack")
        data = os.environ.get("PERF_FETCH_DATA") or os.path.join(tmp, "perf.data")
        os.mkfifo(ctl)
        os.mkfifo(ack)
        env = dict(os.environ, SKEIN_PERF_CTL=f"{ctl},{ack}")
        cmd = ["perf", "record", "-q", "-g", "-F", str(freq), "-D", "-1",
               "--control", f"fifo:{ctl},{ack}", "-o", data, "--",
               str(pathlib.Path(binary).resolve()), "-test.run", "^$", "-test.bench", pattern,
               "-test.benchtime", f"{n}x"]
        run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        sys.stdout.write("".join(line + "\n" for line in run.stdout.splitlines()
                                 if line.startswith("Benchmark")))
        if run.returncode != 0:
            sys.exit(run.stdout + run.stderr)
        fetches = 1 + n if n > 1 else 1
        by_part, leaves = collections.Counter(), collections.defaultdict(collections.Counter)
        # DuckDB's code by thread: its own workers (their stacks reach
        # TaskScheduler::ExecuteForever) and the Go threads that call it.
        duck_by_thread, workers = collections.Counter(), set()
        for tid, frames in samples(data):
            name = part(frames)
            by_part[name] += 1
            leaves[name][frames[0]] += 1
            if any("TaskScheduler::ExecuteForever" in f for f in frames):
                workers.add(tid)
            if name.startswith("DuckDB"):
                duck_by_thread[tid] += 1
    total = sum(by_part.values())
    print(f"{total} samples at {freq} Hz over {fetches} fetches; CPU ms a fetch by part:")
    for name, count in by_part.most_common():
        print(f"  {1000 * count / freq / fetches:7.0f}  {name}")
        if os.environ.get("PERF_FETCH_LEAVES"):
            for leaf, c in leaves[name].most_common(int(os.environ["PERF_FETCH_LEAVES"])):
                print(f"  {'':7}    {1000 * c / freq / fetches:5.0f}  {leaf[:100]}")
    print(f"  {1000 * total / freq / fetches:7.0f}  total")
    on_workers = sum(k for tid, k in duck_by_thread.items() if tid in workers)
    on_go = sum(duck_by_thread.values()) - on_workers
    print(f"DuckDB's code: {1000 * on_workers / freq / fetches:.0f} ms a fetch on its worker threads, "
          f"{1000 * on_go / freq / fetches:.0f} ms on the Go threads calling it (what Go's profiler names)")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:5]))
