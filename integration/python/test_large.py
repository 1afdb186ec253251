"""Large results: millions of rows through ADBC and raw Flight."""

import pyarrow as pa
import pyarrow.compute as pc

import flightsql_raw as raw

N = 5_000_000


def test_five_million_rows_adbc(conn):
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM range({N})")
        table = cur.fetch_arrow_table()
    assert table.num_rows == N
    assert table.column_names == ["range"]
    assert table.schema.field("range").type == pa.int64()
    col = table.column(0)
    assert pc.sum(col).as_py() == N * (N - 1) // 2
    assert pc.min(col).as_py() == 0 and pc.max(col).as_py() == N - 1
    assert pc.count_distinct(col).as_py() == N


def test_five_million_rows_fetch_batches(conn):
    with conn.cursor() as cur:
        cur.execute(f"SELECT range AS i, range % 7 AS m, 'x' || (range % 10) AS s FROM range({N})")
        reader = cur.fetch_record_batch()
        rows = 0
        total = 0
        batches = 0
        for batch in reader:
            batches += 1
            rows += batch.num_rows
            total += pc.sum(batch.column(0)).as_py() or 0
    assert rows == N
    assert total == N * (N - 1) // 2
    assert batches > 1  # streamed, not one giant batch


def test_five_million_rows_raw_flight(server):
    with raw.RawClient(server.uri, server.user, server.password) as rc:
        info, table = rc.query(raw.statement_query(f"SELECT range * 2 AS x FROM range({N})"))
    assert table.num_rows == N
    assert pc.sum(table.column("x")).as_py() == N * (N - 1)
    if info.total_records != -1:
        assert info.total_records == N


def test_wide_strings(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT range AS i, repeat('abcdefghij', 100) || range::VARCHAR AS s FROM range(200000)")
        table = cur.fetch_arrow_table()
    assert table.num_rows == 200_000
    assert pc.sum(pc.binary_length(table.column("s"))).as_py() == sum(1000 + len(str(i)) for i in range(200_000))
