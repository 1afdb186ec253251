"""A real cluster of separate processes: 1 `skein coordinator` + N `skein executor`.

Queries over multi-file Parquet are split into tasks.  A plain scan is
"scatter": one FlightInfo endpoint per task, located at
[assigned executor, alternate executor, reuse-connection] (or nowhere with
--result-mode proxy).  Aggregates are "scatter-merge": one endpoint at the
coordinator.  These tests check the answers against DuckDB run locally.
"""

import json
import pathlib
import signal
import time

import duckdb
import pyarrow as pa
import pyarrow.flight as flight
import pytest

import flightsql_raw as raw
from conftest import PASSWORD, SKEIN_BIN, STOP_TIMEOUT, USER, Proc

FILES = 4
ROWS_PER_FILE = 20_000
ROW_GROUP = 5_000
TASK_ROWS = 5_000
TOTAL = FILES * ROWS_PER_FILE

SECRET = "cluster-secret-0123456789abcdef"
WRONG_SECRET = "another-secret-fedcba9876543210"


# ---------------------------------------------------------------- processes

class Cluster:
    def __init__(self, base, allow_dir, executors=2, result_mode=None,
                 executor_secrets=None, heartbeat_timeout="2s"):
        self.base = pathlib.Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.allow_dir = str(allow_dir)
        self.secret_file = self.base / "secret"
        self.secret_file.write_text(SECRET)
        self.user = USER
        self.password = PASSWORD
        self.result_mode = result_mode
        self.heartbeat_timeout = heartbeat_timeout
        self.n_executors = executors
        self.executor_secrets = executor_secrets or [None] * executors
        self.coordinator = None
        self.executors = []

    def start(self):
        argv = [SKEIN_BIN, "coordinator", "--addr", "127.0.0.1:0",
                "--data-dir", str(self.base / "data"), "--allow-dir", self.allow_dir,
                "--cluster-secret-file", str(self.secret_file),
                "--user", self.user, "--password", self.password,
                "--task-rows", str(TASK_ROWS), "--split-min-rows", "0", "--local-max-rows", "0",
                "--heartbeat-timeout", self.heartbeat_timeout,
                "--log-level", "warn"]
        if self.result_mode:
            argv += ["--result-mode", self.result_mode]
        self.coordinator = Proc("coordinator", argv, self.base / "coordinator.stderr").start()
        for i in range(self.n_executors):
            secret_file = self.secret_file
            if self.executor_secrets[i] is not None:
                secret_file = self.base / f"secret-executor{i}"
                secret_file.write_text(self.executor_secrets[i])
            eargv = [SKEIN_BIN, "executor", "--coordinator", self.coordinator.uri,
                     "--addr", "127.0.0.1:0", "--cluster-secret-file", str(secret_file),
                     "--allow-dir", self.allow_dir, "--threads", "2"]
            self.executors.append(Proc(f"executor{i}", eargv,
                                       self.base / f"executor{i}.stderr").spawn())
        return self

    def wait_executors_ready(self):
        for e in self.executors:
            e.wait_ready()
        return [e.uri for e in self.executors]

    @property
    def executor_uris(self):
        return [e.uri for e in self.executors]

    def raw_client(self):
        return raw.RawClient(self.coordinator.uri, self.user, self.password)

    def adbc(self):
        import adbc_driver_flightsql.dbapi as flightsql
        return flightsql.connect(self.coordinator.uri,
                                 db_kwargs={"username": self.user, "password": self.password},
                                 autocommit=True)

    def stderr_report(self):
        parts = [f"---- coordinator stderr:\n{self.coordinator.stderr_text()[-4000:]}"]
        for e in self.executors:
            parts.append(f"---- {e.name} stderr:\n{e.stderr_text()[-3000:]}")
        return "\n".join(parts)

    def stop(self):
        """Stop every process (executors first); returns (coordinator exit status,
        coordinator timed out, [executor problems])."""
        problems = []
        for e in self.executors:
            was_alive = e.alive()
            erc, etimed_out = e.stop()
            if was_alive and (etimed_out or erc != 0):
                problems.append(f"{e.name} exited with {erc} after SIGTERM"
                                f"{' (timed out, killed)' if etimed_out else ''}")
        rc, timed_out = self.coordinator.stop()
        return rc, timed_out, problems


