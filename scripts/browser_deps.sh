#!/usr/bin/env bash
# Debian's chromium and chromedriver for the browser tests (tests/support/browser.py).
# Idempotent: does nothing when both are installed. Needs root (or sudo) and apt.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== installing Debian's chromium and chromium-driver for the browser tests"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
