"""Endpoint secrets: generated here, stored encrypted, read only to sign.

A secret is ``whsec_`` and 32 random bytes in base64, the Standard Webhooks format (the
receiver's libraries take it as is). It is encrypted at rest with the desk's
``NIXFLOW_SECRET_KEYS`` (Fernet: the first key encrypts, every key decrypts, through
``nixflow/toolkit/crypto.py``), the keys that also protect mail passwords. Rotating those
keys: put the new key first, run ``manage.py rotate_webhook_secrets`` (re-encrypts every
endpoint's secret under it), then remove the old key.
"""

from __future__ import annotations

import base64
import secrets

from nixflow.toolkit import crypto as _shared
from nixflow.toolkit.crypto import SecretUnreadable

__all__ = ["PREFIX", "SECRET_BYTES", "SecretUnreadable", "decrypt", "encrypt", "rotate"]

PREFIX = "whsec_"
SECRET_BYTES = 32
UNREADABLE = "The endpoint's secret cannot be decrypted with NIXFLOW_SECRET_KEYS."


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key: the base64 part of ``whsec_...`` decoded."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def encrypt(secret: str) -> str:
    return _shared.encrypt(secret)


def decrypt(token: str) -> str:
    return _shared.decrypt(token, unreadable=UNREADABLE)


def rotate(token: str) -> str:
    """The same secret encrypted under the first key (raises SecretUnreadable)."""
    return _shared.rotate(token, unreadable=UNREADABLE)
