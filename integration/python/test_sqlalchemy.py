"""SQLAlchemy through flightsql-dbapi (its dialect, registered as `datafusion`,
is the route Superset and other SQLAlchemy tools take).

flightsql-dbapi 0.2.2 needs SQLAlchemy < 2.0 (pinned 1.4.54). Its limits
are tests here that fail when the driver changes: it reads only the first
endpoint of a result (so a split query needs ?skein-result-mode=single in
the URL, which the driver sends as a gRPC header), binds no parameters
unless its prepared-statement feature is on, and pandas 3 does not take a
SQLAlchemy 1.4 engine.
"""

import json

import datetime
import decimal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

# SQLAlchemy 1.4 warns about 2.0 (DDL through text() relies on its autocommit).
pytestmark = pytest.mark.filterwarnings("ignore::sqlalchemy.exc.RemovedIn20Warning")


def engine_url(server, **query):
    """The URL for server: its user and password, insecure=true for plaintext."""
    hostport = server.uri.split("://", 1)[1]
    params = "&".join(f"{k}={v}" for k, v in {"insecure": "true", **query}.items())
    return f"datafusion://{server.user}:{server.password}@{hostport}?{params}"


@pytest.fixture
def engine(server):
    eng = sa.create_engine(engine_url(server))
    yield eng
    eng.dispose()


@pytest.fixture
def prepared_engine(server):
    """The dialect with prepared statements on: parameters are bound, not inlined."""
    eng = sa.create_engine(engine_url(server, **{"feature-sqlalchemy-prepared-statements": "on"}))
    yield eng
    eng.dispose()


def test_tls(skein_factory, tls_files):
    """Without insecure=true the driver dials TLS; disable_server_verification
    accepts a self-signed certificate."""
    cert, key = tls_files
    srv = skein_factory(extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    hostport = srv.uri.split("://", 1)[1]
    eng = sa.create_engine(f"datafusion://{srv.user}:{srv.password}@{hostport}?disable_server_verification=true")
    try:
        with eng.connect() as c:
            assert c.execute(sa.text("SELECT 42")).scalar() == 42
        assert "main" in sa.inspect(eng).get_schema_names()
    finally:
        eng.dispose()


def test_connect_and_query(engine):
    with engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT 42::BIGINT AS i, 7::INTEGER AS i32, 1.5::DOUBLE AS d, 'héllo' AS s, true AS b, "
            "DATE '2024-02-29' AS day, TIMESTAMP '2024-02-29 12:34:56' AS ts, 1.25::DECIMAL(9,2) AS dec, "
            "NULL::INTEGER AS n, '\\x00ab'::BLOB AS bl")).one()
    assert row._mapping["i"] == 42 and row.i32 == 7 and row.d == 1.5 and row.s == "héllo" and row.b is True
    # The driver converts through pandas: dates and timestamps are pandas Timestamps.
    assert row.day == pd.Timestamp("2024-02-29") and row.ts == pd.Timestamp("2024-02-29 12:34:56")
    assert row.dec == decimal.Decimal("1.25") and row.n is None and row.bl == b"\x00ab"


def test_ddl_dml_and_core(engine, unique_name):
    t = unique_name("sa")
    with engine.connect() as c:
        c.execute(sa.text(f"CREATE TABLE {t} (id BIGINT PRIMARY KEY, name VARCHAR, weight DOUBLE)"))
        c.execute(sa.text(f"INSERT INTO {t} VALUES (1, 'mallard', 1.1), (2, 'eider', 2.2), (3, 'teal', 0.3)"))
        table = sa.Table(t, sa.MetaData(), autoload_with=c)
        assert [col.name for col in table.columns] == ["id", "name", "weight"]
        # Core expressions; without prepared statements the dialect inlines literals.
        rows = c.execute(sa.select(table.c.name).where(table.c.weight > 1.0).order_by(table.c.id)).all()
        assert [r.name for r in rows] == ["mallard", "eider"]
        assert c.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 3
        c.execute(table.update().where(table.c.id == 3).values(weight=0.35))
        c.execute(table.delete().where(table.c.name == "eider"))
        assert c.execute(sa.select(table.c.id, table.c.weight).order_by(table.c.id)).all() == [(1, 1.1), (3, 0.35)]


def test_text_parameters_are_lost_without_prepared_statements(engine):
    """Driver limit: by default the dialect renders bound parameters as
    literals, and a text() parameter, unknown at compile time, as NULL."""
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT :w AS w"), {"w": 1.5}).scalar() is None
        compiled = sa.text("SELECT * FROM t WHERE w > :w").compile(dialect=engine.dialect)
    assert str(compiled) == "SELECT * FROM t WHERE w > NULL"


