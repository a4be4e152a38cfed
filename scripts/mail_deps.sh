#!/usr/bin/env bash
# Debian's Dovecot (IMAP and POP3) for the mail tests (tests/email_integration/servers.py
# runs private instances of it on loopback). Idempotent; needs root (or sudo) and apt.
set -euo pipefail
if command -v dovecot >/dev/null && [ -e /usr/lib/dovecot/imap ] && [ -e /usr/lib/dovecot/pop3 ]; then
    exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "== installing Debian's dovecot-imapd and dovecot-pop3d for the mail tests"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    dovecot-imapd dovecot-pop3d >/dev/null
