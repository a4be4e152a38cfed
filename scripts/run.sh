#!/usr/bin/env bash
# `make run`: the whole system on this machine -- migrated, checked, demo data loaded,
# then web + Celery worker + beat until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
scripts/bootstrap.sh
export PATH="$PWD/$VENV/bin:$PATH"
export NIXFLOW_PORT=${NIXFLOW_PORT:-8000}

source scripts/embedded_db_guard.sh
trap stop_embedded_db EXIT

python manage.py migrate --noinput
python manage.py check
python manage.py seed_demo --base-url "http://127.0.0.1:$NIXFLOW_PORT"
echo "Starting web, worker and beat; Ctrl-C stops them all."
# honcho runs the Procfile, prefixes each process's output and stops them together.
honcho --no-prefix start -f Procfile.dev 2>&1 || true
