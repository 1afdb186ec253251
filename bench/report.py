"""The results file (Markdown), its chart (PNG) and the README block.

Every figure written here comes from the results dict of one run; the
goals are the issue's, and each is printed as met or not met, gaps included.
"""

import collections
import math
import os
import pathlib
import re

from measure import Stats, geomean

README_BEGIN = "<!-- bench:begin -->"
README_END = "<!-- bench:end -->"
# A --big-queries run (make bench SF=10) has its own block, right after the main one.
README_BIG_BEGIN = "<!-- bench-big:begin -->"
README_BIG_END = "<!-- bench-big:end -->"

SKEIN_1 = "Skein 1 executor x 1 thread"
SKEIN_2 = "Skein 2 executors x 1 thread"
SKEIN_SERVE = "Skein serve (defaults)"
DUCK_1 = "DuckDB 1 thread"
DUCK_2 = "DuckDB 2 threads"


# ---------------------------------------------------------------- numbers

def _median(q):
    s = Stats(q.get("seconds", []) if q else [])
    return s.median if s.ok else None


def tpch_medians(results):
    """{system label: {query: median seconds}} over TPC-H systems and peers
    that ran; queries that failed or gave a wrong answer are absent."""
    out = {}
    for s in _tpch_records(results):
        meds = {int(n): _median(q) for n, q in s.get("queries", {}).items()}
        meds = {n: m for n, m in meds.items() if m is not None}
        if meds:
            out[s["label"]] = meds
    return out


def _tpch_records(results):
    """Every system's record of the 22 queries: the tpch workload's, the
    peers', and the Skein and DuckDB configurations the peers workload ran
    for its comparison when the run had no tpch workload."""
    w = results["workloads"]
    peers = w.get("peers", {})
    return (w.get("tpch", {}).get("systems", []) + peers.get("baselines", [])
            + peers.get("systems", []))


def _geomean_common(a, b):
    """Geometric means of a and b ({query: seconds}) over the queries both answered."""
    common = sorted(set(a) & set(b))
    return geomean([a[n] for n in common]), geomean([b[n] for n in common]), common


def headline(results):
    """[(goal, measured, target, status)]: the issue's goals."""
    rows = []
    w = results["workloads"]
    n_queries = len(results.get("queries", [])) or 22

    fetch = w.get("fetch")
    if fetch and "systems" in fetch:
        for s in fetch["systems"][1:]:
            mode = "direct" if "direct" in s["label"] else "proxy"
            goal = f"Fetch throughput, {mode}, vs in-process DuckDB (2 threads)"
            if s.get("ratio") is None:
                rows.append((goal, _failure(s), "≥ 0.8x", "not met"))
            else:
                target = "≥ 0.8x" if mode == "direct" else "— (no goal; reported)"
                met = _met(s["ratio"] >= 0.8) if mode == "direct" else "—"
                rows.append((goal, f"{s['ratio']:.2f}x ({s['mb_per_s']:.0f} MB/s)", target, met))

    med = tpch_medians(results)
    one, two = med.get(SKEIN_1, {}), med.get(SKEIN_2, {})
    if "tpch" in w:
        for n in (1, 6):
            goal = f"TPC-H Q{n} speed-up, 2 executors x 1 thread over 1 executor x 1 thread"
            if n in one and n in two:
                r = one[n] / two[n]
                rows.append((goal, f"{r:.2f}x", "≥ 1.8x", _met(r >= 1.8)))
            else:
                rows.append((goal, "no valid time", "≥ 1.8x", "not met"))
        g1, g2, common = _geomean_common(one, two)
        goal = f"TPC-H speed-up on the geometric mean of the {n_queries}, 2 executors over 1"
        if common:
            r = g1 / g2
            note = "" if len(common) == n_queries else f" (over {len(common)} valid queries)"
            rows.append((goal, f"{r:.2f}x{note}", "≥ 1.5x",
                         _met(r >= 1.5 and len(common) == n_queries)))
        else:
            rows.append((goal, "no valid times", "≥ 1.5x", "not met"))
        for skein, duck, threads in ((SKEIN_1, DUCK_1, 1), (SKEIN_2, DUCK_2, 2)):
            rows.append(_within(med.get(skein, {}), med.get(duck, {}), threads, n_queries))
        rows += _issue10_tpch(results, med, n_queries)

    rows += _object_storage_goal(results, n_queries)
    rows += _issue10_groupby(w.get("groupby"))
    rows += _issue10_tpcds(w.get("tpcds"))
    rows += _issue10_big(results)

    lat = w.get("latency")
    if lat and "systems" in lat and len(lat["systems"]) == 2:
        d, s = (x.get("cases", {}).get("SELECT 1", {}) for x in lat["systems"])
        goal = "SELECT 1 p50 through Skein minus in-process"
        if "p50" in d and "p50" in s:
            diff_ms = (s["p50"] - d["p50"]) * 1e3
            rows.append((goal, f"+{diff_ms:.2f} ms ({s['p50'] * 1e3:.2f} ms vs {d['p50'] * 1e3:.3f} ms)",
                         "≤ 1 ms", _met(diff_ms <= 1.0)))
        else:
            rows.append((goal, "no valid time", "≤ 1 ms", "not met"))

    rows += _issue13(results, med, n_queries)

    peer_w = w.get("peers")
    if peer_w:
        for p in peer_w.get("systems", []):
            against = p.get("against", SKEIN_SERVE)
            skein = med.get(against, {})
            goal = f"Geometric mean of the {n_queries}: {against} vs {p['label']}"
            theirs = med.get(p["label"], {})
            if p.get("not_run") and not theirs:
                rows.append((goal, "not run (see Peers)", "faster", "not measured"))
                continue
            gp, gs, common = _geomean_common(theirs, skein)
            if not common:
                rows.append((goal, "no query answered by both" if skein else f"{against} not run",
                             "faster", "not measured"))
                continue
            note = "" if len(common) == n_queries else f" (over the {len(common)} both answered)"
            rows.append((goal, f"{gp / gs:.2f}x faster{note}" if gp >= gs else f"{gs / gp:.2f}x slower{note}",
                         "faster", _met(gp > gs)))
    return rows


def plan_mode(plan):
    """The mode of a plan as the tpch workload records it ("stages, 13 tasks")."""
    return (plan or "").split(",")[0].strip()


def _skein2_plans(results):
    return _plans(results, SKEIN_2)


def _plans(results, label):
    """{query: Skein's plan} of the configuration label."""
    for s in _tpch_records(results):
        if s["label"] == label:
            return {int(n): q.get("plan", "") for n, q in s.get("queries", {}).items() if q.get("plan")}
    return {}


