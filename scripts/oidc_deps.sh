#!/usr/bin/env bash
# node oidc-provider (from the npm registry): the real OpenID provider the single sign-on
# tests run on loopback (tests/sso/provider.mjs). Installed under var/oidc-provider, not
# vendored; idempotent, and quick when the pinned version is there already.
set -euo pipefail
cd "$(dirname "$0")/.."
OIDC_PROVIDER_VERSION=9.13.3
PREFIX=var/oidc-provider
if [ -f "$PREFIX/node_modules/oidc-provider/package.json" ] \
    && grep -q "\"version\": \"$OIDC_PROVIDER_VERSION\"" "$PREFIX/node_modules/oidc-provider/package.json"; then
    exit 0
fi
command -v npm >/dev/null || { echo "npm is needed for oidc-provider (Debian: apt-get install npm)" >&2; exit 1; }
echo "== installing oidc-provider $OIDC_PROVIDER_VERSION for the single sign-on tests"
mkdir -p "$PREFIX"
npm install --silent --no-audit --no-fund --prefix "$PREFIX" "oidc-provider@$OIDC_PROVIDER_VERSION" >/dev/null
