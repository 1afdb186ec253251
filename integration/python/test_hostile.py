"""What an authenticated but hostile client tries against the server itself
(issue 9): none of it may destroy data or stop the server for others."""

import pyarrow as pa
import pytest
from adbc_driver_manager import dbapi

from test_security import refused


def test_database_file_cannot_be_overwritten(skein_factory, tmp_path):
    data_dir = tmp_path / "victim"
    srv = skein_factory(data_dir=data_dir)
    conn = srv.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE precious AS SELECT range AS id FROM range(1000)")
        db = data_dir / "data.duckdb"
        for target in (db, data_dir / "data.duckdb.wal", data_dir / "." / "data.duckdb",
                       data_dir / "files" / ".." / "data.duckdb"):
            for opts in ("(FORMAT csv)", "(FORMAT csv, USE_TMP_FILE false)"):
                msg = refused(conn, f"COPY (SELECT 'x' AS g) TO '{target}' {opts}")
                assert "permission" in msg.lower(), msg
    finally:
        conn.close()
    assert srv.stop() == 0
    srv2 = skein_factory(data_dir=data_dir)
    conn = srv2.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM precious")
            assert cur.fetchone() == (1000,)
    finally:
        conn.close()


@pytest.mark.parametrize("sql", [
    "DETACH data",
    "ATTACH ':memory:' AS s",
    "CALL enable_logging(storage = 'memory')",
    "SELECT * FROM enable_logging(storage = 'memory')",
    "SELECT * FROM query('CALL enable_logging()')",
    "PRAGMA enable_profiling",
    "SELECT * FROM enable_profiling(save_location := '/tmp/skein-profile.json', format := 'json')",
], ids=["detach", "attach", "call-enable-logging", "select-enable-logging", "query-fn", "profiling",
        "profiling-fn"])
def test_instance_statements_refused(server, sql):
    def attack(conn):
        assert "permission" in refused(conn, sql).lower()
    attacked(server, attack)


def attacked(server, attack):
    """Runs attack on one connection of server, then wants another one
    answered: the server is still there for others."""
    attacker, victim = server.connect(), server.connect()
    try:
        attack(attacker)
        with victim.cursor() as cur:
            cur.execute("SELECT 41 + 1")
            assert cur.fetchone() == (42,)
    finally:
        attacker.close()
        victim.close()


@pytest.mark.parametrize("sql", [";", "-- nothing here", "/* nor here */"])
def test_statement_without_sql_is_a_client_error(conn, sql):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.ProgrammingError):
            cur.execute(sql)


def test_map_parameter_with_equal_keys_is_refused(server):
    """A MAP parameter with two equal keys, which DuckDB makes no value of,
    is the client's error: bound, it ended the server (SIGSEGV), from any
    user's SELECT ?."""
    param = pa.table({"m": pa.array([[("a", 1), ("a", 2)]], pa.map_(pa.string(), pa.int32()))})

    def attack(conn):
        with conn.cursor() as cur:
            with pytest.raises(dbapi.ProgrammingError, match="MAP"):
                cur.execute("SELECT ?", parameters=param)
    attacked(server, attack)
