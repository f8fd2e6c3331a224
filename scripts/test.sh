#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs redis-server when it is missing (the
# integration tests start their own private servers from it), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi
echo "== using $(redis-server --version)"

cargo test --all-targets --locked
cargo test --doc --locked
