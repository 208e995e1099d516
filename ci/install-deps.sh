#!/usr/bin/env bash
# Packages the tests need beyond the Rust toolchain, gcc and python3.
set -euo pipefail
need=()
command -v tmux >/dev/null || need+=(tmux)
command -v useradd >/dev/null || need+=(passwd)
command -v runuser >/dev/null || need+=(util-linux)
command -v git >/dev/null || need+=(git)
command -v make >/dev/null || need+=(make)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
    else
        echo "missing packages: ${need[*]} (install them as root)" >&2
    fi
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
