#!/usr/bin/env bash
# Sets up everything the tests need (first time only), then runs the whole suite:
# lint, unit, store, API, process and browser tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh --test
.venv/bin/ruff check app tests
.venv/bin/ruff format --check app tests
exec .venv/bin/python -m pytest "$@"
