"""Secrets at rest, encrypted with keys from the environment: the part every app shares.

Keys: ``settings.NIXFLOW_SECRET_KEYS``, a list of Fernet keys (from the comma-separated
environment variable of the same name). The first key encrypts; every key decrypts. So a
key is rotated in three steps (``docs/operations.md``, "Secrets"): put a new key first,
run each app's re-encrypting command (``rotate_secrets``, ``rotate_webhook_secrets``),
then remove the old key. Development without the variable uses a key derived from
``SECRET_KEY`` (``development_key``); production refuses to start without it
(``nixflow/settings.py``).

Why ``cryptography``'s Fernet/MultiFernet: authenticated encryption (AES-128-CBC +
HMAC-SHA256) with a timestamped token, and ``MultiFernet.rotate`` re-encrypts under the
first key, which is exactly the rotation above (the reasoning against Django field
packages is in ``email_integration/crypto.py``).

The apps' modules (``email_integration.crypto``, ``webhooks.crypto``) are thin: they say
what an empty value means and what an unreadable secret tells the operator.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

UNREADABLE = "A stored secret cannot be decrypted with any key in NIXFLOW_SECRET_KEYS."


class SecretUnreadable(Exception):  # noqa: N818 -- named for what the operator sees
    """A stored secret that none of the configured keys decrypts."""


def development_key(secret_key: str) -> str:
    """The key used when ``NIXFLOW_SECRET_KEYS`` is unset (development and tests only)."""
    digest = hashlib.sha256(f"nixflow-secret-keys:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()


@cache
def fernet() -> MultiFernet:
    """The configured keys, first encrypting; read once, again when the setting changes."""
    keys = list(getattr(settings, "NIXFLOW_SECRET_KEYS", []))
    if not keys:
        raise ImproperlyConfigured("NIXFLOW_SECRET_KEYS is empty: secrets cannot be stored.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            "NIXFLOW_SECRET_KEYS must be Fernet keys (32 url-safe base64-encoded bytes each; "
            "make one with `manage.py rotate_secrets --new-key`)."
        ) from error


def _forget_keys(*, setting: str, **kwargs: Any) -> None:
    if setting == "NIXFLOW_SECRET_KEYS":
        fernet.cache_clear()


setting_changed.connect(_forget_keys, dispatch_uid="nixflow.toolkit.crypto")


def encrypt(value: str) -> str:
    """``value`` encrypted under the first key: a Fernet token as text (``gAAAAA…``)."""
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str, *, unreadable: str = UNREADABLE) -> str:
    """The plain value of ``token``; ``SecretUnreadable(unreadable)`` when no key reads it."""
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(unreadable) from error


def rotate(token: str, *, unreadable: str = UNREADABLE) -> str:
    """The same value encrypted under the first key (raises ``SecretUnreadable``)."""
    try:
        return fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(unreadable) from error
