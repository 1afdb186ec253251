"""Whether a point lookup uses a second DuckDB thread: in-process DuckDB with threads=1 and threads=2,
the TPC-H views over the Parquet files, RUNS lookups (`SELECT * FROM orders WHERE o_orderkey = K`, a
new existing key each), the two in random order key by key. Prints each one's p50 and p99 and the CPU
a lookup (this process's: DuckDB's threads and the caller's). A lookup reads the one row group the
Parquet statistics leave: one task, so the second thread only waits (spinning, in
duckdb_execute_pending, on the calling thread).

    $BUILD_DIR/benchenv/bin/python bench/lookup_threads.py DATA_DIR RUNS"""
import pathlib, random, statistics, sys, time
here = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import duckdb
import tpch

data, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
files = tpch.table_files(data)
cons = []
for threads in (1, 2):
    con = duckdb.connect(config={"threads": threads})
    for stmt in tpch.view_statements(files):
        con.execute(stmt)
    cons.append(con)
keys = [k for (k,) in cons[0].execute(f"SELECT o_orderkey FROM orders USING SAMPLE {runs + 20} ROWS (reservoir, 7)").fetchall()]
took, cpu = [[], []], [0.0, 0.0]
for i, k in enumerate(keys):
    for j in random.sample([0, 1], 2):
        c0, t0 = time.process_time(), time.perf_counter()
        assert cons[j].execute(f"SELECT * FROM orders WHERE o_orderkey = {k}").to_arrow_table().num_rows == 1
        if i >= 20:  # the first ones warm up
            took[j].append(time.perf_counter() - t0)
            cpu[j] += time.process_time() - c0
for j in (0, 1):
    v = sorted(took[j])
    print(f"in-process DuckDB threads={j + 1}: p50 {statistics.median(v) * 1e3:.2f} ms  p99 {v[int(len(v) * .99) - 1] * 1e3:.2f} ms  "
          f"CPU a lookup {cpu[j] / len(v) * 1e3:.2f} ms")