def test_prepared_statement_parameters(prepared_engine, unique_name):
    """With feature-sqlalchemy-prepared-statements=on, parameters are sent
    (one row of dense unions, which Skein binds)."""
    t = unique_name("sa")
    with prepared_engine.connect() as c:
        c.execute(sa.text(f"CREATE TABLE {t} (id BIGINT, name VARCHAR, weight DOUBLE, tame BOOLEAN)"))
        table = sa.Table(t, sa.MetaData(), autoload_with=c)
        c.execute(table.insert(), [{"id": 1, "name": "mallard", "weight": 1.1, "tame": True},
                                   {"id": 2, "name": "eider", "weight": 2.2, "tame": False}])
        c.execute(table.insert().values(id=3, name="o'teal", weight=0.3, tame=True))
        assert c.execute(sa.text(f"SELECT name FROM {t} WHERE weight > :w AND tame = :tame ORDER BY id"),
                         {"w": 0.2, "tame": True}).scalars().all() == ["mallard", "o'teal"]
        assert c.execute(sa.select(table.c.id).where(table.c.name == "o'teal")).scalar() == 3
        # Driver limit: only int, float, str, bytes and bool map to Arrow.
        for value, typename in ((datetime.date(2024, 1, 1), "date"), (None, "NoneType")):
            with pytest.raises(sa.exc.DBAPIError, match=f'unable to map "{typename}" type to PyArrow datatype'):
                c.execute(sa.text("SELECT :v AS v"), {"v": value})


def test_inspect(engine, unique_name, catalog_name):
    schema = unique_name("sch")
    t = unique_name("sa")
    with engine.connect() as c:
        c.execute(sa.text(f"CREATE SCHEMA {schema}"))
        c.execute(sa.text(f"CREATE TABLE {schema}.{t} (id INTEGER NOT NULL, name VARCHAR, "
                          f"amount DECIMAL(9,2), day DATE, seen_at TIMESTAMP, ok BOOLEAN, raw BLOB, tags VARCHAR[])"))
        c.execute(sa.text(f"CREATE VIEW {schema}.{t}_v AS SELECT id FROM {schema}.{t}"))
    insp = sa.inspect(engine)
    assert {"main", schema} <= set(insp.get_schema_names())
    # Tables and views alike (the dialect lists no views of its own).
    assert sorted(insp.get_table_names(schema=schema)) == [t, f"{t}_v"]
    assert insp.get_view_names(schema=schema) == []
    assert t in insp.get_table_names()  # every schema and catalog
    assert insp.has_table(t, schema=schema) and not insp.has_table("no_such_table", schema=schema)
    cols = insp.get_columns(t, schema=schema)
    assert [(c["name"], type(c["type"]).__name__, c["nullable"]) for c in cols] == [
        ("id", "INTEGER", False), ("name", "TEXT", True), ("amount", "DECIMAL", True), ("day", "DATE", True),
        ("seen_at", "TIMESTAMP", True), ("ok", "BOOLEAN", True), ("raw", "BINARY", True),
        ("tags", "BLOB", True)]  # the driver maps Arrow types it does not know (a list) to BLOB
    md = sa.MetaData()
    md.reflect(bind=engine, schema=schema)
    assert sorted(md.tables) == sorted([f"{schema}.{t}", f"{schema}.{t}_v"])
    # A missing table: the driver indexes an empty answer.
    with pytest.raises(IndexError):
        insp.get_columns("no_such_table", schema=schema)


def test_quoted_identifiers(engine, unique_name):
    """The dialect quotes with the character GetSqlInfo gives (SQL_IDENTIFIER_QUOTE_CHAR)."""
    t = unique_name("Mixed Case ")
    with engine.connect() as c:
        c.execute(sa.text(f'CREATE TABLE "{t}" ("Weird Col" INTEGER, "select" VARCHAR)'))
        c.execute(sa.text(f"INSERT INTO \"{t}\" VALUES (1, 'a'), (2, 'b')"))
        assert engine.dialect.identifier_preparer.initial_quote == '"'
        assert engine.dialect.supports_delete  # FLIGHT_SQL_SERVER_READ_ONLY is false
        table = sa.Table(t, sa.MetaData(), autoload_with=c)
        assert [col.name for col in table.columns] == ["Weird Col", "select"]
        q = sa.select(table.c["select"]).where(table.c["Weird Col"] > 1).limit(5)
        assert f'FROM "{t}"' in str(q.compile(engine))
        assert c.execute(q).scalars().all() == ["b"]


def test_primary_keys(server, unique_name):
    """With feature-sqlalchemy-primary-keys=on the dialect asks GetPrimaryKeys."""
    t = unique_name("sa")
    eng = sa.create_engine(engine_url(server, **{"feature-sqlalchemy-primary-keys": "on"}))
    try:
        with eng.connect() as c:
            c.execute(sa.text(f"CREATE TABLE {t} (a INTEGER, b VARCHAR, v DOUBLE, PRIMARY KEY (a, b))"))
        pk = sa.inspect(eng).get_pk_constraint(t)
        assert pk["constrained_columns"] == ["a", "b"]
        assert pk["name"]
    finally:
        eng.dispose()