def _ratio_goal(ratios, n_queries, geo, every, at_least):
    """(measured, met) for a goal on every query's ratio and on their geometric
    mean: ratios {query: ratio}; every and geo the bounds, at_least their sense."""
    ok = (lambda r, b: r >= b) if at_least else (lambda r, b: r <= b)
    if not ratios:
        return "no valid times", False
    worst = (min if at_least else max)(ratios, key=ratios.get)
    off = sorted(n for n, r in ratios.items() if not ok(r, every))
    g = geomean(list(ratios.values()))
    text = (f"geomean {g:.2f}x; worst Q{worst} {ratios[worst]:.2f}x; {len(off)} of {len(ratios)} "
            f"{'under' if at_least else 'over'} {every:g}x")
    if off:
        text += " (" + ", ".join(f"Q{n}" for n in off) + ")"
    missing = n_queries - len(ratios)
    if missing:
        text += f"; {missing} without a valid time"
    return text, not off and not missing and ok(g, geo)


def _issue10_tpch(results, med, n_queries):
    """Issue 10's TPC-H goals: every query on executors with DuckDB's answer,
    the scale-out from 1 to 2 executors, and 2 executors against DuckDB."""
    rows = []
    plans = _skein2_plans(results)
    queries = results.get("queries", [])
    two = med.get(SKEIN_2, {})
    local = [n for n in queries if plan_mode(plans.get(n)) == "local"]
    unknown = [n for n in queries if not plan_mode(plans.get(n))]
    wrong = [n for n in queries if n not in two]
    modes = {}
    for n in queries:
        m = plan_mode(plans.get(n))
        if m:
            modes[m] = modes.get(m, 0) + 1
    text = (f"{len(queries) - len(local) - len(unknown)} of {len(queries)} on executors ("
            + ", ".join(f"{m} {c}" for m, c in sorted(modes.items())) + ")")
    if local:
        text += "; local: " + ", ".join(f"Q{n}" for n in local)
    if unknown:
        text += "; plan unknown: " + ", ".join(f"Q{n}" for n in unknown)
    if wrong:
        text += "; no valid answer: " + ", ".join(f"Q{n}" for n in wrong)
    rows.append((f"Issue 10: every one of the {n_queries} TPC-H queries runs on executors "
                 "(none local), answers identical to DuckDB's (2 executors x 1 thread)",
                 text, "none local", _met(not local and not unknown and not wrong and bool(queries))))

    one = med.get(SKEIN_1, {})
    text, ok = _ratio_goal({n: one[n] / two[n] for n in sorted(set(one) & set(two))}, n_queries,
                           1.8, 1.5, at_least=True)
    rows.append(("Issue 10: TPC-H scale-out, 1 → 2 executors x 1 thread (1 executor's time over 2's)",
                 text, "every query ≥ 1.5x, geomean ≥ 1.8x", _met(ok)))
    d2 = med.get(DUCK_2, {})
    text, ok = _ratio_goal({n: two[n] / d2[n] for n in sorted(set(two) & set(d2))}, n_queries,
                           1.1, 1.2, at_least=False)
    rows.append(("Issue 10: TPC-H, Skein 2 executors x 1 thread vs DuckDB 2 threads (time over DuckDB's)",
                 text, "every query ≤ 1.2x, geomean ≤ 1.1x", _met(ok)))
    return rows


def _issue13_floor_and_go(lat):
    """The driver's share of SELECT 1 through ADBC (the floor, a server that
    answers from memory, over in-process DuckDB), and the Go client's round
    trips over DuckDB's in a Go process (goal: within 0.3 ms)."""
    rows = []
    inproc = next((x.get("cases", {}) for x in lat.get("systems", []) if "DuckDB" in x["label"]), {})
    fl = lat.get("floor", {}).get("cases", {}).get("SELECT 1", {})
    d = inproc.get("SELECT 1", {})
    if "p50" in fl and "p50" in d:
        rows.append(("SELECT 1 p50 through ADBC against a Flight SQL server answering from memory "
                     "(bench/floor) minus in-process: the driver's and the protocol's share",
                     f"+{(fl['p50'] - d['p50']) * 1e3:.2f} ms ({fl['p50'] * 1e3:.2f} ms vs {d['p50'] * 1e3:.3f} ms)",
                     "— (reported)", "—"))
    go = {x["label"]: x for x in lat.get("go", [])}
    base = next((x for label, x in go.items() if label.startswith("in-process")), None)
    for label, x in go.items():
        if x is base or not label.startswith("Skein"):
            continue
        for case in lat.get("cases", []):
            goal = f"Issue 13: {case} p50 through the Go client minus in-process DuckDB in Go (p99 reported)"
            b, c = (base or {}).get("cases", {}).get(case, {}), x.get("cases", {}).get(case, {})
            if "p50" in b and "p50" in c and not c.get("mismatch"):
                diff = (c["p50"] - b["p50"]) * 1e3
                fl_go = go.get("Flight SQL floor", {}).get("cases", {}).get(case, {})
                floor = f"; floor {fl_go['p50'] * 1e3:.3f} ms" if "p50" in fl_go else ""
                rows.append((goal, f"{diff:+.3f} ms ({c['p50'] * 1e3:.3f} ms vs {b['p50'] * 1e3:.3f} ms{floor}; "
                                   f"p99 {c['p99'] * 1e3:.2f} ms vs {b['p99'] * 1e3:.2f} ms)",
                             "≤ 0.3 ms", _met(diff <= 0.3)))
            else:
                rows.append((goal, _failure(c or x), "≤ 0.3 ms", "not met"))
    return rows


def _issue13(results, med, n_queries):
    """Issue 13's goals: the serving path against in-process DuckDB with the
    same threads (fetch, a point lookup, concurrency, `skein serve` on TPC-H);
    SELECT 1's row is the headline's own."""
    rows = []
    w = results["workloads"]
    fetch = w.get("fetch")
    for s in (fetch or {}).get("systems", [])[1:]:
        if "direct" in s["label"]:
            goal = "Issue 13: fetch throughput, direct, vs in-process DuckDB (2 threads)"
            ok = s.get("ratio") is not None
            rows.append((goal, f"{s['ratio']:.2f}x" if ok else _failure(s), "≥ 0.9x", _met(ok and s["ratio"] >= 0.9)))
    lat = w.get("latency")
    if lat and len(lat.get("systems", [])) == 2:
        d, s = (x.get("cases", {}).get("point lookup", {}) for x in lat["systems"])
        goal = "Issue 13: point lookup p50 through Skein minus in-process (p99 reported)"
        if "p50" in d and "p50" in s:
            diff_ms = (s["p50"] - d["p50"]) * 1e3
            rows.append((goal, f"{diff_ms:+.2f} ms ({s['p50'] * 1e3:.2f} ms vs {d['p50'] * 1e3:.2f} ms; "
                               f"p99 {s['p99'] * 1e3:.1f} ms vs {d['p99'] * 1e3:.1f} ms)",
                         "≤ 1 ms", _met(diff_ms <= 1.0)))
        else:
            rows.append((goal, "no valid time", "≤ 1 ms", "not met"))
    rows += _issue13_floor_and_go(lat or {})
    conc = w.get("concurrency")
    if conc and len(conc.get("systems", [])) == 2:
        d, s = conc["systems"]
        for clients in sorted(set(d.get("runs", {})) & set(s.get("runs", {})), key=int):
            dr, sr = d["runs"][clients], s["runs"][clients]
            goal = f"Issue 13: {clients} concurrent clients, TPC-H mix, queries/s vs in-process DuckDB (p99 reported)"
            if not dr.get("qps") or sr.get("error") or not sr.get("qps"):
                rows.append((goal, _failure(sr), "≥ 0.9x", "not met"))
                continue
            r = sr["qps"] / dr["qps"]
            rows.append((goal, f"{r:.2f}x ({sr['qps']:.2f} vs {dr['qps']:.2f} queries/s; p99 {sr['p99']:.2f} s vs "
                               f"{dr['p99']:.2f} s)", "≥ 0.9x", _met(r >= 0.9)))
    serve, d2 = med.get(SKEIN_SERVE, {}), med.get(DUCK_2, {})
    if "tpch" in w and serve:
        text, ok = _ratio_goal({n: serve[n] / d2[n] for n in sorted(set(serve) & set(d2))}, n_queries,
                               1.1, 1.25, at_least=False)
        rows.append(("Issue 13: TPC-H, `skein serve` defaults vs DuckDB 2 threads (time over DuckDB's)",
                     text, "every query ≤ 1.25x, geomean ≤ 1.1x", _met(ok)))
    return rows


