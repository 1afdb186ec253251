"""SELECT 1 through ADBC against `skein serve --profile-dir`, in a loop: the
server's and the client's CPU per statement (from /proc and this process's
own CPU time), and the server's Go CPU profile of the loop, for the
README's "where the time goes" (the latency workload's profile also holds
its point lookups, which dwarf SELECT 1).

    build/benchenv/bin/python bench/profile_select1.py bin/skein DIR [N]

The profile is DIR/prof/serve-PID.cpu.pprof (read it with `go tool pprof`,
or bench/profiles.py's breakdown); run it under `perf record` to see the
client's side.
"""

import pathlib
import subprocess
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import profiles  # noqa: E402
from skeinproc import proc_cpu_seconds  # noqa: E402

WARMUP = 100


def main(binary, out, n):
    out = pathlib.Path(out)
    proc = subprocess.Popen([binary, "serve", "--addr", "127.0.0.1:0", "--data-dir", out / "data",
                             "--log-level", "warn", "--profile-dir", out / "prof"],
                            stdout=subprocess.PIPE, text=True)
    try:
        uri = proc.stdout.readline().removeprefix("skein ready: ").strip()
        with flightsql.connect(uri, autocommit=True) as conn, conn.cursor() as cur:
            for _ in range(WARMUP):
                cur.execute("SELECT 1")
                cur.fetch_arrow_table()
            server0, client0, wall0 = proc_cpu_seconds(proc.pid), time.process_time(), time.perf_counter()
            seconds = []
            for _ in range(n):
                t = time.perf_counter()
                cur.execute("SELECT 1")
                cur.fetch_arrow_table()
                seconds.append(time.perf_counter() - t)
            server1, client1 = proc_cpu_seconds(proc.pid), time.process_time()
            wall = time.perf_counter() - wall0
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    seconds.sort()
    print(f"SELECT 1 x {n}: p50 {seconds[n // 2] * 1e3:.2f} ms, wall {wall / n * 1e3:.2f} ms a statement; "
          f"CPU a statement: server {(server1 - server0) / n * 1e3:.2f} ms, "
          f"client {(client1 - client0) / n * 1e3:.2f} ms")
    profile = out / "prof" / f"serve-{proc.pid}.cpu.pprof"
    b = profiles.breakdown(profile)
    if b:
        print(f"{profile}: " + ", ".join(f"{k} {v:.0%}" for k, v in b["parts"].items()))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2000)
