"""Fixtures that run the real skein binary.

The binary is $SKEIN_BIN (default <repo>/bin/skein).  Every server is started
with `skein serve --addr 127.0.0.1:0 --data-dir <tmp>` and stopped with
SIGTERM; the test fails if it does not exit with status 0.
"""

import gc
import os
import pathlib
import queue
import signal
import subprocess
import threading
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import adbc_driver_flightsql.dbapi as flightsql

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
SKEIN_BIN = os.environ.get("SKEIN_BIN", str(REPO_ROOT / "bin" / "skein"))
READY_TIMEOUT = float(os.environ.get("SKEIN_READY_TIMEOUT", "60"))
STOP_TIMEOUT = 45.0  # skein drains for up to 30s before interrupting queries

USER = "skein"
PASSWORD = "secret"

# Parquet files written into the session server's --allow-dir.
PARQUET_FILES = 6
PARQUET_ROWS_PER_FILE = 50_000
PARQUET_ROW_GROUP = 10_000


class Proc:
    """One skein process (coordinator or executor) started with argv."""

    def __init__(self, name, argv, log_path):
        self.name = name
        self.argv = list(argv)
        self.log_path = pathlib.Path(log_path)
        self.proc = None
        self.uri = None
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._log = None
        self._log_offset = 0
        self._reader = None

    @property
    def pid(self):
        return self.proc.pid

    def stderr_text(self):
        """stderr of the current (or last) run."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _read_stdout(self):
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            self.stdout_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def spawn(self):
        if not pathlib.Path(SKEIN_BIN).exists():
            pytest.fail(f"server binary {SKEIN_BIN} not found; build it with "
                        "`go build -tags duckdb_arrow -o bin/skein ./cmd/skein`")
        self.uri = None
        self.stdout_lines = []
        self._lines = queue.Queue()
        self._log = open(self.log_path, "ab")
        self._log_offset = self._log.tell()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        return self

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Wait for 'skein ready: URI'; returns the URI or fails the test."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(0.0, remaining))
            except queue.Empty:
                self.kill()
                pytest.fail(f"{self.name} did not print 'skein ready:' within {timeout}s\n"
                            f"argv: {self.argv}\nstdout: {self.stdout_lines}\n"
                            f"stderr:\n{self.stderr_text()[-5000:]}")
            if line is None:
                rc = self.proc.wait()
                pytest.fail(f"{self.name} exited with {rc} before it was ready\n"
                            f"argv: {self.argv}\nstdout: {self.stdout_lines}\n"
                            f"stderr:\n{self.stderr_text()[-5000:]}")
            if line.startswith("skein ready: "):
                self.uri = line[len("skein ready: "):].strip()
                break
        assert self.uri.startswith(("grpc://127.0.0.1:", "grpc+tls://127.0.0.1:")), (self.name, self.uri)
        assert int(self.uri.rsplit(":", 1)[1]) > 0, (self.name, self.uri)
        return self.uri

    def start(self):
        self.spawn()
        self.wait_ready()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL (kill -9)."""
        if self.alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT; returns (exit code, timed_out)."""
        if self.proc is None:
            return None, False
        timed_out = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.proc.kill()
                self.proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode, timed_out



class SkeinServer(Proc):
    """One `skein serve` process. Its in-process executors split queries
    (--in-process-plan distribute), however small their inputs (--split-min-rows
    0 and --local-max-rows 0: the suite's files are), so that the suite tests distribution;
    in_process_plan=None keeps serve's default (local: queries run whole on
    the coordinator, the executors sharing its cores)."""

    def __init__(self, data_dir, log_path, user=USER, password=PASSWORD,
                 allow_dirs=(), extra_args=(), in_process_plan="distribute"):
        self.data_dir = pathlib.Path(data_dir)
        self.user = user
        self.password = password
        argv = [SKEIN_BIN, "serve", "--addr", "127.0.0.1:0",
                "--data-dir", str(self.data_dir), "--log-level", "warn"]
        if in_process_plan is not None:
            argv += ["--in-process-plan", in_process_plan, "--split-min-rows", "0", "--local-max-rows", "0"]
        for d in allow_dirs:
            argv += ["--allow-dir", str(d)]
        if user is not None:
            argv += ["--user", user, "--password", password]
        super().__init__("skein serve", argv + list(extra_args), log_path)

    @property
    def auth_kwargs(self):
        if self.user is None:
            return {}
        return {"username": self.user, "password": self.password}

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return super().start()

    def stop(self, check=True):
        """SIGTERM the server; return its exit code."""
        if self.proc is None:
            return None
        if self._log is None:  # already stopped
            return self.proc.returncode
        rc, timed_out = super().stop()
        if check:
            assert not timed_out, (f"skein did not exit within {STOP_TIMEOUT}s of SIGTERM\n"
                                   f"stderr:\n{self.stderr_text()[-5000:]}")
            assert rc == 0, (f"skein exited with {rc} after SIGTERM\n"
                             f"stderr:\n{self.stderr_text()[-5000:]}")
            assert len(self.stdout_lines) == 1, (
                f"skein must print exactly one line on stdout, printed {self.stdout_lines!r}")
        return rc

    def connect(self, autocommit=True, **kwargs):
        """An ADBC Flight SQL DB-API connection with this server's credentials."""
        return flightsql.connect(self.uri, db_kwargs=dict(self.auth_kwargs),
                                 autocommit=autocommit, **kwargs)


