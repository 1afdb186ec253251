"""TPC-DS through a running Skein deployment, every answer compared with in-process DuckDB's:
which of the 99 queries split and why the others run local. A probe of the planner's generality
on the queries analysts and BI tools write (rollups, windows, unions of channels, CTEs read
twice), not a timed benchmark: each query runs once on each side.

Generates the data with DuckDB's tpcds extension, loaded from the duckdb-extension-tpcds wheel
(never INSTALLed), as Parquet under DATA (each table of over 100,000 rows in two files, row
groups of 20,000 rows) the first time, then creates a view per table on both sides.

    $BUILD_DIR/benchenv/bin/python bench/tpcds_probe.py URI DATA BINARY [--scale 1] [--queries 28,88]

BINARY is the skein binary whose `sql -explain` gives each query's plan. Exits 1 when any
answer differs or errs. `make bench` runs the same as its tpcds workload (workloads.py), on a
deployment of its own."""
import argparse
import collections
import json
import pathlib
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql
import duckdb

import answers

ROW_GROUP = 20000


def extension_path():
    import duckdb_extension_tpcds

    return (pathlib.Path(duckdb_extension_tpcds.__file__).parent / "extensions" / f"v{duckdb.__version__}"
            / "tpcds.duckdb_extension")


def ensure_data(data, scale):
    stamp = data / "stamp.json"
    want = {"scale": scale, "duckdb": duckdb.__version__, "row_group": ROW_GROUP}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return
    data.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{extension_path()}'")
    con.execute(f"CALL dsdgen(sf={scale})")
    for (t,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall():
        (data / t).mkdir(exist_ok=True)
        parts = 2 if con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] > 100000 else 1
        for i in range(parts):
            con.execute(f"COPY (SELECT * FROM {t} WHERE rowid % {parts} = {i}) TO '{data}/{t}/part-{i}.parquet' "
                        f"(FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})")
    (data / "queries").mkdir(exist_ok=True)
    for n, q in con.execute("SELECT query_nr, query FROM tpcds_queries()").fetchall():
        (data / "queries" / f"{n:02d}.sql").write_text(q)
    stamp.write_text(json.dumps(want))


def view_statements(data):
    """A view per table of the TPC-DS data under data, over its Parquet files."""
    tables = sorted(d.name for d in data.iterdir() if d.is_dir() and d.name != "queries")
    return [f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM read_parquet('{data}/{t}/*.parquet')" for t in tables]


def queries(data):
    """[(query number, SQL text)] of the 99, as the extension has them."""
    return [(int(p.stem), p.read_text()) for p in sorted((data / "queries").glob("*.sql"))]


def plan_of(binary, uri, sql):
    """(mode, reason) from `skein sql -explain`: JSON for a split query, text for a local one."""
    p = subprocess.run([binary, "sql", "-uri", uri, "-explain"], input=sql, capture_output=True, text=True)
    try:
        meta = json.loads(p.stdout)
        return meta.get("mode", "?"), meta.get("reason", "")
    except ValueError:
        lines = (p.stdout or p.stderr).strip().splitlines()
        reason = next((line.removeprefix("reason: ") for line in lines if line.startswith("reason: ")), "")
        mode = "local" if any(line.startswith("mode: local") for line in lines) else "explain error"
        return mode, reason or " ".join(lines)[:200]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("uri")
    ap.add_argument("data", type=pathlib.Path)
    ap.add_argument("binary")
    ap.add_argument("--scale", type=float, default=1)
    ap.add_argument("--queries", help="comma-separated query numbers (default: all 99)")
    a = ap.parse_args()
    data = a.data.resolve()
    ensure_data(data, a.scale)
    only = {int(x) for x in a.queries.split(",")} if a.queries else None
    views = view_statements(data)
    ref = duckdb.connect()
    conn = flightsql.connect(a.uri, autocommit=True)
    cur = conn.cursor()
    for v in views:
        ref.execute(v)
        cur.execute(v)
    modes, reasons, bad = collections.Counter(), collections.Counter(), []
    totals = [0.0, 0.0]
    for n, sql in queries(data):
        if only and n not in only:
            continue
        mode, reason = plan_of(a.binary, a.uri, sql)
        t0 = time.perf_counter()
        want = ref.execute(sql).to_arrow_table()
        t1 = time.perf_counter()
        try:
            cur.execute(sql)
            got = cur.fetch_arrow_table()
            diff = answers.compare(want, got, ordered=answers.has_top_level_order(ref, sql))
        except Exception as e:  # an error is a failed answer, reported with the others
            diff = "error: " + (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        t2 = time.perf_counter()
        totals[0] += t1 - t0
        totals[1] += t2 - t1
        modes[mode] += 1
        if mode == "local":
            reasons[reason] += 1
        if diff is not None:
            bad.append(n)
        print(f"Q{n:02d} {'ok' if diff is None else 'DIFF':4s} {mode:13s} DuckDB {t1 - t0:6.3f} s  Skein {t2 - t1:6.3f} s"
              f"  {reason[:120]}", flush=True)
        if diff is not None:
            print(f"     {str(diff)[:400]}", flush=True)
    print(f"plans: {dict(modes)}; seconds in all: DuckDB {totals[0]:.2f}, Skein {totals[1]:.2f}")
    for r, k in reasons.most_common():
        print(f"  {k:3d} local: {r}")
    print(f"answers differing: {bad or 'none'}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
