"""Raw pyarrow.flight with hand-built Flight SQL commands.

Every FlightInfo is read endpoint by endpoint; each stream's schema must equal
the FlightInfo schema (checked in flightsql_raw.RawClient.read_endpoints)."""

import uuid

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_raw as raw
from conftest import PARQUET_FILES, PARQUET_ROWS_PER_FILE

TOTAL = PARQUET_FILES * PARQUET_ROWS_PER_FILE


@pytest.fixture
def rc(server):
    c = raw.RawClient(server.uri, server.user, server.password)
    yield c
    c.close()


def local(sql):
    return duckdb.connect().sql(sql).to_arrow_table()


def sort_rows(table):
    return sorted(table.to_pylist(), key=lambda r: tuple((v is None, str(v)) for v in r.values()))


def test_statement_query_simple(rc):
    info, table = rc.query(raw.statement_query("SELECT 1 AS one, 'two' AS two"))
    assert info.schema.names == ["one", "two"]
    assert table.to_pylist() == [{"one": 1, "two": "two"}]


def test_flight_info_schema_for_empty_result(rc):
    info, table = rc.query(raw.statement_query("SELECT range AS x, 'a' AS y FROM range(10) WHERE range < 0"))
    assert info.schema.names == ["x", "y"]
    assert [f.type for f in info.schema] == [pa.int64(), pa.string()]
    assert table.num_rows == 0


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_parquet('{d}/*.parquet')",
    "SELECT id, val FROM read_parquet('{d}/*.parquet') WHERE grp = 3",
    "SELECT grp, count(*) AS n, sum(val) AS s, avg(id) AS a FROM read_parquet('{d}/*.parquet') GROUP BY grp",
    "SELECT count(DISTINCT name) AS d, min(id) AS lo, max(id) AS hi FROM read_parquet('{d}/*.parquet')",
    "SELECT id, name FROM read_parquet('{d}/*.parquet') ORDER BY val DESC LIMIT 17 OFFSET 5",
], ids=["scan", "filter", "groupby", "distinct", "topn"])
def test_parquet_query_all_endpoints(rc, data_root, sql):
    q = sql.format(d=data_root / "pq")
    info, got = rc.query(raw.statement_query(q))
    expected = local(q)
    assert [f.type for f in info.schema] == [f.type for f in expected.schema]
    assert info.schema.names == expected.schema.names
    if "ORDER BY" in q:
        assert got.to_pylist() == expected.to_pylist()
    else:
        assert sort_rows(got) == sort_rows(expected)
    if info.total_records not in (-1, None):
        assert info.total_records == expected.num_rows


def test_parquet_scan_row_count(rc, data_root):
    info, got = rc.query(raw.statement_query(
        f"SELECT id FROM read_parquet('{data_root / 'pq'}/*.parquet')"))
    assert got.num_rows == TOTAL
    assert sorted(got.column("id").to_pylist()) == list(range(TOTAL))


def test_endpoint_locations_are_reachable(rc, data_root):
    """Every location offered for an endpoint can redeem its ticket."""
    info = rc.info(raw.statement_query(f"SELECT count(*) AS c FROM read_parquet('{data_root / 'pq'}/*.parquet')"))
    for ep in info.endpoints:
        for loc in ep.locations:
            uri = loc.uri.decode() if isinstance(loc.uri, bytes) else str(loc.uri)
            if uri == raw.REUSE_CONNECTION:
                continue
            assert uri.startswith("grpc"), uri
            c = flight.FlightClient(uri)
            try:
                t = c.do_get(ep.ticket, rc.options).read_all()
                assert t.schema.equals(info.schema)
            finally:
                c.close()


def test_coordinator_redeems_every_ticket(rc, data_root):
    """Ignoring endpoint locations, the coordinator itself redeems every ticket."""
    q = f"SELECT id, grp FROM read_parquet('{data_root / 'pq'}/*.parquet') WHERE grp <> 1"
    info = rc.info(raw.statement_query(q))
    parts = []
    for ep in info.endpoints:
        reader = rc.client.do_get(ep.ticket, rc.options)
        parts.append(reader.read_all())
        assert reader.schema.equals(info.schema)
    got = pa.concat_tables(parts)
    assert sorted(got.column("id").to_pylist()) == sorted(local(q).column("id").to_pylist())


