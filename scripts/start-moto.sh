#!/usr/bin/env bash
# Starts an S3-compatible server (moto) on 127.0.0.1:PORT for the ociregistry-store S3 tests,
# and stops it when the process that started this script exits.
#
# Usage: scripts/start-moto.sh PORT
# Uses `moto_server` from PATH if it works, otherwise installs `moto[server]` from PyPI into a
# virtualenv under ${XDG_CACHE_HOME:-~/.cache}/ociregistry/moto (once).
set -euo pipefail
port="${1:?usage: start-moto.sh PORT}"
watch="${PPID}"

if moto_server --help >/dev/null 2>&1; then
    moto=moto_server
else
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/ociregistry/moto"
    if [ ! -x "$venv/bin/moto_server" ]; then
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet 'moto[server]>=5'
    fi
    moto="$venv/bin/moto_server"
fi

"$moto" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
# Stop with the parent (the test process), or when the server dies.
while kill -0 "$watch" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
    sleep 1
done
