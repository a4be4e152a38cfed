#!/usr/bin/env bash
# GNU gettext (xgettext, msgmerge, msgfmt) for Django's makemessages and compilemessages,
# which the translation checks run (tests/test_translations.py). Idempotent; needs root
# (or sudo) and apt.
set -euo pipefail
if command -v xgettext >/dev/null && command -v msgmerge >/dev/null && command -v msgfmt >/dev/null; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== installing Debian's gettext for the translation checks"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq gettext >/dev/null
