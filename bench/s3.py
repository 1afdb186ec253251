"""An S3 endpoint for the object storage workload: moto's S3 server (the
venv $BUILD_DIR/motoenv, pinned by tools/moto-requirements.txt, which
bench/run.sh creates) on a free loopback port, with the TPC-H files
uploaded to one bucket; and what Skein needs to read it.

moto keeps objects in its own process and serves them over plain HTTP on
loopback: its times are those of a local S3 stand-in, not of a network
object store.
"""

import contextlib
import os
import pathlib
import re
import subprocess
import threading
import time
import urllib.request

BUCKET = "skein-bench"
PREFIX = "tpch/"
READY_TIMEOUT = 60.0
# moto serves any credentials; Skein signs with these (AWS_* variables).
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "skeinbench", "AWS_SECRET_ACCESS_KEY": "skeinbench-secret",
               "AWS_SESSION_TOKEN": ""}


def moto_server(build_dir):
    path = pathlib.Path(build_dir) / "motoenv" / "bin" / "moto_server"
    if not path.exists():
        raise RuntimeError(f"{path} not found: bench/run.sh installs it (tools/venv.sh {path.parent.parent} "
                           "tools/moto-requirements.txt)")
    return path


class MotoS3:
    """moto_server as a context manager: started, then stopped whatever happens."""

    def __init__(self, build_dir, log_path):
        self.binary = moto_server(build_dir)
        self.log_path = pathlib.Path(log_path)
        self.proc = None
        self.url = None

    @property
    def endpoint(self):
        return self.url.removeprefix("http://")

    def __enter__(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(self.binary), "-H", "127.0.0.1", "-p", "0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ready = threading.Event()

        def drain():
            # moto logs every request on stderr: keep it in a file, read the port from it.
            with open(self.log_path, "w") as log:
                for line in self.proc.stderr:
                    log.write(line)
                    m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
                    if m and not ready.is_set():
                        self.url = m.group(1)
                        ready.set()

        threading.Thread(target=drain, daemon=True).start()
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"moto_server did not start (log: {self.log_path})")
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return False

    def _put(self, path, body):
        req = urllib.request.Request(self.url + path, data=body, method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(req, timeout=600) as resp:
            if resp.status != 200:
                raise RuntimeError(f"PUT {path}: HTTP {resp.status}")

    def upload(self, files):
        """Creates the bucket and puts every file of {table: [paths]} under
        PREFIX<table>/; returns {table: [s3:// URLs]} in the same order."""
        self._put(f"/{BUCKET}", b"")
        out = {}
        for table, paths in files.items():
            out[table] = []
            for p in paths:
                key = f"{PREFIX}{table}/{pathlib.Path(p).name}"
                self._put(f"/{BUCKET}/{key}", pathlib.Path(p).read_bytes())
                out[table].append(f"s3://{BUCKET}/{key}")
        return out

    def skein_flags(self, extension_dir=None):
        """Flags of every Skein process reading the bucket (and nothing local)."""
        flags = ["--allow-prefix", f"s3://{BUCKET}/{PREFIX}", "--s3-endpoint", self.endpoint,
                 "--s3-use-ssl=false", "--s3-region", "us-east-1"]
        if extension_dir:
            flags += ["--extension-dir", str(extension_dir)]
        return flags


def extension_dir(binary, build_dir, repo):
    """None when DuckDB's httpfs extension is beside the binary (where make
    build puts it); else a directory tools/duckdb-extensions.sh fills."""
    if (pathlib.Path(binary).resolve().parent / "duckdb-extensions" / "httpfs.duckdb_extension").exists():
        return None
    target = pathlib.Path(build_dir) / "duckdb-extensions"
    subprocess.run(["bash", str(pathlib.Path(repo) / "tools" / "duckdb-extensions.sh"), str(target)], check=True)
    return target


@contextlib.contextmanager
def credentials():
    """The AWS variables Skein reads, set for the processes started inside."""
    saved = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ.update(CREDENTIALS)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
