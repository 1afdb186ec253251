"""What an authenticated but hostile client tries against the server itself
(issue 9): none of it may destroy data or stop the server for others."""

import os
import threading
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


def test_stopped_query_is_answered_while_duckdb_still_runs_it(skein_factory, tmp_path):
    """A query past --query-timeout is its client's error at the deadline even while DuckDB
    sits in a call no interrupt reaches, here a read of a FIFO no one writes to: the client
    waited for the call to return (forever). Once a writer ends the read, the server answers."""
    fifo_dir = tmp_path / "fifo"
    fifo_dir.mkdir()
    fifo = fifo_dir / "rows.csv"
    os.mkfifo(fifo)
    srv = skein_factory(allow_dirs=[str(fifo_dir)], extra_args=["--query-timeout", "1s"],
                        in_process_plan=None)
    outcome = {}
    answered = threading.Event()
    c = srv.connect(autocommit=True)
    cur = c.cursor()

    def run():
        try:
            cur.execute(f"SELECT a FROM read_csv('{fifo}', columns = {{'a': 'INTEGER'}}, "
                        "auto_detect = false, header = false)")
            outcome["rows"] = cur.fetchall()
        except Exception as e:  # the error this test wants
            outcome["error"] = str(e)
        answered.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    in_time = answered.wait(20)
    # Closing the cursor (ADBC closes the statement it prepared) does not
    # wait for DuckDB's call: it waited until the read below.
    closer = threading.Thread(target=cur.close, daemon=True)
    closer.start()
    closer.join(10)
    closed_in_time = not closer.is_alive()
    # DuckDB reads the FIFO until a writer closes it, whatever the test saw.
    w = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.write(w, b"1\n2\n")
    os.close(w)
    t.join(20)
    closer.join(20)
    c.close()
    assert in_time, "the client had no answer 20 s into a query of a 1 s timeout"
    assert closed_in_time, "closing the cursor waited for DuckDB's call"
    assert "--query-timeout" in outcome.get("error", ""), outcome
    assert "DuckDB has not stopped it" in outcome["error"], outcome
    with srv.connect(autocommit=True) as c, c.cursor() as cur:
        cur.execute("SELECT 41 + 1")
        assert cur.fetchone() == (42,)
