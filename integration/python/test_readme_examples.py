"""README EXAMPLES: the code inside each test, between the `--- README ---`
markers, is what the README shows (only `uri` comes from the fixture).
Keep it minimal and runnable as written."""

import pytest


def test_readme_adbc_python(server):
    uri = server.uri  # e.g. "grpc://127.0.0.1:31337"
    # --- README: ADBC (Python) ---
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(uri, db_kwargs={"username": "skein", "password": "secret"},
                           autocommit=True) as conn:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS readme_ducks (name VARCHAR, wingspan DOUBLE)")
            cur.execute("INSERT INTO readme_ducks VALUES (?, ?)", ("mallard", 0.9))
            cur.execute("SELECT name, wingspan FROM readme_ducks WHERE wingspan > ?", (0.5,))
            print(cur.fetchall())            # [('mallard', 0.9)]
            cur.execute("SELECT * FROM range(10)")
            table = cur.fetch_arrow_table()  # a pyarrow.Table
    # --- end README ---
    assert table.num_rows == 10
    with flightsql.connect(uri, db_kwargs={"username": "skein", "password": "secret"},
                           autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT name, wingspan FROM readme_ducks")
        assert ("mallard", 0.9) in cur.fetchall()


def test_readme_pyarrow_flight(server):
    uri = server.uri
    # --- README: pyarrow.flight (raw Flight SQL) ---
    import pyarrow as pa
    import pyarrow.flight as flight

    def statement_query(sql: str) -> bytes:
        """Flight SQL CommandStatementQuery wrapped in protobuf Any, encoded by hand."""
        def field(num: int, data: bytes) -> bytes:
            n, out = len(data), bytes([num << 3 | 2])
            while n >= 0x80:
                out += bytes([n & 0x7F | 0x80])
                n >>= 7
            return out + bytes([n]) + data
        type_url = b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery"
        return field(1, type_url) + field(2, field(1, sql.encode()))

    client = flight.FlightClient(uri)
    token = client.authenticate_basic_token("skein", "secret")  # (b"authorization", b"Bearer ...")
    options = flight.FlightCallOptions(headers=[token])
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(statement_query("SELECT 42 AS answer")), options)
    table = pa.concat_tables([client.do_get(ep.ticket, options).read_all() for ep in info.endpoints])
    print(table)  # answer: [[42]]
    # --- end README ---
    assert table.to_pylist() == [{"answer": 42}]
    client.close()



def test_readme_polars(server):
    uri = server.uri
    # --- README: polars ---
    import adbc_driver_flightsql.dbapi as flightsql
    import polars as pl

    with flightsql.connect(uri, db_kwargs={"username": "skein", "password": "secret"},
                           autocommit=True) as conn:
        df = pl.read_database("SELECT range AS i, range * 0.5 AS x FROM range(10) WHERE range >= ?", conn,
                              execute_options={"parameters": (5,)})
    print(df.shape)  # (5, 2)
    # --- end README ---
    assert df["i"].to_list() == [5, 6, 7, 8, 9]


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.RemovedIn20Warning")  # SQLAlchemy 1.4 about 2.0
def test_readme_sqlalchemy(server):
    hostport = server.uri.split("://", 1)[1]  # e.g. "127.0.0.1:31337"
    # --- README: SQLAlchemy ---
    import sqlalchemy as sa

    engine = sa.create_engine(f"datafusion://skein:secret@{hostport}"
                              "?insecure=true&skein-result-mode=single&feature-sqlalchemy-prepared-statements=on")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS readme_geese (name VARCHAR, wingspan DOUBLE)"))
        conn.execute(sa.text("INSERT INTO readme_geese VALUES (:n, :w)"), {"n": "greylag", "w": 1.6})
        print(conn.execute(sa.text("SELECT name FROM readme_geese WHERE wingspan > :w"), {"w": 1.0}).all())
    inspector = sa.inspect(engine)
    print(inspector.get_table_names(schema="main"))   # [..., 'readme_geese', ...]
    print(inspector.get_columns("readme_geese"))      # [{'name': 'name', 'type': TEXT(), ...}, ...]
    # --- end README ---
    assert "readme_geese" in inspector.get_table_names(schema="main")
    assert [c["name"] for c in inspector.get_columns("readme_geese")] == ["name", "wingspan"]
    with engine.connect() as conn:
        assert ("greylag",) in conn.execute(sa.text("SELECT name FROM readme_geese")).all()
    engine.dispose()
