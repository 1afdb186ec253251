"""Bulk ingest (CommandStatementIngest) through cursor.adbc_ingest."""

import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from adbc_driver_manager import AdbcStatusCode, dbapi

N = 120_000


def make_table(n=N, offset=0):
    ids = pa.array(range(offset, offset + n), pa.int64())
    base = datetime.datetime(2024, 1, 1)
    return pa.table({
        "id": ids,
        "name": pa.array([None if i % 97 == 0 else f"row-{i}" for i in range(offset, offset + n)]),
        "value": pa.array([i * 0.5 for i in range(offset, offset + n)], pa.float64()),
        "flag": pa.array([i % 2 == 0 for i in range(offset, offset + n)]),
        "small": pa.array([i % 100 for i in range(offset, offset + n)], pa.int32()),
        "day": pa.array([datetime.date(2024, 1, 1) + datetime.timedelta(days=i % 365)
                         for i in range(offset, offset + n)], pa.date32()),
        "ts": pa.array([base + datetime.timedelta(seconds=i) for i in range(offset, offset + n)],
                       pa.timestamp("us")),
    })


def fetch_sorted(cur, qualified):
    cur.execute(f"SELECT * FROM {qualified} ORDER BY id")
    return cur.fetch_arrow_table()


def assert_same_rows(got, expected):
    assert got.num_rows == expected.num_rows
    assert got.column_names == expected.column_names
    for name in expected.column_names:
        g = got.column(name).combine_chunks()
        e = expected.column(name).combine_chunks()
        assert g.type == e.type, (name, g.type, e.type)
        assert g.equals(e), f"column {name} differs"


def stats(cur, qualified):
    cur.execute(f"SELECT count(*), sum(id), count(name), sum(value) FROM {qualified}")
    return cur.fetchone()


def expected_stats(table):
    return (table.num_rows, pc.sum(table["id"]).as_py(), table["name"].length() - table["name"].null_count,
            pc.sum(table["value"]).as_py())


def test_ingest_create(conn, unique_name):
    t = unique_name("ing")
    data = make_table()
    with conn.cursor() as cur:
        n = cur.adbc_ingest(t, data, mode="create")
        assert n in (N, -1)
        assert_same_rows(fetch_sorted(cur, t), data)
        # create on an existing table fails
        with pytest.raises(dbapi.Error) as ei:
            cur.adbc_ingest(t, make_table(10), mode="create")
        assert ei.value.status_code == AdbcStatusCode.ALREADY_EXISTS, ei.value
        assert stats(cur, t) == expected_stats(data)


def test_ingest_rowcount(conn, unique_name):
    with conn.cursor() as cur:
        assert cur.adbc_ingest(unique_name("ing"), make_table(), mode="create") == N


def test_ingest_append(conn, unique_name):
    t = unique_name("ing")
    first, second = make_table(), make_table(offset=N)
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error) as ei:
            cur.adbc_ingest(t, first, mode="append")
        assert ei.value.status_code == AdbcStatusCode.NOT_FOUND, ei.value
        cur.adbc_ingest(t, first, mode="create")
        cur.adbc_ingest(t, second, mode="append")
        assert_same_rows(fetch_sorted(cur, t), pa.concat_tables([first, second]))


def test_ingest_append_schema_mismatch_fails(conn, unique_name):
    t = unique_name("ing")
    with conn.cursor() as cur:
        cur.adbc_ingest(t, make_table(100), mode="create")
        bad = pa.table({"other": pa.array([1, 2, 3])})
        with pytest.raises(dbapi.Error):
            cur.adbc_ingest(t, bad, mode="append")
        assert stats(cur, t)[0] == 100


def test_ingest_replace(conn, unique_name):
    t = unique_name("ing")
    with conn.cursor() as cur:
        # replace on a missing table creates it
        cur.adbc_ingest(t, make_table(), mode="replace")
        replacement = pa.table({"id": pa.array(range(N + 5), pa.int64()),
                                "label": pa.array([f"r{i}" for i in range(N + 5)])})
        cur.adbc_ingest(t, replacement, mode="replace")
        cur.execute(f"SELECT * FROM {t} ORDER BY id")
        got = cur.fetch_arrow_table()
        assert got.column_names == ["id", "label"]
        assert got.num_rows == N + 5
        assert_same_rows(got, replacement)


