#!/usr/bin/env bash
# Installs DuckDB's httpfs extension, which Skein loads when object storage is
# configured (--allow-prefix s3://...), into a directory: the extension is not
# in duckdb-go's static library and DuckDB may not download it at run time.
#
#   tools/duckdb-extensions.sh DIR
#
# pip fetches the pinned wheel from PyPI (tools/duckdb-extensions.txt, its
# sha256 checked) for the platform Go builds for (GOOS/GOARCH, as `go env`
# says), and DIR/httpfs.duckdb_extension is taken from it. Nothing is fetched
# when DIR already holds the extension of the same pin and platform.
# PYTHON is the interpreter whose pip is used (default: python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
dest="$1"
req="$here/duckdb-extensions.txt"
py="${PYTHON:-python3}"

case "$(go env GOOS)/$(go env GOARCH)" in
  linux/amd64) platform=manylinux2014_x86_64 ;;
  linux/arm64) platform=manylinux2014_aarch64 ;;
  darwin/amd64) platform=macosx_11_0_x86_64 ;;
  darwin/arm64) platform=macosx_11_0_arm64 ;;
  windows/amd64) platform=win_amd64 ;;
  *) echo "duckdb-extensions.sh: DuckDB publishes no extension for $(go env GOOS)/$(go env GOARCH)" >&2; exit 1 ;;
esac

# The wheel's DuckDB version must be the one Skein links (v0.MMmmpp.0 of the
# bindings is DuckDB M.m.p).
version="$(sed -n 's/^duckdb-extension-httpfs==\([0-9.]*\).*/\1/p' "$req")"
bindings="$(sed -n 's#^[[:space:]]*github.com/duckdb/duckdb-go-bindings v0\.\([0-9]*\)\.0.*#\1#p' "$root/go.mod")"
linked="$((10#$bindings / 10000)).$((10#$bindings / 100 % 100)).$((10#$bindings % 100))"
if [[ "$version" != "$linked" ]]; then
  echo "duckdb-extensions.sh: $req pins httpfs $version, but go.mod links DuckDB $linked: pin the extension of the same version" >&2
  exit 1
fi

out="$dest/httpfs.duckdb_extension"
stamp="$dest/.httpfs.stamp"
want="$("$py" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$req") $platform"
if [[ -f "$out" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
if ! "$py" -m pip --version >/dev/null 2>&1; then
  echo "duckdb-extensions.sh: $py has no pip, which fetches DuckDB's httpfs extension from PyPI (install python3-pip)" >&2
  exit 1
fi
echo "duckdb-extensions.sh: fetching duckdb-extension-httpfs==$version ($platform) into $dest" >&2
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform "$platform" --require-hashes -r "$req" -d "$tmp"
"$py" -m zipfile -e "$tmp"/duckdb_extension_httpfs-"$version"-*.whl "$tmp/wheel"
mkdir -p "$dest"
cp "$tmp/wheel/duckdb_extension_httpfs/extensions/v$version/httpfs.duckdb_extension" "$out.tmp"
mv "$out.tmp" "$out"
echo "$want" > "$stamp"
