"""File access is confined to the allowed directories."""

import pyarrow.flight as flight
import pytest

from adbc_driver_manager import dbapi

import flightsql_raw as raw


def refused(conn, sql):
    with conn.cursor() as cur:
        with pytest.raises(dbapi.Error) as ei:
            cur.execute(sql)
            cur.fetchall()
    return str(ei.value)


def test_read_csv_etc_passwd_refused(conn):
    msg = refused(conn, "SELECT * FROM read_csv('/etc/passwd')")
    assert "permission" in msg.lower(), msg


def test_read_csv_etc_passwd_refused_permission_denied_status(server):
    with raw.RawClient(server.uri, server.user, server.password) as rc:
        with pytest.raises(flight.FlightUnauthorizedError) as ei:  # gRPC PERMISSION_DENIED
            rc.sql("SELECT * FROM read_csv('/etc/passwd')")
        assert "permission" in str(ei.value).lower()


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_blob('/etc/hostname')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_csv('{allowed}/../../../../etc/passwd')",
    "SELECT * FROM read_parquet('/etc/*.parquet')",
], ids=["read_text", "read_blob", "glob", "dotdot-escape", "parquet-glob"])
def test_other_file_reads_outside_allowed_dirs_refused(conn, data_root, sql):
    msg = refused(conn, sql.format(allowed=data_root))
    assert "permission" in msg.lower(), msg


def test_write_outside_allowed_dirs_refused(conn, tmp_path):
    target = tmp_path / "escape.csv"
    refused(conn, f"COPY (SELECT 1 AS x) TO '{target}' (FORMAT csv)")
    assert not target.exists()


@pytest.mark.parametrize("sql", [
    "SET enable_external_access = true",
    "SET allowed_directories = ['/']",
    "SET allowed_paths = ['/etc/passwd']",
], ids=["enable_external_access", "allowed_directories", "allowed_paths"])
def test_cannot_reopen_file_access(conn, sql):
    with conn.cursor() as cur:
        try:
            cur.execute(sql)
            cur.fetchall()
        except dbapi.Error:
            pass
    assert "permission" in refused(conn, "SELECT * FROM read_csv('/etc/passwd')").lower()


def test_attach_outside_allowed_dirs_refused(conn, tmp_path):
    refused(conn, f"ATTACH '{tmp_path / 'other.duckdb'}' AS other")
    assert not (tmp_path / "other.duckdb").exists()


def test_read_inside_allowed_dir(conn, data_root):
    with conn.cursor() as cur:
        cur.execute(f"SELECT a, b FROM read_csv('{data_root / 'small.csv'}') ORDER BY a")
        assert cur.fetchall() == [(1, "x"), (2, "y"), (3, "z")]
        cur.execute(f"SELECT count(*) FROM read_parquet('{data_root / 'pq'}/*.parquet')")
        assert cur.fetchone()[0] > 0


def test_allow_dir_on_fresh_server(skein_factory, tmp_path):
    allowed = tmp_path / "ok"
    allowed.mkdir()
    (allowed / "f.csv").write_text("n\n5\n6\n")
    srv = skein_factory(allow_dirs=[allowed])
    conn = srv.connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT sum(n) FROM read_csv('{allowed / 'f.csv'}')")
            assert cur.fetchone() == (11,)
        assert "permission" in refused(conn, "SELECT * FROM read_csv('/etc/passwd')").lower()
    finally:
        conn.close()
