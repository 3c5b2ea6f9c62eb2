#!/usr/bin/env bash
# Installs what `npm run demo` / `npm test` need on a fresh machine:
# the npm dependencies (which include the Node 24 runtime, the npm package
# `node`) and, for tests, redis-server from the OS packages.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# Tests need redis-server (started by the tests on a free port), promtool
# (package prometheus) to check the metrics format, and Debian's chromium for
# the console's browser tests (driven by playwright-core; CHROMIUM_PATH names
# another build).
if [ "${1:-}" = "test" ]; then
  missing=""
  command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
  command -v promtool >/dev/null 2>&1 || missing="$missing prometheus"
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing="$missing chromium"
  if [ -n "$missing" ]; then
    if command -v apt-get >/dev/null 2>&1; then
      SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
      # The services the packages start are not used: the tests run their own.
      for svc in redis-server prometheus; do
        ($SUDO systemctl disable --now "$svc" 2>/dev/null || $SUDO service "$svc" stop 2>/dev/null) || true
      done
    else
      echo "setup: the tests need:$missing; install them with your package manager" >&2
      exit 1
    fi
  fi
fi