@pytest.fixture(scope="module")
def cluster_data(tmp_path_factory):
    """4 Parquet files x 20k rows, row groups of 5k rows (written by DuckDB)."""
    root = tmp_path_factory.mktemp("cluster_allowed")
    d = root / "pq"
    d.mkdir()
    con = duckdb.connect()
    for f in range(FILES):
        base = f * ROWS_PER_FILE
        con.execute(f"""
            COPY (
              SELECT i::BIGINT AS id,
                     (i % 7)::INTEGER AS grp,
                     i * 0.25 AS val,
                     'n' || (i % 101)::VARCHAR AS name,
                     CASE WHEN i % 13 = 0 THEN NULL ELSE (i % 1000)::INTEGER END AS maybe,
                     DATE '2020-01-01' + (i % 365)::INTEGER AS day
              FROM range({base}, {base + ROWS_PER_FILE}) t(i)
            ) TO '{d}/part-{f}.parquet' (FORMAT parquet, ROW_GROUP_SIZE {ROW_GROUP})
        """)
    con.close()
    return root


def pq_glob(root):
    return f"{root / 'pq'}/*.parquet"


def local(sql):
    return duckdb.connect().sql(sql).to_arrow_table()


def sort_rows(rows):
    return sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r.values()))


def loc_uri(loc):
    return loc.uri.decode() if isinstance(loc.uri, bytes) else str(loc.uri)


def app_metadata(info):
    md = info.app_metadata
    if not md:
        return None
    return json.loads(md.decode() if isinstance(md, (bytes, bytearray)) else md)


def wait_distributed(cluster, root, want_locations, timeout=15.0):
    """Poll a scan's FlightInfo until the coordinator assigns tasks to every
    executor in want_locations (executors register asynchronously)."""
    q = f"SELECT id FROM read_parquet('{pq_glob(root)}')"
    deadline = time.monotonic() + timeout
    last = None
    with cluster.raw_client() as rc:
        while time.monotonic() < deadline:
            info = rc.info(raw.statement_query(q))
            firsts = {loc_uri(ep.locations[0]) for ep in info.endpoints if ep.locations}
            last = (app_metadata(info), sorted(firsts))
            if set(want_locations) <= firsts:
                return
            time.sleep(0.25)
    pytest.fail(f"executors {want_locations} never got tasks within {timeout}s; "
                f"last scan (app_metadata, first locations) = {last}\n{cluster.stderr_report()}")


def approx_rows(rows):
    return [{k: (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v)
             for k, v in r.items()} for r in rows]


def adbc_fetch(cluster, sql):
    conn = cluster.adbc()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetch_arrow_table()
    finally:
        conn.close()


SCAN = "SELECT id, grp, val, name, maybe, day FROM read_parquet('{g}') WHERE grp <> 3"
AGG = ("SELECT grp, SUM(val) AS s, AVG(val) AS a, COUNT(*) AS n, COUNT(maybe) AS nm, "
       "SUM(id) AS si, MIN(day) AS lo, MAX(name) AS hi "
       "FROM read_parquet('{g}') GROUP BY grp ORDER BY grp")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cluster_data):
    c = Cluster(tmp_path_factory.mktemp("cluster"), cluster_data)
    try:
        c.start()
        c.wait_executors_ready()
        wait_distributed(c, cluster_data, c.executor_uris)
    except BaseException:
        c.stop()
        raise
    yield c
    rc, timed_out, problems = c.stop()
    assert not timed_out, f"coordinator did not exit within {STOP_TIMEOUT}s of SIGTERM\n{c.stderr_report()}"
    assert rc == 0, f"coordinator exited with {rc} after SIGTERM\n{c.stderr_report()}"
    assert len(c.coordinator.stdout_lines) == 1, c.coordinator.stdout_lines
    assert not problems, f"{problems}\n{c.stderr_report()}"


