#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed (the status page's browser
# test drives it with Playwright; Playwright's own browser downloads are
# never used). As root it installs the package when missing, idempotently;
# otherwise it says what to run. Prints the browser's path.
set -euo pipefail

bin="${SKEIN_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$bin" ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "chromium.sh: $bin is missing; install it: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  echo "chromium.sh: installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium >&2
fi
echo "$bin"
