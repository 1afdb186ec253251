"""Where a statement's time goes through ADBC: the RPCs the driver makes per
`cursor.execute(sql); cursor.fetchall()`, the server's time in each (from
Skein's skein_grpc_server_* metrics), and the client's phases (releasing the
previous result, execute, fetch), against `skein serve` and against the
floor (bench/floor: arrow-go's Flight SQL server answering from memory), in
rotation statement by statement. What the floor also pays is the driver's.

    go build -o build/floor ./bench/floor
    $BUILD_DIR/benchenv/bin/python bench/rpc_breakdown.py RUNS NAME=skein:BIN [NAME=floor:BIN ...] [--data DIR]

With --data (TPC-H Parquet, as bench/run.sh makes), Skein servers also run
point lookups on orders, a different SQL text each time (so ADBC prepares
each one).
"""
import argparse
import collections
import contextlib
import pathlib
import re
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

import adbc_driver_flightsql.dbapi as flightsql

METRIC = re.compile(r'^skein_grpc_server_handling_seconds_(sum|count)\{([^}]*)\} (\S+)$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, kind, binary, work, data):
        self.name, self.kind = name, kind
        argv = [binary]
        self.metrics = None
        if kind == "skein":
            port = free_port()
            self.metrics = f"http://127.0.0.1:{port}/metrics"
            argv += ["serve", "--addr", "127.0.0.1:0", "--data-dir", str(work / name), "--log-level", "warn",
                     "--http-addr", f"127.0.0.1:{port}"]
            if data:
                argv += ["--allow-dir", str(data)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.uri = self.proc.stdout.readline().removeprefix("skein ready: ").strip()
        self.conn = flightsql.connect(self.uri, autocommit=True)
        self.cur = self.conn.cursor()

    def rpcs(self):
        """{method: (calls, seconds)} of the front door's calls so far (an
        in-process executor's own listener carries an executor label)."""
        if not self.metrics:
            return {}
        out = collections.defaultdict(lambda: [0.0, 0.0])
        for line in urllib.request.urlopen(self.metrics).read().decode().splitlines():
            m = METRIC.match(line)
            if not m or "executor=" in m.group(2):
                continue
            method = re.search(r'grpc_method="([^"]*)"', m.group(2)).group(1)
            out[method][0 if m.group(1) == "count" else 1] += float(m.group(3))
        return out

    def close(self):
        self.cur.close()
        self.conn.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def run(servers, case, sqls):
    phases = {s.name: collections.defaultdict(list) for s in servers}
    for s in servers:  # warm up
        for sql in sqls[:20]:
            s.cur.execute(sql)
            s.cur.fetchall()
    before = {s.name: s.rpcs() for s in servers}
    for sql in sqls:
        for s in servers:
            t0 = time.perf_counter()
            s.cur._clear()  # what the next execute would do first: release the previous result
            t1 = time.perf_counter()
            s.cur.execute(sql)
            t2 = time.perf_counter()
            rows = s.cur.fetchall()
            t3 = time.perf_counter()
            assert len(rows) == 1, (s.name, sql, rows)
            p = phases[s.name]
            p["release previous result"].append(t1 - t0)
            p["execute"].append(t2 - t1)
            p["fetchall"].append(t3 - t2)
            p["total"].append(t3 - t0)
    n = len(sqls)
    for s in servers:
        print(f"{case} against {s.name} ({s.kind}), {n} statements:")
        for k, v in phases[s.name].items():
            v.sort()
            print(f"  client {k:26s} p50 {statistics.median(v) * 1e3:7.3f} ms  p99 {v[int(len(v) * .99) - 1] * 1e3:7.3f} ms")
        after = s.rpcs()
        for method, (calls, secs) in sorted(after.items()):
            c0, s0 = before[s.name].get(method, (0, 0))
            if calls - c0 >= n / 2:
                print(f"  server {method:26s} {(calls - c0) / n:4.2f} calls a statement, "
                      f"mean {(secs - s0) / (calls - c0) * 1e3:7.3f} ms a call")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", type=int)
    ap.add_argument("servers", nargs="+", help="NAME=skein:BIN or NAME=floor:BIN")
    ap.add_argument("--data", type=pathlib.Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as st:
        servers = []
        for spec in a.servers:
            name, rest = spec.split("=", 1)
            kind, binary = rest.split(":", 1)
            s = Server(name, kind, binary, pathlib.Path(tmp), a.data)
            st.callback(s.close)
            servers.append(s)
        run(servers, "SELECT 1", ["SELECT 1"] * a.runs)
        skeins = [s for s in servers if s.kind == "skein"]
        if a.data and skeins:
            for s in skeins:
                s.cur.execute(f"CREATE VIEW orders AS SELECT * FROM read_parquet('{a.data}/orders/*.parquet')")
            keys = [1 + 32 * i for i in range(a.runs)]  # orderkeys: 1 and then every 32nd exist at any scale
            run(skeins, "point lookup", [f"SELECT * FROM orders WHERE o_orderkey = {k}" for k in keys])


if __name__ == "__main__":
    main()
