#!/usr/bin/env bash
# `make test`: lint, the migration gate, and the whole pytest suite on PostgreSQL.
# Extra arguments go to pytest (e.g. `make test ARGS="-k schema"`); PYTHON picks the
# interpreter (`make test PYTHON=python3.13`, docs/python-versions.md).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh
scripts/bootstrap.sh
# Every server and tool the tests use beyond Python (chromium, Dovecot, axe-core, gettext,
# the OpenID provider, ...): each scripts/*_deps.sh installs one, and returns at once when
# it is there.
for deps in scripts/*_deps.sh; do
    "$deps"
done
export PATH="$PWD/$VENV/bin:$PATH"
# Said at the start and at the end, so a log of several runs (.ci/run) shows which
# interpreter each result belongs to.
interpreter="$(python --version) ($VENV)"
echo "== make test on $interpreter"
trap 'status=$?; declare -F stop_embedded_db >/dev/null && stop_embedded_db; echo "== make test on $interpreter: $([ "$status" -eq 0 ] && echo passed || echo "FAILED (exit $status)")"' EXIT

source scripts/embedded_db_guard.sh

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
# The slowest tests are named at the end: the suite runs twice in CI (.ci/run) within its
# time limit, and this list says where the minutes go.
pytest -n "${PYTEST_WORKERS:-2}" --durations=40 "$@"
