"""Managing macros (who may, per scope), applying them (every change through the core's
services, one transaction), usage counting, bulk apply and the composer tool."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection
from django.test import RequestFactory
from django.utils import translation

from eventlog.models import EventLog
from macros import selectors, services, tools
from macros.models import Assignment, Macro, Scope
from nixflow import services as core
from nixflow.models import Comment, Priority, Stage, Team, Ticket, User
from nixflow.toolkit.composer import composer_tool
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.ticket_actions import ticket_actions
from tests.factories import AgentFactory, TeamFactory, WorkflowFactory
from tests.helpers import history, new_ticket
from tests.macros.conftest import make_macro

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(requester: User) -> Ticket:
    return new_ticket(requester, title="VPN drops")


def tag_names(ticket: Ticket) -> list[str]:
    return sorted(ticket.tags.values_list("name", flat=True))


# --- Who manages which macros ------------------------------------------------------------
def test_an_agent_manages_their_personal_macros_only(agent: User) -> None:
    mine = make_macro(agent, scope=Scope.PERSONAL, name="Mine")
    assert mine.owner == agent
    other = AgentFactory()
    with pytest.raises(PermissionDenied, match="Only its owner and admins"):
        services.macro_update(macro=mine, actor=other, data={"name": "Stolen"})
    with pytest.raises(PermissionDenied):
        services.macro_delete(macro=mine, actor=other)
    with pytest.raises(PermissionDenied):  # naming another owner
        make_macro(agent, scope=Scope.PERSONAL, owner=other, name="For other")
    services.macro_update(macro=mine, actor=agent, data={"name": "Mine too"})
    assert Macro.objects.get(pk=mine.pk).name == "Mine too"


def test_team_macros_are_for_the_teams_leads_and_admins(
    agent: User, lead: User, team: Team, desk_admin: User
) -> None:
    with pytest.raises(PermissionDenied, match="team's leads and admins"):
        make_macro(agent, scope=Scope.TEAM, owner_team=team)
    macro = make_macro(lead, scope=Scope.TEAM, owner_team=team, name="Team one")
    services.macro_update(macro=macro, actor=desk_admin, data={"is_internal": True})
    other_team = TeamFactory()
    with pytest.raises(PermissionDenied):  # a lead cannot move it to a team they don't lead
        services.macro_update(macro=macro, actor=lead, data={"owner_team": other_team})
    services.macro_delete(macro=macro, actor=lead)
    assert not Macro.objects.filter(pk=macro.pk).exists()


def test_global_macros_are_for_admins(agent: User, lead: User, desk_admin: User) -> None:
    with pytest.raises(PermissionDenied, match="Only admins can create global macros"):
        make_macro(agent, scope=Scope.GLOBAL)
    with pytest.raises(PermissionDenied):
        make_macro(lead, scope=Scope.GLOBAL)
    macro = make_macro(desk_admin, scope=Scope.GLOBAL)
    with pytest.raises(PermissionDenied):
        services.macro_update(macro=macro, actor=agent, data={"name": "x"})


def test_requesters_manage_and_use_nothing(requester: User, ticket: Ticket) -> None:
    with pytest.raises(PermissionDenied, match="Only agents"):
        make_macro(requester, scope=Scope.PERSONAL)
    macro = make_macro()
    assert not selectors.macros_for(user=requester).exists()
    assert not selectors.macros_visible(user=requester).exists()
    with pytest.raises(PermissionDenied):
        services.macro_apply(macro=macro, ticket=ticket, actor=requester)


def test_macros_for_lists_own_teams_and_global_active_ones(
    agent: User, team: Team, lead: User, desk_admin: User
) -> None:
    mine = make_macro(agent, scope=Scope.PERSONAL, name="Mine")
    theirs = make_macro(lead, scope=Scope.PERSONAL, name="Lead's")
    team_macro = make_macro(lead, scope=Scope.TEAM, owner_team=team, name="Team")
    other_team = make_macro(scope=Scope.TEAM, owner_team=TeamFactory(), name="Other team")
    everyone = make_macro(name="Everyone")
    make_macro(name="Retired", is_active=False)
    assert set(selectors.macros_for(user=agent)) == {mine, team_macro, everyone}
    assert theirs not in selectors.macros_visible(user=agent)
    assert other_team in selectors.macros_visible(user=desk_admin)


def test_the_database_keeps_each_scope_to_its_owner(agent: User, team: Team) -> None:
    macro = make_macro(agent, scope=Scope.PERSONAL)
    with pytest.raises(IntegrityError):
        Macro.objects.filter(pk=macro.pk).update(owner_team=team)


def test_names_are_unique_within_a_scope_and_say_so(agent: User) -> None:
    make_macro(agent, scope=Scope.PERSONAL, name="Thanks")
    with pytest.raises(ValidationError, match="personal macro with this name"):
        make_macro(agent, scope=Scope.PERSONAL, name="thanks")
    make_macro(AgentFactory(), scope=Scope.PERSONAL, name="Thanks")  # another owner: fine


def test_changes_are_events_and_the_body_is_not_kept_in_them(desk_admin: User) -> None:
    macro = make_macro(desk_admin, body="Secret-ish {{ custom }}")
    services.macro_update(macro=macro, actor=desk_admin, data={"body": "New {{ custom }}"})
    services.macro_delete(macro=macro, actor=desk_admin)
    types = list(
        EventLog.objects.filter(type__startswith="macro.")
        .order_by("id")
        .values_list("type", "payload")
    )
    assert [t for t, _ in types] == ["macro.created", "macro.updated", "macro.deleted"]
    assert types[1][1]["changes"] == {"body": ["changed", "changed"]}


def test_assign_to_a_named_agent_needs_the_agent(desk_admin: User) -> None:
    with pytest.raises(ValidationError, match="Name the agent"):
        make_macro(desk_admin, assignment=Assignment.USER)


# --- Applying ------------------------------------------------------------------------------
def test_apply_posts_the_rendered_reply(agent: User, ticket: Ticket) -> None:
    macro = make_macro(body="Hi {{ requester.first_name }}, about {{ ticket.key }}: {{ custom }}")
    applied = services.macro_apply(macro=macro, ticket=ticket, actor=agent, custom="done")
    comment = Comment.objects.get(ticket=ticket)
    assert comment == applied.comment
    assert comment.body == f"Hi Ada, about {ticket.key}: done"
    assert comment.author == agent
    assert not comment.is_internal
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is not None


def test_an_internal_macro_posts_a_note_and_an_edited_body_is_posted_as_edited(
    agent: User, ticket: Ticket
) -> None:
    macro = make_macro(is_internal=True, body="Note {{ ticket.key }}")
    services.macro_apply(macro=macro, ticket=ticket, actor=agent, body="As I edited it {{ x }}")
    comment = Comment.objects.get(ticket=ticket)
    assert comment.is_internal
    assert comment.body == "As I edited it {{ x }}"


def test_every_change_goes_through_the_core(
    agent: User, ticket: Ticket, stages: dict[str, Stage], desk_admin: User
) -> None:
    core.ticket_tag_add(ticket=ticket, tags=["old"], actor=agent)
    team = TeamFactory(name="Tier 2")
    other = AgentFactory(username="other")
    macro = make_macro(
        desk_admin,
        set_stage=stages["Waiting on requester"],
        set_priority=Priority.URGENT,
        set_team=team,
        assignment=Assignment.USER,
        assignee=other,
        add_tags=["vpn", "Escalated"],
        remove_tags=["old"],
    )
    applied = services.macro_apply(macro=macro, ticket=ticket, actor=agent)
    ticket.refresh_from_db()
    assert ticket.stage == stages["Waiting on requester"]
    assert ticket.priority == Priority.URGENT
    assert ticket.team == team
    assert ticket.assignee == other
    assert tag_names(ticket) == ["Escalated", "vpn"]
    assert applied.changes == [
        "Stage: Waiting on requester",
        "Priority: Urgent",
        "Team: Tier 2",
        "Assignee: other",
        "Tags added: vpn, Escalated",
        "Tags removed: old",
    ]
    fields = [row[0] for row in history(ticket)]
    for name in ("stage", "priority", "team", "assignee", "tags"):
        assert name in fields
    assert EventLog.objects.filter(type="macro.applied", ticket_key=ticket.key).count() == 1


def test_the_changes_the_event_log_keeps_are_in_english_whoever_applies(
    agent: User, ticket: Ticket, desk_admin: User
) -> None:
    macro = make_macro(desk_admin, set_priority=Priority.HIGH)

    with translation.override("de"):  # a German agent's request
        applied = services.macro_apply(macro=macro, ticket=ticket, actor=agent)

    assert applied.changes == ["Priority: High"]
    event = EventLog.objects.get(type="macro.applied", ticket_key=ticket.key)
    assert "Priority: High" in str(event.payload)
    assert "Hoch" not in str(event.payload)


def test_assign_to_the_applier_and_unassign(agent: User, ticket: Ticket, desk_admin: User) -> None:
    mine = make_macro(desk_admin, name="Take it", assignment=Assignment.APPLIER)
    services.macro_apply(macro=mine, ticket=ticket, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).assignee == agent
    drop = make_macro(desk_admin, name="Drop it", assignment=Assignment.UNASSIGN)
    applied = services.macro_apply(macro=drop, ticket=ticket, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assert applied.changes == ["Assignee: nobody"]


def test_a_transition_the_workflow_forbids_is_refused_with_the_cores_message_and_nothing_applied(
    agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    core.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    macro = make_macro(set_stage=stages["Waiting on requester"], set_priority=Priority.HIGH)
    with pytest.raises(ConflictError) as manual:
        core.ticket_transition(ticket=ticket, to_stage=stages["Waiting on requester"], actor=agent)
    with pytest.raises(ConflictError) as by_macro:
        services.macro_apply(macro=macro, ticket=ticket, actor=agent)
    assert by_macro.value.messages == manual.value.messages
    assert "cannot move from 'Closed' to 'Waiting on requester'" in by_macro.value.messages[0]
    ticket.refresh_from_db()
    assert ticket.stage == stages["Closed"]
    assert ticket.priority == Priority.NORMAL
    assert not Comment.objects.filter(ticket=ticket).exists()
    assert Macro.objects.get(pk=macro.pk).usage_count == 0


def test_a_stage_the_ticket_is_in_already_is_no_change(
    agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    macro = make_macro(set_stage=stages["New"])
    assert services.macro_apply(macro=macro, ticket=ticket, actor=agent).changes == []


def test_a_macros_changes_each_count_the_version_once_on_the_row_locked_once(
    agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    macro = make_macro(set_stage=stages["Waiting on requester"], add_tags=["vpn"])
    before = Ticket.objects.get(pk=ticket.pk).version

    applied = services.macro_apply(macro=macro, ticket=ticket, actor=agent)

    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.version == before + 3  # the reply, the stage, the tag
    assert applied.ticket.version == stored.version  # the instance kept in step
    assert stored.stage == stages["Waiting on requester"]
    assert list(stored.tags.values_list("name", flat=True)) == ["vpn"]


def test_usage_is_counted(agent: User, ticket: Ticket, requester: User) -> None:
    macro = make_macro()
    services.macro_apply(macro=macro, ticket=ticket, actor=agent)
    services.macro_apply(macro=macro, ticket=new_ticket(requester), actor=agent)
    macro.refresh_from_db()
    assert macro.usage_count == 2
    assert macro.last_used_at is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_applies_never_lose_a_count(agent: User, requester: User) -> None:
    macro = make_macro()
    tickets = [new_ticket(requester, title=f"T{n}") for n in range(4)]
    errors: list[BaseException] = []

    def apply(ticket: Ticket) -> None:
        try:
            services.macro_apply(macro=macro, ticket=ticket, actor=agent)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=(t,)) for t in tickets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Macro.objects.get(pk=macro.pk).usage_count == 4


def test_a_macro_others_own_cannot_be_applied(agent: User, ticket: Ticket) -> None:
    theirs = make_macro(AgentFactory(), scope=Scope.PERSONAL)
    with pytest.raises(PermissionDenied, match="You cannot use the macro"):
        services.macro_apply(macro=theirs, ticket=ticket, actor=agent)
    inactive = make_macro(name="Old", is_active=False)
    with pytest.raises(PermissionDenied):
        services.macro_apply(macro=inactive, ticket=ticket, actor=agent)


def test_macros_for_a_ticket_leave_out_other_workflows_stages(agent: User, ticket: Ticket) -> None:
    other = WorkflowFactory(stages=["A", "B"])
    elsewhere = make_macro(name="Elsewhere", set_stage=other.stages.get(name="B"))
    anywhere = make_macro(name="Anywhere")
    assert list(selectors.macros_for(user=agent, ticket=ticket)) == [anywhere]
    assert elsewhere in selectors.macros_for(user=agent)


# --- Bulk ------------------------------------------------------------------------------------
def test_bulk_apply_succeeds_or_fails_per_ticket(
    agent: User, requester: User, stages: dict[str, Stage]
) -> None:
    macro = make_macro(set_stage=stages["Waiting on requester"], add_tags=["bulk"])
    tickets = [new_ticket(requester, title=f"T{n}") for n in range(5)]
    core.ticket_transition(ticket=tickets[2], to_stage=stages["Closed"], actor=agent)
    outcomes = services.macro_apply_bulk(macro=macro, tickets=tickets, actor=agent, chunk_size=2)
    assert [o.ok for o in outcomes] == [True, True, False, True, True]
    assert "cannot move from 'Closed'" in outcomes[2].message
    assert outcomes[0].message == "Stage: Waiting on requester; Tags added: bulk"
    failed = Ticket.objects.get(pk=tickets[2].pk)
    assert failed.stage == stages["Closed"]
    assert tag_names(failed) == []
    assert not Comment.objects.filter(ticket=failed).exists()
    for ticket in (tickets[0], tickets[4]):
        ticket.refresh_from_db()
        assert ticket.stage == stages["Waiting on requester"]
        assert tag_names(ticket) == ["bulk"]
        assert Comment.objects.filter(ticket=ticket).count() == 1
    assert Macro.objects.get(pk=macro.pk).usage_count == 4


# --- The composer tool and the ticket-list action -----------------------------------------
def _request(user: User, data: dict[str, Any] | None = None) -> Any:
    request = RequestFactory().post("/", data or {})
    request.user = user
    return request


def test_the_composer_tool_offers_drafts_and_makes_the_changes_on_send(
    agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    tool = composer_tool("macro")
    assert tool is not None
    macro = make_macro(body="Hi {{ requester.first_name }}", set_stage=stages["Open"])
    make_macro(AgentFactory(), scope=Scope.PERSONAL, name="Not mine")
    request = _request(agent)
    assert tool.choices(request, ticket) == [(str(macro.pk), "Greeting")]
    draft = tool.draft(request, ticket, str(macro.pk))
    assert draft.body == "Hi Ada"
    assert not draft.is_internal
    assert list(draft.changes) == ["Stage → Open"]
    assert tool.on_send(request, ticket, str(macro.pk)) == ["Stage: Open"]
    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Open"]
    assert Macro.objects.get(pk=macro.pk).usage_count == 1
    with pytest.raises(ValidationError, match="No such macro"):
        tool.draft(request, ticket, "999999")


def test_the_ticket_list_action_applies_the_chosen_macro(
    agent: User, requester: User, stages: dict[str, Stage]
) -> None:
    action = next(a for a in ticket_actions() if a.name == "apply_macro")
    assert "macro" in action.fields
    macro = make_macro(set_stage=stages["Waiting on requester"])
    tickets = [new_ticket(requester, title=f"T{n}") for n in range(3)]
    core.ticket_transition(ticket=tickets[1], to_stage=stages["Closed"], actor=agent)
    said: list[tuple[str, int]] = []

    class FakeAdmin:
        def message_user(self, request: Any, message: str, level: int = 20) -> None:
            said.append((str(message), level))

    request = _request(agent, {"macro": str(macro.pk)})
    tools.apply_macro_action(
        FakeAdmin(), request, Ticket.objects.filter(pk__in=[t.pk for t in tickets])
    )  # type: ignore[arg-type]
    assert said[0][0] == "Applied the macro 'Greeting' to 2 tickets."
    assert f"{tickets[1].key}: " in said[1][0]
    assert said[1][1] == 40
    said.clear()
    tools.apply_macro_action(FakeAdmin(), _request(agent), Ticket.objects.all())  # type: ignore[arg-type]
    assert said == [("Choose a macro next to the action.", 40)]
