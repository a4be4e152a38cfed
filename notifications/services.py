"""Writes of the notifications app: telling agents of events, reading state, preferences.

``notification_deliver`` runs in an event-log subscriber's delivery transaction (after
the event committed, at least once): its rows, their ``notification.created`` events and
the ``Delivery`` row of the subscriber commit together, so a repeated delivery finds the
event delivered and does nothing; the unique (event, recipient) pair is the second line
of that defence (a renamed subscriber would see recent events again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from eventlog.models import EventLog
from nixflow.models import Role, Ticket, User
from notifications import events, kinds, selectors
from notifications.models import (
    DEFAULTS,
    RANK,
    REASON_RANK,
    Channel,
    Kind,
    Notification,
    NotificationPreference,
    Reason,
)

TEXT_LENGTH = Notification._meta.get_field("text").max_length or 300


@dataclass
class _Told:
    """What concerns one recipient in one event: every (kind, reason) that applied."""

    candidates: list[tuple[str, str]] = field(default_factory=list)

    def ordered(self) -> list[tuple[str, str]]:
        return sorted(set(self.candidates), key=lambda c: (RANK[c[0]], REASON_RANK[c[1]]))

    @property
    def kind(self) -> str:
        return self.ordered()[0][0]

    @property
    def kinds(self) -> list[str]:
        return list(dict.fromkeys(kind for kind, _ in self.ordered()))

    @property
    def reasons(self) -> list[str]:
        return list(dict.fromkeys(reason for _, reason in self.ordered()))


def _ticket_of(event: EventLog) -> Ticket | None:
    # Every event a kind reads names its ticket by key (the SLA app's too, whose subject
    # is a clock or a breach): the key is the ticket's primary key.
    number = Ticket.number_from_key(event.ticket_key or "")
    if number is None:
        return None
    return Ticket.objects.filter(pk=number).first()


def _find(occasion: kinds.Occasion, rules: Sequence[kinds.KindRule]) -> dict[int, _Told]:
    found: dict[int, _Told] = {}
    for rule in rules:
        for user_id, reason in rule.find(occasion):
            found.setdefault(user_id, _Told()).candidates.append((rule.kind, reason))
    # Never the actor of their own change.
    found.pop(occasion.event.actor_id or 0, None)
    return found


def _agents(user_ids: Sequence[int]) -> list[User]:
    """Only active agents and admins: requesters hear from the desk by customer mail."""
    return list(
        User.objects.filter(
            pk__in=user_ids, is_active=True, role__in=[Role.AGENT, Role.ADMIN]
        ).order_by("pk")
    )


def notification_deliver(*, event: EventLog) -> list[Notification]:
    """Tell every agent the event concerns, once each; the notifications written.

    Each recipient's notification takes the strongest kind that applies (``RANK``) and
    records every reason. A channel is on when the recipient's preference for any of
    those kinds has it on: a reason they want to hear of is never lost to a stronger one
    they muted. A recipient with no channel on gets nothing.
    """
    notice = kinds.notice_for(event.type)
    if notice is not None:
        return _tell_admins(event, notice) if notice.applies(event) else []
    rules = kinds.rules_for(event.type)
    ticket = _ticket_of(event) if rules else None
    if ticket is None:
        return []
    occasion = kinds.Occasion(event=event, ticket=ticket)
    _tell_teams(occasion, rules)
    return _tell_agents(occasion, rules)


def _tell_teams(occasion: kinds.Occasion, rules: Sequence[kinds.KindRule]) -> None:
    """A ``notification.team_notice`` for each team a rule names that has an address;
    ``email_integration`` mails it. Once per team and event: it commits with this
    delivery's ``Delivery`` row, so a repeated delivery finds the event delivered, and
    (the second line, as the notifications' unique pair is) a notice already in the log
    for this event is not recorded again. No preferences (the address is not a user):
    setting ``Team.email`` is the choice."""
    told = _teams_told(occasion)
    for rule in rules:
        team = rule.team(occasion) if rule.team is not None else None
        if team is None or not team.email or team.pk in told:
            continue
        told.add(team.pk)
        sentence = rule.describe(occasion)
        events.team_notice(
            team=team,
            ticket=occasion.ticket,
            kind=rule.kind,
            text=sentence.english()[:TEXT_LENGTH],
            message=sentence.payload(),
            source_event_id=occasion.event.pk,
        )


def _teams_told(occasion: kinds.Occasion) -> set[int]:
    # Along eventlog_ticket_id: the ticket's own events, a few dozen, not the team's.
    notices = EventLog.objects.filter(
        ticket_key=occasion.ticket.key,
        type=events.TEAM_NOTICE,
        payload__source_event_id=occasion.event.pk,
    )
    return set(notices.values_list("payload__team_id", flat=True))


def _tell_agents(occasion: kinds.Occasion, rules: Sequence[kinds.KindRule]) -> list[Notification]:
    event, ticket = occasion.event, occasion.ticket
    found = _find(occasion, rules)
    recipients = _agents(list(found))
    preferences = selectors.preferences_of(user_ids=[u.pk for u in recipients])
    describe = {rule.kind: rule.describe for rule in rules}
    written = []
    for user in recipients:
        told = found[user.pk]
        chosen = preferences[user.pk]
        in_admin = any(chosen[kind][0] for kind in told.kinds)
        email = any(chosen[kind][1] for kind in told.kinds)
        if not (in_admin or email):
            continue
        sentence = describe[told.kind](occasion)
        notification, created = Notification.objects.get_or_create(
            event_id=event.pk,
            recipient=user,
            defaults={
                "ticket": ticket,
                "comment": occasion.comment if "comment_id" in occasion.payload else None,
                "kind": told.kind,
                "reasons": told.reasons,
                # In English: the admin's list and old readers; mail is written in the
                # recipient's language from the event's "message" (kinds.Sentence).
                "text": sentence.english()[:TEXT_LENGTH],
                "in_admin": in_admin,
                "email": email,
            },
        )
        if created:
            events.notification_created(
                notification=notification,
                ticket=ticket,
                source_event_id=event.pk,
                message=sentence.payload(),
            )
            written.append(notification)
    return written


def _tell_admins(event: EventLog, notice: kinds.NoticeRule) -> list[Notification]:
    """A notice about no ticket, to every active admin (superusers included) but the
    actor, on the channels their preference for its kind has on."""
    admins = list(
        User.objects.filter(is_active=True)
        .filter(Q(role=Role.ADMIN) | Q(is_superuser=True))
        .exclude(pk=event.actor_id or 0)
        .order_by("pk")
    )
    preferences = selectors.preferences_of(user_ids=[u.pk for u in admins])
    sentence = notice.describe(event)
    written = []
    for user in admins:
        in_admin, email = preferences[user.pk][notice.kind]
        if not (in_admin or email):
            continue
        notification, created = Notification.objects.get_or_create(
            event_id=event.pk,
            recipient=user,
            defaults={
                "ticket": None,
                "kind": notice.kind,
                "reasons": [Reason.ADMIN],
                "text": sentence.english()[:TEXT_LENGTH],
                "in_admin": in_admin,
                "email": email,
            },
        )
        if created:
            events.notification_created(
                notification=notification,
                ticket=None,
                source_event_id=event.pk,
                message=sentence.payload(),
            )
            written.append(notification)
    return written


# --- Reading state -------------------------------------------------------------------------
def _require_recipient(actor: User, notification: Notification) -> None:
    if notification.recipient_id != actor.pk:
        raise PermissionDenied("You can only mark your own notifications.")


def notification_mark_read(*, actor: User, notification: Notification) -> Notification:
    """Mark the notification read (once: the first time is kept)."""
    _require_recipient(actor, notification)
    if notification.read_at is None:
        now = timezone.now()
        Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
        notification.read_at = now
    return notification


def notification_mark_unread(*, actor: User, notification: Notification) -> Notification:
    _require_recipient(actor, notification)
    Notification.objects.filter(pk=notification.pk).update(read_at=None)
    notification.read_at = None
    return notification


def notification_mark_many(*, actor: User, ids: Sequence[int] | None, read: bool) -> int:
    """Mark the actor's notifications (those of ``ids``, or all when None) read or
    unread; how many changed. Others' ids are ignored."""
    rows = Notification.objects.filter(recipient=actor, in_admin=True)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    if read:
        return rows.filter(read_at__isnull=True).update(read_at=timezone.now())
    return rows.filter(read_at__isnull=False).update(read_at=None)


# --- Preferences ---------------------------------------------------------------------------
Choices = Mapping[str, Mapping[str, bool]]


def _validate(choices: Choices) -> None:
    for kind, channels in choices.items():
        if kind not in Kind.values:
            raise ValidationError({"kind": f"{kind!r} is not a kind of notification."})
        unknown = set(channels) - set(Channel.values)
        if unknown:
            raise ValidationError({"channel": f"Unknown channel {sorted(unknown)[0]!r}."})


def default_choices() -> dict[str, dict[str, bool]]:
    """Every kind at its default, in the shape ``notification_preferences_update`` takes."""
    return {
        kind: {Channel.IN_ADMIN: in_admin, Channel.EMAIL: email}
        for kind, (in_admin, email) in DEFAULTS.items()
    }


def notification_preferences_update(
    *, actor: User | None, user: User, choices: Choices
) -> dict[str, tuple[bool, bool]]:
    """Set ``user``'s preferences for the kinds and channels named in ``choices``
    (``{kind: {"in_admin": bool, "email": bool}}``; what is left out stays); every
    kind's preferences after. Agents change their own only (``actor`` None: the system).
    """
    if actor is not None and actor.pk != user.pk:
        raise PermissionDenied("You can only change your own notification preferences.")
    if user.role not in (Role.AGENT, Role.ADMIN):
        raise PermissionDenied("Only agents and admins receive notifications.")
    _validate(choices)
    with transaction.atomic():
        # The user's row serialises concurrent edits of their preferences: the second
        # waits, then reads the first's rows, so neither trips on the unique pair.
        User.objects.select_for_update().filter(pk=user.pk).first()
        before = selectors.preferences_of(user_ids=[user.pk])[user.pk]
        changes: dict[str, dict[str, list[bool]]] = {}
        for kind, channels in choices.items():
            old = before[kind]
            new = _pair(channels, old)
            if new == old:
                continue
            NotificationPreference.objects.update_or_create(
                user=user, kind=kind, defaults={"in_admin": new[0], "email": new[1]}
            )
            changes[kind] = {
                name: [o, n] for name, o, n in zip(Channel.values, old, new, strict=True) if o != n
            }
        if changes:
            events.preferences_updated(user=user, actor=actor, changes=changes)
    return {**before, **{k: _pair(v, before[k]) for k, v in choices.items()}}


def _pair(channels: Mapping[str, bool], old: tuple[bool, bool]) -> tuple[bool, bool]:
    return channels.get(Channel.IN_ADMIN, old[0]), channels.get(Channel.EMAIL, old[1])
