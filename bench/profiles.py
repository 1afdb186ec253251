"""Go profiles of the Skein processes the workloads start (bench/run.sh
--profile, `make bench PROFILE=1`).

Each Skein process is started with --profile-dir, writes CMD-PID.cpu.pprof
and CMD-PID.alloc.pprof there when it is stopped, and the harness moves
them to DIR/WORKLOAD-DEPLOYMENT-PROCESS.{cpu,alloc}.pprof. breakdown()
sorts a CPU profile's samples into the parts that spent them (DuckDB, gRPC,
Arrow, Skein, the Go runtime), for the report.
"""

import pathlib
import re
import shutil
import subprocess

# A sample belongs to the part of the innermost frame, from the leaf up,
# that is not the Go runtime or standard library (a memmove under the Arrow
# IPC writer is Arrow's); a stack of only those is the runtime's (the
# scheduler, the garbage collector's background workers). Samples taken on
# threads that Go did not start (DuckDB's workers) have no Go frames at all.
PARTS = [
    ("DuckDB", ("github.com/duckdb/",)),
    ("gRPC", ("google.golang.org/grpc", "golang.org/x/net/http2", "google.golang.org/protobuf")),
    ("Arrow", ("github.com/apache/arrow-go/",)),
    ("Skein", ("github.com/skeindb/skein/", "main.")),
]
OTHER = "other libraries"
RUNTIME = "Go runtime and GC"
ALL_PARTS = [p for p, _ in PARTS] + [OTHER, RUNTIME]
_SEPARATOR = re.compile(r"^-+\+-+$")
_VALUE = re.compile(r"^\s*([\d.]+)(ns|us|µs|ms|s)\s+(.*)$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def slug(text):
    """A file-name-safe lowercase form of a label: 'Skein 2 executors x 1 thread' -> '2-executors-x-1-thread'."""
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words.removeprefix("skein-") or "skein"


class Target:
    """Where one deployment's profiles go: dest/WORKLOAD-DEPLOYMENT-PROCESS.*;
    each file moved there is listed in sink (a list shared by the run)."""

    def __init__(self, dest, workload, deployment, sink):
        self.dest = pathlib.Path(dest)
        self.workload = workload
        self.deployment = deployment
        self.sink = sink

    def collect(self, written, pids):
        """Moves the files the processes {name: pid} wrote into `written`
        (a directory) to dest; a process that wrote none (killed) is skipped."""
        self.dest.mkdir(parents=True, exist_ok=True)
        for process, pid in pids.items():
            entry = {"workload": self.workload, "deployment": self.deployment, "process": process}
            for kind in ("cpu", "alloc"):
                found = list(pathlib.Path(written).glob(f"*-{pid}.{kind}.pprof"))
                if not found:
                    continue
                to = self.dest / f"{self.workload}-{slug(self.deployment)}-{process}.{kind}.pprof"
                shutil.move(str(found[0]), to)
                entry[kind] = str(to)
            if "cpu" in entry or "alloc" in entry:
                self.sink.append(entry)


def breakdown(path, go="go"):
    """{"seconds": sampled CPU seconds, "duration": profile's seconds,
    "parts": {part: share}, "top": [(function, flat share)]} of a CPU
    profile, read with `go tool pprof -traces`; None when go is missing."""
    try:
        out = subprocess.run([go, "tool", "pprof", "-traces", str(path)], capture_output=True,
                             text=True, timeout=300)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    parts = dict.fromkeys(ALL_PARTS, 0.0)
    flat = {}
    total = 0.0
    duration = None
    stack, value = [], None

    def flush():
        nonlocal total
        if value is None or not stack:
            return
        total += value
        parts[_part(stack)] += value
        leaf = _leaf(stack)
        flat[leaf] = flat.get(leaf, 0.0) + value

    for line in out.stdout.splitlines():
        if line.startswith("Duration:"):
            m = re.match(r"Duration: ([\d.]+)(ms|s|m)?", line)
            if m:
                duration = float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}.get(m.group(2), 1.0)
            continue
        if _SEPARATOR.match(line):
            flush()
            stack, value = [], None
            continue
        m = _VALUE.match(line)
        if m and value is None:
            value = float(m.group(1)) * _UNITS[m.group(2)]
            stack.append(m.group(3).strip())
        elif value is not None and line.strip():
            stack.append(line.strip())
    flush()
    if total == 0:
        return {"seconds": 0.0, "duration": duration, "parts": {}, "top": []}
    top = sorted(flat.items(), key=lambda kv: -kv[1])[:8]
    return {"seconds": total, "duration": duration,
            "parts": {p: v / total for p, v in parts.items()},
            "top": [(f, v / total) for f, v in top]}


def _leaf(stack):
    """A sample's leaf, named for the reader: a call into C by the function
    called (duckdb_execute_pending), DuckDB's own threads as such."""
    if "runtime._ExternalCode" in stack:
        return "DuckDB's threads"
    if stack[0] == "runtime.cgocall" and len(stack) > 1:
        return "cgo " + stack[1].rsplit("._Cfunc_", 1)[-1]
    return stack[0]


def _part(stack):
    """The part a sample's stack (leaf first) belongs to."""
    if "runtime._ExternalCode" in stack:
        return "DuckDB"  # a thread Go did not start: DuckDB's own workers
    for frame in stack:
        for part, prefixes in PARTS:
            if frame.startswith(prefixes):
                return part
        if not _standard(frame):
            return OTHER
    return RUNTIME


def _standard(frame):
    """Whether a frame is of the Go runtime or standard library, whose import
    paths have no dot in their first element (runtime.mallocgc,
    net/http.(*conn).serve), or code without symbols ([libc.so.6])."""
    return frame.startswith("[") or "." not in frame.split("/")[0] if "/" in frame else True