def _issue10_tpcds(d):
    """How many of TPC-DS's queries split, their answers DuckDB's."""
    if not d:
        return []
    goal = "Issue 10: TPC-DS's 99 queries on 2 executors x 1 thread: answers identical to DuckDB's; how many in stages"
    qs = d.get("queries", {})
    if d.get("error") or not qs:
        return [(goal, _failure(d), "identical (reported)", "not met")]
    wrong = sorted(int(n) for n, q in qs.items() if q.get("mismatch"))
    modes = collections.Counter(q["mode"] for q in qs.values())
    text = (f"{len(qs) - len(wrong)} of {len(qs)} identical; "
            + ", ".join(f"{m} {k}" for m, k in sorted(modes.items()))
            + (f"; wrong: {', '.join(f'Q{n}' for n in wrong)}" if wrong else ""))
    return [(goal, text, "identical (stages reported)", _met(not wrong))]


def _section_tpcds(results):
    d = results["workloads"].get("tpcds")
    if not d:
        return None
    if not d.get("queries"):
        return f"## TPC-DS\n\nerror: {d.get('error')}"
    qs = sorted(d["queries"].items(), key=lambda kv: int(kv[0]))
    reasons = collections.Counter(q["reason"] for _, q in qs if q["mode"] == "local")
    text = (f"## TPC-DS\n\nThe 99 queries of DuckDB's tpcds extension at scale factor {d['scale']:g}, once each, "
            f"on {d['label']} ({d['describe']}) and in-process DuckDB ({d['reference']}), every answer compared. "
            "The plan is `skein sql -explain`'s; no goal is set on the times.\n\n")
    if reasons:
        text += "Local, by reason:\n\n" + "\n".join(f"- {k} x {r}" for r, k in reasons.most_common()) + "\n\n"
    rows = [[f"Q{int(n):02d}", q["mode"], _s(q["duckdb"]), _s(q["skein"]) if "skein" in q else _failure(q),
             q["reason"][:120]] for n, q in qs]
    tot = [sum(q.get(k, 0) for _, q in qs) for k in ("duckdb", "skein")]
    rows.append(["all", "", _s(tot[0]), _s(tot[1]), ""])
    return text + _table(["Query", "Plan", "DuckDB (s)", "Skein (s)", "Why local"], rows)


def _issue10_groupby(g):
    if not g:
        return []
    goal = "Issue 10: `GROUP BY l_orderkey` over lineitem, coordinator's share of the CPU time (2 executors x 1 thread)"
    s = next((s for s in g.get("systems", []) if s["label"] == SKEIN_2), None)
    if s is None or s.get("coordinator_cpu_share") is None:
        return [(goal, _failure(s or g), "< 10%", "not met")]
    cpu = s["cpu"]
    coord = sum(c["coordinator"] for c in cpu) / len(cpu)
    total = sum(sum(c.values()) for c in cpu) / len(cpu)
    text = (f"{s['coordinator_cpu_share'] * 100:.1f}% ({coord:.2f} s of {total:.2f} s CPU per run); "
            f"query {Stats(s['seconds']).median:.2f} s, {g.get('rows', 0):,} groups")
    return [(goal, text, "< 10%", _met(s["coordinator_cpu_share"] < 0.10))]


def _issue10_big(results):
    b = results["workloads"].get("big")
    if not b:
        return []
    rows = []
    scale = results["settings"]["scale"]
    for n, q in sorted(b.get("queries", {}).items(), key=lambda kv: int(kv[0])):
        goal = (f"Issue 10: TPC-H SF{scale:g} Q{n} finishes, 2 executors x 1 thread, "
                f"--memory-limit {b['memory_limit']} on every process")
        med = _median(q)
        if med is None:
            rows.append((goal, _failure(q), "finishes; peak RSS reported", "not met"))
            continue
        hwm = q.get("hwm_kb", {})
        text = (f"{med:.1f} s, plan {plan_mode(q.get('plan')) or 'unknown'}; peak RSS (MB) "
                + ", ".join(f"{k} {_mb(v)}" for k, v in hwm.items()))
        rows.append((goal, text, "finishes; peak RSS reported", "met"))
    return rows


def _within(skein, duck, threads, n_queries):
    goal = f"Skein with {threads} thread{'s' if threads > 1 else ''} in total vs DuckDB with {threads}, every query"
    common = sorted(set(skein) & set(duck))
    if not common:
        return (goal, "no valid times", "≤ 1.2x", "not met")
    ratios = {n: skein[n] / duck[n] for n in common}
    worst = max(ratios, key=ratios.get)
    over = [n for n in common if ratios[n] > 1.2]
    missing = n_queries - len(common)
    text = f"worst Q{worst} {ratios[worst]:.2f}x; {len(over)} of {len(common)} over 1.2x"
    if missing:
        text += f"; {missing} without a valid time"
    return (goal, text, "≤ 1.2x", _met(not over and not missing))


def _met(ok):
    return "met" if ok else "not met"


def _failure(rec):
    if rec.get("error"):
        return f"error: {rec['error']}"
    if rec.get("mismatch"):
        return f"wrong answer: {rec['mismatch']}"
    return "no valid time"


# ---------------------------------------------------------------- formatting

