"""A rule's actions: their shapes, their validation, and performing them.

An action is ``{"type": ..., <parameters>}``; they run in order:

==============  ===================================================================
type            parameters
==============  ===================================================================
set_priority    ``priority``: LOW, NORMAL, HIGH or URGENT
set_stage       ``stage``: a stage id. Only along a transition of the ticket's
                workflow, as a person would move it (a rule is no way around the
                workflow, nor around fields required to enter a stage); a refused
                move fails the rule (``automation.rule_failed``)
set_team        ``team``: a team id, or null for no team
set_assignee    ``assignee``: an active agent's id, or null to unassign
add_tags        ``tags``: tag names
remove_tags     ``tags``: tag names
set_field       ``field``: a custom field's name; ``value``: checked by its type
                (null, "" or [] clears it)
add_note        ``body``: an internal note, a template (``automation.templating``)
send_mail       ``to``: requester, assignee, team (its members) or address;
                ``address`` for "address"; ``subject`` and ``body``: templates
call_webhook    ``endpoint``: a webhook endpoint's id
==============  ===================================================================

Every change goes through the core's services with ``actor=None`` (the system) inside
``acting_via`` the rule, so that history and events say which rule, in which version,
made it. Mail and webhooks leave the process after commit, through events the mail and
webhook apps deliver (``automation.mail_requested``, ``automation.webhook_requested``):
feature apps do not import each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, IntegrityError, transaction

from automation import events
from automation.conditions import Context
from automation.templating import compile_text, render_text
from eventlog.context import acting_via
from eventlog.personal import person_of, personal
from nixflow import fields as field_values
from nixflow.models import (
    Priority,
    Role,
    Stage,
    Team,
    TeamMembership,
    Ticket,
    TicketField,
    User,
)
from nixflow.services import fields as field_services
from nixflow.services import tags as tag_services
from nixflow.services import teams as team_services
from nixflow.services import tickets as ticket_services
from nixflow.services import users as user_services
from nixflow.toolkit.errors import error_text

MAIL_RECIPIENTS = ("requester", "assignee", "team", "address")
# The account a rule's notes are written as: comments need an author, and a note
# signed by whoever wrote the rule would put words in a person's mouth. Inactive and
# without a password, it cannot sign in or be given tickets.
AUTOMATION_USERNAME = "nixflow-automation"
# What a refused action raises: a refusal the rule records, not a crash of the change
# that fired it. Other exceptions are bugs and propagate.
REFUSALS = (ValidationError, PermissionDenied, ObjectDoesNotExist, DatabaseError)


class ActionError(Exception):
    """An action was refused; ``position`` is 1-based."""

    def __init__(self, *, position: int, action_type: str, reason: str) -> None:
        super().__init__(f"Action {position} ({action_type}): {reason}")
        self.position, self.action_type, self.reason = position, action_type, reason


# --- Validation ---------------------------------------------------------------------
def validate_actions(actions: Any) -> list[dict[str, Any]]:
    """The actions normalised, or a ValidationError on ``actions`` naming the first
    wrong one by its position (1-based) and what is wrong with it."""
    if actions in (None, ""):
        return []
    if not isinstance(actions, list):
        raise ValidationError({"actions": "Actions are a list of {type, ...parameters}."})
    cleaned = []
    for position, action in enumerate(actions, start=1):
        try:
            cleaned.append(_validate_one(action, position))
        except ValidationError as error:
            text = " ".join(error.messages)
            raise ValidationError({"actions": f"Action {position}: {text}"}) from None
    return cleaned


def _validate_one(action: Any, position: int) -> dict[str, Any]:
    if not isinstance(action, dict):
        raise ValidationError("an action is an object {type, ...parameters}.")
    kind = action.get("type")
    spec = ACTIONS.get(str(kind))
    if spec is None:
        raise ValidationError(f"unknown type {kind!r}; types are {', '.join(ACTIONS)}.")
    unknown = sorted(set(action) - {"type", *spec.params})
    if unknown:
        raise ValidationError(
            f"{kind} takes {', '.join(spec.params) or 'no parameters'}, not {', '.join(unknown)}."
        )
    return {"type": kind, **spec.clean(action, position)}


def _id_or_none(value: Any, what: str, *, nullable: bool) -> int | None:
    if value is None or value == "":
        if nullable:
            return None
        raise ValidationError(f"choose a {what}.")
    if isinstance(value, bool):
        raise ValidationError(f"{what} is an id, not {value!r}.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{what} is an id, not {value!r}.") from None


def _clean_priority(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    value = str(action.get("priority") or "").strip().upper()
    if value not in Priority.values:
        raise ValidationError(f"priority is one of {', '.join(Priority.values)}.")
    return {"priority": value}


def _clean_stage(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    stage = _id_or_none(action.get("stage"), "stage", nullable=False)
    if stage is None or not Stage.objects.filter(pk=stage).exists():
        raise ValidationError(f"no stage has the id {stage}.")
    return {"stage": stage}


def _clean_team(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    team = _id_or_none(action.get("team"), "team", nullable=True)
    if team is not None and not Team.objects.filter(pk=team).exists():
        raise ValidationError(f"no team has the id {team}.")
    return {"team": team}


def _clean_assignee(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    assignee = _id_or_none(action.get("assignee"), "assignee", nullable=True)
    if assignee is not None:
        user = User.objects.filter(pk=assignee).first()
        if user is None or not (user.is_agent and user.is_active):
            raise ValidationError(f"user {assignee} is not an active agent.")
    return {"assignee": assignee}


def _clean_tags(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    raw = action.get("tags")
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list):
        raise ValidationError("tags is a list of tag names.")
    cleaned = tag_services.clean_tag_names(names)
    if not cleaned:
        raise ValidationError("name at least one tag.")
    return {"tags": cleaned}


def _clean_field(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    name = str(action.get("field") or "").strip().removeprefix("field.")
    ticket_field = TicketField.objects.filter(name=name).first()
    if ticket_field is None:
        raise ValidationError(f"there is no custom field {name!r}.")
    value = action.get("value")
    if not field_values.is_empty(value):
        value = field_values.value_clean(ticket_field, value)
    return {"field": name, "value": value}


def _clean_note(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    body = str(action.get("body") or "").strip()
    if not body:
        raise ValidationError("the note needs a body.")
    compile_text(body, where="the note")
    return {"body": body}


def _clean_mail(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    to = str(action.get("to") or "").strip()
    if to not in MAIL_RECIPIENTS:
        raise ValidationError(f"to is one of {', '.join(MAIL_RECIPIENTS)}.")
    address = str(action.get("address") or "").strip()
    if to == "address":
        validate_email(address)
    elif address:
        raise ValidationError(f"an address is only for to: address, not to: {to}.")
    subject = " ".join(str(action.get("subject") or "").split())
    body = str(action.get("body") or "").strip()
    if not subject or not body:
        raise ValidationError("the mail needs a subject and a body.")
    compile_text(subject, where="the subject")
    compile_text(body, where="the body")
    return {"to": to, "address": address, "subject": subject, "body": body}


def _clean_webhook(action: Mapping[str, Any], position: int) -> dict[str, Any]:
    endpoint = _id_or_none(action.get("endpoint"), "endpoint", nullable=False)
    # The webhooks app's endpoints, through the app registry (no import of that app).
    if apps.is_installed("webhooks"):
        model = apps.get_model("webhooks", "Endpoint")
        if not model.objects.filter(pk=endpoint).exists():
            raise ValidationError(f"no webhook endpoint has the id {endpoint}.")
    return {"endpoint": endpoint}


# --- Performing ---------------------------------------------------------------------
@dataclass
class Run:
    """One rule acting on one ticket: the ticket as its row now stands (each service
    returns the locked row it changed) and what each action did."""

    rule: Any
    ticket: Ticket
    context: Context
    done: list[dict[str, Any]]

    @property
    def cause(self) -> dict[str, Any]:
        """What events and history name as the maker of the changes (``acting_via``)."""
        return {"kind": "rule", **rule_ref(self.rule)}


def rule_ref(rule: Any) -> dict[str, Any]:
    """How payloads name a rule: id, name and the version that acted."""
    return {"id": rule.pk, "name": rule.name, "version": rule.version}


def _set_priority(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    run.ticket = ticket_services.ticket_update(
        ticket=run.ticket, actor=None, data={"priority": action["priority"]}
    )
    return {"value": action["priority"]}


def _row(model: Any, pk: int, what: str) -> Any:
    """The row an action names, or a refusal saying it is gone (deleted since the rule
    was saved)."""
    row = model.objects.filter(pk=pk).first()
    if row is None:
        raise ValidationError(f"{what} {pk} no longer exists; edit the rule.")
    return row


def _set_stage(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    if run.ticket.stage_id != action["stage"]:  # already there: nothing to do
        stage = _row(Stage, action["stage"], "Stage")
        run.ticket = ticket_services.ticket_transition(
            ticket=run.ticket, to_stage=stage, actor=None, locked=True
        )
    return {"stage_id": action["stage"]}


def _set_team(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    team = _row(Team, action["team"], "Team") if action["team"] is not None else None
    run.ticket = team_services.ticket_set_team(ticket=run.ticket, team=team, actor=None)
    return {"team_id": action["team"]}


def _set_assignee(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    assignee = _row(User, action["assignee"], "User") if action["assignee"] else None
    run.ticket = ticket_services.ticket_assign(ticket=run.ticket, assignee=assignee, actor=None)
    return {"assignee_id": action["assignee"]}


def _add_tags(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    run.ticket = tag_services.ticket_tag_add(
        ticket=run.ticket, tags=action["tags"], actor=None, locked=True
    )
    return {"tags": action["tags"]}


def _remove_tags(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    run.ticket = tag_services.ticket_tag_remove(
        ticket=run.ticket, tags=action["tags"], actor=None, locked=True
    )
    return {"tags": action["tags"]}


def _set_field(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    run.ticket = field_services.ticket_fields_set(
        ticket=run.ticket, actor=None, values={action["field"]: action["value"]}, locked=True
    )
    return {"field": action["field"], "value": action["value"]}


def automation_user() -> User:
    """The account rules write notes as (made on first use, through the users service)."""
    user = User.objects.filter(username=AUTOMATION_USERNAME).first()
    if user is not None:
        return user
    try:
        # A savepoint: two processes making it at once both insert; the second waits on
        # the unique username until the first commits, then fails here and reads it.
        with transaction.atomic():
            user = user_services.user_create(
                username=AUTOMATION_USERNAME,
                email="",
                role=Role.AGENT,
                first_name="Automation",
                actor=None,
            )
            User.objects.filter(pk=user.pk).update(is_active=False)
    except (IntegrityError, ValidationError):
        return User.objects.get(username=AUTOMATION_USERNAME)
    user.is_active = False
    return user


def _add_note(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    body = render_text(action["body"], ticket=run.ticket, rule_name=run.rule.name)
    comment = ticket_services.comment_create(
        ticket=run.ticket, author=automation_user(), body=body, is_internal=True, locked=True
    )
    return {"comment_id": comment.pk}


def _recipients(ticket: Ticket, to: str) -> list[int]:
    if to == "requester":
        return [ticket.requester_id]
    if to == "assignee":
        return [ticket.assignee_id] if ticket.assignee_id else []
    if ticket.team_id is None:
        return []
    return list(
        TeamMembership.objects.filter(team_id=ticket.team_id, user__is_active=True)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )


def _send_mail(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    ticket, to = run.ticket, action["to"]
    user_ids = [] if to == "address" else _recipients(ticket, to)
    if to != "address" and not user_ids:
        return {"to": to, "recipients": 0}  # nobody to write to (no assignee): not an error
    address = action.get("address", "")
    requester = person_of(ticket.requester)
    events.record_ticket_event(
        type=events.MAIL_REQUESTED,
        ticket=ticket,
        payload={
            "ticket_id": ticket.pk,
            "rule": rule_ref(run.rule),
            "event_id": run.context.event_id,
            "to": to,
            "user_ids": user_ids,
            # The address is its owner's; the rendered text (title, names, the
            # requester's words) the requester's: stored encrypted under their keys
            # (eventlog.personal). The mail subscriber reads them back in plain.
            "address": personal(address, person=address) if address else "",
            "subject": personal(
                render_text(action["subject"], ticket=ticket, rule_name=run.rule.name),
                person=requester,
            ),
            "body": personal(
                render_text(action["body"], ticket=ticket, rule_name=run.rule.name),
                person=requester,
            ),
        },
    )
    return {"to": to, "recipients": max(len(user_ids), 1)}


def _call_webhook(run: Run, action: Mapping[str, Any]) -> dict[str, Any]:
    events.record_ticket_event(
        type=events.WEBHOOK_REQUESTED,
        ticket=run.ticket,
        payload={
            "endpoint_id": action["endpoint"],
            "ticket_id": run.ticket.pk,
            "ticket_key": run.ticket.key,
            "rule": rule_ref(run.rule),
            "event_id": run.context.event_id,
        },
    )
    return {"endpoint_id": action["endpoint"]}


@dataclass(frozen=True)
class ActionSpec:
    params: tuple[str, ...]
    clean: Callable[[Mapping[str, Any], int], dict[str, Any]]
    perform: Callable[[Run, Mapping[str, Any]], dict[str, Any]]


ACTIONS: dict[str, ActionSpec] = {
    "set_priority": ActionSpec(("priority",), _clean_priority, _set_priority),
    "set_stage": ActionSpec(("stage",), _clean_stage, _set_stage),
    "set_team": ActionSpec(("team",), _clean_team, _set_team),
    "set_assignee": ActionSpec(("assignee",), _clean_assignee, _set_assignee),
    "add_tags": ActionSpec(("tags",), _clean_tags, _add_tags),
    "remove_tags": ActionSpec(("tags",), _clean_tags, _remove_tags),
    "set_field": ActionSpec(("field", "value"), _clean_field, _set_field),
    "add_note": ActionSpec(("body",), _clean_note, _add_note),
    "send_mail": ActionSpec(("to", "address", "subject", "body"), _clean_mail, _send_mail),
    "call_webhook": ActionSpec(("endpoint",), _clean_webhook, _call_webhook),
}


def actions_perform(rule: Any, ticket: Ticket, *, context: Context) -> tuple[Ticket, list[Any]]:
    """Perform ``rule``'s actions in order on ``ticket`` (locked in this transaction),
    as the system, under the rule's name and version; the ticket as it then stands and
    what each action did. Raises ``ActionError`` on the first refusal: the caller
    (``automation.engine.rule_apply``) runs this in a savepoint and records it."""
    run = Run(rule=rule, ticket=ticket, context=context, done=[])
    with acting_via(run.cause):
        for position, action in enumerate(rule.actions or [], start=1):
            spec = ACTIONS[action["type"]]
            try:
                result = spec.perform(run, action)
            except REFUSALS as error:
                reason = (
                    error_text(error)
                    if isinstance(error, ValidationError | PermissionDenied)
                    else str(error) or type(error).__name__
                )
                raise ActionError(
                    position=position, action_type=action["type"], reason=reason
                ) from error
            run.done.append({"type": action["type"], **result})
    return run.ticket, run.done