def test_get_catalogs(rc, catalog_name):
    info, t = rc.query(raw.get_catalogs())
    assert info.schema.names == ["catalog_name"]
    assert catalog_name in t.column("catalog_name").to_pylist()


def test_get_db_schemas(rc, catalog_name):
    info, t = rc.query(raw.get_db_schemas(catalog=catalog_name))
    assert info.schema.names == ["catalog_name", "db_schema_name"]
    rows = t.to_pylist()
    assert {"catalog_name": catalog_name, "db_schema_name": "main"} in rows
    _, t = rc.query(raw.get_db_schemas(catalog=catalog_name, db_schema_filter_pattern="ma%"))
    assert "main" in t.column("db_schema_name").to_pylist()
    _, t = rc.query(raw.get_db_schemas(catalog=catalog_name, db_schema_filter_pattern="zz_none%"))
    assert t.num_rows == 0


@pytest.fixture
def keyed_tables(conn):
    p = f"k{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {p}_parent (a INTEGER, b VARCHAR, c DOUBLE, PRIMARY KEY (a, b))")
        cur.execute(f"CREATE TABLE {p}_child (id INTEGER PRIMARY KEY, pa INTEGER, pb VARCHAR, "
                    f"FOREIGN KEY (pa, pb) REFERENCES {p}_parent (a, b))")
    return p


def test_get_tables(rc, catalog_name, keyed_tables):
    p = keyed_tables
    info, t = rc.query(raw.get_tables(catalog=catalog_name, db_schema_filter_pattern="main",
                                      table_name_filter_pattern=f"{p}%"))
    assert info.schema.names == ["catalog_name", "db_schema_name", "table_name", "table_type"]
    assert sorted(t.column("table_name").to_pylist()) == [f"{p}_child", f"{p}_parent"]
    assert set(t.column("catalog_name").to_pylist()) == {catalog_name}
    info, t = rc.query(raw.get_tables(catalog=catalog_name, table_name_filter_pattern=f"{p}_parent",
                                      include_schema=True))
    assert info.schema.names == ["catalog_name", "db_schema_name", "table_name", "table_type", "table_schema"]
    schema = pa.ipc.read_schema(pa.py_buffer(t.column("table_schema")[0].as_py()))
    assert schema.names == ["a", "b", "c"]
    assert [f.type for f in schema] == [pa.int32(), pa.string(), pa.float64()]


def test_get_tables_type_filter(rc, catalog_name, keyed_tables):
    _, types = rc.query(raw.get_table_types())
    _, t = rc.query(raw.get_tables(catalog=catalog_name, table_name_filter_pattern=f"{keyed_tables}%"))
    ttype = t.column("table_type")[0].as_py()
    assert ttype in types.column("table_type").to_pylist()
    others = [x for x in types.column("table_type").to_pylist() if x != ttype]
    _, t = rc.query(raw.get_tables(catalog=catalog_name, table_name_filter_pattern=f"{keyed_tables}%",
                                   table_types=others))
    assert t.num_rows == 0


def test_get_table_types(rc):
    info, t = rc.query(raw.get_table_types())
    assert info.schema.names == ["table_type"]
    types = t.column("table_type").to_pylist()
    assert len(types) >= 2 and len(set(types)) == len(types), types


