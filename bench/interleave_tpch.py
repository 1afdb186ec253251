"""Before and after on a shared machine: in-process DuckDB with 2 threads and `skein serve` with its
defaults from two binaries, run in rotation query by query (so that other load hits all alike),
every answer checked against DuckDB's (as multisets; the fetch by row count and column sums).

    $BUILD_DIR/benchenv/bin/python bench/interleave_tpch.py DATA_DIR BEFORE_BIN AFTER_BIN ROUNDS [tpch|fetch|answer] [dist]

DATA_DIR is a TPC-H Parquet directory of bench/run.sh (build/bench-data/sf1); `fetch` times
SELECT * FROM lineitem instead of the 22 queries; `answer` times, for each query, SELECT * FROM a
temporary table holding its answer (the cost of returning that answer, without computing it);
`dist` adds AFTER_BIN with --in-process-plan distribute. TPCH_QUERIES=16,22 times only those
queries (default: all 22)."""
import os, pathlib, sys, statistics, math, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import systems, tpch, answers
from measure import timed

data = pathlib.Path(sys.argv[1]); before, after = sys.argv[2], sys.argv[3]; rounds = int(sys.argv[4])
files = tpch.table_files(data)
work = pathlib.Path(os.environ.get("BUILD_DIR", "build")) / "interleave" / "tpch"; work.mkdir(parents=True, exist_ok=True)
syss = [systems.InProcessDuckDB("DuckDB 2 threads", files, threads=2),
        systems.Skein("serve before (main)", before, work / "before", files, data),
        systems.Skein("serve after (local)", after, work / "after", files, data)]
if len(sys.argv) > 6:
    syss.append(systems.Skein("serve after, --in-process-plan distribute", after, work / "dist", files, data,
                              flags=["--in-process-plan", "distribute"]))
import contextlib
with contextlib.ExitStack() as st:
    runners = [st.enter_context(s.open()) for s in syss]
    if len(sys.argv) > 5 and sys.argv[5] == "fetch":
        qs = [("fetch", "SELECT * FROM lineitem")]
    else:
        only = {int(n) for n in os.environ.get("TPCH_QUERIES", "").split(",") if n.strip()}
        qs = [(f"Q{n:02d}", sql) for n, sql in tpch.queries() if not only or n in only]
    if len(sys.argv) > 5 and sys.argv[5] == "answer":
        answers_of = []
        for name, sql in qs:
            for r in runners:  # each session keeps its own copy of the answer
                ddl = f"CREATE OR REPLACE TEMP TABLE answer_{name} AS {sql}"
                (r.cur if hasattr(r, "cur") else r.con).execute(ddl)
            answers_of.append((name, f"SELECT * FROM answer_{name}"))
        qs = answers_of
    res = {s.label: {} for s in syss}
    for name, sql in qs:
        ref = runners[0].query(sql)
        for r in runners:  # warm-up + check
            t = r.query(sql)
            if name == "fetch":
                cols = ["l_orderkey", "l_quantity", "l_extendedprice"]
                diff = None if answers.quick_signature(t, cols) == answers.quick_signature(ref, cols) else "signature"
            else:
                diff = answers.compare(ref, t, ordered=False)
            assert not diff, (name, diff)
            del t
        times = {s.label: [] for s in syss}
        for _ in range(rounds):
            for s, r in zip(syss, runners):
                t, tab = timed(lambda: r.query(sql)); del tab
                times[s.label].append(t)
        for s in syss:
            res[s.label][name] = statistics.median(times[s.label])
        print(name, "  ".join(f"{s.label}={res[s.label][name]:.4f}" for s in syss), flush=True)
    base = res[syss[0].label]
    for s in syss:
        g = math.exp(statistics.mean(math.log(v) for v in res[s.label].values()))
        worst = max((res[s.label][q] / base[q], q) for q in base)
        print(f"{s.label}: geomean {g:.4f} s, {g / math.exp(statistics.mean(math.log(v) for v in base.values())):.2f}x DuckDB; worst {worst[1]} {worst[0]:.2f}x")
    for s, r in zip(syss[1:], runners[1:]):
        print(s.label, "plans:", sorted(set(r.plans().values())))
