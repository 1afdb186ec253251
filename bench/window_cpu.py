"""What a window in a FROM subquery costs a server, staged against run whole: the top rows of each
group over TPC-H lineitem, as a FROM subquery filtered on the window and as QUALIFY, on running
`skein serve` processes (each URI's server is found by its port), every answer checked against
in-process DuckDB's (as multisets). Per query and server it prints the medians of the wall time and
of the server process's CPU time (utime + stime from /proc, all its threads: coordinator and
in-process executors alike), which moves far less than wall time with other load on the machine.

    python bench/window_cpu.py LINEITEM_GLOB ROUNDS LABEL=grpc://127.0.0.1:PORT ...

As run for the README (2026-12-03, the cut of each slice to the first n rows of every window
partition): `local=` a `skein serve --executors 2 --threads 1` (run whole on one thread), `before=`
and `after=` the same with `--in-process-plan distribute` of the commit before the cut and of the
one after, LINEITEM_GLOB the SF1 lineitem files, ROUNDS 3."""
import os, statistics, subprocess, sys, time
import adbc_driver_flightsql.dbapi as flightsql
import duckdb

glob, rounds = sys.argv[1], int(sys.argv[2])
servers = dict(a.split("=", 1) for a in sys.argv[3:])
L = f"read_parquet('{glob}')"
queries = {
    "top line per ship mode, subquery": f"SELECT l_shipmode, l_orderkey, l_extendedprice FROM (SELECT l_shipmode, l_orderkey, l_extendedprice, rank() OVER (PARTITION BY l_shipmode ORDER BY l_extendedprice DESC, l_orderkey, l_linenumber) r FROM {L}) WHERE r = 1",
    "top line per ship mode, QUALIFY": f"SELECT l_shipmode, l_orderkey, l_extendedprice FROM {L} QUALIFY rank() OVER (PARTITION BY l_shipmode ORDER BY l_extendedprice DESC, l_orderkey, l_linenumber) = 1",
    "top 2 lines per order, subquery": f"SELECT count(*), sum(l_quantity) FROM (SELECT l_orderkey, l_quantity, row_number() OVER (PARTITION BY l_orderkey ORDER BY l_extendedprice DESC, l_linenumber) rn FROM {L}) WHERE rn <= 2",
    "top 2 lines per order, QUALIFY": f"SELECT count(*), sum(l_quantity) FROM (SELECT l_orderkey, l_quantity FROM {L} QUALIFY row_number() OVER (PARTITION BY l_orderkey ORDER BY l_extendedprice DESC, l_linenumber) <= 2)",
}


def server_pid(uri):
    port = uri.rsplit(":", 1)[1]
    return int(subprocess.check_output(["pgrep", "-f", f"127.0.0.1:{port}"]).split()[0])


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


ref = duckdb.connect()
conns = {label: (flightsql.connect(uri), server_pid(uri)) for label, uri in servers.items()}
for name, q in queries.items():
    want = sorted(map(repr, ref.execute(q).fetchall()))
    runs = {label: [] for label in conns}
    for _ in range(rounds):
        for label, (conn, pid) in conns.items():
            c0, t0 = cpu(pid), time.perf_counter()
            cur = conn.cursor()
            cur.execute(q)
            got = sorted(map(repr, cur.fetchall()))
            cur.close()
            runs[label].append((time.perf_counter() - t0, cpu(pid) - c0))
            if got != want:
                sys.exit(f"{label}: {name}: the answer differs from DuckDB's")
    for label, r in runs.items():
        print(f"{name:36} {label:10} wall {statistics.median(x[0] for x in r):7.2f} s  "
              f"server CPU {statistics.median(x[1] for x in r):7.2f} s", flush=True)