def write_parquet_dataset(directory):
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(PARQUET_FILES):
        base = f * PARQUET_ROWS_PER_FILE
        ids = pa.array(range(base, base + PARQUET_ROWS_PER_FILE), pa.int64())
        table = pa.table({
            "id": ids,
            "grp": pa.array([i % 7 for i in range(base, base + PARQUET_ROWS_PER_FILE)], pa.int32()),
            "val": pa.array([float(i) * 0.5 for i in range(base, base + PARQUET_ROWS_PER_FILE)]),
            "name": pa.array([f"n{i % 1000}" for i in range(base, base + PARQUET_ROWS_PER_FILE)]),
        })
        pq.write_table(table, directory / f"part-{f}.parquet", row_group_size=PARQUET_ROW_GROUP)
    return directory


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """A directory the session server may read (--allow-dir), holding Parquet files."""
    root = tmp_path_factory.mktemp("allowed")
    write_parquet_dataset(root / "pq")
    (root / "small.csv").write_text("a,b\n1,x\n2,y\n3,z\n")
    return root


@pytest.fixture(scope="session")
def server(tmp_path_factory, data_root):
    """The shared server for the whole session (auth on, user skein/secret)."""
    base = tmp_path_factory.mktemp("server")
    srv = SkeinServer(base / "data", base / "stderr.log", allow_dirs=[data_root])
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _session_server_survives(request):
    """Fail the test after which the shared server died, then restart it so the
    rest of the suite still runs against a live server."""
    yield
    # Collect dropped ADBC cursors now: their __del__ may raise (e.g. after a
    # server crash), which inside pytest's report generation trips CPython 3.11.
    gc.collect()
    if "server" not in request.fixturenames:
        return
    srv = request.getfixturevalue("server")
    if srv.proc.poll() is None:
        return
    rc = srv.stop(check=False)
    tail = srv.stderr_text()[-6000:]
    with open(srv.log_path, "ab") as f:
        f.write(f"\n==== restarted after crash (exit {rc}) in {request.node.nodeid} ====\n".encode())
    srv.start()
    pytest.fail(f"the skein server died (exit status {rc}) during this test; restarted it.\n"
                f"server stderr (tail):\n{tail}", pytrace=False)


@pytest.fixture
def skein_factory(tmp_path):
    """Start extra servers: skein_factory(user=..., allow_dirs=[...], data_dir=...,
    in_process_plan=None for serve's default plan)."""
    started = []

    def make(user=USER, password=PASSWORD, allow_dirs=(), data_dir=None, extra_args=(),
             in_process_plan="distribute"):
        n = len(started)
        srv = SkeinServer(data_dir or (tmp_path / f"data{n}"), tmp_path / f"stderr{n}.log",
                          user=user, password=password, allow_dirs=allow_dirs,
                          extra_args=extra_args, in_process_plan=in_process_plan)
        srv.start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def conn(server):
    """An autocommit ADBC connection to the session server."""
    c = server.connect(autocommit=True)
    yield c
    try:
        c.close()
    except Exception:
        if server.proc.poll() is None:
            raise  # a live server failed to close the connection
    gc.collect()


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 and its key (made by openssl)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def unique_name():
    """A fresh table name per call."""
    def make(prefix="t"):
        return f"{prefix}_{uuid.uuid4().hex[:10]}"
    return make


@pytest.fixture(scope="session")
def catalog_name(server):
    c = server.connect(autocommit=True)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT current_database()")
            (name,) = cur.fetchone()
        return name
    finally:
        c.close()
