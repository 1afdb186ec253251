"""`skein serve` with its defaults: the in-process executors share the
coordinator's cores, so queries run whole on the coordinator's DuckDB
(--in-process-plan local), and --explain and the history say so."""

import subprocess

import duckdb

from conftest import PASSWORD, SKEIN_BIN, USER


def test_serve_defaults_run_queries_on_the_coordinator(skein_factory, data_root):
    srv = skein_factory(allow_dirs=[data_root], in_process_plan=None)
    glob = f"{data_root / 'pq'}/*.parquet"
    agg = f"SELECT grp, count(*) AS n, sum(id) AS s FROM read_parquet('{glob}') GROUP BY grp ORDER BY grp"
    scan = f"SELECT id, grp FROM read_parquet('{glob}') WHERE grp <> 3"
    with srv.connect() as conn, conn.cursor() as cur:
        cur.execute(agg)
        assert cur.fetch_arrow_table().to_pylist() == duckdb.sql(agg).to_arrow_table().to_pylist()
        cur.execute(scan)
        got = cur.fetch_arrow_table()
        assert got.num_rows == duckdb.sql(f"SELECT count(*) FROM ({scan})").fetchone()[0]
        cur.execute("SELECT mode, tasks, status FROM skein.queries WHERE sql IN (?, ?)", (agg, scan))
        assert cur.fetchall() == [("local", 0, "ok")] * 2

    out = subprocess.run([SKEIN_BIN, "sql", "--uri", srv.uri, "-u", USER, "-p", PASSWORD, "--explain", agg],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith("mode: local"), out
    assert "reason: runs local: the executors run in this process and share its cores" in out, out