def test_get_primary_keys(rc, catalog_name, keyed_tables):
    info, t = rc.query(raw.get_primary_keys(f"{keyed_tables}_parent", catalog=catalog_name, db_schema="main"))
    assert info.schema.names == ["catalog_name", "db_schema_name", "table_name", "column_name",
                                 "key_sequence", "key_name"]
    assert info.schema.field("key_sequence").type == pa.int32()
    rows = sorted(t.to_pylist(), key=lambda r: r["key_sequence"])
    assert [(r["column_name"], r["key_sequence"]) for r in rows] == [("a", 1), ("b", 2)]
    assert {r["table_name"] for r in rows} == {f"{keyed_tables}_parent"}
    assert {r["catalog_name"] for r in rows} == {catalog_name}
    assert {r["db_schema_name"] for r in rows} == {"main"}


KEY_COLUMNS = ["pk_catalog_name", "pk_db_schema_name", "pk_table_name", "pk_column_name",
               "fk_catalog_name", "fk_db_schema_name", "fk_table_name", "fk_column_name",
               "key_sequence", "fk_key_name", "pk_key_name", "update_rule", "delete_rule"]


def check_fk_rows(t, p):
    rows = sorted(t.to_pylist(), key=lambda r: r["key_sequence"])
    assert [(r["pk_column_name"], r["fk_column_name"], r["key_sequence"]) for r in rows] == \
        [("a", "pa", 1), ("b", "pb", 2)], rows
    assert {(r["pk_table_name"], r["fk_table_name"]) for r in rows} == {(f"{p}_parent", f"{p}_child")}


def test_get_exported_keys(rc, catalog_name, keyed_tables):
    info, t = rc.query(raw.get_exported_keys(f"{keyed_tables}_parent", catalog=catalog_name, db_schema="main"))
    assert info.schema.names == KEY_COLUMNS
    check_fk_rows(t, keyed_tables)


def test_get_imported_keys(rc, catalog_name, keyed_tables):
    info, t = rc.query(raw.get_imported_keys(f"{keyed_tables}_child", catalog=catalog_name, db_schema="main"))
    assert info.schema.names == KEY_COLUMNS
    check_fk_rows(t, keyed_tables)
    _, none = rc.query(raw.get_imported_keys(f"{keyed_tables}_parent", catalog=catalog_name, db_schema="main"))
    assert none.num_rows == 0


def test_get_xdbc_type_info(rc):
    info, t = rc.query(raw.get_xdbc_type_info())
    assert info.schema.names[:3] == ["type_name", "data_type", "column_size"]
    names = {n.upper() for n in t.column("type_name").to_pylist()}
    for expected in ("INTEGER", "BIGINT", "VARCHAR", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP"):
        assert expected in names, (expected, sorted(names))
    # filtered by XDBC data type 4 (INTEGER)
    _, t4 = rc.query(raw.get_xdbc_type_info(4))
    assert t4.num_rows >= 1
    assert set(t4.column("data_type").to_pylist()) == {4}


def test_get_sql_info(rc):
    # 0 FLIGHT_SQL_SERVER_NAME, 1 FLIGHT_SQL_SERVER_VERSION, 2 FLIGHT_SQL_SERVER_ARROW_VERSION
    info, t = rc.query(raw.get_sql_info([0, 1, 2]))
    assert info.schema.names == ["info_name", "value"]
    values = {r["info_name"]: r["value"] for r in t.to_pylist()}
    assert set(values) == {0, 1, 2}, values
    assert "skein" in values[0].lower(), values
    assert values[1] and values[2], values
    # 4 FLIGHT_SQL_SERVER_SQL: the server executes SQL
    _, t = rc.query(raw.get_sql_info([4]))
    assert t.to_pylist() == [{"info_name": 4, "value": True}]
    _, all_info = rc.query(raw.get_sql_info())
    assert all_info.num_rows >= 3
    assert {0, 1, 2} <= set(all_info.column("info_name").to_pylist())


def test_statement_error_status(rc):
    with pytest.raises(pa.ArrowException) as ei:
        rc.query(raw.statement_query("SELECT * FROM no_such_table_raw"))
    assert "Table with name no_such_table_raw does not exist" in str(ei.value)


def test_unknown_command_rejected(rc):
    with pytest.raises(pa.ArrowException):
        rc.info(raw.any_message("CommandDoesNotExist", b"\x0a\x01x"))
