"""One query run again and again through ADBC against a running Skein, timed: the figures of
the plan changes' notes (a query before and after, each binary's cluster started in turn with
bench/cluster_at.sh). Creates the views first (a file of `;`-separated statements, as
bench/tpch.py's view_statements or bench/tpcds_probe.py's give them), runs the query RUNS times,
fetching its whole answer each time, and prints its row count and the median and minimum seconds.

    $BUILD_DIR/benchenv/bin/python bench/repeat.py URI VIEWS.sql QUERY.sql RUNS"""
import statistics
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql


def main():
    uri, views, query, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    conn = flightsql.connect(uri, autocommit=True)
    cur = conn.cursor()
    for stmt in open(views).read().split(";\n"):
        if stmt.strip():
            cur.execute(stmt)
    sql = open(query).read()
    times, rows = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        cur.execute(sql)
        rows = cur.fetch_arrow_table().num_rows
        times.append(time.perf_counter() - start)
    print(f"{query}: {rows} rows, median {statistics.median(times):.3f} s, min {min(times):.3f} s over {runs} runs")


if __name__ == "__main__":
    main()
