"""A macro applied to many tickets: a few in the request, more queued for the Celery
workers in chunks (the job's row and its outbox messages in the request's transaction),
each chunk applied by the task with its tickets in savepoints, the job counting what was
done and keeping every refusal, and the agent told on the job's page."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from eventlog.models import EventLog, OutboxMessage
from macros import services, tasks
from macros.models import BulkApply, Macro, Scope
from nixflow import services as core
from nixflow.models import Comment, Stage, Ticket, User
from tests.factories import AgentFactory
from tests.helpers import new_ticket
from tests.macros.conftest import make_macro

pytestmark = pytest.mark.django_db

TICKETS = "admin:nixflow_ticket_changelist"
JOB = "admin:macros_bulkapply_change"


@pytest.fixture
def waiting(stages: dict[str, Stage]) -> Stage:
    return stages["Waiting on requester"]


@pytest.fixture
def tickets(requester: User, agent: User, stages: dict[str, Stage]) -> list[Ticket]:
    """Seven tickets, the sixth closed (the default workflow lets nothing leave Closed
    for "Waiting on requester": the macro is refused there)."""
    made = [new_ticket(requester, title=f"T{n}") for n in range(7)]
    core.ticket_transition(ticket=made[5], to_stage=stages["Closed"], actor=agent)
    return made


def chunk_messages(job: BulkApply) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(task=services.BULK_TASK, kwargs__job_id=job.pk).order_by("id")
    )


def run_chunks(job: BulkApply) -> list[dict[str, int]]:
    """What the worker does with each message the relay publishes."""
    return [tasks.apply_bulk_chunk(**message.kwargs) for message in chunk_messages(job)]


def test_a_bulk_apply_is_queued_in_the_callers_transaction(
    agent: User, tickets: list[Ticket], waiting: Stage
) -> None:
    macro = make_macro(set_stage=waiting)
    job = services.macro_bulk_enqueue(macro=macro, tickets=tickets, actor=agent, chunk_size=3)
    assert (job.total, job.done_count, job.failed_count, job.finished_at) == (7, 0, 0, None)
    messages = chunk_messages(job)
    assert [m.kwargs["chunk"] for m in messages] == [0, 1, 2]
    assert [len(m.kwargs["ticket_ids"]) for m in messages] == [3, 3, 1]
    assert [pk for m in messages for pk in m.kwargs["ticket_ids"]] == [t.pk for t in tickets]
    queued = EventLog.objects.get(type="macro.bulk_queued")
    assert queued.payload["total"] == 7
    # Nothing applied yet: the workers do it.
    assert not Comment.objects.filter(ticket__in=tickets).exists()

    def request_failing_after_queuing() -> None:
        with transaction.atomic():
            services.macro_bulk_enqueue(macro=macro, tickets=tickets, actor=agent)
            raise RuntimeError("the request failed after queuing")

    with pytest.raises(RuntimeError):
        request_failing_after_queuing()
    assert BulkApply.objects.count() == 1
    assert OutboxMessage.objects.filter(task=services.BULK_TASK).count() == 3


def test_the_task_applies_each_chunk_counts_outcomes_and_keeps_refusals(
    agent: User, tickets: list[Ticket], waiting: Stage
) -> None:
    macro = make_macro(set_stage=waiting, add_tags=["bulk"], body="Hi {{ ticket.key }}")
    job = services.macro_bulk_enqueue(macro=macro, tickets=tickets, actor=agent, chunk_size=3)
    first, *rest = chunk_messages(job)
    assert tasks.apply_bulk_chunk(**first.kwargs) == {"done": 3, "failed": 0}
    job.refresh_from_db()
    assert (job.done_count, job.failed_count, job.finished_at) == (3, 0, None)

    assert [tasks.apply_bulk_chunk(**m.kwargs) for m in rest] == [
        {"done": 2, "failed": 1},
        {"done": 1, "failed": 0},
    ]
    job.refresh_from_db()
    assert (job.done_count, job.failed_count, job.chunks_done) == (6, 1, [0, 1, 2])
    assert job.finished_at is not None
    (refusal,) = job.failures
    assert refusal["ticket"] == tickets[5].key
    assert "cannot move from 'Closed'" in refusal["message"]

    done = [t for n, t in enumerate(tickets) if n != 5]
    assert Ticket.objects.filter(pk__in=[t.pk for t in done], stage=waiting).count() == 6
    assert Ticket.objects.filter(pk__in=[t.pk for t in done], tags__name="bulk").count() == 6
    assert Comment.objects.get(ticket=tickets[0]).body == f"Hi {tickets[0].key}"
    assert not Comment.objects.filter(ticket=tickets[5]).exists()
    assert Macro.objects.get(pk=macro.pk).usage_count == 6
    assert EventLog.objects.filter(type="macro.applied").count() == 6
    finished = EventLog.objects.get(type="macro.bulk_applied")
    assert finished.payload == {
        "macro_id": macro.pk,
        "macro": "Greeting",
        "total": 7,
        "done": 6,
        "failed": 1,
    }
    assert finished.actor_id == agent.pk


def test_a_chunk_delivered_twice_is_applied_once(
    agent: User, tickets: list[Ticket], waiting: Stage
) -> None:
    macro = make_macro(set_stage=waiting)
    job = services.macro_bulk_enqueue(macro=macro, tickets=tickets[:2], actor=agent)
    run_chunks(job)
    assert run_chunks(job) == [{"done": 0, "failed": 0}]
    job.refresh_from_db()
    assert (job.done_count, job.chunks_done) == (2, [0])
    assert Comment.objects.filter(ticket__in=tickets[:2]).count() == 2
    assert Macro.objects.get(pk=macro.pk).usage_count == 2


def test_a_macro_deleted_or_no_longer_usable_before_the_workers_refuses_each_ticket(
    agent: User, tickets: list[Ticket], waiting: Stage
) -> None:
    macro = make_macro(set_stage=waiting)
    job = services.macro_bulk_enqueue(macro=macro, tickets=tickets[:2], actor=agent)
    services.macro_delete(macro=macro, actor=None)
    run_chunks(job)
    job.refresh_from_db()
    assert (job.done_count, job.failed_count) == (0, 2)
    assert job.failures[0]["message"] == "The macro was deleted before this ticket's turn."
    assert job.finished_at is not None

    mine = make_macro(agent, scope=Scope.PERSONAL, name="Mine")
    other = AgentFactory()
    job = services.macro_bulk_enqueue(macro=mine, tickets=tickets[:1], actor=agent)
    BulkApply.objects.filter(pk=job.pk).update(actor=other)
    run_chunks(job)
    job.refresh_from_db()
    assert job.failed_count == 1
    assert "cannot use the macro" in job.failures[0]["message"]
    assert not Comment.objects.filter(ticket__in=tickets[:2]).exists()


def test_refusals_before_anything_is_queued(agent: User, tickets: list[Ticket]) -> None:
    from django.core.exceptions import PermissionDenied, ValidationError

    not_mine = make_macro(AgentFactory(), scope=Scope.PERSONAL, name="Theirs")
    with pytest.raises(PermissionDenied):
        services.macro_bulk_enqueue(macro=not_mine, tickets=tickets, actor=agent)
    with pytest.raises(ValidationError, match="at least one ticket"):
        services.macro_bulk_enqueue(macro=make_macro(), tickets=[], actor=agent)
    assert not BulkApply.objects.exists()
    assert not OutboxMessage.objects.filter(task=services.BULK_TASK).exists()


# --- The admin's bulk action ----------------------------------------------------------------
@pytest.fixture
def agent_client(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


def apply_action(client: Client, macro: Macro, tickets: list[Ticket]) -> Any:
    return client.post(
        reverse(TICKETS),
        {
            "action": "apply_macro",
            "_selected_action": [t.pk for t in tickets],
            "macro": macro.pk,
        },
    )


def test_a_small_selection_is_applied_in_the_request(
    agent_client: Client, tickets: list[Ticket], waiting: Stage
) -> None:
    macro = make_macro(set_stage=waiting)
    assert len(tickets) <= services.BULK_SYNC_LIMIT
    response = apply_action(agent_client, macro, tickets)
    assert response.status_code == 302
    assert response["Location"].endswith(reverse(TICKETS))
    page = agent_client.get(response["Location"]).content.decode()
    assert "Applied the macro &#x27;Greeting&#x27; to 6 tickets." in page
    assert f"{tickets[5].key}: " in page
    assert not BulkApply.objects.exists()
    assert Ticket.objects.filter(pk__in=[t.pk for t in tickets], stage=waiting).count() == 6


def test_a_large_selection_is_queued_and_its_page_tells_the_agent_when_done(
    agent_client: Client,
    agent: User,
    tickets: list[Ticket],
    waiting: Stage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(services, "BULK_SYNC_LIMIT", 3)
    macro = make_macro(set_stage=waiting)
    response = apply_action(agent_client, macro, tickets)
    job = BulkApply.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(JOB, args=[job.pk])
    assert not Comment.objects.filter(ticket__in=tickets).exists()  # the workers' job

    page = agent_client.get(response["Location"]).content.decode()
    assert "in the background" in page
    assert "0 of 7 (0 applied, 0 refused), applying…" in page
    assert '<meta http-equiv="refresh"' in page

    run_chunks(job)
    page = agent_client.get(response["Location"]).content.decode()
    assert "Done: the macro &#x27;Greeting&#x27; was applied to 6 tickets." in page
    assert "1 ticket could not be changed" in page
    assert f"{tickets[5].key}: " in page
    assert "cannot move from" in page
    assert "7 of 7 (6 applied, 1 refused), done" in page
    assert '<meta http-equiv="refresh"' not in page


def test_only_the_agent_and_admins_see_a_job(
    client: Client, agent: User, desk_admin: User, tickets: list[Ticket]
) -> None:
    job = services.macro_bulk_enqueue(macro=make_macro(), tickets=tickets, actor=agent)
    client.force_login(AgentFactory())
    response = client.get(reverse(JOB, args=[job.pk]))
    assert response.status_code == 302  # Django's "doesn't exist", to the admin's index
    assert "macros_bulkapply_changelist" not in str(response.get("Location", ""))
    assert str(job) not in client.get(reverse("admin:macros_bulkapply_changelist")).content.decode()
    client.force_login(desk_admin)
    assert client.get(reverse(JOB, args=[job.pk])).status_code == 200
    client.force_login(agent)
    assert client.get(reverse(JOB, args=[job.pk])).status_code == 200
    assert client.post(reverse(JOB, args=[job.pk]), {}).status_code == 403
