"""The kinds of notification: which agents an event concerns, why, and what to tell them.

Each kind is a rule registered here for one event type: ``find`` names the users the
event concerns with a reason each, ``describe`` says what happened in one sentence. The
app subscribes once per event type (``notifications.subscribers``) and runs every rule
of that type in the one delivery, so that an event concerning someone for several
reasons gives them one notification: separate subscribers would run in separate
transactions, perhaps at once on two workers, and could only merge after the fact.

Rules read the event's payload and core rows (tickets, comments, watchers), never
another feature app: SLA events are found through their ``ticket_key``.

Adding a kind is a ``Kind`` member, its rank and default (``notifications.models``) and
one rule here; nothing else moves. A rule may also name a team (``team``) whose own
address hears of the event: "a new ticket in my team, unassigned" does, for
``Team.email``, which is not a user and so has no preferences and no notification row
(``services.notification_deliver`` records a ``notification.team_notice`` for it).

``describe`` gives a ``Sentence``: an English message id with named parameters, not a
finished string, so that each reader gets it in their own language. The notification
row and the event keep the English text (``Sentence.english``) for the admin and for
readers of old events; the event also carries the message id and its parameters
(``Sentence.payload``), from which the mail to the agent is written in the agent's
language, with dates in the agent's time zone (``email_integration.outbound``). The
message ids are marked with ``gettext_noop``: they are translated when read, never here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from django.db.models.functions import Upper
from django.utils.translation import gettext_noop

from eventlog.models import EventLog
from eventlog.services import SYSTEM
from nixflow.models import DONE_CATEGORIES, Comment, Team, TeamMembership, Ticket, User
from notifications.models import Kind, Reason


@dataclass
class Occasion:
    """One event and the rows it is about, loaded once for all the rules of its type."""

    event: EventLog
    ticket: Ticket

    @property
    def payload(self) -> dict[str, object]:
        return self.event.payload or {}

    @property
    def who(self) -> str:
        """Who acted, as the event log recorded them; empty for the system."""
        # actor_name: a requester's label is person:<id>, shown as their current name.
        label = self.event.actor_name
        return "" if label == SYSTEM else label

    @cached_property
    def comment(self) -> Comment | None:
        comment_id = self.payload.get("comment_id")
        if not isinstance(comment_id, int):
            return None
        return Comment.objects.filter(pk=comment_id, ticket=self.ticket).first()

    @cached_property
    def watcher_ids(self) -> list[int]:
        return list(self.ticket.watchers.values_list("user_id", flat=True))

    @cached_property
    def arrived_team(self) -> Team | None:
        """The team the event brought the ticket into (``team_id`` of ``ticket.created``
        and ``ticket.team_changed``) while it still needs someone there: when the event is
        delivered (after its transaction committed) the ticket is still in that team,
        unassigned and open. Read then, not from the payload, because auto-assignment
        gives the ticket its agent in the same transaction, after the event; an agent who
        takes it, or a move elsewhere, before delivery makes the notice moot too."""
        team_id = self.payload.get("team_id")
        ticket = self.ticket
        if not isinstance(team_id, int) or ticket.team_id != team_id:
            return None
        if ticket.assignee_id is not None or ticket.stage.category in DONE_CATEGORIES:
            return None
        return Team.objects.filter(pk=team_id).first()

    def assignee_and_watchers(self) -> Iterator[tuple[int, str]]:
        if self.ticket.assignee_id is not None:
            yield self.ticket.assignee_id, Reason.ASSIGNEE
        for user_id in self.watcher_ids:
            yield user_id, Reason.WATCHER


@dataclass(frozen=True)
class Sentence:
    """One sentence about an event: ``text`` is an English message id with named
    placeholders (``%(key)s``), ``params`` their values (usernames, ticket keys, stage
    and team names: never text users write at length), ``dates`` the parameters that are
    ISO 8601 datetimes, shown in the reader's time zone."""

    text: str
    params: dict[str, str] = field(default_factory=dict)
    dates: tuple[str, ...] = ()

    def english(self) -> str:
        values = {
            name: _when(self.params[name]) if name in self.dates else value
            for name, value in self.params.items()
        }
        return self.text % values

    def payload(self) -> dict[str, object]:
        """What an event keeps of it (``notifications.events``: ``message``)."""
        return {"text": self.text, "params": dict(self.params), "dates": list(self.dates)}


