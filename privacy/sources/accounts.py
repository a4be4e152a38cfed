"""Django's and its add-ons' tables that hold a person: sessions, admin change log, the
legacy API token, sign-in attempts (axes keys them by the username typed, an address)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db.models import Model, Q
from django.utils import timezone

from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export
from privacy.sources.common import iso, scrub_rows


def _axes_models() -> list[type[Model]]:
    if not apps.is_installed("axes"):
        return []
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    return [AccessAttempt, AccessFailureLog, AccessLog]


def _token_model() -> type[Model] | None:
    if not apps.is_installed("rest_framework.authtoken"):
        return None
    from rest_framework.authtoken.models import Token

    return Token


def _usernames(person: Person) -> Q:
    condition = Q(username__iexact=person.email)
    if person.user is not None:
        condition |= Q(username__iexact=person.user.username)
    return condition


def _sessions(person: Person) -> list[Session]:
    """The person's signed-in sessions: their data is encoded, so each live one is
    decoded (sessions expire; the table holds the live ones and those not yet cleared)."""
    if person.user is None:
        return []
    wanted = str(person.user.pk)
    return [
        session
        for session in Session.objects.filter(expire_date__gt=timezone.now())
        if str(session.get_decoded().get("_auth_user_id")) == wanted
    ]


def export(person: Person) -> Export:
    data: dict[str, Any] = {"sign_in_attempts": [], "sessions": len(_sessions(person))}
    for model in _axes_models():
        for row in model.objects.filter(_usernames(person)).order_by("pk"):  # type: ignore[attr-defined]
            data["sign_in_attempts"].append(
                {
                    "kind": model.__name__,
                    "username": row.username,
                    "ip_address": row.ip_address,
                    "user_agent": row.user_agent,
                    "time": iso(getattr(row, "attempt_time", None)),
                }
            )
    return Export(data=data)


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    for model in _axes_models():
        changed += model.objects.filter(_usernames(person)).delete()[0]  # type: ignore[attr-defined]
    sessions = _sessions(person)
    changed += Session.objects.filter(pk__in=[s.pk for s in sessions]).delete()[0]
    token = _token_model()
    if token is not None and person.user is not None:
        changed += token.objects.filter(user=person.user).delete()[0]  # type: ignore[attr-defined]
    # The admin's change log names objects as they were shown ("zelda@example.org"); the
    # person's own user row by its username, whatever that was.
    if person.user is not None:
        changed += (
            LogEntry.objects.filter(
                content_type=ContentType.objects.get_for_model(type(person.user)),
                object_id=str(person.user.pk),
            )
            .exclude(object_repr=ERASED)
            .update(object_repr=ERASED)
        )
    changed += scrub_rows(LogEntry.objects.all(), person, ["object_repr", "change_message"])
    return changed


def _models() -> list[type[Model]]:
    found: list[type[Model]] = [LogEntry, Session, *_axes_models()]
    token = _token_model()
    if token is not None:
        found.append(token)
    return found


registry.register(
    "accounts",
    models=_models(),
    exporter=export,
    eraser=erase,
    order=20,
    description="Sessions, the admin's change log, sign-in attempts, the legacy API token.",
)
