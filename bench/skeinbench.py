"""Skein's benchmark harness: TPC-H data from DuckDB's tpch extension, six
workloads against in-process DuckDB (and peers), a Markdown report with a
chart, and optionally the README's benchmark block.

    bench/run.sh [--scale 1] [--runs 5] [--warmup 1] [--duration 30] [--out DIR] [--readme]
    bench/run.sh --smoke          # tiny scale, one run each, output under build/
    bench/run.sh --scale 10 --big-queries   # Q9, Q18, Q21 under a memory limit (make bench SF=10)
    bench/run.sh --memory-soak    # 8 clients on skein serve for 5 minutes: is its memory flat?
    bench/run.sh --profile ...    # also each Skein process's CPU and allocation profiles

Exits 1 when any answer differs from DuckDB's or any workload failed (after
writing the report), 0 otherwise. Goals not met do not change the status:
the harness measures and reports.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import platform
import shlex
import subprocess
import sys
import threading
import time
import traceback

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import answers  # noqa: E402
import profiles  # noqa: E402
import report  # noqa: E402
import skeinproc  # noqa: E402
import systems  # noqa: E402
import tpch  # noqa: E402
import workloads  # noqa: E402
from measure import timed  # noqa: E402

WORKLOADS = {
    "fetch": workloads.fetch,
    "tpch": workloads.tpch,
    "latency": workloads.latency,
    "concurrency": workloads.concurrency,
    "memory": workloads.memory,
    "groupby": workloads.groupby,
    "tpcds": workloads.tpcds,
    "s3": workloads.object_storage,
    "peers": workloads.peer_systems,
    "big": workloads.big_queries,
}
# --big-queries runs only "big"; it is left out of the default set.
DEFAULT_WORKLOADS = [w for w in WORKLOADS if w != "big"]


def peer_notes():
    """{peer key: why it may not have run}, said in the report beside the
    import error. Ballista is installed only by `make bench` (BENCH_BALLISTA=1),
    since PyPI has no wheel of it for Linux x86-64 and pip builds it from
    source; Sail and Spark, in venvs of their own, when bench/run.sh was told
    to (BENCH_SAIL=1, BENCH_SPARK=1, which `make bench` sets, or a --workloads
    that names peers), and it leaves pip's error beside the venv if that failed."""
    notes = {}
    error_file = pathlib.Path(sys.prefix) / ".ballista-install-error"
    if error_file.exists():
        notes["ballista"] = ("`pip install -r bench/requirements-ballista.txt` failed: "
                             + " ".join(error_file.read_text().split())[:400])
    elif os.environ.get("BENCH_BALLISTA") != "1":
        notes["ballista"] = ("not installed: PyPI has only a source distribution of `ballista` for "
                             "Linux x86-64, which `make bench` builds (BENCH_BALLISTA=1, about 45 min "
                             "on 2 cores the first time) and this run did not")
    for name, gate, keys in (("sail", "BENCH_SAIL", ("sail", "sail-cluster")),
                             ("spark", "BENCH_SPARK", ("spark", "spark-cluster"))):
        error_file = BUILD_DIR / f"benchenv-{name}.install-error"
        if os.environ.get(gate) != "1":
            note = (f"not requested: `make bench` runs it ({gate}=1), as does `bench/run.sh "
                    f"--workloads peers`; this run had {gate}={os.environ.get(gate, '(unset)')}")
        elif error_file.exists():
            note = (f"`pip install -r bench/requirements-{name}.txt` failed: "
                    + " ".join(error_file.read_text().split())[:400])
        else:
            continue
        notes.update(dict.fromkeys(keys, note))
    return notes


BUILD_DIR = pathlib.Path(os.environ.get("BUILD_DIR", REPO / "build"))

FULL = dict(scale=1.0, runs=5, warmup=1, duration=30.0, rounds=3, latency_runs=300, query_timeout=600.0,
            short_query_seconds=2.0, out=REPO / "bench" / "results")
SMOKE = dict(scale=0.01, runs=1, warmup=1, duration=2.0, rounds=2, latency_runs=30, query_timeout=120.0,
             short_query_seconds=0.0, out=BUILD_DIR / "bench-smoke")
