#!/usr/bin/env bash
# Runs the benchmark harness (bench/skeinbench.py) in its own venv.
#
#   bench/run.sh [skeinbench args...]      e.g. --smoke, or --scale 1 --readme
#
# Environment:
#   BUILD_DIR  where the venvs, the TPC-H Parquet cache and scratch files live
#              (default: <repo>/build); the venv is $BUILD_DIR/benchenv, moto's S3
#              server (the s3 workload) is in $BUILD_DIR/motoenv
#   SKEIN_BIN  server binary to measure (default: <repo>/bin/skein); must already be built
#   PYTHON     interpreter used to create the venv (default: python3)
#   GO         the go command that builds bench/golatency and bench/floor (default: go)
#   BENCH_BALLISTA=1  also install the Ballista peer (requirements-ballista.txt), built from
#              source by pip the first time; if that fails the run goes on and the report says
#              why Ballista was not run (the pip error is kept in $venv/.ballista-install-error)
#   BENCH_SAIL=1, BENCH_SPARK=1  install the Sail and the Apache Spark peers, each in a venv of its
#              own ($BUILD_DIR/benchenv-sail, benchenv-spark, from requirements-sail.txt and
#              requirements-spark.txt; a few minutes the first time), and run them; 0: do not.
#              Unset: as 1 when --workloads names peers, else 0 (so --smoke and bench-smoke
#              never install them). A failed install is reported, not fatal (pip's last lines
#              are kept in $BUILD_DIR/benchenv-NAME.install-error, the log beside it)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
export BUILD_DIR="${BUILD_DIR:-$root/build}"
export SKEIN_BIN="${SKEIN_BIN:-$root/bin/skein}"
venv="$BUILD_DIR/benchenv"
req="$here/requirements.txt"

if [[ ! -x "$SKEIN_BIN" ]]; then
  echo "run.sh: server binary $SKEIN_BIN not found; build it first:" >&2
  echo "  make build" >&2
  exit 2
fi

"$root/tools/venv.sh" "$venv" "$req"
# moto's S3 server, for the object storage workload (s3).
"$root/tools/venv.sh" "$BUILD_DIR/motoenv" "$root/tools/moto-requirements.txt"

# Ballista: optional, and a failure to build it is reported, not fatal.
breq="$here/requirements-ballista.txt"
bstamp="$venv/.ballista.sha256"
berr="$venv/.ballista-install-error"
bwant="$(sha256sum "$breq" | cut -d' ' -f1)"
if [[ "${BENCH_BALLISTA:-0}" == 1 && ( ! -f "$bstamp" || "$(cat "$bstamp")" != "$bwant" ) ]]; then
  echo "run.sh: installing $breq (built from source the first time: a Rust toolchain and ~45 min)" >&2
  rm -f "$berr"
  if "$venv/bin/python" -m pip install --disable-pip-version-check -r "$breq" > "$venv/.ballista-install.log" 2>&1; then
    echo "$bwant" > "$bstamp"
  else
    grep -E 'error|Error|ERROR' "$venv/.ballista-install.log" | tail -n 3 > "$berr" || true
    [[ -s "$berr" ]] || tail -n 3 "$venv/.ballista-install.log" > "$berr"
    echo "run.sh: installing Ballista failed (see $venv/.ballista-install.log); the bench runs without it" >&2
  fi
fi

# Sail and Spark: optional, in venvs of their own; a failed install is reported, not fatal.
peers_named=0
for ((i = 1; i <= $#; i++)); do
  arg="${!i}"
  if [[ "$arg" == --workloads ]]; then
    j=$((i + 1))
    arg="--workloads=${!j:-}"
  fi
  if [[ "$arg" == --workloads=* && ",${arg#--workloads=}," == *,peers,* ]]; then
    peers_named=1
  fi
done
peer_venv() {  # peer_venv NAME GATE: installs $BUILD_DIR/benchenv-NAME when GATE is 1 (or unset
               # and --workloads names peers) and exports GATE as 1 or 0 for skeinbench.py
  local name="$1" gate="$2"
  local want="${!gate:-$peers_named}" env="$BUILD_DIR/benchenv-$name"
  export "$gate=$want"
  [[ "$want" == 1 ]] || return 0
  rm -f "$env.install-error"
  # (pipefail: the status is venv.sh's; its lines, and pip's errors, also go to the terminal)
  if ! "$root/tools/venv.sh" "$env" "$here/requirements-$name.txt" 2>&1 | tee "$env.install.log" >&2; then
    grep -E 'error|Error|ERROR' "$env.install.log" | tail -n 3 > "$env.install-error" || true
    [[ -s "$env.install-error" ]] || tail -n 3 "$env.install.log" > "$env.install-error"
    echo "run.sh: installing $here/requirements-$name.txt failed (see $env.install.log); the bench runs without it" >&2
  fi
}
peer_venv sail BENCH_SAIL
peer_venv spark BENCH_SPARK

# The latency workload's Go client (bench/golatency) and the Flight SQL floor it and ADBC are
# also timed against (bench/floor): built here, from the module's pinned dependencies.
cd "$root"
export GOLATENCY_BIN="$BUILD_DIR/golatency" FLOOR_BIN="$BUILD_DIR/floor"
"${GO:-go}" build -tags duckdb_arrow -o "$GOLATENCY_BIN" ./bench/golatency
"${GO:-go}" build -o "$FLOOR_BIN" ./bench/floor
exec "$venv/bin/python" "$here/skeinbench.py" "$@"
