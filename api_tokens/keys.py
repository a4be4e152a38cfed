"""The token string: ``nft_<prefix>_<secret>``, and the hash that is all the database keeps.

- ``nft_`` makes a leaked token recognisable: secret scanners (GitHub's, gitleaks,
  trufflehog) match a fixed prefix with a fixed shape, and a person reading a log knows
  what they found.
- ``<prefix>``: 8 lowercase hex characters drawn at random, stored in clear and shown in
  lists, so that an owner can tell their tokens apart and match a leaked one to its
  row without anyone holding the secret.
- ``<secret>``: 40 characters of [A-Za-z0-9] from ``secrets`` (about 238 bits).

The database keeps SHA-256 of the whole string. A slow hash (PBKDF2, Argon2) protects
passwords, which people choose from a small space that a stolen hash can be searched
through; a 238-bit random secret has no such space, so a fast hash is as safe, and it
costs microseconds on every request instead of the hundred milliseconds a password hash
is tuned to.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

TOKEN_PREFIX = "nft_"  # noqa: S105 -- the public start of every token
PREFIX_LENGTH = 8
SECRET_LENGTH = 40
_ALPHABET = string.ascii_letters + string.digits
TOKEN_PATTERN = re.compile(
    rf"^{TOKEN_PREFIX}(?P<prefix>[0-9a-f]{{{PREFIX_LENGTH}}})_[A-Za-z0-9]{{{SECRET_LENGTH}}}$"
)


def token_generate() -> tuple[str, str]:
    """A new token string and its public prefix."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_LENGTH))
    return f"{TOKEN_PREFIX}{prefix}_{secret}", prefix


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def is_integration_token(value: str) -> bool:
    """Whether a credential is meant as one of ours (the shape, not whether it exists)."""
    return value.startswith(TOKEN_PREFIX)
