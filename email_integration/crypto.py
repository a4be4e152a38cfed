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

The keys and the Fernet calls are shared with the other apps that keep secrets
(``nixflow/toolkit/crypto.py``); this module adds the empty value and the field.

Stored form: the Fernet token as text (it starts ``gAAAAA``); an empty secret is stored
as the empty string, so "has a password" stays a plain comparison.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from nixflow.toolkit import crypto as _shared
from nixflow.toolkit.crypto import SecretUnreadable, development_key, new_key

__all__ = [
    "EncryptedTextField",
    "SecretUnreadable",
    "decrypt",
    "development_key",
    "encrypt",
    "new_key",
    "rotate",
]

UNREADABLE = (
    "A stored secret cannot be decrypted with any key in NIXFLOW_SECRET_KEYS "
    "(was a key removed before `manage.py rotate_secrets` ran?)."
)


def encrypt(value: str) -> str:
    return _shared.encrypt(value) if value else ""


def decrypt(token: str) -> str:
    return _shared.decrypt(token, unreadable=UNREADABLE) if token else ""


def rotate(token: str) -> str:
    """The same secret encrypted under the first key (raises SecretUnreadable)."""
    return _shared.rotate(token) if token else ""


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
