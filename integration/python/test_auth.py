"""Authentication: Flight Basic auth handshake, bearer tokens, refusals."""

import pyarrow.flight as flight
import pytest

import adbc_driver_flightsql.dbapi as flightsql
from adbc_driver_manager import AdbcStatusCode, dbapi

import flightsql_raw as raw


def _connect_and_query(uri, db_kwargs):
    conn = flightsql.connect(uri, db_kwargs=db_kwargs, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchall()
    finally:
        conn.close()


def _assert_unauthenticated(uri, db_kwargs):
    with pytest.raises(dbapi.Error) as ei:
        _connect_and_query(uri, db_kwargs)
    assert ei.value.status_code == AdbcStatusCode.UNAUTHENTICATED, (
        f"expected UNAUTHENTICATED, got {ei.value.status_code!r}: {ei.value}")


def test_connect_with_user_and_password(server):
    conn = flightsql.connect(server.uri, db_kwargs={"username": "skein", "password": "secret"},
                             autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 42 AS answer, 'duck' AS bird")
            assert cur.fetchall() == [(42, "duck")]
            assert [d[0] for d in cur.description] == ["answer", "bird"]
    finally:
        conn.close()


def test_wrong_password_refused(server):
    _assert_unauthenticated(server.uri, {"username": "skein", "password": "wrong"})


def test_unknown_user_refused(server):
    _assert_unauthenticated(server.uri, {"username": "mallory", "password": "secret"})


def test_missing_credentials_refused(server):
    _assert_unauthenticated(server.uri, {})


def test_basic_auth_handshake_returns_bearer_token(server):
    client = flight.FlightClient(server.uri)
    try:
        key, value = client.authenticate_basic_token("skein", "secret")
        assert key.lower() == b"authorization"
        assert value.startswith(b"Bearer ") and len(value) > len(b"Bearer ") + 8, value
        opts = flight.FlightCallOptions(headers=[(key, value)])
        info = client.get_flight_info(
            flight.FlightDescriptor.for_command(raw.statement_query("SELECT 7 AS x")), opts)
        table = client.do_get(info.endpoints[0].ticket, opts).read_all()
        assert table.to_pylist() == [{"x": 7}]
    finally:
        client.close()


def test_raw_wrong_password_refused(server):
    client = flight.FlightClient(server.uri)
    try:
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.authenticate_basic_token("skein", "nope")
    finally:
        client.close()


@pytest.mark.parametrize("headers", [
    [],
    [(b"authorization", b"Bearer not-a-real-token")],
    [(b"authorization", b"Bearer ")],
], ids=["no-token", "bogus-token", "empty-bearer"])
def test_raw_requests_without_valid_token_refused(server, headers):
    client = flight.FlightClient(server.uri)
    try:
        opts = flight.FlightCallOptions(headers=headers)
        with pytest.raises(flight.FlightUnauthenticatedError):
            client.get_flight_info(
                flight.FlightDescriptor.for_command(raw.statement_query("SELECT 1")), opts)
    finally:
        client.close()


def test_ticket_not_redeemable_without_token(server):
    """A ticket obtained by an authenticated client is useless to an unauthenticated one."""
    with raw.RawClient(server.uri, "skein", "secret") as rc:
        info = rc.info(raw.statement_query("SELECT 1 AS x"))
        anon = flight.FlightClient(server.uri)
        try:
            with pytest.raises(flight.FlightUnauthenticatedError):
                anon.do_get(info.endpoints[0].ticket).read_all()
        finally:
            anon.close()


def test_server_without_user_needs_no_credentials(skein_factory):
    srv = skein_factory(user=None)
    assert _connect_and_query(srv.uri, {}) == [(1,)]