# --big-queries: few long queries, each in fresh processes; one run, none to warm up.
BIG = dict(runs=1, warmup=0, query_timeout=3600.0, short_query_seconds=0.0)
# --memory-soak: the concurrency workload alone, 8 clients on skein serve for 5 minutes.
SOAK = dict(duration=300.0, rounds=1, clients="8", out=BUILD_DIR / "bench-memory")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true",
                   help="tiny scale, one warm-up and one timed run, 2 s of concurrency; output under build/")
    p.add_argument("--scale", type=float, help="TPC-H scale factor (default 1; smoke 0.01)")
    p.add_argument("--runs", type=int, help="timed runs per query and system (default 5; smoke 1)")
    p.add_argument("--warmup", type=int, help="warm-up runs before them (default 1)")
    p.add_argument("--short-query-seconds", type=float,
                   help="a TPC-H query whose warm-up round (every system once) is shorter gets more timed "
                        "rounds, up to 5 times --runs, so that they last about this long together "
                        "(default 2; smoke and --big-queries 0: never)")
    p.add_argument("--duration", type=float,
                   help="seconds per concurrency run (default 30; smoke 2; --memory-soak 300)")
    p.add_argument("--rounds", type=int,
                   help="the concurrency run of each system is cut into this many rounds, the systems "
                        "taking turns round by round, so that the machine's speed drifting during the "
                        "workload falls on all of them alike (default 3; smoke 2; --memory-soak 1)")
    p.add_argument("--clients", help="comma-separated client counts of the concurrency workload "
                                      "(default " + ",".join(map(str, workloads.CONCURRENCY_CLIENTS))
                                      + "; --memory-soak 8)")
    p.add_argument("--memory-soak", action="store_true",
                   help="only the concurrency workload, only on `skein serve` (defaults), 8 clients for "
                        "300 s unless --clients/--duration say otherwise, sampling each process's RSS every "
                        "second: does its memory stay flat? (results in $BUILD_DIR/bench-memory)")
    p.add_argument("--profile", nargs="?", const=True, type=pathlib.Path, metavar="DIR",
                   help="every Skein process writes its Go CPU and allocation profiles (--profile-dir), "
                        "saved as DIR/WORKLOAD-DEPLOYMENT-PROCESS.{cpu,alloc}.pprof (default DIR: "
                        "$BUILD_DIR/profiles; smoke $BUILD_DIR/bench-smoke/profiles) and summed up "
                        "in the report (`make bench PROFILE=1`)")
    p.add_argument("--latency-runs", type=int, help="runs per latency statement (default 300; smoke 30)")
    p.add_argument("--query-timeout", type=float,
                   help="seconds one query may take before it is cancelled and counted as an error "
                        "(a peer: all runs of a query; default 600, smoke 120)")
    p.add_argument("--out", type=pathlib.Path, help="directory of the results (default bench/results; "
                                                     "smoke $BUILD_DIR/bench-smoke)")
    p.add_argument("--data-dir", type=pathlib.Path,
                   help="Parquet cache (default $BUILD_DIR/bench-data/sf<scale>)")
    p.add_argument("--workloads",
                   help=f"comma-separated subset of {','.join(WORKLOADS)} (default: all but big; "
                        "with --big-queries: big)")
    p.add_argument("--big-queries", action="store_true",
                   help="only TPC-H Q" + ", Q".join(map(str, workloads.BIG_QUERIES)) + " on Skein 2 executors "
                        "x 1 thread with --memory-limit on every process (the `make bench SF=10` run), "
                        "each query in fresh processes, with their peak RSS; one run per query unless "
                        "--runs/--warmup say otherwise; results in DATE-big-sf<scale>.md")
    p.add_argument("--big-memory-limit", default="2GB",
                   help="--memory-limit of the coordinator and each executor with --big-queries (default 2GB)")
    p.add_argument("--skein-flag", action="append", default=[], metavar="FLAG",
                   help="one more flag for every `skein coordinator` and `skein serve` started, e.g. "
                        "--skein-flag=--no-exchanges (with '=': the value starts with a dash); repeatable")
    p.add_argument("--executor-flag", action="append", default=[], metavar="FLAG",
                   help="one more flag for every `skein executor` started; repeatable")
    p.add_argument("--readme", nargs="?", const=REPO / "README.md", type=pathlib.Path, metavar="PATH",
                   help="rewrite the benchmark block of README.md (or of PATH)")
    p.add_argument("--skein-bin", default=skeinproc.env_binary(REPO),
                   help="the skein binary (default $SKEIN_BIN, else bin/skein)")
    args = p.parse_args(argv)
    defaults = dict(SMOKE if args.smoke else FULL)
    if args.big_queries:
        defaults.update(BIG)
    if args.memory_soak:
        defaults.update(SOAK)
    defaults.setdefault("clients", ",".join(map(str, workloads.CONCURRENCY_CLIENTS)))
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    try:
        args.clients = [int(c) for c in str(args.clients).split(",") if c.strip()]
    except ValueError:
        p.error(f"--clients {args.clients}: want comma-separated numbers")
    if args.smoke:
        # SF 0.01's inputs are all small: split them anyway (and one task on an executor), so that the smoke run checks the
        # distributed plans' answers, as the full run at SF 1 does for most queries.
        args.skein_flag = ["--split-min-rows=0", "--local-max-rows=0", *args.skein_flag]
    if args.profile is True:
        args.profile = BUILD_DIR / ("bench-smoke" if args.smoke else "") / "profiles"
    if args.workloads is None:
        args.workloads = ("big" if args.big_queries else "concurrency" if args.memory_soak
                          else ",".join(DEFAULT_WORKLOADS))
    args.workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in args.workloads if w not in WORKLOADS]
    if unknown:
        p.error(f"unknown workloads {unknown}; choose from {list(WORKLOADS)}")
    if args.data_dir is None:
        args.data_dir = BUILD_DIR / "bench-data" / f"sf{args.scale:g}"
    return args


