#!/usr/bin/env bash
# Installs what Beacon needs on a fresh machine, idempotently:
#   - a Python virtualenv in .venv with Beacon and its dependencies (from PyPI),
#   - the browser snippet, built with Node (npm ci && npm run build in js-snippet/),
#   - the dashboard's script and style sheet, built the same way in app/web/ (with uPlot).
# With --test it also installs what the test suite needs: the test extras, and the
# system packages chromium (browser tests), redis-server (scale-mode tests) and gcc
# (builds app/bench/loadgen.c, the load generator of `beacon bench`), from Debian's
# packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1
log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  log "installing system packages: $*"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# Python ----------------------------------------------------------------------------
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "Beacon needs Python 3.11 or newer as '$PYTHON' (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
extras="bench"
[ $want_test = 1 ] && extras="test,bench"
stamp=".venv/.beacon-setup-$(sha256sum pyproject.toml | cut -c1-16)-$extras"
if [ ! -f "$stamp" ]; then
  log "installing Python dependencies ($extras)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[$extras]"
  rm -f .venv/.beacon-setup-*
  touch "$stamp"
fi

# Snippet ---------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
lock_stamp="js-snippet/node_modules/.beacon-$(sha256sum js-snippet/package-lock.json | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
  log "installing the snippet's build tools (npm ci)"
  (cd js-snippet && npm ci --no-audit --no-fund --loglevel=error)
  touch "$lock_stamp"
fi
log "building the snippet"
(cd js-snippet && npm run --silent build)

# Dashboard ----------------------------------------------------------------------------
web_stamp="app/web/node_modules/.beacon-$(sha256sum app/web/package-lock.json | cut -c1-16)"
if [ ! -f "$web_stamp" ]; then
  log "installing the dashboard's build tools and uPlot (npm ci)"
  (cd app/web && npm ci --no-audit --no-fund --loglevel=error)
  touch "$web_stamp"
fi
log "building the dashboard"
(cd app/web && npm run --silent build)

# Test-only system packages ---------------------------------------------------------
if [ $want_test = 1 ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)  # builds `beacon bench`'s load generator
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
fi