def _s(x):
    """Seconds, three significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:.3g}" if x >= 0.001 else f"{x:.2g}"


def _stat_cell(q):
    if not q:
        return "—"
    if q.get("error"):
        return "error"
    if q.get("mismatch"):
        return "wrong answer"
    s = Stats(q.get("seconds", []))
    if not s.ok:
        return "—"
    if len(s.seconds) == 1:
        return _s(s.median)
    return f"{_s(s.median)} ({_s(s.min)}–{_s(s.max)})"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in r) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- sections

def _section_headline(results):
    rows = headline(results)
    return "## Headline: the goals\n\n" + _table(["Goal", "Measured", "Target", "Status"], rows)


def _section_fetch(results):
    f = results["workloads"].get("fetch")
    if not f:
        return None
    if "systems" not in f:
        return f"## 1. Fetch throughput\n\nerror: {f.get('error')}"
    rows = []
    for s in f["systems"]:
        rows.append([s["label"], _stat_cell(s), f"{s['mb_per_s']:.0f}" if s.get("mb_per_s") else _failure(s),
                     f"{s['ratio']:.2f}x" if s.get("ratio") else "—", _cpu_cell(s.get("cpu")),
                     s.get("plan", "")])
    text = (f"## 1. Fetch throughput\n\n`{f['sql']}`, fully fetched into one Arrow table: "
            f"{f['rows']:,} rows, {f['bytes'] / 1e6:,.0f} MB as Arrow. Skein through the ADBC Flight SQL "
            "driver; in-process DuckDB through `duckdb` Python's Arrow export (`to_arrow_table`). "
            "MB/s is that Arrow size over the median time; the ratio is in-process time over Skein time. "
            "The systems take turns round by round, fetching twice in each turn, the second timed.\n\n")
    text += _table(["System", "Seconds: median (min–max)", "MB/s", "vs in-process",
                    "CPU s per run, by process", "Skein plan"], rows)
    text += "\n\n" + "\n".join(f"- {s['label']}: {s['describe']}" for s in f["systems"])
    return text


def _cpu_cell(runs):
    """Median CPU seconds per run by process ("client" is the harness, which
    for in-process DuckDB is the engine too)."""
    if not runs:
        return "—"
    names = list(runs[0])
    return ", ".join(f"{k} {Stats([r[k] for r in runs if k in r]).median:.2f}" for k in names)


def _section_tpch(results, queries, chart_name):
    t = results["workloads"].get("tpch")
    if not t:
        return None
    systems = t.get("systems", [])
    med = tpch_medians(results)
    header = ["Query"] + [s["label"] for s in systems]
    rows = []
    for n in queries:
        rows.append([f"Q{n:02d}"] + [_stat_cell(s.get("queries", {}).get(n)) for s in systems])
    rows.append(["geomean (all valid)"] + [_s(geomean(list(med.get(s["label"], {}).values()))) for s in systems])
    text = ("## 2. TPC-H\n\nSeconds per query, median (min–max) of the timed runs, each after "
            "its answer was checked against in-process DuckDB's; `wrong answer` and `error` times "
            "do not count (the peers' times are under Peers; the chart has them). Each geometric mean is over the "
            "queries that system answered; the ratios below compare like with like.\n\n")
    text += _table(header, rows)
    text += f"\n\n![Per-query times per system]({chart_name})\n\n"
    text += _tpch_ratio_table(results, queries)
    text += "\n\nSystems:\n\n" + "\n".join(f"- **{s['label']}**: {s['describe']}" for s in systems)
    text += _failures(t.get("systems", []))
    return text


def _failures(systems):
    """The errors and wrong answers of systems, one line each."""
    problems = []
    for s in systems:
        if s.get("error"):
            problems.append(f"- {s['label']}: error: {s['error']}")
        for n, q in sorted(s.get("queries", {}).items()):
            for key in ("error", "mismatch"):
                if q.get(key):
                    problems.append(f"- {s['label']} Q{n:02d}: {'wrong answer' if key == 'mismatch' else key}: "
                                    f"{q[key]}")
    if not problems:
        return ""
    return "\n\nFailures (excluded from the times and geometric means):\n\n" + "\n".join(problems)


def _tpch_ratio_table(results, queries):
    med = tpch_medians(results)
    one, two = med.get(SKEIN_1, {}), med.get(SKEIN_2, {})
    d1, d2 = med.get(DUCK_1, {}), med.get(DUCK_2, {})
    plans = _skein2_plans(results)

    def ratio(a, b, n):
        return f"{a[n] / b[n]:.2f}x" if n in a and n in b else "—"

    def plan(n):
        p = plans.get(n, "")
        return f"**{p}** (not on executors)" if plan_mode(p) == "local" else p

    rows = [[f"Q{n:02d}", ratio(one, two, n), ratio(one, d1, n), ratio(two, d2, n), plan(n)]
            for n in queries]
    g = []
    for a, b in ((one, two), (one, d1), (two, d2)):
        ga, gb, common = _geomean_common(a, b)
        g.append(f"{ga / gb:.2f}x" if common else "—")
    rows.append(["geomean"] + g + [""])
    return ("Ratios per query: scale-out is 1 executor's time over 2 executors' (goals: ≥ 1.8x on Q1 "
            "and Q6, ≥ 1.5x on the geometric mean; issue 10: ≥ 1.5x on every query, ≥ 1.8x on the "
            "geometric mean); the others are Skein's time over DuckDB's with as many threads (goal "
            "≤ 1.2x on every query; issue 10: ≤ 1.1x on the geometric mean with 2). The plan is "
            "Skein's (2 executors), from its query history (`skein.queries`): `stages` runs as stages "
            "with exchanges between executors, `scatter` and `scatter-merge` as tasks on executors "
            "merged by the coordinator, `local` on the coordinator alone (issue 10: none).\n\n"
            + _table(["Query", "Scale-out 1→2 executors", "Skein 1 / DuckDB 1", "Skein 2 / DuckDB 2",
                      "Skein plan"], rows))


def _section_latency(results):
    lat = results["workloads"].get("latency")
    if not lat:
        return None
    if "systems" not in lat:
        return f"## 3. Latency\n\nerror: {lat.get('error')}"
    rows = [_latency_row(s, lat["cases"]) for s in lat["systems"] + ([lat["floor"]] if "floor" in lat else [])]
    header = ["System"] + [f"{case} {p} (ms)" for case in lat["cases"] for p in ("p50", "p99")]
    n = next((c.get("n") for s in lat["systems"] for c in s.get("cases", {}).values() if c.get("n")), "?")
    text = (f"## 3. Latency\n\n{n} runs of each statement after a warm-up, each result fetched in "
            "full; the point lookup is `SELECT * FROM orders WHERE o_orderkey = K` with a different "
            "existing key each run (the same keys for both systems). The systems take turns statement by "
            "statement, each statement starting at the next system.\n\n")
    text += _table(header, rows)
    cpu = [f"{s['label']}, {case}: " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in c["cpu_per_query"].items())
           for s in lat["systems"] for case, c in s.get("cases", {}).items() if c.get("cpu_per_query")]
    if cpu:
        text += ("\n\nCPU milliseconds per statement, by process (\"client\" is the harness: ADBC's driver, "
                 "or in-process DuckDB, and the answer checks):\n\n" + "\n".join(f"- {c}" for c in cpu))
    text += "\n\n" + "\n".join(f"- {s['label']}: {s['describe']}"
                                 for s in lat["systems"] + ([lat["floor"]] if "floor" in lat else []))
    if lat.get("go"):
        text += ("\n\nThe same statements from a Go program (`bench/golatency`, one connection, each "
                 "statement GetFlightInfo and DoGet through arrow-go's Flight SQL client; in process: "
                 "prepare, execute and read DuckDB's Arrow export through Skein's DuckDB binding, views "
                 "over the same files); its answers checked against the first row's, statement by "
                 "statement:\n\n")
        text += _table(header, [_latency_row(s, lat["cases"]) for s in lat["go"]])
    return text


def _latency_row(s, cases):
    """A system's p50 and p99 of each case, in ms; a case it did not run is blank."""
    row = [s["label"]]
    for case in cases:
        c = s.get("cases", {}).get(case)
        if c is None and not s.get("error"):
            row += ["", ""]
        elif c and "p50" in c and not c.get("mismatch"):
            row += [f"{c['p50'] * 1e3:.3f}", f"{c['p99'] * 1e3:.3f}"]
        else:
            row += [_failure(c or s), "—"]
    return row


