#!/usr/bin/env bash
# Create .venv and install NixFlow with its pinned dependencies. Re-installs only when
# pyproject.toml changed, so `make run` / `make test` start fast the second time.
set -euo pipefail
cd "$(dirname "$0")/.."

# Python 3.11, 3.12 or 3.13 (Django 5.2 LTS supports them all); 3.11 unless PYTHON names
# another: `make test PYTHON=python3.13` rebuilds .venv with it.
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))'; then
    echo "NixFlow needs Python 3.11, 3.12 or 3.13 (Django 5.2 LTS); $PYTHON is $("$PYTHON" --version)." >&2
    exit 1
fi

wanted=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x .venv/bin/python ] && [ "$(.venv/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$wanted" ]; then
    echo "Rebuilding .venv for Python $wanted"
    rm -rf .venv
fi
if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$PYTHON" --version)"
    "$PYTHON" -m venv .venv
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "Installing NixFlow and its pinned dependencies into .venv"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