class Bench:
    """What every workload needs: settings, the data, the queries, and
    in-process DuckDB's answers to check every other system against."""

    def __init__(self, args):
        self.binary = args.skein_bin
        self.scale = args.scale
        self.runs = args.runs
        self.warmup = args.warmup
        self.short_query_seconds = args.short_query_seconds
        self.duration = args.duration
        self.rounds = max(1, args.rounds)
        self.clients = args.clients
        # --memory-soak: the concurrency workload runs on skein serve only.
        self.skein_only = args.memory_soak
        self.profile_dir = args.profile
        self.profiles = []  # what profiles.Target.collect moved, in order
        self.latency_runs = args.latency_runs
        self.latency_warmup = min(20, args.latency_runs)
        self.query_timeout = args.query_timeout
        systems.watchdog.timeout = args.query_timeout
        self.skein_flags = args.skein_flag
        self.executor_flags = args.executor_flag
        self.big_memory_limit = args.big_memory_limit
        self.peer_rel_tol = answers.PEER_REL_TOL
        self.peer_notes = peer_notes()
        self.workloads = args.workloads
        self.work_dir = BUILD_DIR / "bench-work"
        self.build_dir = BUILD_DIR
        self.repo = REPO
        self.problems = []
        self.checks_passed = self.checks_failed = 0
        self._lock = threading.Lock()
        self.workload = "setup"
        self.files = tpch.ensure_data(args.data_dir, args.scale, log=self.log)
        self.data_dir = pathlib.Path(args.data_dir).resolve()
        self.queries = tpch.queries()
        if args.workloads == ["big"]:
            # The other queries' answers would take long at a large scale, for nothing.
            self.queries = [(n, sql) for n, sql in self.queries if n in workloads.BIG_QUERIES]
        self._reference()

    def log(self, msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def _reference(self):
        """DuckDB's answers (default threads), whether each query orders its
        rows, lineitem's size and the point-lookup keys."""
        self.log("reference answers: in-process DuckDB")
        ref = systems.InProcessDuckDB("reference", self.files)
        with ref.open() as runner:
            con = runner.con
            self.reference, self.reference_seconds = {}, {}
            for n, sql in self.queries:
                self.reference_seconds[n], self.reference[n] = timed(lambda: runner.query(sql))
            self.ordered = {n: answers.has_top_level_order(con, sql) for n, sql in self.queries}
            (self.lineitem_rows,) = con.execute("SELECT count(*) FROM lineitem").fetchone()
            self._keys = [k for (k,) in con.execute(
                "SELECT o_orderkey FROM orders ORDER BY hash(o_orderkey) LIMIT ?",
                [self.latency_runs]).fetchall()]
            self.lineitem_row_groups = con.execute(
                "SELECT count(DISTINCT (file_name, row_group_id)) FROM parquet_metadata(?)",
                [self.files["lineitem"]]).fetchone()[0]

    def profile_target(self, label):
        """Where a Skein deployment of the running workload puts its profiles
        (None: --profile not given)."""
        if self.profile_dir is None:
            return None
        return profiles.Target(self.profile_dir, self.workload, label, self.profiles)

    def counted(self, diff):
        """Counts a Skein or DuckDB answer check (diff is None when equal) and
        returns diff; peers' answers are reported but not counted."""
        with self._lock:
            if diff is None:
                self.checks_passed += 1
            else:
                self.checks_failed += 1
        return diff

    def deployment_dir(self, label):
        """A fresh scratch directory (data-dir, logs) for one deployment of a
        workload; kept after the run so that a failure's logs can be read."""
        slug = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")
        return self.work_dir / self.workload / slug

    def point_keys(self, n):
        return [self._keys[i % len(self._keys)] for i in range(n)]


def summarize_profiles(bench):
    """The saved profiles, each CPU profile with its parts (profiles.breakdown)."""
    bench.log(f"profiles: {len(bench.profiles)} processes' profiles in {bench.profile_dir}")
    if not bench.profiles:
        bench.problems.append(f"profiles: --profile, and no Skein process wrote any into {bench.profile_dir}")
    for entry in bench.profiles:
        missing = [kind for kind in ("cpu", "alloc") if kind not in entry]
        if missing:
            bench.problems.append(f"profiles: {entry['workload']} {entry['deployment']} {entry['process']} "
                                  f"wrote no {' and no '.join(missing)} profile")
        if "cpu" in entry:
            entry["breakdown"] = profiles.breakdown(entry["cpu"])
    return {"dir": str(bench.profile_dir), "processes": bench.profiles}


def environment(binary):
    def read(path, key):
        try:
            for line in open(path):
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return "?"

    mem_kb = read("/proc/meminfo", "MemTotal").split()[0]
    versions = {"Python": platform.python_version()}
    for pkg in ("duckdb", "duckdb-extension-tpch", "pyarrow", "adbc-driver-manager",
                "adbc-driver-flightsql", "datafusion", "ballista", "matplotlib"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    git = subprocess.run(["git", "-C", str(REPO), "describe", "--tags", "--always", "--dirty"],
                         capture_output=True, text=True)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": read("/proc/cpuinfo", "model name"),
        "memory": f"{int(mem_kb) / 1024 / 1024:.1f} GiB" if mem_kb.isdigit() else "?",
        "kernel": platform.release(),
        "skein_version": skeinproc.version(binary),
        "skein_bin": binary,
        "git": git.stdout.strip() or "?",
        "versions": versions,
    }


def main(argv=None):
    args = parse_args(argv)
    if not pathlib.Path(args.skein_bin).exists():
        print(f"skeinbench: {args.skein_bin} not found; run `make build` first", file=sys.stderr)
        return 2
    started = datetime.datetime.now(datetime.timezone.utc)
    bench = Bench(args)
    results = {
        "command": os.environ.get("SKEINBENCH_COMMAND") or shlex.join(["bench/run.sh", *(argv or sys.argv[1:])]),
        "argv": shlex.join([pathlib.Path(sys.executable).name, "bench/skeinbench.py", *(argv or sys.argv[1:])]),
        "started": started.strftime("%Y-%m-%d %H:%M:%S"),
        "queries": [n for n, _ in bench.queries],
        "big_queries": args.workloads == ["big"],
        "settings": {
            "skein_flags": args.skein_flag, "executor_flags": args.executor_flag,
            "big_memory_limit": args.big_memory_limit if args.workloads == ["big"] else None,
            "scale": args.scale, "runs": args.runs, "warmup": args.warmup,
            "short_query_seconds": args.short_query_seconds, "duration": args.duration, "rounds": args.rounds,
            "clients": args.clients, "memory_soak": args.memory_soak,
            "latency_runs": args.latency_runs, "query_timeout": args.query_timeout,
            "peer_rel_tol": bench.peer_rel_tol, "rel_tol": answers.REL_TOL,
            "data": {"dir": str(bench.data_dir), "size_mb": tpch.data_size(bench.files) / 1e6,
                     "split_files": tpch.SPLIT_FILES, "row_group_size": tpch.ROW_GROUP_SIZE,
                     "lineitem_row_groups": bench.lineitem_row_groups},
        },
        "workloads": {},
    }
    for name in args.workloads:
        bench.log(f"== {name}")
        bench.workload = name
        try:
            results["workloads"][name] = WORKLOADS[name](bench)
        except Exception as e:
            traceback.print_exc()
            results["workloads"][name] = {"error": workloads.first_line(e)}
            bench.problems.append(f"{name}: {workloads.first_line(e)}")
    if args.profile is not None:
        results["profiles"] = summarize_profiles(bench)
    results["problems"] = bench.problems
    results["finished"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    results["environment"] = environment(args.skein_bin)

    date = started.strftime("%Y-%m-%d")
    # A big-queries run is published beside the day's full run, not over it.
    stem = (f"{date}-big-sf{args.scale:g}" if results["big_queries"]
            else f"{date}-memory" if args.memory_soak else date)
    md = report.write(results, args.out, date, results["queries"], stem=stem)
    (pathlib.Path(args.out) / f"{stem}.json").write_text(json.dumps(results, indent=1, default=str))
    bench.log(f"wrote {md}")
    if args.readme:
        report.update_readme(args.readme, md, results)
        bench.log(f"updated {args.readme}")
    for goal, measured, target, status in report.headline(results):
        print(f"  {status:>12}  {goal}: {measured} (target {target})")
    # The answer checks as a test runner would count them (CI reads this line).
    print(f"answers: {bench.checks_passed} passed, {bench.checks_failed} failed")
    if bench.problems:
        print(f"skeinbench: {len(bench.problems)} problem(s):", file=sys.stderr)
        for p in bench.problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