def test_pandas_read_sql(engine, unique_name):
    """pandas 3 needs SQLAlchemy >= 2.0.42 and flightsql-dbapi < 2.0: pandas
    does not recognize a 1.4 engine. The DB-API connection under it works."""
    t = unique_name("sa")
    with engine.connect() as c:
        c.execute(sa.text(f"CREATE TABLE {t} AS SELECT range AS id, 'n' || range AS name FROM range(1000)"))
    with pytest.warns(UserWarning, match="pandas only supports SQLAlchemy connectable"):
        with pytest.raises(AttributeError, match="'Engine' object has no attribute 'cursor'"):
            pd.read_sql(f"SELECT * FROM {t}", engine)
    raw = engine.raw_connection()
    try:
        with pytest.warns(UserWarning, match="Other DBAPI2 objects are not tested"):
            df = pd.read_sql(f"SELECT * FROM {t} ORDER BY id", raw)
    finally:
        raw.close()
    assert list(df.columns) == ["id", "name"] and len(df) == 1000
    assert df["id"].sum() == sum(range(1000)) and df["name"].iloc[7] == "n7"


def test_reads_only_the_first_endpoint(engine, conn, data_root):
    """Driver limit: flightsql-dbapi reads endpoint 0 of a FlightInfo and
    drops the others. In the server's default result mode a query Skein
    splits into several endpoints (a scan of several Parquet files, a staged
    GROUP BY) comes back short, without an error; one answered by one
    endpoint (scatter-merge, local) is whole. The cure is the next test."""
    glob = data_root / "pq" / "*.parquet"
    scan = f"SELECT id FROM read_parquet('{glob}')"
    with engine.connect() as c:
        client = c.connection.connection.client  # the driver's own Flight SQL client
        info = client.execute(scan)
        assert len(info.endpoints) > 1, "the scan was not split: the test would prove nothing"
        first = client.do_get(info.endpoints[0].ticket).read_all()
        for ep in info.endpoints[1:]:
            client.do_get(ep.ticket).read_all()  # read the rest, as a whole client would
        got = c.execute(sa.text(scan)).scalars().all()
        # What the driver returns: the first endpoint's rows only.
        assert len(got) < 300_000
        assert sorted(got) == sorted(first.column("id").to_pylist())
        # An aggregate the coordinator merges into one endpoint is whole.
        assert c.execute(sa.text(f"SELECT count(*) FROM read_parquet('{glob}')")).scalar() == 300_000
    # ADBC reads every endpoint.
    with conn.cursor() as cur:
        cur.execute(scan)
        assert cur.fetch_arrow_table().num_rows == 300_000
    assert pc.sum(first.column("id")).as_py() < 300_000 * 299_999 // 2


def test_single_result_mode_gives_whole_answers(server, data_root):
    """?skein-result-mode=single in the URL: the driver sends every URL
    parameter it does not know as a gRPC header, and Skein answers a split
    query from one endpoint that streams every task's rows, so the driver's
    first endpoint is the whole answer, a sorted one in order."""
    glob = data_root / "pq" / "*.parquet"
    eng = sa.create_engine(engine_url(server, **{"skein-result-mode": "single"}))
    try:
        with eng.connect() as c:
            client = c.connection.connection.client
            scan = f"SELECT id FROM read_parquet('{glob}')"
            info = client.execute(scan)
            plan = json.loads(info.app_metadata)
            assert len(info.endpoints) == 1 and plan["result_mode"] == "single" and plan["tasks"] > 1
            client.do_get(info.endpoints[0].ticket).read_all()
            got = c.execute(sa.text(scan)).scalars().all()
            assert len(got) == 300_000 and sorted(got) == list(range(300_000))
            # A sort range-partitioned across executors, in order.
            ordered = f"SELECT id, grp FROM read_parquet('{glob}') WHERE id % 3 = 0 ORDER BY grp DESC, id"
            plan = json.loads(client.execute(ordered).app_metadata)
            assert plan["mode"] == "stages" and plan["ordered"] and plan["result_mode"] == "single", plan
            rows = c.execute(sa.text(ordered)).all()
            assert [tuple(r) for r in rows] == sorted(((i, i % 7) for i in range(0, 300_000, 3)),
                                                      key=lambda r: (-r[1], r[0]))
        # A mode that is none is refused, naming the header (the driver
        # passes Arrow's error through, not as a DB-API one).
        bad = sa.create_engine(engine_url(server, **{"skein-result-mode": "sideways"}))
        try:
            with bad.connect() as c, pytest.raises(pa.ArrowInvalid, match="skein-result-mode"):
                c.execute(sa.text(scan))
        finally:
            bad.dispose()
    finally:
        eng.dispose()
