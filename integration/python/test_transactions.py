"""Transactions with autocommit off (ADBC BeginTransaction / EndTransaction)."""

import warnings

import pyarrow as pa
import pytest

from adbc_driver_manager import dbapi


def txn_conn(server):
    with warnings.catch_warnings():
        # ADBC warns and silently falls back to autocommit if the server has no transactions.
        warnings.simplefilter("error")
        return server.connect(autocommit=False)


def count(conn, table):
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {table}")
        return cur.fetchone()[0]


@pytest.fixture
def table(conn, unique_name):
    t = unique_name("tx")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER, v VARCHAR)")
        cur.execute(f"INSERT INTO {t} VALUES (0, 'seed')")
    return t


def test_commit(server, conn, table):
    tx = txn_conn(server)
    try:
        with tx.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'a'), (2, 'b')")
            cur.execute(f"UPDATE {table} SET v = 'seed2' WHERE id = 0")
        assert count(tx, table) == 3          # own writes visible
        assert count(conn, table) == 1        # isolated from others until commit
        tx.commit()
        assert count(conn, table) == 3
        with conn.cursor() as cur:
            cur.execute(f"SELECT v FROM {table} WHERE id = 0")
            assert cur.fetchone() == ("seed2",)
    finally:
        tx.close()


def test_rollback(server, conn, table):
    tx = txn_conn(server)
    try:
        with tx.cursor() as cur:
            cur.execute(f"INSERT INTO {table} VALUES (1, 'a')")
            cur.execute(f"DELETE FROM {table} WHERE id = 0")
        assert count(tx, table) == 1
        tx.rollback()
        assert count(tx, table) == 1
        with tx.cursor() as cur:
            cur.execute(f"SELECT id, v FROM {table}")
            assert cur.fetchall() == [(0, "seed")]
        assert count(conn, table) == 1
    finally:
        tx.close()


def test_several_transactions_on_one_connection(server, conn, table):
    tx = txn_conn(server)
    try:
        for i in range(1, 6):
            with tx.cursor() as cur:
                cur.execute(f"INSERT INTO {table} VALUES (?, 'x')", (i,))
            if i % 2:
                tx.commit()
            else:
                tx.rollback()
        assert count(conn, table) == 1 + 3
    finally:
        tx.close()


def test_ddl_rollback(server, conn, unique_name):
    t = unique_name("txddl")
    tx = txn_conn(server)
    try:
        with tx.cursor() as cur:
            cur.execute(f"CREATE TABLE {t} (x INTEGER)")
            cur.execute(f"INSERT INTO {t} VALUES (1)")
        assert count(tx, t) == 1
        tx.rollback()
        with conn.cursor() as cur:
            with pytest.raises(dbapi.Error):
                cur.execute(f"SELECT * FROM {t}")
                cur.fetchall()
    finally:
        tx.close()


def test_ingest_and_executemany_in_transaction(server, conn, unique_name, table):
    t = unique_name("txing")
    data = pa.table({"a": pa.array(range(10_000), pa.int64())})
    tx = txn_conn(server)
    try:
        with tx.cursor() as cur:
            cur.adbc_ingest(t, data, mode="create")
            cur.executemany(f"INSERT INTO {table} VALUES (?, ?)", [(i, "m") for i in range(100)])
        assert count(tx, t) == 10_000
        assert count(tx, table) == 101
        tx.rollback()
        assert count(conn, table) == 1
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", (t,))
            assert cur.fetchone() == (0,)
        with tx.cursor() as cur:
            cur.adbc_ingest(t, data, mode="create")
        tx.commit()
        assert count(conn, t) == 10_000
    finally:
        tx.close()


def test_uncommitted_work_discarded_on_close(server, conn, table):
    tx = txn_conn(server)
    with tx.cursor() as cur:
        cur.execute(f"INSERT INTO {table} VALUES (99, 'lost')")
    tx.close()
    assert count(conn, table) == 1


def test_write_conflict_reported(server, conn, table):
    a = txn_conn(server)
    b = txn_conn(server)
    try:
        with a.cursor() as cur:
            cur.execute(f"UPDATE {table} SET v = 'a' WHERE id = 0")
        with b.cursor() as cur:
            with pytest.raises(dbapi.Error) as ei:
                cur.execute(f"UPDATE {table} SET v = 'b' WHERE id = 0")
                cur.fetchall()
            assert "conflict" in str(ei.value).lower(), str(ei.value)
        a.commit()
        with conn.cursor() as cur:
            cur.execute(f"SELECT v FROM {table} WHERE id = 0")
            assert cur.fetchone() == ("a",)
    finally:
        a.close()
        b.close()
