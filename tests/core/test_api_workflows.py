"""Workflows through the API: everyone signed in reads them, with their stages and
transitions nested; admins create, change and delete them through the workflow services."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import events
from nixflow.models import Stage, User, Workflow
from tests.factories import TicketFactory, WorkflowFactory

pytestmark = pytest.mark.django_db


def make_workflow(name: str, stage_count: int = 3) -> Workflow:
    return WorkflowFactory(name=name, stages=[f"Stage {n}" for n in range(1, stage_count + 1)])


def test_requester_reads_the_default_workflow_with_stages_in_order_and_transitions(
    api_client: APIClient, requester: User, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    api_client.force_authenticate(requester)

    response = api_client.get(f"/api/workflows/{workflow.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["is_default"], body["is_active"]) == ("Service desk", True, True)
    assert [(s["name"], s["category"], s["position"]) for s in body["stages"]] == [
        ("New", "NEW", 1),
        ("Open", "OPEN", 2),
        ("Waiting on requester", "WAITING", 3),
        ("Resolved", "RESOLVED", 4),
        ("Closed", "CLOSED", 5),
    ]
    reopen = {
        "from_stage": stages["Resolved"].pk,
        "to_stage": stages["Open"].pk,
        "name": "Reopen",
        "requester_allowed": True,
    }
    assert reopen in [{k: v for k, v in t.items() if k != "id"} for t in body["transitions"]]
    assert len(body["transitions"]) == 13


def test_workflow_list_is_paginated_and_sorted_by_name(
    api_client: APIClient, agent: User, workflow: Workflow
) -> None:
    make_workflow("Hardware")
    api_client.force_authenticate(agent)

    response = api_client.get("/api/workflows/")

    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert [w["name"] for w in response.json()["results"]] == ["Hardware", "Service desk"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_agents_read_workflows_but_cannot_change_them(
    api_client: APIClient, agent: User, workflow: Workflow, method: str
) -> None:
    api_client.force_authenticate(agent)
    path = "/api/workflows/" if method == "post" else f"/api/workflows/{workflow.pk}/"

    response = getattr(api_client, method)(path, {"name": "Renamed"}, format="json")

    assert response.status_code == 403
    workflow.refresh_from_db()
    assert workflow.name == "Service desk"


HARDWARE = {
    "name": "Hardware",
    "description": "Broken things.",
    "stages": [
        {"name": "Reported", "category": "NEW", "position": 1},
        {"name": "Repairing", "category": "OPEN", "position": 2},
        {"name": "Repaired", "category": "RESOLVED", "position": 3},
    ],
    "transitions": [
        {"from_stage": "Reported", "to_stage": "Repairing", "name": "Start"},
        {"from_stage": "Repairing", "to_stage": "Repaired", "name": "Done"},
        {"from_stage": "Repaired", "to_stage": "Repairing", "requester_allowed": True},
    ],
}


def test_admin_creates_a_workflow_with_stages_and_transitions_named_by_stage(
    api_client: APIClient, admin_user: User
) -> None:
    api_client.force_authenticate(admin_user)

    response = api_client.post("/api/workflows/", HARDWARE, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert [s["name"] for s in body["stages"]] == ["Reported", "Repairing", "Repaired"]
    ids = {s["name"]: s["id"] for s in body["stages"]}
    assert {
        (t["from_stage"], t["to_stage"], t["requester_allowed"]) for t in body["transitions"]
    } == {
        (ids["Reported"], ids["Repairing"], False),
        (ids["Repairing"], ids["Repaired"], False),
        (ids["Repaired"], ids["Repairing"], True),
    }
    event = EventLog.objects.get(type=events.WORKFLOW_CREATED)
    assert (event.actor, event.subject_id) == (admin_user, str(body["id"]))
    assert event.payload["transitions"][0] == {
        "from_stage": "Repaired",
        "to_stage": "Repairing",
        "name": "",
        "requester_allowed": True,
    }


def test_a_patch_of_own_fields_keeps_stages_and_records_the_changed_fields(
    api_client: APIClient, admin_user: User, workflow: Workflow
) -> None:
    api_client.force_authenticate(admin_user)

    response = api_client.patch(
        f"/api/workflows/{workflow.pk}/", {"description": "The desk."}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert len(response.json()["stages"]) == 5
    event = EventLog.objects.get(type=events.WORKFLOW_UPDATED)
    assert event.payload["fields"] == ["description"]
    assert event.payload["changes"] == {
        "description": ["The default lifecycle of a support request.", "The desk."]
    }
    assert event.payload["stages"] == {"added": [], "removed": [], "changed": []}


def test_removing_a_stage_with_tickets_is_refused_and_changes_nothing(
    api_client: APIClient, admin_user: User, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    TicketFactory()  # in New
    api_client.force_authenticate(admin_user)
    kept = [
        {"id": s.pk, "name": s.name, "category": s.category, "position": s.position}
        for s in stages.values()
        if s.name != "New"
    ]

    response = api_client.put(
        f"/api/workflows/{workflow.pk}/",
        {"name": "Renamed", "stages": kept},
        format="json",
    )

    assert response.status_code == 409
    assert "Stage New has 1 ticket(s)" in response.json()["detail"]
    workflow.refresh_from_db()
    assert workflow.name == "Service desk"
    assert not EventLog.objects.filter(type__startswith="workflow.").exists()


def test_a_workflow_keeps_at_least_one_stage(
    api_client: APIClient, admin_user: User, workflow: Workflow
) -> None:
    api_client.force_authenticate(admin_user)

    response = api_client.patch(f"/api/workflows/{workflow.pk}/", {"stages": []}, format="json")

    assert response.status_code == 400
    assert workflow.stages.count() == 5


def test_removing_a_stage_removes_its_transitions_and_says_so(
    api_client: APIClient, admin_user: User
) -> None:
    api_client.force_authenticate(admin_user)
    created = api_client.post("/api/workflows/", HARDWARE, format="json").json()
    stages = [s for s in created["stages"] if s["name"] != "Repaired"]

    response = api_client.patch(
        f"/api/workflows/{created['id']}/", {"stages": stages}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert [t["name"] for t in response.json()["transitions"]] == ["Start"]
    event = EventLog.objects.get(type=events.WORKFLOW_UPDATED)
    assert [s["name"] for s in event.payload["stages"]["removed"]] == ["Repaired"]
    assert [(t["from_stage"], t["to_stage"]) for t in event.payload["transitions"]["removed"]] == [
        ("Repaired", "Repairing"),
        ("Repairing", "Repaired"),
    ]


def test_a_transition_to_an_unknown_stage_is_a_400(api_client: APIClient, admin_user: User) -> None:
    api_client.force_authenticate(admin_user)
    body = {**HARDWARE, "transitions": [{"from_stage": "Reported", "to_stage": "Nowhere"}]}

    response = api_client.post("/api/workflows/", body, format="json")

    assert response.status_code == 400
    assert "Nowhere" in str(response.json()["transitions"])
    assert not Workflow.objects.filter(name="Hardware").exists()


def test_a_workflow_with_tickets_is_not_deleted_an_unused_one_is(
    api_client: APIClient, admin_user: User, workflow: Workflow
) -> None:
    TicketFactory()
    api_client.force_authenticate(admin_user)
    spare = api_client.post("/api/workflows/", HARDWARE, format="json").json()

    refused = api_client.delete(f"/api/workflows/{workflow.pk}/")
    deleted = api_client.delete(f"/api/workflows/{spare['id']}/")

    assert refused.status_code == 409
    assert "deactivate it" in refused.json()["detail"]
    assert deleted.status_code == 204
    assert not Workflow.objects.filter(pk=spare["id"]).exists()
    event = EventLog.objects.get(type=events.WORKFLOW_DELETED)
    assert (event.payload["name"], len(event.payload["stages"])) == ("Hardware", 3)


@pytest.mark.parametrize("pk", ["987654", "abc"])
def test_unknown_workflow_is_404(
    api_client: APIClient, agent: User, workflow: Workflow, pk: str
) -> None:
    api_client.force_authenticate(agent)

    assert api_client.get(f"/api/workflows/{pk}/").status_code == 404


def test_workflow_list_runs_the_same_queries_for_page_size_2_and_10(
    api_client: APIClient, agent: User, workflow: Workflow, django_assert_num_queries: Any
) -> None:
    for n in range(11):
        make_workflow(f"Workflow {n:02}", stage_count=2 + n % 3)
    api_client.force_authenticate(agent)

    for size in (2, 10):
        # The count, the workflows, their stages, their transitions.
        with django_assert_num_queries(4):
            response = api_client.get(f"/api/workflows/?page_size={size}")
        assert len(response.json()["results"]) == size
