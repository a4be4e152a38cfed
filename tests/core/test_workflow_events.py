"""The admin's workflow editor and /api/workflows/ make a workflow change through the same
services: the same change records the same event, whichever interface made it.

Each test makes the change in the admin (posting the real add/change/delete forms, with
the inline formsets' management data), reads the event, rolls that back, then makes the
same change through the API from the same starting point and compares the events. Ids of
rows the change creates differ between the two runs (sequences don't roll back), so they
are left out of the comparison; ids of existing rows are compared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow import admin as nixflow_admin
from nixflow import events
from nixflow.models import Stage, User, Workflow
from tests.core.admin_pages import errors, fill_new_row, form_data, prefix, url
from tests.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


def _event(type: str) -> EventLog:
    return EventLog.objects.filter(type=type).latest("id")


def _without_new_ids(value: Any, *, new: bool = False) -> Any:
    """``value`` without the ids of stages the change added (under "added", or every
    stage of a created workflow)."""
    if isinstance(value, dict):
        return {
            key: _without_new_ids(item, new=new or key == "added")
            for key, item in value.items()
            if not (new and key == "id")
        }
    if isinstance(value, list):
        return [_without_new_ids(item, new=new) for item in value]
    return value


def _both_ways(
    type: str, in_the_admin: Callable[[], None], through_the_api: Callable[[], None]
) -> tuple[EventLog, EventLog]:
    with transaction.atomic():
        in_the_admin()
        by_admin = _event(type)
        transaction.set_rollback(True)
    through_the_api()
    return by_admin, _event(type)


@pytest.fixture
def api(api_client: APIClient, admin_user: User) -> APIClient:
    api_client.force_authenticate(admin_user)
    return api_client


def _stage_rows(workflow: Workflow) -> list[dict[str, Any]]:
    return [
        {"id": s.pk, "name": s.name, "category": s.category, "position": s.position}
        for s in workflow.stages.order_by("position")
    ]


def test_creating_a_workflow_records_the_same_event_from_the_admin_and_the_api(
    admin_client: Client, api: APIClient, admin_user: User
) -> None:
    stages = [("Reported", "NEW", 1), ("Repairing", "OPEN", 2), ("Repaired", "RESOLVED", 3)]

    def in_the_admin() -> None:
        data = form_data(admin_client.get(url("workflow_add")))
        data.update({"name": "Hardware", "description": "Broken things.", "is_active": "on"})
        for n, (name, category, position) in enumerate(stages):
            data.update(
                {
                    f"stages-{n}-name": name,
                    f"stages-{n}-category": category,
                    f"stages-{n}-position": position,
                }
            )
        data["stages-TOTAL_FORMS"] = len(stages)
        response = admin_client.post(url("workflow_add"), data)
        assert response.status_code == 302, errors(response)

    def through_the_api() -> None:
        body = {
            "name": "Hardware",
            "description": "Broken things.",
            "is_active": True,
            "stages": [{"name": n, "category": c, "position": p} for n, c, p in stages],
        }
        response = api.post("/api/workflows/", body, format="json")
        assert response.status_code == 201, response.json()

    by_admin, by_api = _both_ways(events.WORKFLOW_CREATED, in_the_admin, through_the_api)

    assert by_admin.actor == by_api.actor == admin_user
    assert _without_new_ids(by_admin.payload, new=True) == _without_new_ids(
        by_api.payload, new=True
    )
    assert [s["name"] for s in by_api.payload["stages"]] == ["Reported", "Repairing", "Repaired"]
    assert not EventLog.objects.filter(type__startswith="admin.").exists()


def test_changing_a_workflow_records_the_same_event_from_the_admin_and_the_api(
    admin_client: Client, api: APIClient, workflow: Workflow
) -> None:
    """A bit of everything in one save: a field, a renamed, a removed (with its
    transitions) and an added stage, an added, a changed and a removed transition."""
    stages = {stage.name: stage for stage in workflow.stages.all()}
    resume = workflow.transitions.get(from_stage=stages["Waiting on requester"], name="Resume")
    reopen = workflow.transitions.get(from_stage=stages["Resolved"], to_stage=stages["Open"])

    def in_the_admin() -> None:
        page = admin_client.get(url("workflow_change", workflow.pk))
        data = form_data(page)
        data["description"] = "Changed."
        stage_prefix = prefix(page, nixflow_admin.StageInline)
        rows = {data[f"{stage_prefix}-{n}-id"]: n for n in range(5)}
        data[f"{stage_prefix}-{rows[stages['Waiting on requester'].pk]}-name"] = "Waiting"
        data[f"{stage_prefix}-{rows[stages['Closed'].pk]}-DELETE"] = "on"
        fill_new_row(data, stage_prefix, name="Escalated", category="OPEN", position=6)
        transition_prefix = prefix(page, nixflow_admin.TransitionInline)
        count = int(data[f"{transition_prefix}-INITIAL_FORMS"])
        rows = {data[f"{transition_prefix}-{n}-id"]: n for n in range(count)}
        data[f"{transition_prefix}-{rows[resume.pk]}-DELETE"] = "on"
        data.pop(f"{transition_prefix}-{rows[reopen.pk]}-requester_allowed")
        fill_new_row(
            data,
            transition_prefix,
            from_stage=stages["Resolved"].pk,
            to_stage=stages["New"].pk,
            name="Start over",
        )
        response = admin_client.post(url("workflow_change", workflow.pk), data)
        assert response.status_code == 302, errors(response)

    def through_the_api() -> None:
        kept = [row for row in _stage_rows(workflow) if row["name"] != "Closed"]
        for row in kept:
            if row["name"] == "Waiting on requester":
                row["name"] = "Waiting"
        transitions = [
            {
                "from_stage": t.from_stage_id,
                "to_stage": t.to_stage_id,
                "name": t.name,
                "requester_allowed": t.requester_allowed and t.pk != reopen.pk,
            }
            for t in workflow.transitions.all()
            if t.pk != resume.pk
        ]
        transitions.append({"from_stage": "Resolved", "to_stage": "New", "name": "Start over"})
        body = {
            "description": "Changed.",
            "stages": [*kept, {"name": "Escalated", "category": "OPEN", "position": 6}],
            "transitions": transitions,
        }
        response = api.patch(f"/api/workflows/{workflow.pk}/", body, format="json")
        assert response.status_code == 200, response.json()

    by_admin, by_api = _both_ways(events.WORKFLOW_UPDATED, in_the_admin, through_the_api)

    assert _without_new_ids(by_admin.payload) == _without_new_ids(by_api.payload)
    payload = by_api.payload
    assert payload["fields"] == ["description"]
    assert payload["stages"]["changed"] == [
        {
            "id": stages["Waiting on requester"].pk,
            "name": "Waiting on requester",
            "changes": {"name": ["Waiting on requester", "Waiting"]},
        }
    ]
    assert [s["name"] for s in payload["stages"]["removed"]] == ["Closed"]
    assert [s["name"] for s in payload["stages"]["added"]] == ["Escalated"]
    assert payload["transitions"]["added"] == [
        {
            "from_stage": "Resolved",
            "to_stage": "New",
            "name": "Start over",
            "requester_allowed": False,
        }
    ]
    assert payload["transitions"]["changed"] == [
        {
            "from_stage": "Resolved",
            "to_stage": "Open",
            "changes": {"requester_allowed": [True, False]},
        }
    ]
    # Resume, and the five transitions from or to Closed, which went with it.
    assert len(payload["transitions"]["removed"]) == 6
    assert Stage.objects.filter(workflow=workflow, name="Waiting").exists()


def test_deleting_a_workflow_records_the_same_event_from_the_admin_and_the_api(
    admin_client: Client, api: APIClient
) -> None:
    spare = WorkflowFactory(name="Spare", stages=["Reported", "Done"])

    def in_the_admin() -> None:
        response = admin_client.post(url("workflow_delete", spare.pk), {"post": "yes"})
        assert response.status_code == 302

    def through_the_api() -> None:
        assert api.delete(f"/api/workflows/{spare.pk}/").status_code == 204

    by_admin, by_api = _both_ways(events.WORKFLOW_DELETED, in_the_admin, through_the_api)

    assert by_admin.payload == by_api.payload
    assert by_api.subject_id == str(spare.pk)
    assert [s["name"] for s in by_api.payload["stages"]] == ["Reported", "Done"]
    assert not Workflow.objects.filter(pk=spare.pk).exists()