def _section_concurrency(results):
    c = results["workloads"].get("concurrency")
    if not c:
        return None
    if "systems" not in c:
        return f"## 4. Concurrency\n\nerror: {c.get('error')}"
    rows = []
    for s in c["systems"]:
        if s.get("error") and not s.get("runs"):
            rows.append([s["label"], "—", "—", "—", "—", "—", f"error: {s['error']}"])
        for clients, r in s.get("runs", {}).items():
            rows.append([s["label"], clients, r["queries"], f"{r['qps']:.2f}", _s(r["p50"]), _s(r["p99"]),
                         r.get("error", "")])
    mix = ", ".join(f"Q{n}" for n in c["mix"])
    rounds = c.get("rounds") or 1
    turns = (f", in {rounds} rounds of {c['duration'] / rounds:g} s, the systems taking turns round by round "
             "(so that the machine's speed drifting falls on each alike)" if rounds > 1 else "")
    text = (f"## 4. Concurrency\n\nEach client has its own connection and runs the mix {mix} in a "
            f"loop (client i starting at the i-th) for {c['duration']:g} s{turns}; every answer is checked. "
            "Queries per second over the whole run (a round ends when its clients' last queries do); "
            "latency in seconds.\n\n")
    text += _table(["System", "Clients", "Queries", "Queries/s", "p50 (s)", "p99 (s)", "Failures"], rows)
    text += "\n\n" + "\n".join(f"- {s['label']}: {s['describe']}" for s in c["systems"])
    rss = [[s["label"], clients, name, _mb(m["start_kb"]), _mb(m["peak_kb"]), _mb(m["end_kb"]),
            f"{m['slope_kb_per_min'] / 1024:+.1f}", f"{m['late_slope_kb_per_min'] / 1024:+.1f}"]
           for s in c["systems"] for clients, r in s.get("runs", {}).items()
           for name, m in r.get("rss", {}).items()]
    if rss:
        text += ("\n\nMemory during each run: the RSS of each process serving it (for in-process "
                 "DuckDB, the harness's own, which also holds the clients), sampled every second; "
                 "the slope by least squares over the run and over its second half.\n\n")
        text += _table(["System", "Clients", "Process", "Start (MB)", "Peak (MB)", "End (MB)",
                        "Slope (MB/min)", "Second half (MB/min)"], rss)
    return text


PROFILE_PARTS = ["DuckDB", "gRPC", "Arrow", "Skein", "other libraries", "Go runtime and GC"]


def _section_profiles(results):
    prof = results.get("profiles")
    if not prof:
        return None
    rows = []
    for e in prof["processes"]:
        b = e.get("breakdown")
        if not b or not b.get("seconds"):
            rows.append([e["workload"], e["deployment"], e["process"], "—"] + ["—"] * len(PROFILE_PARTS) + ["—"])
            continue
        top = ", ".join(f"{f} {v:.0%}" for f, v in b["top"][:3])
        rows.append([e["workload"], e["deployment"], e["process"], f"{b['seconds']:.1f}"]
                    + [f"{b['parts'].get(p, 0):.0%}" for p in PROFILE_PARTS] + [top])
    text = (f"## Profiles\n\nEach Skein process's Go CPU and allocation profiles, from its start to its "
            f"stop, in `{prof['dir']}` as WORKLOAD-DEPLOYMENT-PROCESS.cpu.pprof and .alloc.pprof (read them "
            "with `go tool pprof -top FILE`). CPU seconds sampled, and their share by the part whose code "
            "spent them: the innermost frame that is not the Go runtime or standard library; DuckDB "
            "includes its own threads (`runtime._ExternalCode`) and calls through cgo; the runtime is "
            "the scheduler and the garbage collector's workers. Flat leaves: the top three.\n\n")
    text += _table(["Workload", "Deployment", "Process", "CPU s", *PROFILE_PARTS, "Top (flat)"], rows)
    return text


def _mb(kb):
    return f"{kb / 1024:.0f}" if kb else "—"


def _section_memory(results):
    m = results["workloads"].get("memory")
    if not m:
        return None
    if "systems" not in m:
        return f"## 5. Memory\n\nerror: {m.get('error')}"
    rows = []
    for s in m["systems"]:
        if "hwm_kb" not in s:
            rows.append([s["mode"], _failure(s)] + ["—"] * 5)
            continue
        rows.append([s["mode"], _mb(s["before_kb"]["coordinator"]), _mb(s["hwm_kb"]["coordinator"]),
                     _mb(s["sampled_peak_kb"]["coordinator"]), _mb(s["before_kb"]["executor"]),
                     _mb(s["hwm_kb"]["executor"]), _mb(s["sampled_peak_kb"]["executor"])])
    s0 = next((s for s in m["systems"] if s.get("rows")), None)
    streamed = f"{s0['rows']:,} rows, {s0['bytes'] / 1e6:,.0f} MB as Arrow" if s0 else "—"
    text = ("## 5. Memory\n\nPeak resident memory (MB) while one client streams "
            f"`{m['sql']}` ({streamed}) batch by batch, in fresh processes for each mode "
            "(coordinator and 2 executors with 1 thread each, separate processes). Peak is the "
            "kernel's high-water mark (VmHWM, since the process started); sampled is the highest "
            "VmRSS seen every 50 ms during the stream; before is VmRSS after start-up.\n\n")
    text += _table(["Result mode", "Coordinator before", "Coordinator peak", "Coordinator sampled",
                    "Executor before", "Executor peak", "Executor sampled"], rows)
    return text


