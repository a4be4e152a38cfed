"""Merging tickets (nixflow.services.merge): comments and attachments move to the target,
people follow as watchers, the source closes (through its workflow's stages, skipping
transitions it lacks), history and events on both sides, SLA clocks of the source
cancelled, refusals, the API and the admin."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.utils.html import strip_tags
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import events, services
from nixflow.models import (
    Attachment,
    Comment,
    StageCategory,
    Ticket,
    TicketWatcher,
    User,
)
from nixflow.services.merge import ticket_follow_merges, ticket_merge
from nixflow.toolkit.errors import ConflictError
from tests.factories import (
    AgentFactory,
    AttachmentFactory,
    CommentFactory,
    RequesterFactory,
    TicketFactory,
    TicketWatcherFactory,
    WorkflowFactory,
)
from tests.helpers import history

pytestmark = pytest.mark.django_db


def _events(ticket: Ticket, type: str) -> list[EventLog]:
    return list(EventLog.objects.filter(type=type, ticket_key=ticket.key).order_by("id"))


@pytest.fixture
def desk(agent: User) -> dict[str, Ticket]:
    """A target NF-a and a duplicate NF-b with a comment, an attachment and a watcher."""
    target = TicketFactory(title="VPN down")
    source = TicketFactory(title="VPN down again")
    CommentFactory(ticket=target, body="first on target")
    comment = CommentFactory(ticket=source, body="on the duplicate")
    AttachmentFactory(comment=comment)
    CommentFactory(ticket=source, author=agent, body="internal note", is_internal=True)
    TicketWatcherFactory(ticket=source, user=RequesterFactory(username="colleague"))
    return {"target": target, "source": source}


# --- Service ------------------------------------------------------------------------------
def test_comments_and_attachments_move_to_the_target(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    moved = list(source.comments.values_list("pk", flat=True))
    attachment = Attachment.objects.get(comment__ticket=source)

    ticket_merge(sources=[source], target=target, actor=agent)

    assert not Comment.objects.filter(ticket=source).exists()
    assert set(moved) <= set(target.comments.values_list("pk", flat=True))
    assert Comment.objects.filter(ticket=target).count() == 3
    attachment.refresh_from_db()
    assert attachment.comment.ticket_id == target.pk
    # internal stays internal
    assert Comment.objects.get(body="internal note").is_internal


def test_the_source_is_closed_and_points_at_the_target(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    ticket_merge(sources=[source], target=target, actor=agent)
    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert source.stage.category == StageCategory.CLOSED
    assert source.closed_at is not None
    assert source.resolved_at is not None
    assert ("merged_into", "", target.key) in history(source)
    assert ("stage", "New", "Closed") in history(source)
    assert ("merged", "", f"{source.key} (2 comments)") in history(target)


def test_requester_and_watchers_of_the_source_watch_the_target(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    ticket_merge(sources=[source], target=target, actor=agent)
    watching = set(TicketWatcher.objects.filter(ticket=target).values_list("user_id", flat=True))
    assert {source.requester_id, User.objects.get(username="colleague").pk} <= watching
    assert target.requester_id not in watching


def test_events_on_both_sides(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    moved = sorted(source.comments.values_list("pk", flat=True))
    ticket_merge(sources=[source], target=target, actor=agent)

    (merged,) = _events(source, events.TICKET_MERGED)
    assert merged.payload["into_id"] == target.pk
    assert merged.payload["comment_ids"] == moved
    (closed,) = _events(source, events.TICKET_TRANSITIONED)
    assert closed.payload["merged_into_id"] == target.pk
    assert closed.pk > merged.pk  # merged first, so the SLA app can cancel clocks
    (received,) = _events(target, events.TICKET_MERGE_RECEIVED)
    assert received.payload["source_ids"] == [source.pk]
    assert received.payload["comment_ids"] == moved
    assert source.requester_id in received.payload["watcher_ids"]


def test_a_merge_makes_both_tickets_stale_for_whoever_loaded_them(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    before = (source.version, target.version)
    ticket_merge(sources=[source], target=target, actor=agent)
    source.refresh_from_db()
    target.refresh_from_db()
    assert source.version > before[0]
    assert target.version > before[1]


def test_several_sources_in_one_merge(agent: User) -> None:
    target, first, second = TicketFactory(), TicketFactory(), TicketFactory()
    CommentFactory(ticket=second)
    ticket_merge(sources=[second, first], target=target, actor=agent)
    assert Ticket.objects.filter(merged_into=target).count() == 2
    (line,) = [new for field, _, new in history(target) if field == "merged"]
    assert line == f"{first.key} (0 comments), {second.key} (1 comment)"


def test_a_workflow_without_a_transition_to_closed_still_closes(agent: User) -> None:
    workflow = WorkflowFactory(stages=["Triage", "Work", "Done"])  # Done is RESOLVED
    closed = workflow.stages.create(name="Archived", category=StageCategory.CLOSED, position=9)
    source = TicketFactory(workflow=workflow, stage=workflow.initial_stage)
    ticket_merge(sources=[source], target=TicketFactory(), actor=agent)
    source.refresh_from_db()
    assert source.stage == closed


def test_a_workflow_without_a_closed_stage_resolves(agent: User) -> None:
    workflow = WorkflowFactory(stages=["Triage", "Done"])
    source = TicketFactory(workflow=workflow, stage=workflow.initial_stage)
    ticket_merge(sources=[source], target=TicketFactory(), actor=agent)
    source.refresh_from_db()
    assert source.stage.category == StageCategory.RESOLVED
    assert source.closed_at is None
    assert source.resolved_at is not None


def test_an_already_closed_source_keeps_its_stage(agent: User) -> None:
    source = TicketFactory()
    closed = source.workflow.stages.get(category=StageCategory.CLOSED)
    Ticket.objects.filter(pk=source.pk).update(stage=closed)
    ticket_merge(sources=[source], target=TicketFactory(), actor=agent)
    assert not _events(source, events.TICKET_TRANSITIONED)


def test_follow_merges_walks_chains(agent: User) -> None:
    first, second, third = TicketFactory(), TicketFactory(), TicketFactory()
    ticket_merge(sources=[first], target=second, actor=agent)
    ticket_merge(sources=[second], target=third, actor=agent)
    first.refresh_from_db()
    assert ticket_follow_merges(first) == third
    assert ticket_follow_merges(third) == third


@pytest.mark.parametrize("case", ["itself", "into_merged", "source_merged", "cycle"])
def test_refusals(agent: User, case: str) -> None:
    a, b, c = TicketFactory(), TicketFactory(), TicketFactory()
    if case == "itself":
        with pytest.raises(ValidationError, match="into itself"):
            ticket_merge(sources=[a], target=a, actor=agent)
        return
    ticket_merge(sources=[a], target=b, actor=agent)
    a.refresh_from_db()
    b.refresh_from_db()
    sources, target = {"into_merged": ([c], a), "source_merged": ([a], c), "cycle": ([b], a)}[case]
    with pytest.raises(ConflictError, match="merged into"):
        ticket_merge(sources=sources, target=target, actor=agent)
    assert not Ticket.objects.filter(merged_into=c).exists()


def test_requesters_cannot_merge(requester: User) -> None:
    a, b = TicketFactory(requester=requester), TicketFactory(requester=requester)
    with pytest.raises(PermissionDenied):
        ticket_merge(sources=[a], target=b, actor=requester)
    a.refresh_from_db()
    assert a.merged_into_id is None


def test_a_refused_merge_changes_nothing(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    other = TicketFactory()
    ticket_merge(sources=[other], target=target, actor=agent)
    with pytest.raises(ConflictError):
        ticket_merge(sources=[source, other], target=target, actor=agent)
    assert source.comments.count() == 2
    source.refresh_from_db()
    assert source.merged_into_id is None


# --- SLA clocks ---------------------------------------------------------------------------
def _merged_late(agent: User, *, monitor_ran: bool) -> Ticket:
    """A source merged twelve hours after it opened, past every deadline of its clocks
    (first response and resolution in minutes); ``monitor_ran``: the SLA monitor saw the
    clocks breached before the merge."""
    from sla import services as sla_services
    from sla.models import SLAMetric
    from tests.sla.conftest import MINUTES, T0
    from tests.sla.factories import SLAPolicyFactory

    SLAPolicyFactory(name="Standard", order=10, targets=MINUTES)
    with time_machine.travel(T0, tick=False) as clock:
        requester = RequesterFactory()
        source = services.ticket_create(requester=requester, title="VPN", actor=requester)
        target = services.ticket_create(requester=requester, title="VPN 2", actor=requester)
        assert SLAMetric.objects.filter(ticket=source).count() == 2
        clock.shift(timedelta(hours=12))
        if monitor_ran:
            sla_services.sla_scan()  # marks both clocks breached
        ticket_merge(sources=[source], target=target, actor=agent)
    return source


def test_the_sources_sla_clocks_end_cancelled_not_breached(agent: User) -> None:
    from sla.models import SLABreach, SLAMetric, SLAStatus

    source = _merged_late(agent, monitor_ran=False)

    statuses = set(SLAMetric.objects.filter(ticket=source).values_list("status", flat=True))
    assert statuses == {SLAStatus.CANCELLED}
    assert not SLABreach.objects.filter(metric__ticket=source).exists()
    source.refresh_from_db()
    assert source.sla_due_at is None


def test_a_clock_the_monitor_found_breached_stays_breached_when_merged(agent: User) -> None:
    from sla.models import SLABreach, SLAMetric, SLAStatus

    source = _merged_late(agent, monitor_ran=True)

    clocks = SLAMetric.objects.filter(ticket=source)
    assert {c.status for c in clocks} == {SLAStatus.BREACHED}
    assert all(c.completed_at is not None for c in clocks)
    assert SLABreach.objects.filter(metric__ticket=source).count() == clocks.count()


# --- API ----------------------------------------------------------------------------------
def _api(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_merge(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    response = _api(agent).post(
        f"/api/tickets/{target.key}/merge/", {"sources": [source.key]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["key"] == target.key
    source.refresh_from_db()
    assert source.merged_into_id == target.pk


@pytest.mark.parametrize(
    ("sources", "code", "text"),
    [
        ([], 400, "at least one"),
        (["NF-999999"], 400, "No such ticket"),
        (["nonsense"], 400, "Not a ticket key"),
        ("SELF", 400, "into itself"),
    ],
)
def test_api_merge_bad_input(
    agent: User, desk: dict, sources: list | str, code: int, text: str
) -> None:
    target = desk["target"]
    given = [target.key] if sources == "SELF" else sources
    response = _api(agent).post(
        f"/api/tickets/{target.key}/merge/", {"sources": given}, format="json"
    )
    assert response.status_code == code, response.content
    assert text in response.content.decode()


def test_api_merge_conflict_is_409(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    ticket_merge(sources=[source], target=target, actor=agent)
    response = _api(agent).post(
        f"/api/tickets/{TicketFactory().key}/merge/", {"sources": [source.key]}, format="json"
    )
    assert response.status_code == 409, response.content


def test_api_merge_refuses_requesters(requester: User) -> None:
    a, b = TicketFactory(requester=requester), TicketFactory(requester=requester)
    response = _api(requester).post(
        f"/api/tickets/{b.key}/merge/", {"sources": [a.key]}, format="json"
    )
    assert response.status_code == 403
    a.refresh_from_db()
    assert a.merged_into_id is None


# --- Admin --------------------------------------------------------------------------------
def _admin(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admin_merge_form(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    response = _admin(agent).post(
        f"/admin/nixflow/ticket/{source.pk}/merge/", {"merge_into_key": target.key}, follow=True
    )
    assert response.status_code == 200
    source.refresh_from_db()
    assert source.merged_into_id == target.pk
    assert f"merged into {target.key}" in response.content.decode()


def test_admin_merge_form_bad_key_is_a_message(agent: User, desk: dict) -> None:
    source = desk["source"]
    response = _admin(agent).post(
        f"/admin/nixflow/ticket/{source.pk}/merge/", {"merge_into_key": "NF-999999"}, follow=True
    )
    assert response.status_code == 200
    assert "No such ticket" in response.content.decode()
    source.refresh_from_db()
    assert source.merged_into_id is None


def test_admin_merge_needs_csrf(agent: User, desk: dict) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    response = client.post(
        f"/admin/nixflow/ticket/{desk['source'].pk}/merge/", {"merge_into_key": desk["target"].key}
    )
    assert response.status_code == 403


def test_admin_merge_refuses_requesters(requester: User) -> None:
    a, b = TicketFactory(requester=requester), TicketFactory(requester=requester)
    response = _admin(requester).post(
        f"/admin/nixflow/ticket/{a.pk}/merge/", {"merge_into_key": b.key}
    )
    assert response.status_code in (302, 403)
    a.refresh_from_db()
    assert a.merged_into_id is None


def test_admin_panel_shows_merges(agent: User, desk: dict) -> None:
    source, target = desk["source"], desk["target"]
    ticket_merge(sources=[source], target=target, actor=agent)
    page = _admin(agent).get(f"/admin/nixflow/ticket/{target.pk}/change/").content.decode()
    assert f"Merged here: {source.key}." in strip_tags(page)
    assert f'href="/admin/nixflow/ticket/{source.pk}/change/"' in page
    page = _admin(agent).get(f"/admin/nixflow/ticket/{source.pk}/change/").content.decode()
    assert f"Merged into {target.key}." in strip_tags(page)
    assert "merge_into_key" not in page  # a merged ticket offers no second merge


def test_admin_list_action_merges_selected(agent: User) -> None:
    target, a, b = TicketFactory(), TicketFactory(), TicketFactory()
    response = _admin(agent).post(
        "/admin/nixflow/ticket/",
        {"action": "merge_into", "_selected_action": [a.pk, b.pk], "merge_into": target.key},
        follow=True,
    )
    assert response.status_code == 200
    assert Ticket.objects.filter(merged_into=target).count() == 2
    assert "Merged" in response.content.decode()


def test_admin_list_action_without_key_is_a_message(agent: User) -> None:
    a = TicketFactory()
    response = _admin(agent).post(
        "/admin/nixflow/ticket/",
        {"action": "merge_into", "_selected_action": [a.pk], "merge_into": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert "Type the key" in response.content.decode()
    a.refresh_from_db()
    assert a.merged_into_id is None


# --- Concurrency --------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_opposite_merges_at_once_one_wins_without_deadlock() -> None:
    """NF-a into NF-b and NF-b into NF-a at the same moment: both lock the pair in
    ascending id, so the second waits, then finds its target merged and is refused."""
    agent = AgentFactory()
    a, b = TicketFactory(), TicketFactory()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def merge(source: Ticket, target: Ticket) -> None:
        try:
            barrier.wait()
            ticket_merge(sources=[source], target=target, actor=agent)
            outcomes.append("merged")
        except ConflictError:
            outcomes.append("refused")
        except BaseException as error:  # a deadlock would surface here
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=merge, args=(a, b)),
        threading.Thread(target=merge, args=(b, a)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["merged", "refused"]
    merged = Ticket.objects.filter(merged_into__isnull=False)
    assert merged.count() == 1


def test_after_a_merge_search_finds_the_moved_comment_in_the_target(agent: User) -> None:
    source, target = TicketFactory(title="Laptop"), TicketFactory(title="Notebook")
    services.comment_create(ticket=source, author=agent, body="Serial QZ93 noted.")
    ticket_merge(sources=[source], target=target, actor=agent)
    response = _api(agent).get("/api/tickets/", {"search": "QZ93"})
    assert [t["key"] for t in response.json()["results"]] == [target.key]
    source_shown = _api(agent).get(f"/api/tickets/{source.key}/").json()
    assert source_shown["merged_into"] == target.key
