"""Fetch time of SELECT * over a shaped link, plain and compressed (the skein-compression header).

The link: a veth pair into a network namespace, shaped both ways (as root):

    ip netns add sk1; ip link add vsk0 type veth peer name vsk1; ip link set vsk1 netns sk1
    ip addr add 10.77.0.1/24 dev vsk0; ip link set vsk0 up
    ip netns exec sk1 ip addr add 10.77.0.2/24 dev vsk1; ip netns exec sk1 ip link set vsk1 up
    tc qdisc add dev vsk0 root tbf rate 1gbit burst 512kb latency 20ms
    ip netns exec sk1 tc qdisc add dev vsk1 root tbf rate 1gbit burst 512kb latency 20ms
    ip netns exec sk1 bin/skein serve --addr 10.77.0.2:31400 --user skein --password secret --allow-dir DATA

    $BUILD_DIR/benchenv/bin/python bench/netns_fetch.py grpc://10.77.0.2:31400 DATA/sf1/lineitem ROUNDS

The codecs run in rotation, ROUNDS times each; it prints each one's median seconds."""
import pathlib
import statistics
import sys
import time

import pyarrow.flight as flight

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "integration" / "python"))
import flightsql_raw as raw  # noqa: E402

uri, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
query = raw.statement_query(f"SELECT * FROM read_parquet('{path}/*.parquet')")
client = flight.FlightClient(uri)
auth = client.authenticate_basic_token("skein", "secret")
times = {codec: [] for codec in ("none", "lz4", "zstd")}
rows = {}
for _ in range(rounds):
    for codec in times:
        opts = flight.FlightCallOptions(headers=[auth, (b"skein-compression", codec.encode())])
        start = time.perf_counter()
        info = client.get_flight_info(flight.FlightDescriptor.for_command(query), opts)
        n = 0
        for ep in info.endpoints:
            for chunk in client.do_get(ep.ticket, opts):
                n += chunk.data.num_rows
        times[codec].append(time.perf_counter() - start)
        rows[codec] = n
for codec, ts in times.items():
    print(f"{codec}: {rows[codec]} rows, median {statistics.median(ts):.2f} s {[round(t, 2) for t in ts]}")
