"""Writes of the api_tokens app: making and revoking integration tokens.

Every user makes their own tokens (for themselves only: a token acts as its owner, so
making one for someone else would be acting as them); the owner or an admin revokes
one. Each change is one ``api_token.*`` event in its transaction, without the secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from api_tokens import events, keys
from api_tokens.models import ApiToken
from api_tokens.scopes import scopes_clean
from nixflow.models import User
from nixflow.toolkit.auth import is_admin
from nixflow.toolkit.errors import ConflictError

# Live (not revoked, not expired) tokens one user may hold at once.
DEFAULT_MAX_PER_USER = 50
NAME_LENGTH = ApiToken._meta.get_field("name").max_length or 100


@dataclass(frozen=True)
class CreatedToken:
    """A token just made, and its string: the only moment anyone sees the string."""

    token: ApiToken
    secret: str


def _require_person(actor: User | None) -> User:
    if actor is None or not actor.is_active:
        raise PermissionDenied("Only a signed-in user can make an API token.")
    return actor


def _live(user: User) -> int:
    now = timezone.now()
    return (
        ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .count()
    )


def api_token_create(
    *,
    actor: User | None,
    name: str,
    scopes: Iterable[object],
    expires_at: datetime | None = None,
) -> CreatedToken:
    """Make a token for ``actor`` with ``scopes`` (validated, put in canonical order).

    The string is returned once, in ``CreatedToken.secret``; the row keeps its SHA-256.
    """
    user = _require_person(actor)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name that says what it is for."})
    if len(name) > NAME_LENGTH:
        raise ValidationError({"name": f"Keep the name to {NAME_LENGTH} characters."})
    cleaned = scopes_clean(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    limit = getattr(settings, "API_TOKENS_MAX_PER_USER", DEFAULT_MAX_PER_USER)
    with transaction.atomic():
        # The user's row, locked: two requests at once cannot both pass the count.
        User.objects.select_for_update().filter(pk=user.pk).first()
        if _live(user) >= limit:
            raise ConflictError(f"You have {limit} live tokens already; revoke one first.")
        if ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).exists():
            raise ValidationError(
                {"name": f'Your live token "{name}" already exists: name this one otherwise.'}
            )
        token = _insert(user=user, name=name, scopes=cleaned, expires_at=expires_at)
        events.api_token_created(token=token.token, actor=user)
    return token


def _insert(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None
) -> CreatedToken:
    # The 8-hex prefix is drawn at random and unique; on the rare collision, draw again
    # (in a savepoint, so that the failed INSERT does not spoil the transaction).
    for _attempt in range(5):
        secret, prefix = keys.token_generate()
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    scopes=scopes,
                    prefix=prefix,
                    token_hash=keys.token_hash(secret),
                    expires_at=expires_at,
                )
        except IntegrityError:
            continue
        return CreatedToken(token=token, secret=secret)
    raise ConflictError("Could not draw a free token prefix; try again.")


def api_token_revoke(*, actor: User | None, token: ApiToken) -> ApiToken:
    """Revoke ``token`` at once: its next request is a 401. The owner or an admin."""
    if actor is not None and actor.pk != token.user_id and not is_admin(actor):
        raise PermissionDenied("Only the token's owner or an admin can revoke it.")
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise ConflictError("This token was revoked already.")
        token.revoked_at = timezone.now()
        token.revoked_by = actor
        token.save(update_fields=["revoked_at", "revoked_by"])
        events.api_token_revoked(token=token, actor=actor)
    return token


def legacy_token_delete(*, actor: User | None, user: User) -> bool:
    """Delete ``user``'s legacy DRF token (the owner, an admin, or the command line):
    their next request with it is a 401. False when they had none."""
    if actor is not None and actor.pk != user.pk and not is_admin(actor):
        raise PermissionDenied("Only the owner or an admin can delete a legacy token.")
    with transaction.atomic():
        deleted, _ = Token.objects.filter(user=user).delete()
        if deleted:
            events.api_token_legacy_deleted(user=user, actor=actor)
    return bool(deleted)
