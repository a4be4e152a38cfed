#!/usr/bin/env bash
# `make bench`: time the ticket API at 10,000 and 1,000,000 tickets (bench/tickets_api.py).
# Extra arguments go to the harness (e.g. `make bench ARGS="--sizes 1000,5000"`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

source scripts/embedded_db_guard.sh
trap stop_embedded_db EXIT

python -m bench.tickets_api "$@"
