"""Writes of mail accounts: the only way an ``EmailAccount`` is created, changed or
deleted, by the admin and the API alike.

Each service checks that the actor is an admin, validates the row (``full_clean``:
unique name and address, port range, poll interval), locks it on update and delete
(``select_for_update``: two admins saving the same account one after the other each
see the other's change, and each event names exactly what it changed), and records one
event of ``email_integration.events`` in the same transaction. The password is set
like any other field but never appears in an event (``events.SECRET_FIELDS``).

``data`` maps model field names to values (``ACCOUNT_FIELDS``), as a form's
or serializer's validated data has them; a ``password`` that is empty or missing on
update keeps the stored one (the admin and the API never show it, so an empty input
means "unchanged"); so does an empty ``oauth_client_secret``. The OAuth2 tokens are
the system's (``email_integration.oauth``), never set here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from email_integration import events
from email_integration.models import EmailAccount
from nixflow.models import User
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.services import model_update

# Kept by the system (polling), never set through these services.
SYSTEM_FIELDS = frozenset(
    {
        "id",
        "last_polled_at",
        "last_error",
        "imap_uidvalidity",
        "imap_last_uid",
        # OAuth2: kept by the consent flow and token refresh (email_integration.oauth).
        "oauth_refresh_token",
        "oauth_access_token",
        "oauth_expires_at",
        "oauth_authorized_at",
        "oauth_error",
    }
)
ACCOUNT_FIELDS = tuple(
    field.name for field in EmailAccount._meta.fields if field.name not in SYSTEM_FIELDS
)
# Secrets the admin and the API never show: empty on update means "keep the stored one".
WRITE_ONLY_FIELDS = ("password", "oauth_client_secret")
# Changing one of these ends a refusal recorded by the token refresh (oauth_error): the
# next refresh tries the provider again with the new client or endpoints.
OAUTH_CONFIG_FIELDS = frozenset(
    {
        "auth_method",
        "oauth_provider",
        "oauth_tenant",
        "oauth_client_id",
        "oauth_client_secret",
        "oauth_authorize_url",
        "oauth_token_url",
        "oauth_scope",
    }
)


def _require_admin(actor: User | None, action: str) -> None:
    require_admin(actor, f"{action} mail accounts")  # None: the system (migrations, commands)


def _fields(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(ACCOUNT_FIELDS))
    if unknown:
        raise ValidationError(
            f"These fields cannot be set on a mail account: {', '.join(unknown)}."
        )
    return dict(data)


def _snapshot(account: EmailAccount) -> dict[str, Any]:
    """``email.account.created``'s payload: the configuration, the secret as a flag."""
    shown: dict[str, Any] = {}
    for name in ACCOUNT_FIELDS:
        if name in events.SECRET_FIELDS:
            continue
        value = getattr(account, f"{name}_id") if name == "workflow" else getattr(account, name)
        shown[name] = value
    shown["has_password"] = bool(account.password)
    shown["has_oauth_client_secret"] = bool(account.oauth_client_secret)
    return shown


def email_account_create(*, actor: User | None, data: Mapping[str, Any]) -> EmailAccount:
    _require_admin(actor, "add")
    account = EmailAccount(**_fields(data))
    account.full_clean()
    with transaction.atomic():
        account.save()
        events.publish(
            events.ACCOUNT_CREATED, subject=account, actor=actor, payload=_snapshot(account)
        )
    return account


def email_account_update(
    *, actor: User | None, account: EmailAccount, data: Mapping[str, Any]
) -> EmailAccount:
    """Change the fields of ``data`` that differ; nothing changed, no event."""
    _require_admin(actor, "change")
    wanted = _fields(data)
    for name in WRITE_ONLY_FIELDS:
        if not wanted.get(name):
            wanted.pop(name, None)  # empty: keep the stored secret
    with transaction.atomic():
        locked = EmailAccount.objects.select_for_update().get(pk=account.pk)
        changes = model_update(instance=locked, data=wanted)
        if OAUTH_CONFIG_FIELDS & set(changes) and locked.oauth_error:
            locked.oauth_error = ""
            locked.save(update_fields=["oauth_error"])
        if changes:
            events.publish(
                events.ACCOUNT_UPDATED,
                subject=locked,
                actor=actor,
                payload=events.changes_payload(changes),
            )
    return locked


def email_account_delete(*, actor: User | None, account: EmailAccount) -> None:
    """Delete an account that has no mail; one with messages is refused (they are the
    record of what came in and went out): deactivate it instead."""
    _require_admin(actor, "delete")
    with transaction.atomic():
        locked = EmailAccount.objects.select_for_update().get(pk=account.pk)
        if locked.messages.exists() or locked.threads.exists():
            raise ValidationError(
                f"{locked.name} has mail and cannot be deleted; deactivate it instead."
            )
        payload = {"name": locked.name, "address": locked.address}
        # The event names the row before it goes (its id stays in the event's subject).
        events.publish(events.ACCOUNT_DELETED, subject=locked, actor=actor, payload=payload)
        locked.delete()
