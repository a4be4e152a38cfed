"""Reads of the notifications app: an agent's list, unread count and preferences."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import QuerySet

from nixflow.models import User
from notifications.models import DEFAULTS, Kind, Notification, NotificationPreference

Preferences = dict[str, tuple[bool, bool]]  # kind -> (in the admin, by e-mail)


def notification_list(*, user: User, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's notifications listed in the admin, newest first (the partial indexes
    on (recipient, -created, -id) serve both the list and its unread filter)."""
    rows = Notification.objects.filter(recipient=user, in_admin=True).select_related("ticket")
    if unread is True:
        rows = rows.filter(read_at__isnull=True)
    elif unread is False:
        rows = rows.filter(read_at__isnull=False)
    return rows.order_by("-created", "-id")


def unread_count(*, user: User) -> int:
    """Unread notifications of the user: an index-only count over the unread rows."""
    return Notification.objects.filter(recipient=user, in_admin=True, read_at__isnull=True).count()


def preferences_of(*, user_ids: Sequence[int]) -> dict[int, Preferences]:
    """Each user's preference per kind and channel: their rows over the defaults."""
    chosen: dict[int, Preferences] = {pk: dict(DEFAULTS) for pk in user_ids}
    rows = NotificationPreference.objects.filter(user_id__in=user_ids).values_list(
        "user_id", "kind", "in_admin", "email"
    )
    for user_id, kind, in_admin, email in rows:
        if kind in Kind.values:  # a row of a kind since removed is ignored
            chosen[user_id][kind] = (in_admin, email)
    return chosen


def preference_table(*, user: User) -> list[dict[str, object]]:
    """The user's preferences, one row per kind in rank order, for the API and admin."""
    chosen = preferences_of(user_ids=[user.pk])[user.pk]
    return [
        {"kind": kind, "label": label, "in_admin": chosen[kind][0], "email": chosen[kind][1]}
        for kind, label in Kind.choices
    ]
