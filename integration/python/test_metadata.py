"""Metadata through ADBC: get_objects (every depth), get_table_schema, get_table_types, get_info."""

import duckdb
import pytest

from adbc_driver_manager import dbapi

DDL = """CREATE TABLE {t} (
    id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,
    amount DECIMAL(10,2),
    created TIMESTAMP,
    tags VARCHAR[],
    flag BOOLEAN
)"""
COLUMNS = ["id", "name", "amount", "created", "tags", "flag"]


@pytest.fixture(scope="module")
def meta(server):
    """A table, a view and a second schema with a same-named, differently-shaped table."""
    import uuid
    prefix = f"meta{uuid.uuid4().hex[:6]}"
    t, v, s = f"{prefix}_t", f"{prefix}_v", f"{prefix}_s"
    c = server.connect()
    with c.cursor() as cur:
        cur.execute(DDL.format(t=t))
        cur.execute(f"CREATE VIEW {v} AS SELECT id, name FROM {t}")
        cur.execute(f"CREATE SCHEMA {s}")
        cur.execute(f"CREATE TABLE {s}.{t} (other_col BIGINT)")
        cur.execute("SELECT current_database()")
        (catalog,) = cur.fetchone()
    c.close()
    return {"prefix": prefix, "table": t, "view": v, "schema": s, "catalog": catalog}


def objects(conn, **kw):
    return conn.adbc_get_objects(**kw).read_all().to_pylist()


def find(rows, key, value):
    hits = [r for r in (rows or []) if r[key] == value]
    assert len(hits) == 1, f"expected one {key}={value!r}, got {[r[key] for r in (rows or [])]}"
    return hits[0]


def test_get_objects_catalogs(conn, meta):
    rows = objects(conn, depth="catalogs")
    cat = find(rows, "catalog_name", meta["catalog"])
    assert not cat["catalog_db_schemas"]
    assert objects(conn, depth="catalogs", catalog_filter="no_such_catalog_xyz") == []


def test_get_objects_db_schemas(conn, meta):
    rows = objects(conn, depth="db_schemas", catalog_filter=meta["catalog"])
    cat = find(rows, "catalog_name", meta["catalog"])
    names = [s["db_schema_name"] for s in cat["catalog_db_schemas"]]
    assert "main" in names and meta["schema"] in names, names
    for s in cat["catalog_db_schemas"]:
        assert not s["db_schema_tables"]
    rows = objects(conn, depth="db_schemas", catalog_filter=meta["catalog"],
                   db_schema_filter=meta["schema"])
    cat = find(rows, "catalog_name", meta["catalog"])
    assert [s["db_schema_name"] for s in cat["catalog_db_schemas"]] == [meta["schema"]]


def tables_in(conn, meta, schema="main", **kw):
    rows = objects(conn, catalog_filter=meta["catalog"], db_schema_filter=schema, **kw)
    cat = find(rows, "catalog_name", meta["catalog"])
    sch = find(cat["catalog_db_schemas"], "db_schema_name", schema)
    return sch["db_schema_tables"] or []


def test_get_objects_tables(conn, meta):
    tables = tables_in(conn, meta, depth="tables", table_name_filter=meta["prefix"] + "%")
    assert sorted(t["table_name"] for t in tables) == sorted([meta["table"], meta["view"]])
    t = find(tables, "table_name", meta["table"])
    v = find(tables, "table_name", meta["view"])
    assert t["table_type"] and v["table_type"] and t["table_type"] != v["table_type"]
    for x in tables:
        assert not x["table_columns"]


def test_get_objects_table_types_filter(conn, meta):
    tables = tables_in(conn, meta, depth="tables", table_name_filter=meta["prefix"] + "%")
    view_type = find(tables, "table_name", meta["view"])["table_type"]
    table_type = find(tables, "table_name", meta["table"])["table_type"]
    only_views = tables_in(conn, meta, depth="tables", table_name_filter=meta["prefix"] + "%",
                           table_types_filter=[view_type])
    assert [t["table_name"] for t in only_views] == [meta["view"]]
    only_tables = tables_in(conn, meta, depth="tables", table_name_filter=meta["prefix"] + "%",
                            table_types_filter=[table_type])
    assert [t["table_name"] for t in only_tables] == [meta["table"]]


@pytest.mark.parametrize("depth", ["all", "columns"])
def test_get_objects_columns(conn, meta, depth):
    tables = tables_in(conn, meta, depth=depth, table_name_filter=meta["table"])
    t = find(tables, "table_name", meta["table"])
    cols = t["table_columns"]
    assert [c["column_name"] for c in cols] == COLUMNS
    assert [c["ordinal_position"] for c in cols] == list(range(1, len(COLUMNS) + 1))
    # the other schema's same-named table has its own columns
    other = tables_in(conn, meta, schema=meta["schema"], depth=depth, table_name_filter=meta["table"])
    assert [c["column_name"] for c in find(other, "table_name", meta["table"])["table_columns"]] == ["other_col"]


def test_get_objects_column_filter(conn, meta):
    tables = tables_in(conn, meta, depth="all", table_name_filter=meta["table"],
                       column_name_filter="na%")
    cols = find(tables, "table_name", meta["table"])["table_columns"]
    assert [c["column_name"] for c in cols] == ["name"]


def test_get_objects_no_match(conn, meta):
    rows = objects(conn, depth="all", catalog_filter=meta["catalog"], db_schema_filter="no_such_schema%")
    for cat in rows:
        assert not cat["catalog_db_schemas"]
    tables = tables_in(conn, meta, depth="all", table_name_filter="no_such_table_xyz%")
    assert tables == []


def test_get_table_schema_matches_duckdb(conn, meta):
    schema = conn.adbc_get_table_schema(meta["table"])
    local = duckdb.connect()
    local.execute(DDL.format(t="x"))
    expected = local.sql("SELECT * FROM x").to_arrow_table().schema
    assert schema.names == COLUMNS
    assert [f.type for f in schema] == [f.type for f in expected], f"{schema}\n!=\n{expected}"


def test_get_table_schema_with_catalog_and_schema(conn, meta):
    s = conn.adbc_get_table_schema(meta["table"], catalog_filter=meta["catalog"],
                                   db_schema_filter="main")
    assert s.names == COLUMNS
    s = conn.adbc_get_table_schema(meta["table"], catalog_filter=meta["catalog"],
                                   db_schema_filter=meta["schema"])
    assert s.names == ["other_col"]
    import pyarrow as pa
    assert s.field("other_col").type == pa.int64()


def test_get_table_schema_of_view(conn, meta):
    s = conn.adbc_get_table_schema(meta["view"])
    assert s.names == ["id", "name"]


def test_get_table_schema_missing_table(conn):
    with pytest.raises(dbapi.Error):
        conn.adbc_get_table_schema("no_such_table_xyz")


def test_get_table_types(conn, meta):
    types = conn.adbc_get_table_types()
    assert types and len(types) == len(set(types)), types
    tables = tables_in(conn, meta, depth="tables", table_name_filter=meta["prefix"] + "%")
    for t in tables:
        assert t["table_type"] in types, (t, types)


def test_get_info(conn):
    info = conn.adbc_get_info()
    assert "skein" in str(info.get("vendor_name", "")).lower(), info
    assert info.get("vendor_version"), info
    assert info.get("vendor_arrow_version"), info
    assert "Flight SQL" in info.get("driver_name", ""), info
