"""Workflows through the API: read-only, with their stages and transitions nested."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from rest_framework.test import APIClient

from nixflow.models import Stage, StageCategory, Transition, User, Workflow

pytestmark = pytest.mark.django_db


def make_workflow(name: str, stage_count: int = 3) -> Workflow:
    workflow = Workflow.objects.create(name=name)
    stages = [
        Stage.objects.create(
            workflow=workflow, name=f"Stage {n}", category=StageCategory.OPEN, position=n
        )
        for n in range(1, stage_count + 1)
    ]
    for a, b in itertools.pairwise(stages):
        Transition.objects.create(workflow=workflow, from_stage=a, to_stage=b, name="Next")
    return workflow


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
def test_workflows_are_read_only_even_for_agents(
    api_client: APIClient, agent: User, workflow: Workflow, method: str
) -> None:
    api_client.force_authenticate(agent)
    path = "/api/workflows/" if method == "post" else f"/api/workflows/{workflow.pk}/"

    response = getattr(api_client, method)(path, {"name": "Renamed"}, format="json")

    assert response.status_code == 405
    workflow.refresh_from_db()
    assert workflow.name == "Service desk"


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
