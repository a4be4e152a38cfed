"""Every event the core records, and the hook point feature apps use.

The event log keeps each event forever (it is append-only and sealed), so an event's
type and payload are a contract with whoever reads the log later: add keys, never
rename or drop them. Types and payloads, by subject:

Tickets (subject: the ticket; ``ticket_key`` set). Each ticket service ends by
publishing one ``TicketEvent`` *inside its transaction*; its payload is the type's own
keys plus ``"changes": {field: [old, new]}``, the values as the ticket's history shows
them (usernames, stage names, ISO times):
  ticket.created       {"stage_id", "category", "priority", "source", "team_id": int | None,
                        "assignee_id": int | None} ("team" in "changes" when routing gave it
                       a team; "assignee" when whoever opened it chose one; an assignee
                       auto-assignment picked follows as its own ticket.assigned. Events
                       recorded before 2026-12-07 have neither key); "fields": [custom field
                       names, sorted] when it was opened with custom field values, each
                       also "field.<name>" in "changes"
  ticket.updated       {} (title, description, priority in "changes"); when custom
                       fields changed, {"fields": [their names, sorted]} and
                       "field.<name>" in "changes" (values as the history shows them:
                       lists ", "-joined, checkboxes yes/no, users by username)
  ticket.transitioned  {"from_stage_id", "to_stage_id", "from_category", "to_category"}
  ticket.assigned      {"assignee_id": int | None, "previous_assignee_id": int | None}
                       (actor None when auto-assignment picked the agent)
  ticket.team_changed  {"team_id": int | None, "previous_team_id": int | None,
                        "routed": bool} (routed: the routing rules chose it)
  ticket.commented     {"comment_id", "is_internal", "by_agent", "first_response"}
  ticket.tags_changed  {"added": [tag names], "removed": [tag names]} (sorted; "tags" in
                       "changes": the ticket's tags before and after, sorted, ", "-joined)
  ticket.watched / ticket.unwatched  {"user_id"}
  ticket.merged        on each merged ticket (nixflow.services.merge): {"into_id": the
                       target's id, "comment_ids": [ids of its comments, now the
                       target's]} ("merged_into" in "changes"). When the merge closed it,
                       a ticket.transitioned follows at the same instant, its payload
                       with "merged_into_id": the target's id (the merge may skip the
                       workflow's transitions, never its stages). Receivers that stop
                       things on close (SLA clocks) see ticket.merged first, so they can
                       cancel rather than complete
  ticket.merge_received  on the target, once per merge: {"source_ids": [merged ticket
                       ids], "comment_ids": [ids of the comments that came with them],
                       "watcher_ids": [users who became watchers]} ("merged" in
                       "changes": "NF-x (n comments)", one per source, ", "-joined);
                       each new watcher also has its own ticket.watched
  ticket.linked / ticket.unlinked  on both tickets of the link (nixflow.services.links):
                       {"link_id", "kind": "related"|"duplicate_of"|"blocks",
                        "source_id", "target_id", "other_id": the other ticket's id}
                       ("link" in "changes": how this side reads it, "blocked by NF-3")
  ticket.deleted       the ticket's main fields and the reason (no "changes"); only the
                       event log hears of it (``publish_deletion``)
Users, workflows and the admin's generic events: see the constants below.

Published ticket events are appended to the event log (``eventlog`` knows no domain;
the core describes its changes to it) and handed to the receivers of ``ticket_event``.
Receivers run synchronously in that transaction: whatever they write (an SLA clock,
say) commits or rolls back with the change, and an exception in a receiver rolls the
change back. Receivers that reach outside the process (mail, webhooks, Celery tasks)
queue that work with ``eventlog.outbox.outbox_enqueue``: it commits with the change and
runs in a worker afterwards, and no request waits on the broker.

Connect in an ``AppConfig.ready()``::

    ticket_event.connect(on_ticket_event, dispatch_uid="sla.clocks")

The core imports no feature app; feature apps subscribe here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.dispatch import Signal

from eventlog.personal import person_of, personal
from eventlog.services import event_record

if TYPE_CHECKING:
    from django.db.models import Model

    from nixflow.models import Ticket, User, Workflow

TICKET_CREATED = "ticket.created"
TICKET_UPDATED = "ticket.updated"
TICKET_TRANSITIONED = "ticket.transitioned"
TICKET_ASSIGNED = "ticket.assigned"
TICKET_COMMENTED = "ticket.commented"
TICKET_WATCHED = "ticket.watched"
TICKET_UNWATCHED = "ticket.unwatched"
TICKET_DELETED = "ticket.deleted"
TICKET_TEAM_CHANGED = "ticket.team_changed"
TICKET_TAGS_CHANGED = "ticket.tags_changed"
TICKET_MERGED = "ticket.merged"
TICKET_MERGE_RECEIVED = "ticket.merge_received"
TICKET_LINKED = "ticket.linked"
TICKET_UNLINKED = "ticket.unlinked"

# --- Users ---------------------------------------------------------------------------
# Subject: the user. Payloads (stored forever in the append-only log, so no e-mail
# addresses, which a person may ask to have erased):
#   user.created  {"username": str, "role": "requester"|"agent"|"admin"}
#   user.updated  {"fields": [every changed field, sorted],
#                  "changes": {field: [old, new]} for the fields other than "email"}
#   user.availability_changed  {"availability": "available"|"away", "previous": ...,
#                  "returned_tickets": int}: going away returned that many open tickets
#                  of teams that reassign when a member is away to their team's queue
#                  (each also has its own ticket.assigned event)
USER_CREATED = "user.created"
USER_UPDATED = "user.updated"
USER_AVAILABILITY_CHANGED = "user.availability_changed"

# --- Workflows -----------------------------------------------------------------------
# Subject: the workflow. A workflow is changed with its stages and transitions as one
# change (nixflow.services.workflow_*), so one event says all of it. In payloads a
# stage is {"id", "name", "category", "position"}; a transition, known by its two
# stages, is {"from_stage": stage name, "to_stage": stage name, "name",
# "requester_allowed"}. Lists are in a fixed order (stages by position, transitions by
# stage names), so the same change gives the same payload whichever interface made it.
#   workflow.created  {"name", "description", "is_default", "is_active",
#                      "stages": [stage, ...], "transitions": [transition, ...]}
#   workflow.updated  {"fields": [changed own fields, sorted],
#                      "changes": {field: [old, new]},
#                      "stages": {"added": [stage], "removed": [stage],
#                                 "changed": [{"id", "name": the name before,
#                                              "changes": {field: [old, new]}}]},
#                      "transitions": {"added": [transition], "removed": [transition],
#                                      "changed": [{"from_stage", "to_stage",
#                                                   "changes": {field: [old, new]}}]}}
#                     Transitions of a removed stage are listed as removed with it.
#   workflow.deleted  the workflow as it was, shaped as workflow.created's payload.
WORKFLOW_CREATED = "workflow.created"
WORKFLOW_UPDATED = "workflow.updated"
WORKFLOW_DELETED = "workflow.deleted"

# --- Teams and routing rules ------------------------------------------------------------
# Subject: the team, the rule (nixflow.services.teams). A member is {"user_id",
# "username", "is_lead"}; members are listed by username. The team's e-mail address is
# named in "fields" when it changes but its values are not kept (as for users).
#   team.created  {"name", "is_default", "assignment_mode", "max_open_per_agent",
#                  "reassign_when_away", "members": [member, ...]}
#   team.updated  {"fields": [changed own fields, sorted], "changes": {field: [old, new]},
#                  "members": {"added": [member], "removed": [member],
#                              "changed": [{"user_id", "username",
#                                           "changes": {"is_lead": [old, new]}}]}}
#   team.deleted  the team as it was, shaped as team.created's payload, plus
#                 "routing_rules": [names of the rules deleted with it]
# A rule is {"name", "position", "is_active", "team_id", "team": name, "workflow_id",
# "source", "origin", "priority", "requester_domain"} (empty string or None: any).
#   routing_rule.created  the rule
#   routing_rule.updated  {"fields": [changed fields, sorted], "changes": {field: [old, new]}}
#   routing_rule.deleted  the rule as it was
TEAM_CREATED = "team.created"
TEAM_UPDATED = "team.updated"
TEAM_DELETED = "team.deleted"
ROUTING_RULE_CREATED = "routing_rule.created"
ROUTING_RULE_UPDATED = "routing_rule.updated"
ROUTING_RULE_DELETED = "routing_rule.deleted"

# --- Saved views -------------------------------------------------------------------
# Subject: the saved view (nixflow.services.saved_view_*). A view is a name and the
# ticket list's query string, personal (team_id None) or shared with a team.
#   view.created  {"name", "team_id": int | None, "query", "position"}
#   view.updated  {"fields": [changed fields, sorted], "changes": {field: [old, new]}}
#   view.deleted  the view as it was, shaped as view.created's payload.
VIEW_CREATED = "view.created"
VIEW_UPDATED = "view.updated"
VIEW_DELETED = "view.deleted"

# --- Tags and desk settings -----------------------------------------------------------
# Subject: the tag (nixflow.services.tags), the desk settings row.
#   tag.created  {"name", "on_the_fly": bool} (on_the_fly: an agent's tagging created it)
#   tag.updated  {"fields": ["name"], "changes": {"name": [old, new]}} (a rename)
#   tag.deleted  {"name", "tickets": how many tickets lost it}
#   tag.merged   {"name", "into_id", "into": name, "tickets": how many tickets it was on}
#                (each of those tickets also has its ticket.tags_changed event)
#   desk_settings.updated  {"fields": [changed fields, sorted], "changes": {field: [old, new]}}
TAG_CREATED = "tag.created"
TAG_UPDATED = "tag.updated"
TAG_DELETED = "tag.deleted"
TAG_MERGED = "tag.merged"
DESK_SETTINGS_UPDATED = "desk_settings.updated"

# --- Custom ticket fields ---------------------------------------------------------------
# Subject: the field (nixflow.services.fields). A field is {"name", "label", "type",
# "help_text", "choices", "workflow_ids", "required_stage_ids", "position", "is_active"}.
#   ticket_field.created  the field
#   ticket_field.updated  {"fields": [changed keys, sorted], "changes": {key: [old, new]}}
#   ticket_field.deleted  the field as it was
TICKET_FIELD_CREATED = "ticket_field.created"
TICKET_FIELD_UPDATED = "ticket_field.updated"
TICKET_FIELD_DELETED = "ticket_field.deleted"

# What an admin page added, changed or deleted, for models whose writes have no services
# of their own (nixflow.toolkit.admin.RolePermissionsMixin records them). Payload:
# {"object": str(obj)[:200], "change": the admin's change message} (no "change" on
# deletion): which fields and inline rows changed, never their values.
ADMIN_ADDED = "admin.added"
ADMIN_CHANGED = "admin.changed"
ADMIN_DELETED = "admin.deleted"

# Sent with sender=TicketEvent and event=<TicketEvent>; see the module docstring.
ticket_event = Signal()


@dataclass(frozen=True)
class TicketEvent:
    type: str
    ticket: Ticket
    actor: User | None  # None: the system (a scheduled task, automation)
    occurred_at: datetime
    # field -> (old, new), as written to HistoryLog
    changes: dict[str, tuple[str, str]] = field(default_factory=dict)
    # JSON-serialisable details specific to the type (ids, stage categories, ...)
    payload: dict[str, Any] = field(default_factory=dict)


# Changes whose values are the requester's personal data (their words, their username,
# what they typed into custom fields): stored encrypted under the requester's key
# (eventlog.personal), so that erasing them leaves the log verifiable. Stage names,
# priorities, tags and agents' usernames are the desk's, and stay plain.
PERSONAL_CHANGES = frozenset({"title", "description", "requester"})


# A user's own names, in user.* events (their address is never recorded at all).
PERSONAL_USER_FIELDS = frozenset({"username", "first_name", "last_name"})


def _is_personal_change(name: str) -> bool:
    return name in PERSONAL_CHANGES or name.startswith("field.")


def publish(event: TicketEvent) -> None:
    """Record the event in the event log, then run every receiver, all in the caller's
    transaction; an exception propagates and rolls the change back."""
    changes: dict[str, Any] = {name: list(values) for name, values in event.changes.items()}
    if any(_is_personal_change(name) for name in changes):
        person = person_of(event.ticket.requester)
        changes = {
            name: personal(values, person=person) if _is_personal_change(name) else values
            for name, values in changes.items()
        }
    event_record(
        type=event.type,
        subject=event.ticket,
        actor=event.actor,
        ticket_key=event.ticket.key,
        occurred_at=event.occurred_at,
        payload={**event.payload, "changes": changes},
    )
    ticket_event.send(sender=TicketEvent, event=event)


def publish_deletion(
    *, ticket: Ticket, actor: User | None, occurred_at: datetime, payload: dict[str, Any]
) -> None:
    """Record that ``ticket`` is being deleted, in the deleting transaction. Only the
    event log hears of it: receivers keep rows about living tickets, and those rows go
    with the ticket (its foreign keys cascade)."""
    event_record(
        type=TICKET_DELETED,
        subject=ticket,
        actor=actor,
        ticket_key=ticket.key,
        occurred_at=occurred_at,
        payload=payload,
    )


def record_user_event(
    *, type: str, user: User, actor: User | None, payload: dict[str, Any]
) -> None:
    """Append a ``user.*`` event about ``user`` in the caller's transaction; the user's
    username and names are stored encrypted under their key (``eventlog.personal``)."""
    person = person_of(user)
    payload = {
        key: personal(value, person=person) if key in PERSONAL_USER_FIELDS else value
        for key, value in payload.items()
    }
    if isinstance(payload.get("changes"), dict):
        payload["changes"] = {
            key: personal(value, person=person) if key in PERSONAL_USER_FIELDS else value
            for key, value in payload["changes"].items()
        }
    event_record(type=type, subject=user, actor=actor, payload=payload)


def record_workflow_event(
    *, type: str, workflow: Workflow, actor: User | None, payload: dict[str, Any]
) -> None:
    """Append a ``workflow.*`` event about ``workflow`` in the caller's transaction."""
    event_record(type=type, subject=workflow, actor=actor, payload=payload)


def record_config_event(
    *, type: str, subject: Model, actor: User | None, payload: dict[str, Any]
) -> None:
    """Append a configuration event (``team.*``, ``routing_rule.*``, ``tag.*``,
    ``ticket_field.*``, ...) in the caller's transaction."""
    event_record(type=type, subject=subject, actor=actor, payload=payload)
