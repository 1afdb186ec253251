"""Several clients at once, each with its own connection."""

import concurrent.futures as cf
import threading

import pyarrow as pa

import flightsql_raw as raw

THREADS = 8


def test_concurrent_clients_read_and_write(server, unique_name):
    shared = unique_name("shared")
    setup = server.connect()
    with setup.cursor() as cur:
        cur.execute(f"CREATE TABLE {shared} AS SELECT range AS i FROM range(100000)")
    setup.close()
    barrier = threading.Barrier(THREADS)

    def worker(n):
        conn = server.connect()
        try:
            barrier.wait(timeout=60)
            own = f"{shared}_w{n}"
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE {own} (k INTEGER, v VARCHAR)")
                cur.executemany(f"INSERT INTO {own} VALUES (?, ?)", [(j, f"{n}-{j}") for j in range(200)])
                cur.adbc_ingest(own, pa.table({"k": pa.array(range(200, 10200), pa.int32()),
                                               "v": pa.array([f"{n}"] * 10000)}), mode="append")
                results = []
                for rep in range(5):
                    cur.execute(f"SELECT count(*), sum(i) FROM {shared} WHERE i % ?::BIGINT = 0", (n + 1,))
                    results.append(cur.fetchone())
                    cur.execute(f"SELECT count(*), sum(k) FROM {own}")
                    results.append(cur.fetchone())
                cur.execute(f"SELECT * FROM range({n * 100000})")
                big = cur.fetch_arrow_table().num_rows
            return n, results, big
        finally:
            conn.close()

    with cf.ThreadPoolExecutor(THREADS) as pool:
        outcomes = list(pool.map(worker, range(THREADS)))
    for n, results, big in outcomes:
        m = n + 1
        exp_shared = (len(range(0, 100000, m)), sum(range(0, 100000, m)))
        exp_own = (10200, sum(range(10200)))
        assert results == [exp_shared, exp_own] * 5, (n, results)
        assert big == n * 100000


def test_concurrent_raw_clients(server):
    def worker(n):
        with raw.RawClient(server.uri, server.user, server.password) as rc:
            t = rc.sql(f"SELECT sum(range) AS s, {n} AS n FROM range({n * 1000 + 1})")
            return t.to_pylist()

    with cf.ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(worker, range(2 * THREADS)))
    for n, rows in enumerate(got):
        assert rows == [{"s": sum(range(n * 1000 + 1)), "n": n}]


def test_concurrent_writers_same_table(server, unique_name):
    t = unique_name("cw")
    setup = server.connect()
    with setup.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (writer INTEGER, j INTEGER)")
    setup.close()

    def worker(n):
        conn = server.connect()
        try:
            with conn.cursor() as cur:
                for j in range(20):
                    cur.execute(f"INSERT INTO {t} VALUES (?, ?)", (n, j))
        finally:
            conn.close()

    with cf.ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    check = server.connect()
    try:
        with check.cursor() as cur:
            cur.execute(f"SELECT writer, count(*) FROM {t} GROUP BY writer ORDER BY writer")
            assert cur.fetchall() == [(n, 20) for n in range(THREADS)]
    finally:
        check.close()
