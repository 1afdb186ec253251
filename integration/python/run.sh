#!/usr/bin/env bash
# Runs the Python integration suite against a built skein binary.
#
#   integration/python/run.sh [pytest args...]
#
# Environment:
#   BUILD_DIR  where the venv lives (default: <repo>/build); venv is $BUILD_DIR/pyenv
#   SKEIN_BIN  server binary to test (default: <repo>/bin/skein); must already be built
#   PYTHON     interpreter used to create the venv (default: python3)
#   SKEIN_CHROMIUM  the browser of the status page test (default: /usr/bin/chromium,
#              installed with apt-get when missing and running as root)
#   PYTEST_WORKERS  pytest-xdist workers (default: 2); each test file runs in one
#              worker, beside its own session server. The suite waits on its
#              servers about half the time: two workers take 110 s where one
#              took 180 s on a 2-core machine. 0 runs it in this process.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build}"
export SKEIN_BIN="${SKEIN_BIN:-$root/bin/skein}"
venv="$BUILD_DIR/pyenv"
req="$here/requirements.txt"

if [[ ! -x "$SKEIN_BIN" ]]; then
  echo "run.sh: server binary $SKEIN_BIN not found; build it first:" >&2
  echo "  go build -tags duckdb_arrow -o bin/skein ./cmd/skein" >&2
  exit 2
fi

"$root/tools/venv.sh" "$venv" "$req"
# The status page's browser test (test_status_page.py) drives Debian's
# Chromium, installed here when missing.
SKEIN_CHROMIUM="$("$root/tools/chromium.sh")"
export SKEIN_CHROMIUM

cd "$here"
set +e
"$venv/bin/python" -m pytest -q -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
rc=$?
exit $rc