@pytest.fixture
def fresh_cluster(tmp_path, cluster_data):
    """Start a per-test cluster: fresh_cluster(result_mode=..., executor_secrets=...)."""
    started = []

    def make(**kwargs):
        c = Cluster(tmp_path / f"cluster{len(started)}", cluster_data, **kwargs)
        started.append(c)
        c.start()
        return c

    yield make
    errors = []
    for c in started:
        rc, timed_out, problems = c.stop()
        if problems:
            errors.append(f"{problems}\n{c.stderr_report()}")
        if timed_out:
            errors.append(f"coordinator did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                          f"{c.stderr_report()}")
        elif rc != 0:
            errors.append(f"coordinator exited with {rc} after SIGTERM\n{c.stderr_report()}")
    assert not errors, "\n".join(errors)


# ---------------------------------------------------------------- tests

def test_scan_endpoints_read_directly_from_executors(cluster, cluster_data):
    q = SCAN.format(g=pq_glob(cluster_data))
    expected = local(q)
    executors = set(cluster.executor_uris)
    with cluster.raw_client() as rc:
        info = rc.info(raw.statement_query(q))
    md = app_metadata(info)
    assert md is not None and md.get("mode") == "scatter", f"app_metadata {md!r}"
    assert len(info.endpoints) > 1, f"{len(info.endpoints)} endpoints; app_metadata {md!r}"
    assert md.get("tasks") == len(info.endpoints), (md, len(info.endpoints))
    assert info.schema.names == expected.schema.names
    assert [f.type for f in info.schema] == [f.type for f in expected.schema]

    firsts = []
    for i, ep in enumerate(info.endpoints):
        locs = [loc_uri(l) for l in ep.locations]
        assert len(locs) == 3, f"endpoint {i} locations {locs}"
        assert locs[0] in executors, f"endpoint {i} first location {locs[0]} not in {executors}"
        assert locs[1] in executors and locs[1] != locs[0], (
            f"endpoint {i}: alternate location {locs[1]} must be the other executor; {locs}")
        assert locs[2] == raw.REUSE_CONNECTION, f"endpoint {i} locations {locs}"
        firsts.append(locs[0])
    assert set(firsts) == executors, f"tasks were assigned only to {set(firsts)}"

    clients = {}
    tables = []
    try:
        for i, ep in enumerate(info.endpoints):
            loc = loc_uri(ep.locations[0])
            if loc not in clients:
                clients[loc] = flight.FlightClient(loc)
            # No auth headers: the ticket is a signed capability.
            reader = clients[loc].do_get(ep.ticket)
            table = reader.read_all()
            assert reader.schema.equals(info.schema), (
                f"endpoint {i} ({loc}) stream schema differs from FlightInfo schema:\n"
                f"stream:\n{reader.schema}\nflightinfo:\n{info.schema}")
            tables.append(table)
    finally:
        for c in clients.values():
            c.close()
    assert sum(t.num_rows for t in tables) == expected.num_rows
    got = pa.concat_tables(tables)
    assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())

    # The alternate location (second) redeems the same ticket with the same rows.
    for i in (0, 1):
        ep = info.endpoints[i]
        alt = loc_uri(ep.locations[1])
        with flight.FlightClient(alt) as c:
            t = c.do_get(ep.ticket).read_all()
        assert sort_rows(t.to_pylist()) == sort_rows(tables[i].to_pylist()), (
            f"endpoint {i}: alternate {alt} returned {t.num_rows} rows, "
            f"assigned executor returned {tables[i].num_rows}")

    # Every ticket is also redeemable at the coordinator (authenticated; it proxies).
    with cluster.raw_client() as rc:
        via = []
        for i, ep in enumerate(info.endpoints):
            reader = rc.client.do_get(ep.ticket, rc.options)
            via.append(reader.read_all())
            assert reader.schema.equals(info.schema), f"endpoint {i} via coordinator: schema"
    assert sort_rows(pa.concat_tables(via).to_pylist()) == sort_rows(expected.to_pylist())


