"""Secrets at rest: mail account passwords encrypted with keys from the environment.

Keys: ``settings.NIXFLOW_SECRET_KEYS``, a list of Fernet keys (from the comma-separated
environment variable of the same name). The first key encrypts; every key decrypts. So a
key is rotated in three steps (``docs/operations.md``, "Secrets"): put a new key first,
run ``manage.py rotate_secrets`` (re-encrypts every stored secret with it), then remove
the old key. Development without the variable uses a key derived from ``SECRET_KEY``;
production refuses to start without it (``nixflow/settings.py``).

Why ``cryptography``'s Fernet/MultiFernet and not a Django field package: Fernet is
authenticated encryption (AES-128-CBC + HMAC-SHA256) with a timestamped token, and
``MultiFernet`` gives exactly the rotation above (``rotate()`` re-encrypts under the
first key). The field packages we looked at are unmaintained (django-fernet-fields,
django-cryptography) or derive their keys from ``SECRET_KEY`` and a salt
(django-fernet-encrypted-fields), which would tie rotating the session-signing key to
re-encrypting data. The field below is the thin part: encrypt on the way to the
database, decrypt on the way out.

Stored form: the Fernet token as text (it starts ``gAAAAA``); an empty secret is stored
as the empty string, so "has a password" stays a plain comparison.
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
from django.db import models


class SecretUnreadable(Exception):  # noqa: N818 -- named for what the operator sees
    """A stored secret that none of the configured keys decrypts."""


def development_key(secret_key: str) -> str:
    """The key used when ``NIXFLOW_SECRET_KEYS`` is unset (development and tests only)."""
    digest = hashlib.sha256(f"nixflow-secret-keys:{secret_key}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


@cache
def _fernet() -> MultiFernet:
    keys = list(settings.NIXFLOW_SECRET_KEYS)
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
        _fernet.cache_clear()


setting_changed.connect(_forget_keys, dispatch_uid="email_integration.crypto")


def new_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with any key in NIXFLOW_SECRET_KEYS "
            "(was a key removed before `manage.py rotate_secrets` ran?)."
        ) from error


# Same shape as decrypt above, another Fernet call and message (rotation names no command).
def rotate(token: str) -> str:
    """The same secret encrypted under the first key (raises SecretUnreadable)."""
    if not token:
        return ""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken as error:
        raise SecretUnreadable("A stored secret cannot be decrypted with any key.") from error


class EncryptedTextField(models.TextField):
    """Text encrypted at rest: Python sees the plain value, the database a Fernet token.

    Not searchable or comparable in SQL (each encryption differs); use it for secrets
    only. ``manage.py rotate_secrets`` finds every field of this class.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return None if value is None else encrypt(value)