def _section_groupby(results):
    g = results["workloads"].get("groupby")
    if not g:
        return None
    if "systems" not in g:
        return f"## 6. Group by\n\nerror: {g.get('error')}"
    rows = []
    for s in g["systems"]:
        cpu = s.get("cpu") or []
        per_run = {k: sum(c[k] for c in cpu) / len(cpu) for k in cpu[0]} if cpu else {}
        share = s.get("coordinator_cpu_share")
        rows.append([s["label"], _stat_cell(s) if s.get("seconds") else _failure(s),
                     f"{per_run['coordinator']:.2f}" if per_run else "—",
                     " + ".join(f"{v:.2f}" for k, v in per_run.items() if k != "coordinator") or "—",
                     f"{share * 100:.1f}%" if share is not None else "—", s.get("plan", "")])
    text = ("## 6. Group by\n\n"
            f"`{g['sql']}` ({g.get('rows', 0):,} groups), fully fetched into one Arrow table, checked by "
            "row count and the sum of every column against in-process DuckDB's. CPU seconds per timed "
            "run are user + system time from `/proc/PID/stat` before and after the query, of the "
            "coordinator and of each executor; the share is the coordinator's part of their total "
            "over the timed runs (the client's CPU is not counted). Goal (issue 10): the coordinator "
            "under 10%.\n\n")
    text += _table(["System", "Seconds: median (min–max)", "Coordinator CPU s", "Executors CPU s",
                    "Coordinator share", "Skein plan"], rows)
    text += "\n\n" + "\n".join(f"- {s['label']}: {s['describe']}" for s in g["systems"])
    return text


def _s3_system(results):
    o = results["workloads"].get("s3")
    return (o.get("systems") or [{}])[0] if o else None


def _object_storage_goal(results, n_queries):
    """Issue 12: the TPC-H queries answer from object storage as from local
    files; their time is reported beside the local run's, with no goal."""
    s = _s3_system(results)
    if s is None:
        return []
    goal = "TPC-H from object storage (moto S3 on loopback), 2 executors x 1 thread: DuckDB's answers"
    if s.get("error") and not s.get("queries"):
        return [(goal, _failure(s), f"{n_queries} of {n_queries}", "not met")]
    med = {int(n): m for n, q in s.get("queries", {}).items() if (m := _median(q)) is not None}
    text = f"{len(med)} of {n_queries}"
    local = tpch_medians(results).get(SKEIN_2, {})
    gs, gl, common = _geomean_common(med, local)
    if common:
        text += f"; geomean {gs / gl:.2f}x the local files' time"
    return [(goal, text, f"{n_queries} of {n_queries}", _met(len(med) == n_queries and not s.get("error")))]


def _section_s3(results):
    o = results["workloads"].get("s3")
    if not o:
        return None
    if "systems" not in o:
        return f"## Object storage\n\nerror: {o.get('error')}"
    s = o["systems"][0]
    local = tpch_medians(results).get(SKEIN_2, {})
    rows = []
    for n, q in sorted(s.get("queries", {}).items(), key=lambda kv: int(kv[0])):
        m, lm = _median(q), local.get(int(n))
        rows.append([f"Q{int(n):02d}", _stat_cell(q), _s(lm), f"{m / lm:.2f}x" if m and lm else "—",
                     q.get("plan", "")])
    f = s.get("fetch", {})
    local_fetch = next((x for x in results["workloads"].get("fetch", {}).get("systems", [])
                        if x["label"].startswith("Skein direct")), None)
    text = ("## Object storage\n\n"
            f"The same Parquet files uploaded to moto's S3 server on loopback ({o.get('upload_seconds', 0):.1f} s), "
            f"read by Skein through `s3://` views ({s.get('prefix', '')}, `--allow-prefix`, no `--allow-dir`): "
            "footers and row groups come from the object store through each process's gate. moto is a "
            "local stand-in for S3, serving from its own memory over plain HTTP: these times are not "
            "those of a network object store. Every answer is checked as the local runs' are.\n\n"
            f"Fetch (`{o['sql']}`, {o.get('rows', 0):,} rows, {o.get('bytes', 0) / 1e6:,.0f} MB as Arrow): "
            + (f"{_stat_cell(f)} s, {f['mb_per_s']:.0f} MB/s" if f.get("mb_per_s") else _failure(f or s))
            + (f"; from local files (direct mode): {local_fetch['mb_per_s']:.0f} MB/s"
               if local_fetch and local_fetch.get("mb_per_s") else "")
            + ".\n\n")
    text += _table(["Query", "s3:// seconds: median (min–max)", f"Local files ({SKEIN_2})", "s3:// / local",
                    "Skein plan (s3://)"], rows)
    text += f"\n\n- {s['label']}: {s.get('describe', '')}"
    text += _failures([s])
    return text


def _section_big(results):
    b = results["workloads"].get("big")
    if not b:
        return None
    if "queries" not in b:
        return f"## Big queries\n\nerror: {b.get('error')}"
    rows = []
    for n, q in sorted(b["queries"].items(), key=lambda kv: int(kv[0])):
        hwm, sampled = q.get("hwm_kb", {}), q.get("sampled_peak_kb", {})
        ref = b.get("reference_seconds", {}).get(n)
        rows.append([f"Q{int(n):02d}", _stat_cell(q) if q.get("seconds") else _failure(q), _s(ref),
                     " / ".join(_mb(hwm.get(k)) for k in sorted(hwm)) or "—",
                     " / ".join(_mb(sampled.get(k)) for k in sorted(sampled)) or "—",
                     f"{q['scratch_peak_bytes'] / 1e6:,.0f}" if q.get("scratch_peak_bytes") is not None else "—",
                     q.get("plan", "")])
    procs = next((sorted(q["hwm_kb"]) for q in b["queries"].values() if q.get("hwm_kb")), [])
    st = results["settings"]
    text = (f"## Big queries\n\nTPC-H scale factor {st['scale']:g}: each query on Skein 2 executors x 1 "
            f"thread with `--memory-limit {b['memory_limit']}` on the coordinator and on each executor, "
            "in fresh processes (so each process's peak is that query's), checked against in-process "
            "DuckDB's answer. Peak RSS is the kernel's high-water mark (VmHWM) of each process ("
            + (" / ".join(procs) or "—") + ", MB); sampled is the highest VmRSS seen every 50 ms; "
            "scratch is the most disk the deployment's directory held (spilled spools, DuckDB's spill "
            "files, the coordinator's database), sampled every 0.5 s. DuckDB is in-process DuckDB with "
            "its default threads and no memory limit, the single run that made the reference answer "
            "(for scale, not a goal).\n\n")
    text += _table(["Query", "Skein seconds", "DuckDB seconds", "Peak RSS (MB)", "Sampled RSS (MB)",
                    "Scratch peak (MB)", "Skein plan"], rows)
    describe = next((q["describe"] for q in b["queries"].values() if q.get("describe")), "")
    return text + (f"\n\n- {describe}" if describe else "")


