"""Reply tokens: how a reply to one of our notifications proves who it answers.

Every notification we mail carries a token naming its ticket, its recipient (a user)
and an expiry, signed with an HMAC keyed by ``SECRET_KEY``. It travels twice: as a
plus-tag of the Reply-To address (``help+r-<token>@desk.example``) and inside our
Message-ID, which mail clients copy into In-Reply-To and References. A reply that
brings a valid, unexpired token back, from the address of the user it was made for,
was written by someone who received that notification: the pipeline then takes it as
that user's, on that ticket only (``services``). An expired or altered token, or one
made for another recipient, proves nothing.

Why this shape:

- **Lowercase letters, digits and hyphens only**: the token must survive as an
  address's local part (no ``:`` or ``=``, at most 64 characters with ``help+``) and
  servers that lowercase local parts; hence numbers in base 36 and the MAC in base 32.
- **A 128-bit MAC** (HMAC-SHA256 truncated): plenty against forgery by guessing, and
  it keeps the local part under 64 characters.
- **Rotation**: tokens made with a key listed in ``SECRET_KEY_FALLBACKS`` still verify,
  as Django's own signing does; removing the old key voids its tokens.
- **No database row**: verification is pure computation, so it runs for every
  inbound message before anything is looked up.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "nixflow.email.reply-token"
PREFIX = "r-"
# r-<ticket>-<user>-<expiry>-<mac>: numbers in base 36, the MAC in lowercase base 32.
TOKEN = re.compile(r"\br-([0-9a-z]{1,13})-([0-9a-z]{1,13})-([0-9a-z]{1,13})-([a-z2-7]{26})\b")


@dataclass(frozen=True)
class ReplyToken:
    """What a verified token says: the reply is to ``ticket_id``'s mail to ``user_id``."""

    ticket_id: int
    user_id: int
    expires: datetime


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if not number:
            return text


def _mac(payload: str, secret: str) -> str:
    digest = salted_hmac(SALT, payload, secret=secret, algorithm="sha256").digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").lower()


def make(*, ticket_id: int, user_id: int, now: datetime | None = None) -> str:
    """A token for mail about ticket ``ticket_id`` to user ``user_id``, valid for
    ``EMAIL_REPLY_TOKEN_DAYS`` days."""
    expires = (now or timezone.now()) + timedelta(days=settings.EMAIL_REPLY_TOKEN_DAYS)
    payload = f"{_b36(ticket_id)}-{_b36(user_id)}-{_b36(int(expires.timestamp()))}"
    return f"{PREFIX}{payload}-{_mac(payload, settings.SECRET_KEY)}"


def reply_address(address: str, token: str) -> str:
    """``help@desk.example`` with the token as its plus-tag: ``help+r-…@desk.example``."""
    local, _, domain = address.partition("@")
    return f"{local.split('+', 1)[0]}+{token}@{domain}"


def verify(token: str, *, now: datetime | None = None) -> ReplyToken | None:
    """What a token says if it is ours and unexpired, else None."""
    match = TOKEN.fullmatch(token.lower())
    if match is None:
        return None
    ticket, user, expiry, mac = match.groups()
    payload = f"{ticket}-{user}-{expiry}"
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if not any(constant_time_compare(mac, _mac(payload, key)) for key in keys):
        return None
    expires = datetime.fromtimestamp(int(expiry, 36), tz=timezone.get_current_timezone())
    if expires < (now or timezone.now()):
        return None
    return ReplyToken(ticket_id=int(ticket, 36), user_id=int(user, 36), expires=expires)


def find(texts: Iterable[str]) -> list[str]:
    """Every token-shaped string in addresses and message ids (verified or not), in
    order of appearance, without repeats."""
    found: dict[str, None] = {}
    for text in texts:
        for match in TOKEN.finditer((text or "").lower()):
            found.setdefault(match.group(0), None)
    return list(found)
