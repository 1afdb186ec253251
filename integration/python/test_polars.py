"""polars: pl.read_database through an ADBC Flight SQL connection.

pl.read_database_uri(..., engine="adbc") cannot log in to Skein: the tests
at the end show where it stops.
"""

import os
import subprocess
import sys

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from all_types import TYPES, types_query
from test_types import local_arrow, server_timezone

# polars cannot hold these Arrow types (the same from any source): reading
# them fails, as test_unsupported_types shows.
POLARS_UNSUPPORTED = {"c_interval", "c_union"}


def test_read_database_all_types(conn):
    """Every type polars holds comes out as polars makes it of DuckDB's own Arrow export."""
    types = [t for t in TYPES if t[0] not in POLARS_UNSUPPORTED]
    sql = types_query(types)
    with conn.cursor() as cur:
        zone = server_timezone(cur)
    got = pl.read_database(sql, conn)
    expected = pl.from_arrow(local_arrow(sql, zone))
    assert got.schema == expected.schema
    assert_frame_equal(got, expected)
    assert got.height == 3 and got.row(2)[1:] == (None,) * len(types)  # the all-NULL row


@pytest.mark.parametrize("name", sorted(POLARS_UNSUPPORTED))
def test_unsupported_types(conn, name):
    """polars' own limit: INTERVAL (month_day_nano) and UNION do not convert,
    from DuckDB's Arrow locally too, so it is not the server's."""
    (t,) = [t for t in TYPES if t[0] == name]
    sql = types_query([t])
    # Through read_database (the Arrow C stream) polars panics; from a
    # pyarrow table it raises ComputeError.
    panic, error = {
        "c_interval": ("could not import from `month_day_nano_interval` type",) * 2,
        "c_union": ("not supported by Polars", "cannot create series from Union")}[name]
    with pytest.raises(BaseException) as raised:
        pl.read_database(sql, conn)
    assert type(raised.value).__name__ == "PanicException" and panic in str(raised.value), repr(raised.value)
    with pytest.raises(pl.exceptions.ComputeError) as raised:
        pl.from_arrow(local_arrow(sql, "UTC"))
    assert error in str(raised.value)
    # Cast to VARCHAR, they read.
    df = pl.read_database(f"SELECT {name}::VARCHAR AS v FROM ({sql})", conn)
    assert df.schema == pl.Schema({"v": pl.String}) and df["v"].null_count() == 1


def test_read_database_parameters(conn, unique_name):
    t = unique_name("pl")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} AS SELECT range AS id, 'n' || range AS name, range / 4 AS x FROM range(100)")
    df = pl.read_database(f"SELECT id, name FROM {t} WHERE id >= ? AND name LIKE ? ORDER BY id", conn,
                          execute_options={"parameters": (90, "n9%")})
    assert df.to_dicts() == [{"id": i, "name": f"n{i}"} for i in range(90, 100)]
    # schema_overrides are applied by polars after the read.
    df = pl.read_database(f"SELECT x FROM {t} WHERE id = ?", conn, execute_options={"parameters": (2,)},
                          schema_overrides={"x": pl.Float32})
    assert df.schema == pl.Schema({"x": pl.Float32}) and df["x"].to_list() == [0.5]


def test_read_database_empty(conn, unique_name):
    t = unique_name("pl")
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {t} (id BIGINT, name VARCHAR, day DATE, amount DECIMAL(9,2))")
    df = pl.read_database(f"SELECT * FROM {t}", conn)
    assert df.height == 0
    assert df.schema == pl.Schema({"id": pl.Int64, "name": pl.String, "day": pl.Date,
                                   "amount": pl.Decimal(9, 2)})