Finder = Callable[[Occasion], Iterable[tuple[int, str]]]
Describer = Callable[[Occasion], Sentence]
TeamFinder = Callable[[Occasion], Team | None]


@dataclass(frozen=True)
class KindRule:
    kind: str
    event_type: str
    find: Finder
    describe: Describer
    # The team whose own address (Team.email) is told too, if the kind has one.
    team: TeamFinder | None = None


_rules: dict[str, list[KindRule]] = {}


@dataclass(frozen=True)
class NoticeRule:
    """A kind about no ticket but the desk's own configuration (a webhook endpoint the
    desk disabled): told to every active admin but the actor, described from the event
    alone. ``applies`` picks the events of its type that deserve the notice."""

    kind: str
    event_type: str
    describe: Callable[[EventLog], Sentence]
    applies: Callable[[EventLog], bool]


_notices: dict[str, NoticeRule] = {}


def register_notice(
    *,
    kind: str,
    event_type: str,
    describe: Callable[[EventLog], Sentence],
    applies: Callable[[EventLog], bool] = lambda event: True,
) -> None:
    _notices[event_type] = NoticeRule(kind, event_type, describe, applies)


def notice_for(event_type: str) -> NoticeRule | None:
    return _notices.get(event_type)


def register_kind(
    *, kind: str, event_type: str, describe: Describer, team: TeamFinder | None = None
) -> Callable[[Finder], Finder]:
    def register(find: Finder) -> Finder:
        _rules.setdefault(event_type, []).append(KindRule(kind, event_type, find, describe, team))
        return find

    return register


def rules_for(event_type: str) -> list[KindRule]:
    return list(_rules.get(event_type, []))


def event_types() -> list[str]:
    return sorted(set(_rules) | set(_notices))


# --- Mentions ----------------------------------------------------------------------------
# @username: Django usernames are letters, digits and @ . + - _; not preceded by a word
# character, so that an e-mail address (bob@example.com) mentions nobody. A trailing
# full stop ends the sentence, not the name.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.@+-]+)")
MAX_MENTIONS = 20  # a pasted list of addresses must not become a query of hundreds


def mentioned_usernames(text: str) -> list[str]:
    names = [m.group(1).rstrip(".") for m in MENTION.finditer(text)]
    return list(dict.fromkeys(n.upper() for n in names if n))[:MAX_MENTIONS]


def mentioned_user_ids(text: str) -> list[int]:
    names = mentioned_usernames(text)
    if not names:
        return []
    # UPPER(username) IN (...): the nixflow_user_username_upper index serves it.
    return list(
        User.objects.annotate(name=Upper("username"))
        .filter(name__in=names)
        .values_list("pk", flat=True)
    )


# --- The kinds ---------------------------------------------------------------------------
def _subject(occasion: Occasion, did: str, passive: str, **params: str) -> Sentence:
    """ "alice assigned NF-12 to you", or without an actor "NF-12 was assigned to you"."""
    params = {"key": occasion.ticket.key, **params}
    if occasion.who:
        return Sentence(did, {"who": occasion.who, **params})
    return Sentence(passive, params)