def test_tampered_ticket_refused_by_executor(cluster, cluster_data):
    q = SCAN.format(g=pq_glob(cluster_data))
    with cluster.raw_client() as rc:
        info = rc.info(raw.statement_query(q))
    ep = info.endpoints[0]
    loc = loc_uri(ep.locations[0])
    good = ep.ticket.ticket
    # Flip one byte in the middle of the ticket: the signature no longer matches.
    mid = len(good) // 2
    bad = good[:mid] + bytes([good[mid] ^ 0x01]) + good[mid + 1:]
    with flight.FlightClient(loc) as c:
        with pytest.raises(flight.FlightError) as ei:
            c.do_get(flight.Ticket(bad)).read_all()
        # The untouched ticket still works (the refusal is about the signature).
        assert c.do_get(ep.ticket).read_all().num_rows >= 0
    assert isinstance(ei.value, flight.FlightUnauthenticatedError), repr(ei.value)

    # At the coordinator, redeeming a ticket still needs the client's credentials.
    with flight.FlightClient(cluster.coordinator.uri) as c:
        with pytest.raises(flight.FlightUnauthenticatedError):
            c.do_get(ep.ticket).read_all()


def test_scan_through_adbc(cluster, cluster_data):
    q = SCAN.format(g=pq_glob(cluster_data))
    expected = local(q)
    got = adbc_fetch(cluster, q)
    assert got.schema.names == expected.schema.names
    assert [f.type for f in got.schema] == [f.type for f in expected.schema]
    assert got.num_rows == expected.num_rows
    assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())


def test_aggregate_scatter_merge(cluster, cluster_data):
    q = AGG.format(g=pq_glob(cluster_data))
    expected = local(q)
    got = adbc_fetch(cluster, q)
    assert got.schema.names == expected.schema.names
    assert [f.type for f in got.schema] == [f.type for f in expected.schema]
    assert got.to_pylist() == approx_rows(expected.to_pylist())

    with cluster.raw_client() as rc:
        info = rc.info(raw.statement_query(q))
        md = app_metadata(info)
        # Partial aggregates shuffle by group to final aggregates on the
        # executors, whose sorted outputs the coordinator merges.
        assert md is not None and md.get("mode") == "stages", f"app_metadata {md!r}"
        assert md.get("merge_sql"), f"app_metadata {md!r}"
        assert md.get("tasks", 0) > 1, f"app_metadata {md!r}"
        assert len(info.endpoints) == 1, f"{len(info.endpoints)} endpoints"
        locs = [loc_uri(l) for l in info.endpoints[0].locations]
        assert all(l in (cluster.coordinator.uri, raw.REUSE_CONNECTION) for l in locs), (
            f"scatter-merge endpoint must be at the coordinator; locations {locs}")
        tables = rc.read_endpoints(info)
    assert tables[0].to_pylist() == approx_rows(expected.to_pylist())


def test_result_mode_proxy(fresh_cluster, cluster_data):
    c = fresh_cluster(result_mode="proxy")
    c.wait_executors_ready()
    q = SCAN.format(g=pq_glob(cluster_data))
    expected = local(q)
    with c.raw_client() as rc:
        deadline = time.monotonic() + 15
        while True:
            info = rc.info(raw.statement_query(q))
            md = app_metadata(info)
            if md is not None and md.get("mode") == "scatter" or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        assert md is not None and md.get("mode") == "scatter", (
            f"app_metadata {md!r} (executors never used?)\n{c.stderr_report()}")
        assert len(info.endpoints) > 1, f"{len(info.endpoints)} endpoints"
        assert md.get("tasks") == len(info.endpoints), (md, len(info.endpoints))
        for i, ep in enumerate(info.endpoints):
            locs = [loc_uri(l) for l in ep.locations]
            assert locs == [], f"proxy mode: endpoint {i} has locations {locs}"
        tables = rc.read_endpoints(info)  # no locations: read at the coordinator
    got = pa.concat_tables(tables)
    assert got.num_rows == expected.num_rows
    assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())


