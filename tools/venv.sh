#!/usr/bin/env bash
# Creates (or re-creates) a Python venv holding exactly a requirements file.
#
#   tools/venv.sh VENV REQUIREMENTS
#
# The venv is rebuilt only when the requirements file changed since it was
# made (a hash of it is kept in VENV/.requirements.sha256).
# PYTHON is the interpreter that creates it (default: python3).
set -euo pipefail

venv="$1"
req="$2"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "venv.sh: creating venv $venv from $req" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
