#!/usr/bin/env bash
# axe-core (from the npm registry) for the accessibility checks of the public pages
# (tests/support/axe.py). Installed under var/npm, not vendored; idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.14.1
if [ -f var/npm/node_modules/axe-core/axe.min.js ] \
    && grep -q "\"version\": \"$AXE_VERSION\"" var/npm/node_modules/axe-core/package.json; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is needed for axe-core (Debian: apt-get install npm)" >&2; exit 1; }
echo "== installing axe-core $AXE_VERSION for the accessibility tests"
mkdir -p var/npm
npm install --silent --no-audit --no-fund --prefix var/npm "axe-core@$AXE_VERSION" >/dev/null
