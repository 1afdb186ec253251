#!/usr/bin/env bash
# Runs the JDBC integration tests against a built skein binary.
#
#   integration/jdbc/run.sh [extra mvn args, e.g. -Dtest=ConnectTest]
#
# SKEIN_BIN  skein binary to test (default: <repo>/bin/skein; build it with
#            go build -tags duckdb_arrow -o bin/skein ./cmd/skein)
# BUILD_DIR  build output dir (default: <repo>/build); Maven's local repository is
#            $BUILD_DIR/m2, so a CI cache of the build dir also caches the jars.
# SKEIN_LOG_LEVEL  --log-level passed to skein serve (default: warn)
#
# Exit code is Maven's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$root/build}"
SKEIN_BIN="${SKEIN_BIN:-$root/bin/skein}"
case "$SKEIN_BIN" in /*) ;; *) SKEIN_BIN="$PWD/$SKEIN_BIN" ;; esac
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$PWD/$BUILD_DIR" ;; esac

if [ ! -x "$SKEIN_BIN" ]; then
  echo "run.sh: skein binary not found at $SKEIN_BIN" >&2
  echo "run.sh: build it: (cd $root && go build -tags duckdb_arrow -o bin/skein ./cmd/skein)" >&2
  exit 2
fi
command -v mvn >/dev/null || { echo "run.sh: mvn not found (apt-get install -y maven)" >&2; exit 2; }

mkdir -p "$BUILD_DIR/m2"
cd "$here"
# A download from Maven Central can stall on a dead connection, and Maven's
# HTTP transport then waits out its 30-minute read timeout (seen on
# 2026-12-03: the driver's jar at 0 bytes for 5 minutes, while curl fetched
# it in 1 s). Reads time out after 2 minutes here, and a run that failed
# before any test ran, on an artifact it could not fetch, runs again (up to
# three times).
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for attempt in 1 2 3; do
  rm -rf target/surefire-reports
  set +e
  mvn -B -q \
    -Dmaven.repo.local="$BUILD_DIR/m2" \
    -Dmaven.wagon.rto=120000 \
    -Dskein.bin="$SKEIN_BIN" \
    -Dskein.logLevel="${SKEIN_LOG_LEVEL:-warn}" \
    test "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -eq 0 ] || compgen -G 'target/surefire-reports/TEST-*.xml' >/dev/null ||
     ! grep -qE 'Could not (transfer|resolve)|Non-resolvable|Failed to read artifact descriptor|timed out' "$log"; then
    break
  fi
  echo "run.sh: Maven could not fetch an artifact (attempt $attempt of 3)" >&2
done

# mvn -q prints nothing when all pass: end with one summary line from the Surefire reports.
shopt -s nullglob
reports=(target/surefire-reports/TEST-*.xml)
if [ ${#reports[@]} -gt 0 ]; then
  read -r tests failures errors skipped < <(
    for f in "${reports[@]}"; do
      grep -o '<testsuite [^>]*>' "$f" | head -1
    done | awk '
      { for (i = 1; i <= NF; i++) {
          split($i, kv, "=");
          gsub(/["\/>]/, "", kv[2]);
          if (kv[1] == "tests") t += kv[2];
          else if (kv[1] == "failures") f += kv[2];
          else if (kv[1] == "errors") e += kv[2];
          else if (kv[1] == "skipped") s += kv[2];
        } }
      END { print t+0, f+0, e+0, s+0 }')
  bad=$((failures + errors))
  # Leading newline: Maven may leave a colour-reset sequence without one on the last line.
  printf '\njdbc: %d passed, %d failed, %d skipped\n' "$((tests - bad - skipped))" "$bad" "$skipped"
fi
exit $rc