def test_read_database_distributed(conn, data_root):
    """300,000 Parquet rows split over the executors (several endpoints), read whole."""
    glob = data_root / "pq" / "*.parquet"
    sql = f"SELECT * FROM read_parquet('{glob}')"
    with conn.cursor() as cur:
        partitions, _ = cur.adbc_execute_partitions(sql)
        assert len(partitions) > 1, "the scan was not split: the test would prove nothing"
        rows = 0
        for p in partitions:
            cur.adbc_read_partition(p)
            rows += cur.fetch_arrow_table().num_rows
        assert rows == 300_000
    got = pl.read_database(sql, conn).sort("id")
    expected = pl.read_parquet(str(glob)).sort("id")
    assert got.height == 300_000
    assert_frame_equal(got, expected)

    batches = list(pl.read_database(sql, conn, iter_batches=True, batch_size=70_000))
    assert len(batches) > 1 and all(b.height <= 70_000 for b in batches)
    assert_frame_equal(pl.concat(batches).sort("id"), expected)

    agg = pl.read_database(f"SELECT grp, count(*) AS n, sum(val) AS s FROM read_parquet('{glob}') "
                           "GROUP BY grp ORDER BY grp", conn)
    want = expected.group_by("grp").agg(pl.len().alias("n"), pl.col("val").sum().alias("s")).sort("grp")
    assert agg["grp"].to_list() == want["grp"].to_list()
    assert agg["n"].to_list() == want["n"].to_list()
    assert agg["s"].to_list() == pytest.approx(want["s"].to_list(), rel=1e-12)


def test_read_database_large(conn):
    n = 2_000_000
    df = pl.read_database(f"SELECT range AS i, range % 7 AS m, 'x' || (range % 10) AS s FROM range({n})", conn)
    assert df.height == n
    assert df["i"].sum() == n * (n - 1) // 2
    assert df["m"].value_counts().height == 7


# ------------------------------------------------------- read_database_uri

def test_read_database_uri_grpc_scheme(server):
    """polars picks the ADBC driver by the URI's scheme: grpc:// asks for a
    package adbc_driver_grpc, which does not exist."""
    with pytest.raises(ModuleNotFoundError, match="adbc_driver_grpc"):
        pl.read_database_uri("SELECT 1", server.uri, engine="adbc")


@pytest.mark.filterwarnings("ignore:Cannot disable autocommit")  # polars' connect, not autocommit
def test_read_database_uri_plaintext(server):
    """flightsql:// reaches the Flight SQL driver, which then dials TLS:
    a plaintext server (as this suite runs) cannot be reached this way."""
    uri = server.uri.replace("grpc://", f"flightsql://{server.user}:{server.password}@")
    with pytest.raises(Exception, match="tls: first record does not look like a TLS handshake"):
        pl.read_database_uri("SELECT 1", uri, engine="adbc")


READ_URI = """
import sys
import polars as pl
try:
    print(pl.read_database_uri("SELECT 42 AS a", sys.argv[1], engine="adbc").to_dicts())
except Exception as e:
    print(type(e).__name__, e)
"""


def test_read_database_uri_tls_sends_no_credentials(skein_factory, tls_files):
    """Against a TLS server whose certificate the client trusts (SSL_CERT_FILE,
    read by the driver's Go runtime, so in a process of its own), the URI
    connects but its user and password are not sent: Skein, with auth on,
    answers Unauthenticated. read_database with an ADBC connection is the way."""
    cert, key = tls_files
    srv = skein_factory(extra_args=["--tls-cert", str(cert), "--tls-key", str(key)])
    assert srv.uri.startswith("grpc+tls://127.0.0.1:")
    uri = srv.uri.replace("grpc+tls://", f"flightsql://{srv.user}:{srv.password}@")
    out = subprocess.run([sys.executable, "-c", READ_URI, uri], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SSL_CERT_FILE": str(cert)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ProgrammingError UNAUTHENTICATED"), out.stdout + out.stderr
    assert "no credentials" in out.stdout, out.stdout

    # The same server through read_database and an ADBC connection.
    import adbc_driver_flightsql
    import adbc_driver_flightsql.dbapi as flightsql
    with flightsql.connect(srv.uri, db_kwargs={
            "username": srv.user, "password": srv.password,
            adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value: cert.read_text()}) as c:
        assert pl.read_database("SELECT 42 AS a", c).to_dicts() == [{"a": 42}]