def _section_peers(results):
    p = results["workloads"].get("peers")
    if not p:
        return None
    if "systems" not in p:
        return f"## 7. Peers\n\nerror: {p.get('error')}"
    med = tpch_medians(results)
    queries = results.get("queries", [])
    rows = []
    for s in p["systems"]:
        theirs = med.get(s["label"], {})
        against = s.get("against", SKEIN_SERVE)
        if s.get("not_run") and not theirs:
            rows.append([s["label"], s.get("version", "—"), f"not run: {s['not_run']}", "—", "—", "—"])
            continue
        failed = {n: q for n, q in s.get("queries", {}).items() if q.get("error") or q.get("mismatch")}
        status = f"ran; {len(theirs)} of {len(queries)} queries answered correctly"
        if s.get("not_run"):
            status += f"; stopped: {s['not_run']}"
        ready = s.get("ready_seconds") or []
        gp, gs, common = _geomean_common(theirs, med.get(against, {}))
        cmp = f"{gp:.3g} s vs {gs:.3g} s over {len(common)} queries ({gp / gs:.2f}x)" if common else "—"
        rows.append([s["label"], s.get("version", "—"), status, len(failed),
                     ", ".join(_s(r) for r in ready) or "—", f"{against}: {cmp}"])
    text = ("## 7. Peers\n\nThe same Parquet files (each table's directory registered as one table, "
            "a view in Spark and Sail) and the same 22 query texts of `tpch_queries()`, unchanged (Spark "
            "SQL and Sail parse DuckDB's text as it is), run by each peer configuration in a child "
            "process that is stopped, with every process it started, before the next one. A query a "
            "peer cannot run, or answers differently, is listed below and left out of the comparison, "
            "which is over the queries both answered. A single-process peer is compared with Skein "
            "serve (defaults), a 2-worker one with Skein 2 executors x 1 thread. Start-up is the time "
            "from starting the peer (server, JVM, cluster) to its tables being registered, each time "
            "the child was started.\n\n")
    text += _table(["Peer", "Version", "Status", "Failed queries", "Start-up (s)",
                    "Geomean: peer vs Skein (peer's time over Skein's)"], rows)
    text += "\n\n" + _peer_query_table(results, p, med, queries)
    text += "\n\n" + _peer_wins(results, p, med)
    text += "\n\n" + "\n".join(f"- **{s['label']}**: {s['describe']}"
                                + (f"; {s['about']}" if s.get("about") else "") for s in p["systems"])
    return text + _failures(p["systems"] + p.get("baselines", []))


def _peer_query_table(results, p, med, queries):
    """Seconds per query of every peer that ran, beside the Skein
    configurations they are compared with and DuckDB with 2 threads; a
    peer's time in bold where it beats its Skein configuration."""
    ran = [s for s in p["systems"] if med.get(s["label"])]
    refs = [label for label in (SKEIN_SERVE, SKEIN_2, DUCK_2) if med.get(label)]
    records = {s["label"]: s for s in _tpch_records(results)}
    header = ["Query"] + refs + [s["label"] for s in ran]
    rows = []
    for n in queries:
        row = [f"Q{n:02d}"] + [_stat_cell(records[label].get("queries", {}).get(n)) for label in refs]
        for s in ran:
            cell = _stat_cell(s.get("queries", {}).get(n))
            skein = med.get(s.get("against", SKEIN_SERVE), {})
            if n in med[s["label"]] and n in skein and med[s["label"]][n] < skein[n]:
                cell = f"**{cell}**"
            row.append(cell)
        rows.append(row)
    rows.append(["geomean (all valid)"] + [_s(geomean(list(med[label].values()))) for label in refs + [s["label"] for s in ran]])
    text = ("Seconds per query, median (min–max) of the timed runs; a peer's time is in bold where it is "
            "below its Skein configuration's.\n\n")
    return text + _table(header, rows)


def _qlist(queries):
    return ", ".join(f"Q{n}" for n in queries)


def _peer_wins(results, p, med):
    """Where a peer wins, and why, from the figures: a query a peer runs
    faster than its Skein configuration is put beside DuckDB with the same 2
    threads. Faster than DuckDB too: the peer's engine beats DuckDB's on that
    query, which no cut in what Skein adds to DuckDB would close. Slower than
    DuckDB: the time Skein adds to DuckDB (Skein's time over DuckDB's, with
    Skein's plan) is what the peer beats."""
    d2 = med.get(DUCK_2, {})
    lines = []
    for s in p["systems"]:
        theirs = med.get(s["label"], {})
        against = s.get("against", SKEIN_SERVE)
        skein = med.get(against, {})
        common = sorted(set(theirs) & set(skein))
        if not theirs or not common:
            continue
        wins = [n for n in common if theirs[n] < skein[n]]
        gp, gs, _ = _geomean_common(theirs, skein)
        head = f"- **{s['label']}** against {against}: "
        if not wins:
            lines.append(head + f"slower on all {len(common)} queries both answered (geomean {gp / gs:.2f}x "
                         "Skein's time).")
            continue
        plans = _plans(results, against)
        engine = [n for n in wins if n in d2 and theirs[n] < d2[n]]
        overhead = [n for n in wins if n in d2 and theirs[n] >= d2[n]]
        unknown = [n for n in wins if n not in d2]
        lead = sorted(wins, key=lambda n: theirs[n] / skein[n])
        text = (head + f"faster on {len(wins)} of {len(common)} queries (geomean {gp / gs:.2f}x Skein's "
                "time); " + ("the widest leads " if len(wins) > 1 else "") + ", ".join(
                    f"Q{n} {_s(theirs[n])} s vs {_s(skein[n])} s" for n in lead[:3]) + ".")
        if engine:
            text += (f" On {_qlist(engine)} it is faster than DuckDB with 2 threads too: there its engine "
                     "beats DuckDB's, which Skein's executors run, and no cut in what Skein adds to DuckDB "
                     "would close the gap.")
        if overhead:
            text += (f" On {_qlist(overhead)} it is slower than DuckDB with 2 threads but faster than "
                     "Skein: there it beats the time Skein adds to DuckDB (planning, exchanges, transport); "
                     "Skein's time over DuckDB's there: " + ", ".join(
                         f"Q{n} {skein[n] / d2[n]:.1f}x" + (f" ({plans[n]})" if plans.get(n) else "")
                         for n in overhead) + ".")
        if unknown:
            text += f" No DuckDB 2 threads time to compare on {_qlist(unknown)}."
        lines.append(text)
    if not lines:
        return "Where a peer wins, and why: no peer and Skein configuration answered a query in common."
    return "Where a peer wins, and why (generated from the medians above):\n\n" + "\n".join(lines)


def _section_problems(results):
    if not results.get("problems"):
        return None
    return "## Problems in this run\n\n" + "\n".join(f"- {p}" for p in results["problems"])


def _short_rounds(st):
    """How a short TPC-H query got more timed runs (workloads.timed_rounds)."""
    short = st.get("short_query_seconds") or 0
    if short <= 0:
        return ""
    return (f", more for a TPC-H query whose warm-up round of every system took under {short / st['runs']:g} s: "
            f"as many as make about {short:g} s, up to {5 * st['runs']}")


