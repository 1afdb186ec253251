"""Compressed results (the skein-compression request header).

A client that asks gets its results with Arrow IPC body compression (zstd
or lz4), from the executors' endpoints of a split query and from the
coordinator alike; pyarrow and the ADBC driver decode it by themselves.
The answers must be DuckDB's, and a header naming no codec is refused.
"""

import adbc_driver_flightsql.dbapi as flightsql
import duckdb
import grpc
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_raw as raw

HEADER = "skein-compression"
DO_GET = "/arrow.flight.protocol.FlightService/DoGet"
DATA_BODY = 1000  # FlightData.data_body


def split_query(data_root):
    return f"SELECT id, grp, val, name FROM read_parquet('{data_root}/pq/*.parquet')"


LOCAL_QUERY = "SELECT range AS i, 'row ' || (range % 7) AS s FROM range(100000)"


def sorted_table(t, key):
    return t.sort_by([(key, "ascending")])


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_pyarrow_reads_compressed_results(server, data_root, codec):
    with raw.RawClient(server.uri, server.user, server.password) as rc:
        rc.options = flight.FlightCallOptions(headers=[rc.auth_header, (HEADER.encode(), codec.encode())])
        info = rc.info(raw.statement_query(split_query(data_root)))
        assert len(info.endpoints) > 1, "the Parquet scan should be split into tasks"
        got = pa.concat_tables(rc.read_endpoints(info))
        want = duckdb.sql(split_query(data_root)).to_arrow_table()
        assert sorted_table(got, "id").equals(sorted_table(want, "id"))

        got = rc.sql(LOCAL_QUERY)
        want = duckdb.sql(LOCAL_QUERY).to_arrow_table()
        assert sorted_table(got, "i").equals(sorted_table(want, "i"))


def test_adbc_reads_compressed_results(server, data_root):
    kwargs = dict(server.auth_kwargs)
    kwargs[f"adbc.flight.sql.rpc.call_header.{HEADER}"] = "zstd"
    with flightsql.connect(server.uri, db_kwargs=kwargs, autocommit=True) as conn, conn.cursor() as cur:
        for sql, key in ((split_query(data_root), "id"), (LOCAL_QUERY, "i")):
            cur.execute(sql)
            got = cur.fetch_arrow_table()
            want = duckdb.sql(sql).to_arrow_table()
            assert sorted_table(got, key).equals(sorted_table(want, key)), sql


def wire_body_bytes(rc, info, codec):
    """The Arrow body bytes of every endpoint's stream as they cross the
    wire. pyarrow shows only decoded batches, so this reads DoGet through
    grpcio and sums FlightData.data_body."""
    metadata = [(k.decode(), v.decode()) for k, v in [rc.auth_header]]
    if codec:
        metadata.append((HEADER, codec))
    total = 0
    for ep in info.endpoints:
        locations = [loc.uri.decode() if isinstance(loc.uri, bytes) else str(loc.uri) for loc in ep.locations]
        target = next((loc for loc in locations if loc.startswith("grpc://")), rc.uri)
        options = [("grpc.max_receive_message_length", -1)]
        with grpc.insecure_channel(target.removeprefix("grpc://"), options=options) as channel:
            stream = channel.unary_stream(DO_GET)(raw.field_bytes(1, ep.ticket.ticket), metadata=metadata)
            for message in stream:
                total += sum(len(body) for body in raw.decode(message).get(DATA_BODY, []))
    return total


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_compressed_results_are_smaller_on_the_wire(server, data_root, codec):
    """The header really compresses: the same results take fewer body bytes
    with it than without, from executors' endpoints and from the coordinator."""
    with raw.RawClient(server.uri, server.user, server.password) as rc:
        plain = rc.options
        for sql in (split_query(data_root), LOCAL_QUERY):
            sizes = {}
            for asked in (None, codec):
                headers = [rc.auth_header] + ([(HEADER.encode(), asked.encode())] if asked else [])
                rc.options = flight.FlightCallOptions(headers=headers)
                info = rc.info(raw.statement_query(sql))
                sizes[asked] = wire_body_bytes(rc, info, asked)
            assert 0 < sizes[codec] < 0.8 * sizes[None], (sql, sizes)
        rc.options = plain


def test_unknown_codec_is_refused(server):
    with raw.RawClient(server.uri, server.user, server.password) as rc:
        rc.options = flight.FlightCallOptions(headers=[rc.auth_header, (HEADER.encode(), b"gzip")])
        with pytest.raises(pa.ArrowInvalid, match=HEADER):
            rc.sql("SELECT 1")
