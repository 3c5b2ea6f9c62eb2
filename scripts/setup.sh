#!/usr/bin/env bash
# Installs what `npm run demo` / `npm test` need on a fresh machine:
# the npm dependencies (which include the Node 24 runtime, the npm package
# `node`) and, for tests, redis-server from the OS packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
if [ "${1:-}" = "test" ] && ! command -v redis-server >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
    # The tests start their own redis-server on a free port; the system one is not needed.
    ($SUDO systemctl disable --now redis-server 2>/dev/null || $SUDO service redis-server stop 2>/dev/null) || true
  else
    echo "setup: redis-server is required for the tests; install it with your package manager" >&2
    exit 1
  fi
fi
