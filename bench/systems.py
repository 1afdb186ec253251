"""The systems the workloads time, behind one small interface:

    with system.open() as runner:        # starts servers, creates views
        table = runner.query(sql)        # a pyarrow.Table, fully fetched
        runner.plans()                   # {sql: "mode, N tasks"} where known

Each system is opened only while it is measured, so that on 2 cores no two
systems compete for the CPU.
"""

import contextlib
import os
import pathlib
import threading
import time
import weakref

import adbc_driver_flightsql.dbapi as flightsql
import duckdb

import skeinproc
import tpch

# A query that Skein splits over every lineitem file, used to learn that all
# executors have registered; it returns no rows. `l_orderkey + 0`, not
# `l_orderkey`: the planner prunes the row groups a bound on a column rules
# out by their statistics, and with none left to read (or few, under
# --local-max-rows) the query runs on the coordinator; DuckDB folds the
# `+ 0` and skips them itself (5 ms at SF1).
REGISTRATION_PROBE = "SELECT l_orderkey FROM lineitem WHERE l_orderkey + 0 < 0"


class Watchdog:
    """One thread that cancels any query running longer than `timeout`
    seconds, so that a hung query becomes an error instead of a hung bench.
    Runners mark their query's start and end (two assignments, nothing in
    the timed path that costs), and the thread looks every second."""

    def __init__(self, timeout=600.0):
        self.timeout = timeout
        self._runners = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread = None

    def watch(self, runner):
        with self._lock:
            self._runners.add(runner)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True)
                self._thread.start()

    def _run(self):
        while True:
            time.sleep(1.0)
            now = time.monotonic()
            with self._lock:
                runners = list(self._runners)
            for r in runners:
                started = r.started
                if started is not None and now - started > self.timeout:
                    r.started = None
                    try:
                        r.cancel()
                    except Exception:
                        pass


watchdog = Watchdog()


class InProcessDuckDB:
    """DuckDB in this Python process over the same Parquet files (views)."""

    kind = "duckdb"

    def __init__(self, label, files, threads=None):
        self.label = label
        self.files = files
        self.threads = threads

    def describe(self):
        t = f"threads={self.threads}" if self.threads else "threads=default (one per core)"
        return f"duckdb Python, in-process, {t}, views over the Parquet files"

    @contextlib.contextmanager
    def open(self):
        con = duckdb.connect()
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for stmt in tpch.view_statements(self.files):
                con.execute(stmt)
            yield DuckDBRunner(con)
        finally:
            con.close()


class Runner:
    """Runs statements on one connection; `started` tells the watchdog when
    the running one began. Subclasses say how to get a table and batches."""

    def __init__(self):
        self.started = None
        watchdog.watch(self)

    def query(self, sql):
        self.started = time.monotonic()
        try:
            return self._table(sql)
        finally:
            self.started = None

    def stream(self, sql):
        """Rows and bytes of sql, read batch by batch and dropped."""
        rows = nbytes = 0
        self.started = time.monotonic()
        try:
            for batch in self._batches(sql):
                rows += batch.num_rows
                nbytes += batch.nbytes
        finally:
            self.started = None
        return rows, nbytes


class DuckDBRunner(Runner):
    def __init__(self, con):
        self.con = con
        super().__init__()

    def _table(self, sql):
        return self.con.execute(sql).to_arrow_table()

    def _batches(self, sql):
        return self.con.execute(sql).to_arrow_reader()

    def cancel(self):
        self.con.interrupt()

    def check_alive(self, grace=0.0):
        pass

    def cursor_runner(self):
        """A runner on a new cursor of the same database (one per client thread)."""
        return DuckDBRunner(self.con.cursor())

    def plans(self):
        return {}

    def close(self):
        pass


class Skein:
    """A Skein deployment reached through the ADBC Flight SQL driver.

    separate=True runs a coordinator and `executors` executor processes
    (coordinator_threads for the coordinator's DuckDB, `threads` for each
    executor's); otherwise `skein serve` with the flags given (None: its
    default). data_dir is the --allow-dir (None: none, as when the files
    are in object storage). profile, a profiles.Target, has every process
    write its Go profiles, collected there when the deployment stops."""

    kind = "skein"

    def __init__(self, label, binary, work_dir, files, data_dir, executors=None, threads=None,
                 coordinator_threads=None, result_mode=None, separate=False, flags=(),
                 executor_flags=(), profile=None):
        self.label = label
        self.files = files
        self.server_args = dict(binary=binary, work_dir=work_dir, data_dirs=[data_dir] if data_dir else [],
                                executors=executors, threads=threads,
                                coordinator_threads=coordinator_threads,
                                result_mode=result_mode, separate=separate, label=label,
                                flags=list(flags), executor_flags=list(executor_flags),
                                profile=profile)
        self.server = None

    def describe(self):
        a = self.server_args
        mode = a["result_mode"] or "direct"
        more = "".join(f" {f}" for f in a["flags"])
        if a["separate"]:
            emore = "".join(f" {f}" for f in a["executor_flags"])
            return (f"`skein coordinator --threads {a['coordinator_threads']}{more}` + {a['executors']} x "
                    f"`skein executor --threads {a['threads']}{emore}` (separate processes), result mode {mode}")
        flags = []
        if a["executors"] is not None:
            flags.append(f"--executors {a['executors']}")
        if a["threads"] is not None:
            flags.append(f"--threads {a['threads']}")
        if a["result_mode"]:
            flags.append(f"--result-mode {a['result_mode']}")
        flags += a["flags"]
        if not flags:
            return "`skein serve` with default settings (2 executors; DuckDB threads = cores)"
        return f"`skein serve {' '.join(flags)}`"

    @contextlib.contextmanager
    def open(self):
        server = skeinproc.Server(**self.server_args)
        with server:
            self.server = server
            conn = server.connect()
            try:
                with conn.cursor() as cur:
                    for stmt in tpch.view_statements(self.files):
                        cur.execute(stmt)
                server.wait_registered(conn, REGISTRATION_PROBE)
                runner = SkeinRunner(server, conn)
                try:
                    yield runner
                finally:
                    runner.close()
            finally:
                conn.close()
                self.server = None


