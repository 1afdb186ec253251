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
#   BENCH_BALLISTA=1  also install the Ballista peer (requirements-ballista.txt), built from
#              source by pip the first time; if that fails the run goes on and the report says
#              why Ballista was not run (the pip error is kept in $venv/.ballista-install-error)
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

cd "$root"
exec "$venv/bin/python" "$here/skeinbench.py" "$@"