def _section_how(results):
    env = results["environment"]
    st = results["settings"]
    lines = ["## How this was produced", "",
             f"- Command: `{results['command']}`",
             f"- Harness: `{results['argv']}`",
             f"- Date (UTC): {results['started']} to {results['finished']}",
             f"- Machine: {env['cpus']} CPUs ({env['cpu_model']}), {env['memory']} RAM, "
             f"Linux {env['kernel']}",
             f"- Skein: `{env['skein_version']}` (binary {env['skein_bin']}; repository {env['git']})",
             "- Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
             *_peer_versions(results),
             f"- Data: TPC-H scale factor {st['scale']} from DuckDB's tpch extension (`CALL dbgen`), "
             f"Parquet, {st['data']['size_mb']:.0f} MB; lineitem and orders as {st['data']['split_files']} "
             f"files each (row groups of up to {st['data']['row_group_size']:,} rows, "
             f"{st['data']['lineitem_row_groups']} row groups in lineitem), the other tables one file each; "
             f"cached in `{st['data']['dir']}`",
             f"- Queries: {len(results.get('queries', []))} of the 22 of `tpch_queries()`, unchanged",
             f"- More flags: `skein coordinator` and `skein serve`: "
             f"`{' '.join(st.get('skein_flags') or []) or 'none'}`; `skein executor`: "
             f"`{' '.join(st.get('executor_flags') or []) or 'none'}`",
             f"- Runs: {st['warmup']} warm-up + {st['runs']} timed per query and system (medians, min, max)"
             + _short_rounds(st) + "; "
             f"latency {st['latency_runs']} runs; concurrency {st['duration']:g} s per client count and system"
             + (f" in {st['rounds']} rounds" if (st.get('rounds') or 1) > 1 else "") + "; "
             f"a query is cancelled after {st['query_timeout']:g} s (a peer's after all its runs); "
             "answers' floating-point "
             f"values agree within a relative {st['rel_tol']:g} (peers: {st['peer_rel_tol']:g}), a "
             "decimal and a double within a unit in the decimal's last place",
             "- One system runs at a time. In the TPC-H workload every system's servers are up together, "
             "idle but for the one running, and the systems take turns run by run (each query's warm-ups, then "
             "its timed runs, each round starting at the next system), so that the machine's load changing "
             "during the workload falls on all of them alike; so do the fetch workload's (round by round), the "
             "latency workload's through ADBC (statement by statement) and the concurrency workload's (round "
             "by round); in the others, servers are stopped between configurations."]
    return "\n".join(lines)


def _peer_versions(results):
    """The peers' versions, read in their own venvs (Sail's and Spark's are not the bench's)."""
    ran = [s for s in results["workloads"].get("peers", {}).get("systems", []) if s.get("version")]
    if not ran:
        return []
    return ["- Peers: " + "; ".join(f"{s['label']}: {s['package']} {s['version']}"
                                   + (f", {s['about']}" if s.get("about") else "") for s in ran)]


def write(results, out_dir, date, queries, stem=None):
    """Write <stem>.md and <stem>.png (stem: date) into out_dir; returns the md path."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or date
    chart = out_dir / f"{stem}.png"
    chart_written = write_chart(results, queries, chart)
    st = results["settings"]
    flags = " ".join(st.get("skein_flags") or [])
    eflags = " ".join(st.get("executor_flags") or [])
    parts = [f"# Skein benchmark, {date}" + (", big queries" if results.get("big_queries") else ""),
             f"TPC-H scale factor {st['scale']} on {results['environment']['cpus']} CPUs"
             + (f"; every Skein coordinator and serve with `{flags}`" if flags else "")
             + (f"; every Skein executor with `{eflags}`" if eflags else "")
             + ". Produced by the command in \"How this was produced\"; every figure below comes from "
             "that run.",
             _section_headline(results),
             _section_problems(results),
             _section_fetch(results),
             _section_tpch(results, queries, chart.name if chart_written else "(no chart)"),
             _section_latency(results),
             _section_concurrency(results),
             _section_memory(results),
             _section_groupby(results),
             _section_tpcds(results),
             _section_s3(results),
             _section_big(results),
             _section_peers(results),
             _section_profiles(results),
             _section_how(results)]
    md = out_dir / f"{stem}.md"
    md.write_text("\n\n".join(p for p in parts if p) + "\n")
    return md


def write_chart(results, queries, path):
    """Grouped bars of per-query median seconds, one bar per system, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    med = tpch_medians(results)
    labels = [label for label in med]
    if not labels:
        return False
    fig, ax = plt.subplots(figsize=(max(12, len(queries) * 0.9), 6))
    width = 0.85 / len(labels)
    for i, label in enumerate(labels):
        xs = [q + (i - (len(labels) - 1) / 2) * width for q in range(len(queries))]
        ys = [med[label].get(n, 0) for n in queries]
        ax.bar(xs, ys, width, label=label)
    ax.set_yscale("log")
    ax.set_xlim(-0.6, len(queries) - 0.4)
    ax.set_xticks(range(len(queries)))
    ax.set_xticklabels([f"Q{n}" for n in queries])
    ax.set_ylabel("seconds (median, log scale)")
    ax.set_title(f"TPC-H SF {results['settings']['scale']}: per-query time per system "
                 "(missing bar: error or wrong answer)")
    ax.legend(fontsize="small", ncol=min(4, len(labels)), loc="upper center",
              bbox_to_anchor=(0.5, -0.08))
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def update_readme(readme, md_path, results):
    """Replace the README block between the markers with a link to md_path
    and the headline figures; add a Benchmarks section if there is none.
    A big-queries run has its own block, put after the main one the first
    time, so that neither run's figures replace the other's."""
    readme = pathlib.Path(readme)
    rel = pathlib.Path(os.path.relpath(md_path.resolve(), readme.resolve().parent)).as_posix()
    st = results["settings"]
    rows = headline(results)
    big = results.get("big_queries")
    begin, end = (README_BIG_BEGIN, README_BIG_END) if big else (README_BEGIN, README_END)
    block = "\n".join([
        begin,
        f"{'Big queries' if big else 'Latest results'}: [{rel}]({rel}) (TPC-H scale factor {st['scale']}, "
        f"{results['environment']['cpus']} CPUs, `{results['command']}`, {results['started'][:10]}).",
        "",
        _table(["Goal", "Measured", "Target", "Status"], rows),
        end,
    ])
    text = readme.read_text()
    if begin in text and end in text:
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
        text = pattern.sub(lambda _: block, text, count=1)
    elif big and README_END in text:
        text = text.replace(README_END, README_END + "\n\n" + block, 1)
    else:
        text = text.rstrip("\n") + "\n\n## Benchmarks\n\n" + _benchmarks_intro() + "\n\n" + block + "\n"
    readme.write_text(text)


def _benchmarks_intro():
    return ("`make bench` generates TPC-H data (scale factor 1) with DuckDB's tpch extension, runs "
            "the workloads of `bench/` (fetch throughput, the 22 TPC-H queries, latency, concurrency, "
            "memory, and the peers DataFusion, Ballista, Sail and Apache Spark where they install) against in-process "
            "DuckDB, and writes `bench/results/DATE.md` with a chart; `make bench-smoke` runs the same "
            "at a tiny scale. The block below is rewritten by `make bench`.")
