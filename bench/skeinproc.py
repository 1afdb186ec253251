"""Skein processes for the benchmark: `skein serve`, or a coordinator with
executors in separate processes (so that each one's memory can be read).

Every process is started with --addr 127.0.0.1:0 and is ready when it prints
`skein ready: URI` on stdout; it is stopped with SIGTERM and must exit 0.
"""

import os
import pathlib
import queue
import secrets
import signal
import subprocess
import threading
import time

import adbc_driver_flightsql.dbapi as flightsql

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 45.0  # skein lets running queries finish for up to 30s on SIGTERM
REGISTER_TIMEOUT = 30.0
DEFAULT_SERVE_EXECUTORS = 2  # skein serve's --executors default


class SkeinError(RuntimeError):
    """A Skein process failed to start, stop or answer."""


class Proc:
    """One skein process started with argv; its stderr goes to log_path."""

    def __init__(self, name, argv, log_path, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = pathlib.Path(log_path)
        self.cwd = cwd
        self.proc = None
        self.uri = None
        self._lines = queue.Queue()
        self._log = None

    @property
    def pid(self):
        return self.proc.pid

    def spawn(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=self._log,
                                     stdin=subprocess.DEVNULL, text=True, bufsize=1, cwd=self.cwd)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        return self

    def _read_stdout(self):
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Wait for the `skein ready: URI` line and return the URI."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise SkeinError(f"{self.name} was not ready within {timeout}s\n{self.stderr_tail()}")
            if line is None:
                raise SkeinError(f"{self.name} exited with {self.proc.wait()} before it was ready\n"
                                 f"{self.stderr_tail()}")
            if line.startswith("skein ready: "):
                self.uri = line[len("skein ready: "):].strip()
                return self.uri

    def start(self):
        self.spawn()
        self.wait_ready()
        return self

    def stderr_tail(self, chars=3000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Returns a problem or None."""
        if self.proc is None:
            return None
        problem = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problem = f"{self.name} did not exit within {STOP_TIMEOUT}s of SIGTERM"
        if problem is None and self.proc.returncode != 0:
            problem = f"{self.name} exited with status {self.proc.returncode} (log: {self.log_path})"
        if self._log is not None:
            self._log.close()
            self._log = None
        return problem

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def proc_cpu_seconds(pid):
    """User plus system CPU time of a process so far (/proc/PID/stat), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields after the command name, which is in parentheses and may hold spaces:
    # utime and stime are the 14th and 15th fields of the line, in clock ticks.
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid, field):
    """A field of /proc/PID/status in kB (VmRSS, VmHWM), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class Server:
    """A Skein deployment: `skein serve`, or one coordinator plus `executors`
    executor processes. Used as a context manager so that every process is
    stopped, or killed on error, whatever happens in between."""

    def __init__(self, binary, work_dir, data_dirs, executors=None, threads=None,
                 coordinator_threads=None, result_mode=None, separate=False, label="skein",
                 flags=(), executor_flags=(), profile=None):
        self.binary = str(binary)
        self.work_dir = pathlib.Path(work_dir)
        self.data_dirs = [str(d) for d in data_dirs]
        self.executors = executors
        self.threads = threads
        self.coordinator_threads = coordinator_threads
        self.result_mode = result_mode
        self.separate = separate
        self.label = label
        self.flags = [str(f) for f in flags]  # more flags of the coordinator (or of serve)
        self.executor_flags = [str(f) for f in executor_flags]
        # profile: a profiles.Target; every process then writes its Go
        # profiles (--profile-dir) into the work dir, and a clean stop moves
        # them there.
        self.profile = profile
        self.coordinator = None
        self.executor_procs = []

    @property
    def uri(self):
        return self.coordinator.uri

    def _allow_args(self):
        args = []
        for d in self.data_dirs:
            args += ["--allow-dir", d]
        return args

    def _profile_args(self):
        return [] if self.profile is None else ["--profile-dir", self.work_dir / "profiles"]

    def start(self):
        if self.work_dir.exists():
            _rmtree(self.work_dir)
        self.work_dir.mkdir(parents=True)
        try:
            if self.separate:
                self._start_cluster()
            else:
                self._start_serve()
        except BaseException:
            self.kill()
            raise
        return self

    def _start_serve(self):
        argv = [self.binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", self.work_dir / "data",
                "--log-level", "warn", *self._allow_args(), *self._profile_args()]
        if self.executors is not None:
            argv += ["--executors", self.executors]
        if self.threads is not None:
            argv += ["--threads", self.threads]
        if self.result_mode:
            argv += ["--result-mode", self.result_mode]
        argv += self.flags
        self.coordinator = Proc(f"{self.label} serve", argv, self.work_dir / "serve.stderr",
                                cwd=self.work_dir).start()

    def _start_cluster(self):
        secret_file = self.work_dir / "cluster-secret"
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
        argv = [self.binary, "coordinator", "--addr", "127.0.0.1:0", "--data-dir", self.work_dir / "data",
                "--cluster-secret-file", secret_file, "--log-level", "warn", *self._allow_args(),
                *self._profile_args()]
        if self.coordinator_threads is not None:
            argv += ["--threads", self.coordinator_threads]
        if self.result_mode:
            argv += ["--result-mode", self.result_mode]
        argv += self.flags
        self.coordinator = Proc(f"{self.label} coordinator", argv,
                                self.work_dir / "coordinator.stderr", cwd=self.work_dir).start()
        for i in range(self.executors):
            eargv = [self.binary, "executor", "--coordinator", self.coordinator.uri,
                     "--addr", "127.0.0.1:0", "--cluster-secret-file", secret_file,
                     "--log-level", "warn", *self._allow_args(), *self._profile_args()]
            if self.threads is not None:
                eargv += ["--threads", self.threads]
            # Each executor's scratch stays in a directory of its own under the
            # work dir: the spool's spilled results, and DuckDB's spill files,
            # which go to .tmp in the working directory.
            scratch = self.work_dir / f"executor{i}"
            (scratch / "spool").mkdir(parents=True)
            eargv += ["--spool-dir", scratch / "spool", *self.executor_flags]
            self.executor_procs.append(Proc(f"{self.label} executor{i}", eargv,
                                            self.work_dir / f"executor{i}.stderr", cwd=scratch).spawn())
        for e in self.executor_procs:
            e.wait_ready()

    def wait_registered(self, conn, probe_sql):
        """Wait until every executor has run a task of probe_sql (a query that
        Skein splits into more tasks than there are executors), as Skein's
        task history tells; executors register after they print ready.
        skein serve prints ready once its executors have registered, and
        by default runs queries on the coordinator: nothing to wait for."""
        if not self.separate:
            return
        want = self.executors if self.executors is not None else DEFAULT_SERVE_EXECUTORS
        literal = "'" + probe_sql.replace("'", "''") + "'"
        check = ("SELECT count(DISTINCT t.executor) FROM skein.tasks t JOIN skein.queries q "
                 f"USING (query_id) WHERE q.sql = {literal} AND t.status = 'ok'")
        deadline = time.monotonic() + REGISTER_TIMEOUT
        seen = 0
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(probe_sql)
                cur.fetch_arrow_table()
                for _ in range(5):  # the history is written asynchronously
                    cur.execute(check)
                    (seen,) = cur.fetchone()
                    if seen >= want:
                        return
                    time.sleep(0.1)
        raise SkeinError(f"{self.label}: {seen} of {want} executors ran tasks within {REGISTER_TIMEOUT}s")

    def connect(self):
        return flightsql.connect(self.uri, autocommit=True)

    def pids(self):
        """{'coordinator': pid, 'executor0': pid, ...}"""
        out = {"coordinator" if self.separate else "serve": self.coordinator.pid}
        for i, e in enumerate(self.executor_procs):
            out[f"executor{i}"] = e.pid
        return out

    def stop(self):
        """Stop executors, then the coordinator; raise if one did not exit
        cleanly. Their profiles, when asked for, are then collected."""
        problems = [p for p in (e.stop() for e in self.executor_procs) if p]
        if self.coordinator is not None:
            p = self.coordinator.stop()
            if p:
                problems.append(p)
        if self.profile is not None and self.coordinator is not None:
            self.profile.collect(self.work_dir / "profiles", self.pids())
        if problems:
            raise SkeinError("; ".join(problems))

    def kill(self):
        for e in self.executor_procs:
            e.kill()
        if self.coordinator is not None:
            self.coordinator.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.stop()
            return False
        dead = self.exited()
        self.kill()
        if dead and isinstance(exc, Exception):
            raise SkeinError(f"{'; '.join(dead)} ({exc_type.__name__}: {str(exc).strip()[:200]})") from exc
        return False

    def exited(self):
        """What processes of this deployment have already exited, with their logs."""
        out = []
        for p in [self.coordinator] + self.executor_procs:
            if p is not None and p.proc is not None and p.proc.poll() is not None:
                out.append(f"{p.name} exited with status {p.proc.returncode} (log: {p.log_path})")
        return out


def version(binary):
    out = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def _rmtree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=False)


def env_binary(repo_root):
    return os.environ.get("SKEIN_BIN") or str(pathlib.Path(repo_root) / "bin" / "skein")