class Floor:
    """bench/floor: arrow-go's Flight SQL server answering SELECT 1 from
    memory and doing nothing else, reached through the same ADBC driver as
    Skein. What a client pays against it is the protocol's and the driver's
    own, the least any Flight SQL server can be timed at; it answers nothing
    but SELECT 1. `uri` is set while it is open."""

    kind = "floor"

    def __init__(self, label, binary, work_dir):
        self.label = label
        self.binary = binary
        self.work_dir = pathlib.Path(work_dir)
        self.uri = None

    def describe(self):
        return "`bench/floor`: arrow-go's Flight SQL server answering SELECT 1 from memory, nothing else"

    @contextlib.contextmanager
    def open(self):
        self.work_dir.mkdir(parents=True, exist_ok=True)
        proc = skeinproc.Proc("floor", [self.binary], self.work_dir / "floor.log").start()
        try:
            self.uri = proc.uri
            runner = SkeinRunner(None, flightsql.connect(proc.uri, autocommit=True), owns_conn=True)
            try:
                yield runner
            finally:
                runner.close()
        finally:
            self.uri = None
            proc.stop()


def clusters(specs, work, files, data_dir):
    """Skein clusters of separate processes from LABEL=BINARY:EXECUTORS[:FLAGS] specs (FLAGS: more
    coordinator flags, separated by spaces): a coordinator with --threads EXECUTORS and that many
    executors with --threads 1, as `make bench` runs them, each under work/LABEL, every process
    logging at SKEIN_LOG_LEVEL (default warn)."""
    level = os.environ.get("SKEIN_LOG_LEVEL", "warn")
    out = []
    for spec in specs:
        label, rest = spec.split("=", 1)
        binary, n, *more = rest.split(":", 2)
        extra = more[0].split() if more else []
        out.append(Skein(label, binary, work / label, files, data_dir, executors=int(n), threads=1,
                         coordinator_threads=int(n), separate=True, flags=["--log-level", level, *extra],
                         executor_flags=["--log-level", level]))
    return out


class SkeinRunner(Runner):
    def __init__(self, server, conn, owns_conn=False):
        self.server = server
        self.conn = conn
        self.owns_conn = owns_conn
        self.cur = conn.cursor()
        self._clients = []
        super().__init__()

    def _table(self, sql):
        self.cur.execute(sql)
        return self.cur.fetch_arrow_table()

    def _batches(self, sql):
        self.cur.execute(sql)
        return self.cur.fetch_record_batch()

    def cancel(self):
        self.cur.adbc_cancel()

    def check_alive(self, grace=0.0):
        """Raise if a process of the deployment has exited (crashed), so that a
        workload stops at once rather than failing every later query; after
        failures, grace gives a dying process time to finish exiting."""
        deadline = time.monotonic() + grace
        while True:
            dead = self.server.exited()
            if dead:
                raise skeinproc.SkeinError("; ".join(dead))
            if time.monotonic() >= deadline:
                return
            time.sleep(0.1)

    def cursor_runner(self):
        """A runner on a new connection (one per client thread)."""
        r = SkeinRunner(self.server, self.server.connect(), owns_conn=True)
        self._clients.append(r)
        return r

    def plans(self):
        """{sql text: "mode, N tasks"} from Skein's query history (the last
        record of each text), so the report can say which queries were split."""
        time.sleep(0.5)  # history is written asynchronously
        self.cur.execute("SELECT sql, arg_max(mode, started_at), arg_max(tasks, started_at) "
                         "FROM skein.queries GROUP BY sql")
        out = {}
        for sql, mode, tasks in self.cur.fetchall():
            out[sql] = f"{mode}, {tasks} tasks" if tasks else mode
        return out

    def close(self):
        for r in self._clients:
            r.close()
        self._clients = []
        try:
            self.cur.close()
        finally:
            if self.owns_conn:
                self.conn.close()
