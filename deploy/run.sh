#!/usr/bin/env bash
# Sets up (first time only) and runs Beacon with embedded storage under ./data.
# Extra arguments go to `beacon serve` (e.g. --port 8080); BEACON_* variables apply.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
exec .venv/bin/beacon serve "$@"
