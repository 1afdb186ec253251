#!/bin/bash
# A cluster of separate processes on fixed ports, for the interleaved small-query scripts
# (bench/interleave_small.py, bench/small_phases.py): a coordinator of 2 DuckDB threads on
# 127.0.0.1:PORT and two executors of 1 thread on PORT+1 and PORT+2, over the TPC-H data in DATA,
# its scratch in WORKDIR (emptied first). The process ids go to WORKDIR/pids: stop the cluster
# with `kill $(cat WORKDIR/pids)`. LOGLEVEL=debug logs each task's timings (executors' stderr);
# EXECFLAGS are more flags for the executors (EXECFLAGS="--profile-dir DIR": their Go profiles).
#
#     bench/cluster_at.sh BINARY PORT WORKDIR DATA [coordinator flags...]
set -eu
LOGLEVEL=${LOGLEVEL:-warn}
BIN=$1; P=$2; W=$3; D=$4; shift 4
rm -rf "$W"; mkdir -p "$W/e1/spool" "$W/e2/spool"
head -c 32 /dev/urandom | xxd -p -c 64 > "$W/secret"; chmod 600 "$W/secret"
"$BIN" coordinator --addr 127.0.0.1:$P --data-dir "$W/data" --cluster-secret-file "$W/secret" \
  --log-level $LOGLEVEL --allow-dir "$D" --threads 2 "$@" > "$W/coord.out" 2> "$W/coord.err" &
echo $! > "$W/pids"
for _ in $(seq 50); do grep -q "skein ready" "$W/coord.out" && break; sleep 0.1; done
for i in 1 2; do
  (cd "$W/e$i" && exec "$BIN" executor --coordinator grpc://127.0.0.1:$P --addr 127.0.0.1:$((P+i)) \
    --cluster-secret-file "$W/secret" --log-level $LOGLEVEL --allow-dir "$D" --threads 1 \
    --spool-dir "$W/e$i/spool" ${EXECFLAGS:-} > "$W/e$i.out" 2> "$W/e$i.err") &
  echo $! >> "$W/pids"
done
sleep 1.5
cat "$W/coord.out"
