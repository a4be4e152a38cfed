"""The core service layer: every rule it enforces, its history and its events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from pytest_django.fixtures import Settings

from nixflow import events, services
from nixflow.models import (
    Comment,
    HistoryLog,
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from tests.factories import (
    StageFactory,
    TicketFactory,
    TicketWatcherFactory,
    UserFactory,
    WorkflowFactory,
)
from tests.helpers import history, new_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def published() -> Iterator[list[events.TicketEvent]]:
    """Every TicketEvent published while the test runs, in order."""
    seen: list[events.TicketEvent] = []

    def receiver(sender: object, event: events.TicketEvent, **kwargs: object) -> None:
        seen.append(event)

    events.ticket_event.connect(receiver, dispatch_uid="tests.published")
    yield seen
    events.ticket_event.disconnect(dispatch_uid="tests.published")


# --- ticket_create ----------------------------------------------------------------------
def test_create_puts_the_ticket_in_the_default_workflows_first_stage_with_history_and_event(
    requester: User, workflow: Workflow, stages: dict[str, Stage], published: list
) -> None:
    ticket = services.ticket_create(
        requester=requester, title="  VPN drops  ", description="Every hour.", actor=requester
    )

    ticket.refresh_from_db()
    assert ticket.key == f"NF-{ticket.pk}"
    assert ticket.title == "VPN drops"
    assert (ticket.workflow, ticket.stage) == (workflow, stages["New"])
    assert (ticket.priority, ticket.source) == (Priority.NORMAL, Source.WEB)
    assert ticket.created == ticket.updated
    assert history(ticket) == [("ticket", "", "created"), ("stage", "", "New")]
    assert [(e.type, e.ticket.pk, e.actor) for e in published] == [
        ("ticket.created", ticket.pk, requester)
    ]
    assert published[0].payload["category"] == StageCategory.NEW


def test_create_in_a_chosen_workflow_starts_in_its_lowest_position_stage(
    agent: User, requester: User
) -> None:
    other = WorkflowFactory(name="Access")
    StageFactory(workflow=other, name="Approval", category=StageCategory.WAITING, position=2)
    first = StageFactory(workflow=other, name="Asked", category=StageCategory.NEW, position=1)

    ticket = services.ticket_create(
        requester=requester, title="Access to X", workflow=other, actor=agent
    )

    assert ticket.stage == first


def test_create_without_a_default_workflow_names_the_problem(requester: User) -> None:
    Workflow.objects.update(is_default=False)
    with pytest.raises(ValidationError) as error:
        new_ticket(requester)
    assert error.value.message_dict == {
        "workflow": ["No default workflow is configured; choose one."]
    }


def test_create_refuses_an_inactive_workflow_and_one_without_stages(requester: User) -> None:
    inactive = WorkflowFactory(name="Old", is_active=False)
    with pytest.raises(ValidationError, match="is not active"):
        new_ticket(requester, workflow=inactive)
    empty = WorkflowFactory(name="Empty")
    with pytest.raises(ValidationError, match="has no stages"):
        new_ticket(requester, workflow=empty)
    assert not Ticket.objects.exists()


def test_create_refuses_an_empty_title_and_an_unknown_priority(requester: User) -> None:
    with pytest.raises(ValidationError) as error:
        services.ticket_create(requester=requester, title="   ", actor=requester)
    assert "title" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        new_ticket(requester, priority="PANIC")
    assert "priority" in error.value.message_dict
    assert not Ticket.objects.exists()


def test_requesters_open_tickets_only_for_themselves_and_without_an_assignee(
    requester: User, other_requester: User, agent: User
) -> None:
    with pytest.raises(PermissionDenied, match="only open tickets for themselves"):
        services.ticket_create(requester=other_requester, title="x", actor=requester)
    with pytest.raises(PermissionDenied, match="Only agents can assign"):
        new_ticket(requester, assignee=agent)
    assert not Ticket.objects.exists()


def test_agents_open_tickets_for_requesters_and_assign_only_agents(
    requester: User, agent: User
) -> None:
    ticket = services.ticket_create(
        requester=requester, title="Phone call", assignee=agent, source=Source.API, actor=agent
    )
    assert (ticket.requester, ticket.assignee, ticket.source) == (requester, agent, Source.API)

    with pytest.raises(ValidationError, match="is not an active agent"):
        services.ticket_create(requester=requester, title="x", assignee=UserFactory(), actor=agent)


def test_system_actor_creates_tickets_and_history_has_no_actor(requester: User) -> None:
    ticket = services.ticket_create(
        requester=requester, title="From mail", source=Source.EMAIL, actor=None
    )
    assert set(HistoryLog.objects.filter(ticket=ticket).values_list("actor", flat=True)) == {None}


# --- ticket_update ----------------------------------------------------------------------
def test_update_writes_one_history_row_per_changed_field_and_one_event(
    requester: User, agent: User, published: list
) -> None:
    ticket = new_ticket(requester)
    published.clear()

    ticket = services.ticket_update(
        ticket=ticket,
        actor=agent,
        data={"title": "Printer on fire", "description": "Smoke", "priority": Priority.URGENT},
    )

    assert history(ticket)[-2:] == [("description", "", "Smoke"), ("priority", "NORMAL", "URGENT")]
    assert [e.type for e in published] == ["ticket.updated"]
    assert published[0].changes == {"description": ("", "Smoke"), "priority": ("NORMAL", "URGENT")}
    ticket.refresh_from_db()
    assert ticket.updated > ticket.created


def test_update_with_nothing_changed_writes_nothing(requester: User, published: list) -> None:
    ticket = new_ticket(requester)
    before = history(ticket)
    published.clear()
    services.ticket_update(ticket=ticket, actor=requester, data={"title": "Printer on fire"})
    assert history(ticket) == before
    assert published == []


def test_requesters_change_title_and_description_but_not_priority(requester: User) -> None:
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=requester, data={"description": "More detail"})
    with pytest.raises(PermissionDenied, match="cannot change priority"):
        services.ticket_update(ticket=ticket, actor=requester, data={"priority": Priority.URGENT})
    ticket.refresh_from_db()
    assert (ticket.description, ticket.priority) == ("More detail", Priority.NORMAL)


def test_nobody_changes_stage_or_assignee_through_update(requester: User, agent: User) -> None:
    ticket = new_ticket(requester)
    for field in ("stage", "assignee", "requester", "workflow", "resolved_at"):
        with pytest.raises(PermissionDenied, match=f"cannot change {field}"):
            services.ticket_update(ticket=ticket, actor=agent, data={field: None})


def test_requesters_cannot_update_tickets_of_others(requester: User, other_requester: User) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied):
        services.ticket_update(ticket=ticket, actor=other_requester, data={"title": "Mine now"})


# --- ticket_transition ------------------------------------------------------------------
def test_transition_along_an_allowed_transition_records_stage_history_and_event(
    requester: User, agent: User, stages: dict[str, Stage], published: list
) -> None:
    ticket = new_ticket(requester)
    published.clear()

    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Open"]
    assert history(ticket)[-1] == ("stage", "New", "Open")
    assert [(e.type, e.payload["from_category"], e.payload["to_category"]) for e in published] == [
        ("ticket.transitioned", "NEW", "OPEN")
    ]


def test_illegal_transition_is_refused_naming_the_allowed_stages_and_changes_nothing(
    requester: User, agent: User, stages: dict[str, Stage], published: list
) -> None:
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    published.clear()

    with pytest.raises(ValidationError) as error:
        services.ticket_transition(ticket=ticket, to_stage=stages["New"], actor=agent)

    assert error.value.message_dict["stage"] == [
        (
            f"{ticket.key} cannot move from 'Resolved' to 'New'. "
            "Allowed from 'Resolved': 'Open', 'Closed'."
        )
    ]
    assert Ticket.objects.get(pk=ticket.pk).stage == stages["Resolved"]
    assert published == []


def test_transition_from_a_final_stage_says_it_is_final(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    Transition.objects.filter(from_stage=stages["Closed"]).delete()
    with pytest.raises(ValidationError, match=r"none \(it is a final stage\)"):
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)


def test_transition_to_the_current_stage_or_another_workflows_stage_is_refused(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(ValidationError, match="is already in stage 'New'"):
        services.ticket_transition(ticket=ticket, to_stage=stages["New"], actor=agent)
    other = WorkflowFactory(name="Other")
    foreign = StageFactory(workflow=other, name="Open", category="OPEN", position=1)
    with pytest.raises(ValidationError, match="is not in workflow 'Service desk'"):
        services.ticket_transition(ticket=ticket, to_stage=foreign, actor=agent)


def test_resolving_sets_resolved_at_closing_sets_closed_at_and_reopening_clears_both(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    resolved_at = ticket.resolved_at
    assert resolved_at is not None
    assert ticket.closed_at is None

    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    assert ticket.resolved_at == resolved_at  # closing keeps when it was resolved
    assert ticket.closed_at is not None

    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    stored = Ticket.objects.get(pk=ticket.pk)
    assert (stored.resolved_at, stored.closed_at) == (None, None)
    fields = [field for field, _, _ in history(ticket)]
    assert fields.count("resolved_at") == 2
    assert fields.count("closed_at") == 2


def test_closing_straight_from_open_sets_resolved_at_too(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Closed"], actor=agent)
    assert ticket.resolved_at == ticket.closed_at is not None


def test_requesters_take_only_transitions_marked_for_requesters_on_their_tickets(
    requester: User, other_requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied, match="Only agents can move a ticket from 'New'"):
        services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=requester)

    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    with pytest.raises(PermissionDenied):
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=other_requester)
    ticket = services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=requester)
    assert ticket.stage == stages["Open"]


# --- ticket_assign ----------------------------------------------------------------------
def test_assign_and_unassign_record_history_and_events(
    requester: User, agent: User, published: list
) -> None:
    ticket = new_ticket(requester)
    published.clear()
    ticket = services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)
    ticket = services.ticket_assign(ticket=ticket, assignee=agent, actor=agent)  # no change
    ticket = services.ticket_assign(ticket=ticket, assignee=None, actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assert history(ticket)[-2:] == [("assignee", "", "agent"), ("assignee", "agent", "")]
    assert [e.payload["assignee_id"] for e in published] == [agent.pk, None]


def test_only_agents_assign_and_only_to_active_agents(requester: User, agent: User) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied, match="Only agents can assign tickets"):
        services.ticket_assign(ticket=ticket, assignee=agent, actor=requester)
    with pytest.raises(ValidationError, match="requester is not an active agent"):
        services.ticket_assign(ticket=ticket, assignee=requester, actor=agent)
    gone = UserFactory(role=Role.AGENT, is_active=False)
    with pytest.raises(ValidationError, match="is not an active agent"):
        services.ticket_assign(ticket=ticket, assignee=gone, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).assignee is None


# --- comment_create ---------------------------------------------------------------------
def test_first_public_agent_comment_is_the_first_response_and_only_the_first(
    requester: User, agent: User, published: list
) -> None:
    ticket = new_ticket(requester)
    services.comment_create(ticket=ticket, author=requester, body="Any news?")
    services.comment_create(ticket=ticket, author=agent, body="Looking", is_internal=True)
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is None

    first = services.comment_create(ticket=ticket, author=agent, body="On it.")
    services.comment_create(ticket=ticket, author=agent, body="Fixed.")

    stored = Ticket.objects.get(pk=ticket.pk)
    assert stored.first_response_at == first.created
    assert [f for f, _, _ in history(ticket)].count("first_response_at") == 1
    assert [e.payload["first_response"] for e in published[1:]] == [False, False, True, False]


def test_an_agent_commenting_on_their_own_ticket_is_not_a_first_response(agent: User) -> None:
    ticket = services.ticket_create(requester=agent, title="My laptop", actor=agent)
    services.comment_create(ticket=ticket, author=agent, body="Still broken")
    assert Ticket.objects.get(pk=ticket.pk).first_response_at is None


def test_requesters_cannot_write_internal_comments_or_comment_on_others_tickets(
    requester: User, other_requester: User
) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied, match="cannot write internal comments"):
        services.comment_create(ticket=ticket, author=requester, body="x", is_internal=True)
    with pytest.raises(PermissionDenied):
        services.comment_create(ticket=ticket, author=other_requester, body="x")
    assert not Comment.objects.exists()


def test_an_empty_comment_is_refused(requester: User) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(ValidationError) as error:
        services.comment_create(ticket=ticket, author=requester, body="  \n ")
    assert error.value.message_dict == {"body": ["A comment needs a body."]}


def test_comment_attachments_are_stored_and_oversized_ones_refused_with_their_size(
    requester: User, settings: Settings, tmp_path: object
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 10
    ticket = new_ticket(requester)

    comment = services.comment_create(
        ticket=ticket,
        author=requester,
        body="Log attached",
        attachments=[SimpleUploadedFile("log.txt", b"0123456789", content_type="text/plain")],
    )
    attachment = comment.attachments.get()
    assert (attachment.filename, attachment.size, attachment.content_type) == (
        "log.txt",
        10,
        "text/plain",
    )
    assert attachment.file.read() == b"0123456789"

    with pytest.raises(ValidationError) as error:
        services.comment_create(
            ticket=ticket,
            author=requester,
            body="Bigger",
            attachments=[SimpleUploadedFile("big.bin", b"x" * 11)],
        )
    assert error.value.message_dict == {
        "attachments": ["big.bin is 11 bytes; the limit is 10 bytes per file."]
    }
    assert Comment.objects.count() == 1


# --- watchers ---------------------------------------------------------------------------
def test_watch_is_idempotent_and_unwatch_reports_whether_anything_changed(
    requester: User, agent: User, published: list
) -> None:
    ticket = new_ticket(requester)
    colleague = UserFactory(username="colleague")
    published.clear()

    services.ticket_watch(ticket=ticket, user=colleague, actor=agent)
    services.ticket_watch(ticket=ticket, user=colleague, actor=agent)
    assert TicketWatcher.objects.filter(ticket=ticket).count() == 1
    assert services.ticket_unwatch(ticket=ticket, user=colleague, actor=agent) is True
    assert services.ticket_unwatch(ticket=ticket, user=colleague, actor=agent) is False

    assert [e.type for e in published] == ["ticket.watched", "ticket.unwatched"]
    assert history(ticket)[-2:] == [("watcher", "", "colleague"), ("watcher", "colleague", "")]


def test_requesters_watch_only_themselves_and_only_tickets_they_can_see(
    requester: User, other_requester: User
) -> None:
    ticket = new_ticket(requester)
    with pytest.raises(PermissionDenied, match="only add or remove themselves"):
        services.ticket_watch(ticket=ticket, user=other_requester, actor=requester)
    with pytest.raises(PermissionDenied):
        services.ticket_watch(ticket=ticket, user=other_requester, actor=other_requester)
    assert not TicketWatcher.objects.exists()


def test_a_watching_requester_may_comment_and_then_unwatch(
    requester: User, other_requester: User, agent: User
) -> None:
    ticket = new_ticket(requester)
    services.ticket_watch(ticket=ticket, user=other_requester, actor=agent)
    services.comment_create(ticket=ticket, author=other_requester, body="Same here")
    assert services.ticket_unwatch(ticket=ticket, user=other_requester, actor=other_requester)
    with pytest.raises(PermissionDenied):
        services.comment_create(ticket=ticket, author=other_requester, body="Again")


def test_the_database_refuses_a_second_watch_row(requester: User) -> None:
    ticket = TicketFactory(requester=requester)
    TicketWatcherFactory(ticket=ticket, user=requester)
    with pytest.raises(IntegrityError), transaction.atomic():
        TicketWatcherFactory(ticket=ticket, user=requester)


# --- the hook: same transaction ---------------------------------------------------------
def test_a_failing_event_receiver_rolls_the_change_back(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    history_before = history(ticket)

    def refuse(sender: object, event: events.TicketEvent, **kwargs: object) -> None:
        raise RuntimeError("event log unavailable")

    events.ticket_event.connect(refuse, dispatch_uid="tests.refuse")
    try:
        with pytest.raises(RuntimeError):
            services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
        with pytest.raises(RuntimeError):
            new_ticket(requester)
    finally:
        events.ticket_event.disconnect(dispatch_uid="tests.refuse")

    assert Ticket.objects.get(pk=ticket.pk).stage == stages["New"]
    assert history(ticket) == history_before
    assert Ticket.objects.count() == 1


def test_receivers_run_inside_the_services_transaction(
    requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    depths: list[bool] = []

    def inspect(sender: object, event: events.TicketEvent, **kwargs: object) -> None:
        depths.append(transaction.get_connection().in_atomic_block)
        # The receiver sees the change it is told about.
        assert Ticket.objects.get(pk=event.ticket.pk).stage_id == event.ticket.stage_id

    events.ticket_event.connect(inspect, dispatch_uid="tests.inspect")
    try:
        ticket = new_ticket(requester)
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=agent)
    finally:
        events.ticket_event.disconnect(dispatch_uid="tests.inspect")
    assert depths == [True, True]


# --- constraints the database holds whatever the code does ------------------------------
def test_the_database_refuses_closed_without_resolved_and_response_before_creation(
    requester: User,
) -> None:
    ticket = TicketFactory(requester=requester)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(closed_at=ticket.created)
    with pytest.raises(IntegrityError), transaction.atomic():
        Ticket.objects.filter(pk=ticket.pk).update(
            first_response_at=ticket.created.replace(year=2000)
        )


def test_transitions_must_stay_within_their_workflow(stages: dict[str, Stage]) -> None:
    other = WorkflowFactory(name="Other")
    foreign = StageFactory(workflow=other, name="X", category="OPEN", position=1)
    transition = Transition(
        workflow=stages["New"].workflow, from_stage=stages["New"], to_stage=foreign
    )
    with pytest.raises(ValidationError, match="belongs to another workflow"):
        transition.full_clean()


def test_only_one_workflow_can_be_the_default(workflow: Workflow) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkflowFactory(name="Second", is_default=True)


def test_ticket_keys_parse_strictly() -> None:
    assert Ticket.number_from_key("NF-1042") == 1042
    assert Ticket.number_from_key("nf-7") == 7
    for bad in ("NF-0", "NF-", "NF-12a", "12", "NF--3", "NF-99999999999999999999"):
        assert Ticket.number_from_key(bad) is None


def test_a_watching_requester_cannot_take_the_requesters_transitions(
    requester: User, other_requester: User, agent: User, stages: dict[str, Stage]
) -> None:
    ticket = new_ticket(requester)
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    services.ticket_watch(ticket=ticket, user=other_requester, actor=agent)
    with pytest.raises(PermissionDenied, match="Only agents can move a ticket"):
        services.ticket_transition(ticket=ticket, to_stage=stages["Open"], actor=other_requester)


def test_tickets_are_not_opened_for_inactive_requesters(agent: User) -> None:
    gone = UserFactory(username="gone", is_active=False)
    with pytest.raises(ValidationError, match="gone is not an active user"):
        services.ticket_create(requester=gone, title="x", actor=agent)
