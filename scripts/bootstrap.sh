#!/usr/bin/env bash
# Create the virtualenv and install NixFlow with its pinned dependencies. Re-installs only
# when pyproject.toml changed, so `make run` / `make test` start fast the second time.
# PYTHON picks the interpreter (3.11 by default, 3.12 or 3.13) and with it the virtualenv:
# .venv for 3.11, .venv-3.13 for 3.13 (scripts/python_env.sh; VENV overrides).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/python_env.sh

if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" != "$PYTHON_VERSION" ]; then
    echo "Rebuilding $VENV for Python $PYTHON_VERSION"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "Creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "Installing NixFlow and its pinned dependencies into $VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[dev]"
    rm -f "$VENV"/.installed-*
    touch "$stamp"
fi
