"""Statements, DDL/DML, errors, parameters and executemany through ADBC."""

import datetime
import decimal

import adbc_driver_manager
import pyarrow as pa
import pytest

from adbc_driver_manager import dbapi


def test_ddl_and_dml(server, conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, name VARCHAR, score DOUBLE)")
        cur.execute(f"INSERT INTO {t} VALUES (1, 'a', 1.5), (2, 'b', 2.5), (3, 'c', 3.5)")
        cur.execute(f"UPDATE {t} SET score = score * 2 WHERE id >= 2")
        cur.execute(f"DELETE FROM {t} WHERE id = 1")
        cur.execute(f"SELECT id, name, score FROM {t} ORDER BY id")
        assert cur.fetchall() == [(2, "b", 5.0), (3, "c", 7.0)]
        cur.execute(f"ALTER TABLE {t} ADD COLUMN extra VARCHAR DEFAULT 'x'")
        cur.execute(f"CREATE VIEW {t}_v AS SELECT id, extra FROM {t}")
    # another connection sees the committed (autocommit) changes
    other = server.connect()
    try:
        with other.cursor() as cur:
            cur.execute(f"SELECT * FROM {t}_v ORDER BY id")
            assert cur.fetchall() == [(2, "x"), (3, "x")]
    finally:
        other.close()
    with conn.cursor() as cur:
        cur.execute(f"DROP VIEW {t}_v")
        cur.execute(f"DROP TABLE {t}")
        with pytest.raises(dbapi.Error):
            cur.execute(f"SELECT * FROM {t}")
            cur.fetchall()


def test_ddl_runs_without_fetching(server, conn, unique_name):
    """DDL/DML sent as a query takes effect even if the client never fetches the result."""
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} AS SELECT range AS i FROM range(10)")
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {t} VALUES (100)")
    other = server.connect()
    try:
        with other.cursor() as cur:
            cur.execute(f"SELECT count(*), sum(i) FROM {t}")
            assert cur.fetchone() == (11, 145)
    finally:
        other.close()


def test_dml_returning_and_row_results(conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER, v VARCHAR)")
        cur.execute(f"INSERT INTO {t} VALUES (1, 'one'), (2, 'two') RETURNING id, upper(v)")
        assert sorted(cur.fetchall()) == [(1, "ONE"), (2, "TWO")]


def test_syntax_error_carries_duckdb_message(conn):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error) as ei:
            cur.execute("SELEC 1")
            cur.fetchall()
        msg = str(ei.value)
        assert 'syntax error at or near "SELEC"' in msg, msg
        # the connection is still usable
        cur.execute("SELECT 1")
        assert cur.fetchall() == [(1,)]


def test_missing_table_error_carries_duckdb_message(conn):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error) as ei:
            cur.execute("SELECT * FROM no_such_table_xyz")
            cur.fetchall()
        msg = str(ei.value)
        assert "Table with name no_such_table_xyz does not exist" in msg, msg


def test_runtime_error_carries_duckdb_message(conn):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error) as ei:
            cur.execute("SELECT CAST('not a number' AS INTEGER)")
            cur.fetchall()
        msg = str(ei.value)
        assert "Could not convert string 'not a number' to INT32" in msg, msg


def test_constraint_violation_carries_duckdb_message(conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY)")
        cur.execute(f"INSERT INTO {t} VALUES (1)")
        with pytest.raises(dbapi.Error) as ei:
            cur.execute(f"INSERT INTO {t} VALUES (1)")
            cur.fetchall()
        assert "Duplicate key" in str(ei.value), str(ei.value)
        cur.execute(f"SELECT count(*) FROM {t}")
        assert cur.fetchone() == (1,)


