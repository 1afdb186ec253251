"""Session options: ADBC current catalog / db_schema (Flight SessionOptions)."""

import uuid

import pytest


def test_current_catalog_and_schema(conn, catalog_name):
    assert conn.adbc_current_catalog == catalog_name
    assert conn.adbc_current_db_schema == "main"


def test_set_current_db_schema(server, conn):
    schema = f"sess_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
    c = server.connect()
    try:
        c.adbc_current_db_schema = schema
        assert c.adbc_current_db_schema == schema
        with c.cursor() as cur:
            cur.execute("SELECT current_schema()")
            assert cur.fetchone() == (schema,)
            cur.execute("CREATE TABLE in_session_schema (x INTEGER)")
            cur.execute("SELECT schema_name FROM duckdb_tables() WHERE table_name = 'in_session_schema'")
            assert cur.fetchall() == [(schema,)]
        c.adbc_current_db_schema = "main"
        with c.cursor() as cur:
            cur.execute("SELECT current_schema()")
            assert cur.fetchone() == ("main",)
    finally:
        c.close()


def test_set_missing_db_schema_fails(server):
    c = server.connect()
    try:
        with pytest.raises(Exception):
            c.adbc_current_db_schema = "no_such_schema_xyz"
            with c.cursor() as cur:
                cur.execute("SELECT 1")
                cur.fetchall()
    finally:
        c.close()
