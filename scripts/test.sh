#!/usr/bin/env bash
# `make test`: lint, the migration gate, and the whole pytest suite on PostgreSQL.
# Extra arguments go to pytest (e.g. `make test ARGS="-k schema"`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
scripts/browser_deps.sh
scripts/mail_deps.sh
scripts/axe_deps.sh
scripts/gettext_deps.sh
export PATH="$PWD/.venv/bin:$PATH"

source scripts/embedded_db_guard.sh
trap stop_embedded_db EXIT

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== migrations are safe under a running release (docs/deploy.md)"
python manage.py lint_migrations
echo "== migrations match the models"
python manage.py makemigrations --check --dry-run
echo "== pytest"
pytest -n "${PYTEST_WORKERS:-2}" "$@"