# ticket.created too: a ticket opened with an assignee chosen (by an agent, in the admin
# or the API) tells that assignee as an assignment would.
@register_kind(
    kind=Kind.ASSIGNED,
    event_type="ticket.created",
    describe=lambda o: _subject(
        o,
        gettext_noop("%(who)s opened %(key)s and assigned it to you"),
        gettext_noop("%(key)s was opened and assigned to you"),
    ),
)
@register_kind(
    kind=Kind.ASSIGNED,
    event_type="ticket.assigned",
    describe=lambda o: _subject(
        o,
        gettext_noop("%(who)s assigned %(key)s to you"),
        gettext_noop("%(key)s was assigned to you"),
    ),
)
def assigned(occasion: Occasion) -> Iterator[tuple[int, str]]:
    assignee_id = occasion.payload.get("assignee_id")
    if isinstance(assignee_id, int):
        yield assignee_id, Reason.ASSIGNED


def _describe_arrival(occasion: Occasion) -> Sentence:
    team = occasion.arrived_team
    key = occasion.ticket.key
    if team is None:
        # The notice is moot (the ticket left or was taken), but a sentence is still due.
        if occasion.event.type == "ticket.created":
            return Sentence(
                gettext_noop("New ticket %(key)s in your team, unassigned"), {"key": key}
            )
        return _subject(
            occasion,
            gettext_noop("%(who)s moved %(key)s to your team, unassigned"),
            gettext_noop("%(key)s went to your team, unassigned"),
        )
    if occasion.event.type == "ticket.created":
        return Sentence(
            gettext_noop("New ticket %(key)s in %(team)s, unassigned"),
            {"key": key, "team": team.name},
        )
    return _subject(
        occasion,
        gettext_noop("%(who)s moved %(key)s to %(team)s, unassigned"),
        gettext_noop("%(key)s went to %(team)s, unassigned"),
        team=team.name,
    )


def _arrived_team(occasion: Occasion) -> Team | None:
    return occasion.arrived_team


# Every member, away or not: availability decides who is given tickets, not who may know
# of them (an away agent's list simply waits for their return). Active agents only, as
# for every kind (services._agents), and never whoever moved the ticket there.
@register_kind(
    kind=Kind.TEAM_UNASSIGNED,
    event_type="ticket.created",
    describe=_describe_arrival,
    team=_arrived_team,
)
@register_kind(
    kind=Kind.TEAM_UNASSIGNED,
    event_type="ticket.team_changed",
    describe=_describe_arrival,
    team=_arrived_team,
)
def team_unassigned(occasion: Occasion) -> Iterator[tuple[int, str]]:
    team = occasion.arrived_team
    if team is None:
        return
    members = TeamMembership.objects.filter(team=team).order_by("user_id")
    for user_id in members.values_list("user_id", flat=True):
        yield user_id, Reason.TEAM_MEMBER


@register_kind(
    kind=Kind.REQUESTER_REPLIED,
    event_type="ticket.commented",
    describe=lambda o: _subject(
        o,
        gettext_noop("%(who)s, the requester, replied on %(key)s"),
        gettext_noop("The requester replied on %(key)s"),
    ),
)
def requester_replied(occasion: Occasion) -> Iterator[tuple[int, str]]:
    ticket = occasion.ticket
    by_requester = occasion.event.actor_id == ticket.requester_id
    if by_requester and not occasion.payload.get("is_internal") and ticket.assignee_id:
        yield ticket.assignee_id, Reason.REQUESTER_REPLIED


def _describe_mention(occasion: Occasion) -> Sentence:
    if occasion.payload.get("is_internal"):
        return _subject(
            occasion,
            gettext_noop("%(who)s mentioned you in an internal note on %(key)s"),
            gettext_noop("You were mentioned in an internal note on %(key)s"),
        )
    return _subject(
        occasion,
        gettext_noop("%(who)s mentioned you in a comment on %(key)s"),
        gettext_noop("You were mentioned in a comment on %(key)s"),
    )


@register_kind(kind=Kind.MENTIONED, event_type="ticket.commented", describe=_describe_mention)
def mentioned(occasion: Occasion) -> Iterator[tuple[int, str]]:
    # Internal notes, and public comments by agents: a requester cannot summon agents by
    # name (they are told of the reply as its assignee's "requester replied").
    payload = occasion.payload
    if not (payload.get("is_internal") or payload.get("by_agent")) or occasion.comment is None:
        return
    for user_id in mentioned_user_ids(occasion.comment.body):
        yield user_id, Reason.MENTIONED