def test_query_parameters(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT ?::INTEGER + 1 AS x", (41,))
        assert cur.fetchall() == [(42,)]
        cur.execute("SELECT ?::VARCHAR IS NULL", (None,))
        assert cur.fetchall() == [(True,)]
        cur.execute("SELECT octet_length(?::BLOB)", (b"\x00\x01\x02",))
        assert cur.fetchall() == [(3,)]
        cur.execute("SELECT ?::DATE + 1", (datetime.date(2024, 2, 28),))
        assert cur.fetchall() == [(datetime.date(2024, 2, 29),)]


def test_untyped_select_parameters(conn):
    """`SELECT ?` has no type until bound; the result type comes from the bound value."""
    with conn.cursor() as cur:
        cur.execute("SELECT ? AS s, ? AS d", ("hello", 2.5))
        assert cur.fetchall() == [("hello", 2.5)]


def test_untyped_parameter_in_expression(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM range(100) WHERE range % ? = 0", (7,))
        assert cur.fetchone() == (15,)


def test_parameters_in_where_and_insert(conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id BIGINT, name VARCHAR, amount DECIMAL(10,2))")
        cur.execute(f"INSERT INTO {t} VALUES (?, ?, ?)", (1, "x", decimal.Decimal("12.34")))
        cur.execute(f"INSERT INTO {t} VALUES (?, ?, ?)", (2, None, decimal.Decimal("-0.01")))
        cur.execute(f"SELECT id, name, amount FROM {t} WHERE id >= ? ORDER BY id", (1,))
        assert cur.fetchall() == [(1, "x", decimal.Decimal("12.34")),
                                  (2, None, decimal.Decimal("-0.01"))]
        # the same prepared statement re-executed with new parameters
        for i in range(5):
            cur.execute(f"SELECT count(*) FROM {t} WHERE id > ?", (i,))
            assert cur.fetchone() == (max(0, 2 - i),)


def test_executemany_python_rows(conn, unique_name):
    t = unique_name()
    rows = [(i, f"name-{i}", i * 0.25 if i % 3 else None) for i in range(2000)]
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER, name VARCHAR, v DOUBLE)")
        cur.executemany(f"INSERT INTO {t} VALUES (?, ?, ?)", rows)
        cur.execute(f"SELECT id, name, v FROM {t} ORDER BY id")
        assert cur.fetchall() == rows


def test_executemany_rowcount(conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id INTEGER)")
        cur.executemany(f"INSERT INTO {t} VALUES (?)", [(i,) for i in range(1000)])
        assert cur.rowcount == 1000


def test_executemany_arrow_parameters(conn, unique_name):
    t = unique_name()
    params = pa.table({"a": pa.array(range(50_000), pa.int64()),
                       "b": pa.array([f"s{i % 100}" for i in range(50_000)])})
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (a BIGINT, b VARCHAR)")
        cur.executemany(f"INSERT INTO {t} VALUES (?, ?)", params)
        cur.execute(f"SELECT count(*), sum(a), count(DISTINCT b) FROM {t}")
        assert cur.fetchone() == (50_000, sum(range(50_000)), 100)


def test_executemany_update_and_delete(conn, unique_name):
    t = unique_name()
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} AS SELECT range::INTEGER AS id, 0 AS hits FROM range(100)")
        cur.executemany(f"UPDATE {t} SET hits = hits + ? WHERE id = ?", [(5, 1), (7, 2), (9, 1)])
        cur.executemany(f"DELETE FROM {t} WHERE id = ?", [(50,), (51,)])
        cur.execute(f"SELECT count(*), sum(hits), max(hits) FROM {t}")
        assert cur.fetchone() == (98, 21, 14)


def test_multiple_cursors_same_connection(conn):
    c1 = conn.cursor()
    c2 = conn.cursor()
    try:
        c1.execute("SELECT * FROM range(3)")
        c2.execute("SELECT * FROM range(10, 12)")
        assert c2.fetchall() == [(10,), (11,)]
        assert c1.fetchall() == [(0,), (1,), (2,)]
    finally:
        c1.close()
        c2.close()


def test_session_state_kept_per_connection(server):
    """Temp objects and variables are per connection (session) and persist across statements."""
    a = server.connect()
    b = server.connect()
    try:
        with a.cursor() as cur:
            cur.execute("CREATE TEMP TABLE session_tmp AS SELECT 1 AS x")
            cur.execute("SET VARIABLE session_var = 42")
        with a.cursor() as cur:
            cur.execute("SELECT x, getvariable('session_var') FROM session_tmp")
            assert cur.fetchall() == [(1, 42)]
        with b.cursor() as cur:
            cur.execute("SELECT getvariable('session_var')")
            assert cur.fetchall() == [(None,)]
            with pytest.raises(dbapi.Error):
                cur.execute("SELECT x FROM session_tmp")
                cur.fetchall()
    finally:
        a.close()
        b.close()


def test_settings_are_locked(server):
    """DuckDB runs with lock_configuration: SET is refused, naming the lock."""
    a = server.connect()
    try:
        with a.cursor() as cur:
            with pytest.raises(adbc_driver_manager.ProgrammingError) as exc:
                cur.execute("SET TimeZone = 'Asia/Kolkata'")
            assert "locked" in str(exc.value)
            assert exc.value.status_code == adbc_driver_manager.AdbcStatusCode.UNAUTHORIZED
    finally:
        a.close()