def test_executor_killed(fresh_cluster, cluster_data):
    c = fresh_cluster()
    c.wait_executors_ready()
    wait_distributed(c, cluster_data, c.executor_uris)
    q = SCAN.format(g=pq_glob(cluster_data))
    expected = local(q)
    agg = AGG.format(g=pq_glob(cluster_data))
    expected_agg = local(agg)
    victim = c.executors[0]
    survivor = c.executors[1]

    with c.raw_client() as rc:
        info = rc.info(raw.statement_query(q))
        md = app_metadata(info)
        assert md is not None and md.get("mode") == "scatter", f"app_metadata {md!r}"
        assert len(info.endpoints) > 1
        firsts = [loc_uri(ep.locations[0]) for ep in info.endpoints]
        assert victim.uri in firsts, f"no task assigned to the victim {victim.uri}: {firsts}"

        victim.kill()
        assert victim.proc.returncode == -signal.SIGKILL

        # Every ticket redeemed at the coordinator: it proxies, retrying on the
        # alternate executor (or running the task itself) for the dead one.
        tables = []
        for i, ep in enumerate(info.endpoints):
            try:
                reader = rc.client.do_get(ep.ticket, rc.options)
                table = reader.read_all()
            except flight.FlightError as e:
                pytest.fail(f"endpoint {i} (assigned {firsts[i]}, victim {victim.uri}) "
                            f"via the coordinator failed: {e!r}\n{c.stderr_report()}")
            assert reader.schema.equals(info.schema), (
                f"endpoint {i} stream schema differs:\n{reader.schema}\nvs\n{info.schema}")
            tables.append(table)
        got = pa.concat_tables(tables)
        assert got.num_rows == expected.num_rows, (
            f"{got.num_rows} rows via the coordinator after the kill, want {expected.num_rows}")
        assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())

    # An aggregate issued right after the kill (before the heartbeat timeout).
    try:
        got_agg = adbc_fetch(c, agg)
    except Exception as e:
        pytest.fail(f"aggregate after the kill failed: {e!r}\n{c.stderr_report()}")
    assert got_agg.to_pylist() == approx_rows(expected_agg.to_pylist())

    # Once the heartbeat timeout (2s) has passed, new scans avoid the dead executor.
    time.sleep(3.5)
    with c.raw_client() as rc:
        info, got = rc.query(raw.statement_query(q))
        for i, ep in enumerate(info.endpoints):
            locs = [loc_uri(l) for l in ep.locations]
            assert victim.uri not in locs, (
                f"endpoint {i} still offers the dead executor {victim.uri}: {locs}")
            if locs:
                assert locs[0] in (survivor.uri, c.coordinator.uri, raw.REUSE_CONNECTION), locs
    assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())
    got_agg = adbc_fetch(c, agg)
    assert got_agg.to_pylist() == approx_rows(expected_agg.to_pylist())


def test_wrong_secret_executor_refused(fresh_cluster, cluster_data):
    c = fresh_cluster(executors=1, executor_secrets=[WRONG_SECRET])
    bad = c.executors[0]
    # The executor may or may not print ready; it must never join the cluster.
    time.sleep(3)
    q = SCAN.format(g=pq_glob(cluster_data))
    expected = local(q)
    with c.raw_client() as rc:
        info, got = rc.query(raw.statement_query(q))
    md = app_metadata(info)
    assert md is None or "scatter" not in str(md.get("mode", "")), (
        f"a wrong-secret executor made the query distributed: app_metadata {md!r}, "
        f"locations {[[loc_uri(l) for l in ep.locations] for ep in info.endpoints]}")
    for ep in info.endpoints:
        for l in ep.locations:
            assert loc_uri(l) in (c.coordinator.uri, raw.REUSE_CONNECTION), loc_uri(l)
    assert sort_rows(got.to_pylist()) == sort_rows(expected.to_pylist())
    err = bad.stderr_text()
    assert "Unauthenticated" in err, f"executor stderr shows no refusal:\n{err[-3000:]}"
