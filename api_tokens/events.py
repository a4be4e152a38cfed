"""Every event the api_tokens app records, and what each payload holds.

The event log keeps payloads forever, so these shapes are a contract: keys may be added,
never renamed or dropped. Neither the token string nor its hash is ever in a payload:
the public prefix is how a reader of the log tells tokens apart.

``api_token.created`` (subject: the ``ApiToken``; actor: its owner, who made it)::

    {"user_id": int, "name": str, "prefix": str, "scopes": [str, ...],
     "expires_at": str | null}

``api_token.revoked`` (subject: the ``ApiToken``; actor: the owner or an admin)::

    {"user_id": int, "name": str, "prefix": str}

``api_token.legacy_deleted`` (subject: the owner, a ``User``; actor: who deleted it,
null from the command line), when a user's DRF token is deleted::

    {"user_id": int}
"""

from __future__ import annotations

from api_tokens.models import ApiToken
from eventlog.services import event_record
from nixflow.models import User

API_TOKEN_CREATED = "api_token.created"  # noqa: S105 -- an event type
API_TOKEN_REVOKED = "api_token.revoked"  # noqa: S105 -- an event type
API_TOKEN_LEGACY_DELETED = "api_token.legacy_deleted"  # noqa: S105 -- an event type


def api_token_created(*, token: ApiToken, actor: User) -> None:
    event_record(
        type=API_TOKEN_CREATED,
        subject=token,
        actor=actor,
        payload={
            "user_id": token.user_id,
            "name": token.name,
            "prefix": token.prefix,
            "scopes": list(token.scopes),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        },
    )


def api_token_revoked(*, token: ApiToken, actor: User | None) -> None:
    event_record(
        type=API_TOKEN_REVOKED,
        subject=token,
        actor=actor,
        payload={"user_id": token.user_id, "name": token.name, "prefix": token.prefix},
    )


def api_token_legacy_deleted(*, user: User, actor: User | None) -> None:
    event_record(
        type=API_TOKEN_LEGACY_DELETED, subject=user, actor=actor, payload={"user_id": user.pk}
    )