def test_ingest_create_append(conn, unique_name):
    t = unique_name("ing")
    first, second = make_table(), make_table(offset=N)
    with conn.cursor() as cur:
        cur.adbc_ingest(t, first, mode="create_append")
        assert stats(cur, t) == expected_stats(first)
        cur.adbc_ingest(t, second, mode="create_append")
        assert_same_rows(fetch_sorted(cur, t), pa.concat_tables([first, second]))


def test_ingest_record_batch_reader(conn, unique_name):
    t = unique_name("ing")
    data = make_table()
    reader = pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=7_000))
    with conn.cursor() as cur:
        cur.adbc_ingest(t, reader, mode="create")
        assert_same_rows(fetch_sorted(cur, t), data)


def test_ingest_temporary(server, conn, unique_name):
    t = unique_name("tmp")
    data = make_table()
    with conn.cursor() as cur:
        cur.adbc_ingest(t, data, mode="create", temporary=True)
        assert stats(cur, t) == expected_stats(data)
        cur.execute("SELECT database_name, temporary FROM duckdb_tables() WHERE table_name = ?", (t,))
        assert cur.fetchall() == [("temp", True)]
        cur.adbc_ingest(t, make_table(10, offset=N), mode="append", temporary=True)
        assert stats(cur, t)[0] == N + 10
    # not visible from another session
    other = server.connect()
    try:
        with other.cursor() as cur:
            with pytest.raises(dbapi.Error):
                cur.execute(f"SELECT count(*) FROM {t}")
                cur.fetchall()
    finally:
        other.close()


def test_ingest_temporary_gone_after_close(server, unique_name):
    t = unique_name("tmp")
    c1 = server.connect()
    with c1.cursor() as cur:
        cur.adbc_ingest(t, make_table(1000), mode="create", temporary=True)
        assert stats(cur, t)[0] == 1000
    c1.close()
    c2 = server.connect()
    try:
        with c2.cursor() as cur:
            cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", (t,))
            assert cur.fetchone() == (0,)
    finally:
        c2.close()


def test_ingest_with_catalog_and_schema(conn, catalog_name, unique_name):
    t = unique_name("ing")
    schema = unique_name("sch")
    data = make_table()
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.adbc_ingest(t, data, mode="create", catalog_name=catalog_name, db_schema_name=schema)
        assert_same_rows(fetch_sorted(cur, f'"{catalog_name}"."{schema}".{t}'), data)
        # not created in main
        cur.execute("SELECT schema_name FROM duckdb_tables() WHERE table_name = ?", (t,))
        assert cur.fetchall() == [(schema,)]
        cur.adbc_ingest(t, make_table(5, offset=N), mode="append", db_schema_name=schema)
        assert stats(cur, f"{schema}.{t}")[0] == N + 5
        cur.adbc_ingest(t, make_table(7), mode="create", catalog_name=catalog_name,
                        db_schema_name="main")
        assert stats(cur, f'"{catalog_name}".main.{t}')[0] == 7


def test_ingest_into_missing_schema_fails(conn, unique_name):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error):
            cur.adbc_ingest(unique_name("ing"), make_table(10), mode="create",
                            db_schema_name="no_such_schema_xyz")


def test_ingest_visible_to_other_connections(server, conn, unique_name):
    t = unique_name("ing")
    data = make_table()
    with conn.cursor() as cur:
        cur.adbc_ingest(t, data, mode="create")
    other = server.connect()
    try:
        with other.cursor() as cur:
            assert stats(cur, t) == expected_stats(data)
    finally:
        other.close()


def test_ingest_nested_and_decimal_types(conn, unique_name):
    t = unique_name("ing")
    import decimal
    data = pa.table({
        "id": pa.array(range(3), pa.int64()),
        "d": pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-99.99")], pa.decimal128(9, 2)),
        "l": pa.array([[1, 2], [], None], pa.list_(pa.int32())),
        "s": pa.array([{"a": 1, "b": "x"}, None, {"a": 3, "b": None}],
                      pa.struct([("a", pa.int64()), ("b", pa.string())])),
        "bin": pa.array([b"\x00\xff", None, b""], pa.binary()),
    })
    with conn.cursor() as cur:
        cur.adbc_ingest(t, data, mode="create")
        got = fetch_sorted(cur, t)
        assert got.to_pylist() == data.to_pylist()
