#!/usr/bin/env bash
# Installs the third-party tools the tests use, if missing: skopeo (Debian) for the interop
# test, docker-registry (Debian: CNCF Distribution) for the client interop test and the
# benchmarks, and cargo-deny (crates.io) for the dependency policy. Go (for the conformance
# suite) is expected on the machine; the suite itself is built from its pinned module by
# `cargo xtask conformance`.
set -euo pipefail

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "sudo"
    fi
}

if ! command -v skopeo >/dev/null 2>&1; then
    $(need_root) apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq skopeo >/dev/null
fi
skopeo --version

if ! command -v docker-registry >/dev/null 2>&1; then
    $(need_root) apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $(need_root) apt-get install -y -qq docker-registry >/dev/null
fi
docker-registry --version

if ! cargo deny --version >/dev/null 2>&1; then
    cargo install --locked cargo-deny@0.20.2 --quiet
fi
cargo deny --version

command -v go >/dev/null 2>&1 || { echo "go is required for the conformance suite" >&2; exit 1; }
go version
