#!/usr/bin/env bash
# Runs carbonq's whole test suite on a fresh machine: the one command to remember.
#
# Integration tests start their own private redis-server processes (one per test, on a Unix
# socket in a temp dir), so this script only makes sure the binary exists; it never starts Redis.
# Set REDIS_SERVER_BIN to use a specific redis-server instead of the one on PATH.
set -euo pipefail

cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif [ -t 0 ]; then
        sudo "$@"
    else
        # No terminal (CI): fail fast instead of waiting for a password prompt.
        sudo -n "$@"
    fi
}

if [ -n "${REDIS_SERVER_BIN:-}" ]; then
    redis_bin="$REDIS_SERVER_BIN"
    if [ ! -x "$redis_bin" ]; then
        echo "error: REDIS_SERVER_BIN=$redis_bin is not an executable file" >&2
        exit 1
    fi
else
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "==> redis-server not found on PATH; installing it with apt-get"
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "error: apt-get is not available; install redis-server (7.x) yourself" >&2
            exit 1
        fi
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server
    fi
    redis_bin="$(command -v redis-server)"
fi
echo "==> using $redis_bin: $("$redis_bin" --version)"

if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found; install Rust from https://rustup.rs" >&2
    exit 1
fi

echo "==> cargo test --all-targets --locked"
cargo test --all-targets --locked

# --all-targets does not include doc tests. They need a library target; without one, skip.
if [ -f src/lib.rs ]; then
    echo "==> cargo test --doc --locked"
    cargo test --doc --locked
else
    echo "==> no library target: skipping doc tests"
fi

echo "==> all tests passed"