def _describe_transition(occasion: Occasion) -> Sentence:
    changes = occasion.payload.get("changes")
    change = changes.get("stage") if isinstance(changes, dict) else None
    if isinstance(change, list) and len(change) == 2:
        old, new = change
        return _subject(
            occasion,
            gettext_noop("%(who)s moved %(key)s from %(old)s to %(new)s"),
            gettext_noop("%(key)s moved from %(old)s to %(new)s"),
            old=str(old),
            new=str(new),
        )
    return _subject(
        occasion,
        gettext_noop("%(who)s moved %(key)s to another stage"),
        gettext_noop("%(key)s moved to another stage"),
    )


@register_kind(
    kind=Kind.STAGE_CHANGED, event_type="ticket.transitioned", describe=_describe_transition
)
def stage_changed(occasion: Occasion) -> Iterator[tuple[int, str]]:
    return occasion.assignee_and_watchers()


def _when(value: object) -> str:
    try:
        return f"{datetime.fromisoformat(str(value)):%Y-%m-%d %H:%M %Z}".strip()
    except ValueError:
        return str(value)


# One sentence per clock, whole, so that translators see it whole (German inflects).
AT_RISK = {
    "first_response": gettext_noop("The first response clock on %(key)s is at risk: due %(due)s"),
    "next_response": gettext_noop("The next response clock on %(key)s is at risk: due %(due)s"),
    "resolution": gettext_noop("The resolution clock on %(key)s is at risk: due %(due)s"),
}
BREACHED = {
    "first_response": gettext_noop("The first response target on %(key)s was breached"),
    "next_response": gettext_noop("The next response target on %(key)s was breached"),
    "resolution": gettext_noop("The resolution target on %(key)s was breached"),
}


def _describe_at_risk(occasion: Occasion) -> Sentence:
    metric = str(occasion.payload.get("metric_type", ""))
    params = {"key": occasion.ticket.key, "due": str(occasion.payload.get("deadline"))}
    if metric in AT_RISK:
        return Sentence(AT_RISK[metric], params, dates=("due",))
    return Sentence(
        gettext_noop("The %(metric)s clock on %(key)s is at risk: due %(due)s"),
        {**params, "metric": metric.replace("_", " ")},
        dates=("due",),
    )


@register_kind(kind=Kind.SLA_AT_RISK, event_type="sla.at_risk", describe=_describe_at_risk)
def sla_at_risk(occasion: Occasion) -> Iterator[tuple[int, str]]:
    return occasion.assignee_and_watchers()


def _describe_breach(occasion: Occasion) -> Sentence:
    target = str(occasion.payload.get("breach_type", ""))
    if target in BREACHED:
        return Sentence(BREACHED[target], {"key": occasion.ticket.key})
    return Sentence(
        gettext_noop("The %(target)s target on %(key)s was breached"),
        {"key": occasion.ticket.key, "target": target.replace("_", " ")},
    )


@register_kind(kind=Kind.SLA_BREACHED, event_type="sla.breached", describe=_describe_breach)
def sla_breached(occasion: Occasion) -> Iterator[tuple[int, str]]:
    return occasion.assignee_and_watchers()


# --- Notices to admins -------------------------------------------------------------------
# The webhooks app records webhook.disabled (payload: name, automatic, reason, ...); the
# desk disabling an endpoint by itself is what admins must hear of. Read by type and
# payload only, as every rule here reads other apps' events.
register_notice(
    kind=Kind.WEBHOOK_DISABLED,
    event_type="webhook.disabled",
    describe=lambda event: Sentence(
        gettext_noop("Webhook endpoint %(name)s was disabled after failing for too long"),
        {"name": str((event.payload or {}).get("name", ""))},
    ),
    applies=lambda event: bool((event.payload or {}).get("automatic")),
)
