"""PollFlightInfo through grpcio (pyarrow has no PollFlightInfo), with hand-built Flight protobufs."""

import json
import struct
import time

import grpc
import pyarrow.flight as flight

import flightsql_raw as raw
from conftest import PARQUET_FILES, PARQUET_ROWS_PER_FILE

POLL = "/arrow.flight.protocol.FlightService/PollFlightInfo"
DESCRIPTOR_CMD = 2  # FlightDescriptor.DescriptorType.CMD


def descriptor(cmd):
    """FlightDescriptor { DescriptorType type = 1; bytes cmd = 2; }"""
    return raw.field_varint(1, DESCRIPTOR_CMD) + raw.field_bytes(2, cmd)


def decode_poll(buf):
    """PollInfo { FlightInfo info = 1; FlightDescriptor flight_descriptor = 2;
    optional double progress = 3; Timestamp expiration_time = 4; }"""
    msg = raw.decode(buf)
    progress = struct.unpack("<d", msg[3][0])[0] if 3 in msg else None
    retry = msg[2][0] if 2 in msg else None
    return flight.FlightInfo.deserialize(msg[1][0]), retry, progress, 4 in msg


def test_poll_flight_info_progress(server, data_root):
    rc = raw.RawClient(server.uri, server.user, server.password)
    channel = grpc.insecure_channel(server.uri.removeprefix("grpc://"))
    try:
        poll = channel.unary_unary(POLL)  # bytes in, bytes out
        metadata = [(k.decode(), v.decode()) for k, v in [rc.auth_header]]
        # Each row costs microseconds: the query runs for a few polls.
        sql = (f"SELECT id, levenshtein(repeat('a', 60 + id % 2), repeat('b', 60)) AS d "
               f"FROM read_parquet('{data_root / 'pq'}/*.parquet')")
        request = descriptor(raw.statement_query(sql))
        seen, endpoints = [], []
        while True:
            info, retry, progress, expires = decode_poll(poll(request, metadata=metadata))
            assert progress is not None and 0 <= progress <= 1
            assert not seen or progress >= seen[-1], (seen, progress)
            seen.append(progress)
            tickets = [ep.ticket.ticket for ep in info.endpoints]
            assert tickets[:len(endpoints)] == endpoints, "endpoints are only appended"
            endpoints = tickets
            meta = json.loads(info.app_metadata)
            assert meta["progress"]["tasks"] == meta["tasks"]
            assert meta["progress"]["tasks_done"] / meta["tasks"] == progress
            assert expires
            if retry is None:
                break
            request = retry
            time.sleep(0.05)
        assert seen[0] < 1 and seen[-1] == 1, seen
        assert meta["progress"]["rows"] == PARQUET_FILES * PARQUET_ROWS_PER_FILE
        assert len(info.endpoints) == meta["endpoints"]
        tables = rc.read_endpoints(info)
        assert sum(t.num_rows for t in tables) == PARQUET_FILES * PARQUET_ROWS_PER_FILE
    finally:
        channel.close()
        rc.close()


def test_poll_local_query_is_complete(server):
    rc = raw.RawClient(server.uri, server.user, server.password)
    channel = grpc.insecure_channel(server.uri.removeprefix("grpc://"))
    try:
        metadata = [(k.decode(), v.decode()) for k, v in [rc.auth_header]]
        reply = channel.unary_unary(POLL)(descriptor(raw.statement_query("SELECT 42 AS x")), metadata=metadata)
        info, retry, progress, _ = decode_poll(reply)
        assert retry is None and progress == 1
        assert rc.read_endpoints(info)[0].to_pylist() == [{"x": 42}]
    finally:
        channel.close()
        rc.close()
