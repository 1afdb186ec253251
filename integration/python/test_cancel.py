"""Cancelling a long-running query: ADBC adbc_cancel() and Flight SQL CancelFlightInfo."""

import concurrent.futures as cf
import os
import signal
import threading
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

from adbc_driver_manager import dbapi

import flightsql_raw as raw

# ~10^12 rows through a cross join aggregation: runs for hours unless cancelled.
LONG_QUERY = ("SELECT sum(a.range * b.range) AS s "
              "FROM range(1000000) a CROSS JOIN range(1000000) b")
PROMPT = 10.0  # seconds within which a cancelled query must end


def in_thread(fn, timeout=60):
    """Run fn in a worker thread; return its result or the exception it raised.

    pyarrow turns a CANCELLED status into a simulated SIGINT, which Python
    handles on the main thread whenever that next runs Python code: raised
    there as KeyboardInterrupt after the call had returned, it crashed the
    pytest-xdist worker (CI, 2026-12-05). So calls expected to be cancelled
    run elsewhere, and the main thread ignores SIGINT until the simulated
    one has been handled."""
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    try:
        with cf.ThreadPoolExecutor(1) as pool:
            fut = pool.submit(fn)
            try:
                return fut.result(timeout=timeout)
            except cf.TimeoutError:
                raise
            except BaseException as e:  # noqa: BLE001
                return e
    finally:
        # Pending signals run at the main thread's next bytecode checks:
        # give them some before the default handler is back.
        deadline = time.monotonic() + 0.2
        while time.monotonic() < deadline:
            time.sleep(0.01)
        signal.signal(signal.SIGINT, previous)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11], fields[12] are utime and stime (stat fields 14 and 15)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_server_idle(pid, settle=2.0, window=3.0, max_cpu=0.6):
    """After a cancel the server must stop computing: little CPU burned over `window`."""
    time.sleep(settle)
    before = cpu_seconds(pid)
    time.sleep(window)
    used = cpu_seconds(pid) - before
    assert used < max_cpu, (f"server used {used:.2f}s CPU in {window}s after cancel: "
                            "the cancelled query is still running")


def test_adbc_cancel_long_query(skein_factory):
    srv = skein_factory()
    conn = srv.connect()
    try:
        cur = conn.cursor()
        outcome = {}

        def run():
            try:
                cur.execute(LONG_QUERY)
                outcome["rows"] = cur.fetchall()
            except BaseException as e:  # noqa: BLE001
                outcome["error"] = e
            outcome["end"] = time.monotonic()

        th = threading.Thread(target=run, daemon=True)
        th.start()
        time.sleep(2.0)
        assert th.is_alive(), f"long query ended before cancel: {outcome}"
        start = time.monotonic()
        cur.adbc_cancel()
        th.join(PROMPT + 20)
        assert not th.is_alive(), "execute() still blocked after adbc_cancel()"
        assert "error" in outcome, f"cancelled query returned {outcome.get('rows')}"
        assert isinstance(outcome["error"], dbapi.Error), repr(outcome["error"])
        elapsed = outcome["end"] - start
        assert elapsed < PROMPT, f"cancel took {elapsed:.1f}s"
        cur.close()
        assert_server_idle(srv.pid)
        # the connection and the server keep working
        with conn.cursor() as c2:
            c2.execute("SELECT 1 + 1")
            assert c2.fetchall() == [(2,)]
    finally:
        conn.close()


def test_cancel_flight_info(skein_factory):
    srv = skein_factory()
    with raw.RawClient(srv.uri, srv.user, srv.password) as rc:
        opts = flight.FlightCallOptions(headers=[rc.auth_header], timeout=20)
        info = rc.client.get_flight_info(
            flight.FlightDescriptor.for_command(raw.statement_query(LONG_QUERY)), opts)
        time.sleep(1.0)
        results = list(rc.client.do_action(
            flight.Action("CancelFlightInfo", raw.cancel_flight_info_request(info)), rc.options))
        assert len(results) == 1
        status = raw.decode_cancel_result(results[0].body.to_pybytes())
        assert status in ("CANCELLED", "CANCELLING"), status
        start = time.monotonic()

        def fetch():
            return [rc.client.do_get(ep.ticket, opts).read_all() for ep in info.endpoints]

        got = in_thread(fetch, timeout=60)
        # gRPC CANCELLED surfaces in pyarrow as KeyboardInterrupt (pyarrow maps
        # ArrowCancelled to a simulated SIGINT); any other Flight error is fine too.
        assert isinstance(got, (pa.ArrowException, KeyboardInterrupt)), (
            f"cancelled query's tickets still redeemed: {got!r}")
        assert time.monotonic() - start < PROMPT
        assert_server_idle(srv.pid)
        assert rc.sql("SELECT 3 AS x").to_pylist() == [{"x": 3}]


def test_client_disconnect_stops_query(skein_factory):
    """A client that goes away mid-query (timeout) must not leave the query running."""
    srv = skein_factory()
    with raw.RawClient(srv.uri, srv.user, srv.password) as rc:
        opts = flight.FlightCallOptions(headers=[rc.auth_header], timeout=3)

        def fetch():
            info = rc.client.get_flight_info(
                flight.FlightDescriptor.for_command(raw.statement_query(LONG_QUERY)), opts)
            return [rc.client.do_get(ep.ticket, opts).read_all() for ep in info.endpoints]

        got = in_thread(fetch, timeout=60)
        assert isinstance(got, flight.FlightTimedOutError), repr(got)
    assert_server_idle(srv.pid, settle=3.0)
