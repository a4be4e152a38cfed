"""nixflow.toolkit.services: the diff-set-save step of update services, and payloads."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nixflow.models import Stage, Workflow
from nixflow.toolkit.services import changes_payload, model_update, payload_value
from tests.factories import WorkflowFactory

pytestmark = pytest.mark.django_db


def test_only_changed_fields_are_set_saved_and_returned_with_old_and_new_values() -> None:
    workflow = WorkflowFactory(name="Hardware", description="Old")

    with CaptureQueriesContext(connection) as queries:
        changes = model_update(
            instance=workflow,
            data={"name": "Hardware", "description": "New"},
            validate=None,
        )

    assert changes == {"description": ("Old", "New")}
    [update] = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert '"description"' in update
    assert '"name"' not in update
    workflow.refresh_from_db()
    assert workflow.description == "New"


def test_nothing_changed_saves_nothing() -> None:
    workflow = WorkflowFactory(name="Hardware")

    with CaptureQueriesContext(connection) as queries:
        changes = model_update(instance=workflow, data={"name": "Hardware"}, also_set={"x": 1})

    assert changes == {}
    assert len(queries) == 0


def test_fields_outside_allowed_are_refused_before_anything_changes() -> None:
    workflow = WorkflowFactory(name="Hardware")

    with pytest.raises(ValidationError, match="created"):
        model_update(instance=workflow, data={"name": "X", "created": None}, allowed={"name"})

    assert workflow.name == "Hardware"


def test_validation_refuses_before_saving_and_also_set_is_saved_unreported() -> None:
    WorkflowFactory(name="Taken")
    workflow = WorkflowFactory(name="Hardware", description="Old")

    with pytest.raises(ValidationError):
        model_update(instance=workflow, data={"name": "Taken"})
    assert Workflow.objects.get(pk=workflow.pk).name == "Hardware"

    workflow = WorkflowFactory(name="Software", stages=["A", "B"])
    stage = workflow.stages.get(name="A")
    changes = model_update(
        instance=stage, data={"name": "Alpha"}, also_set={"position": 9}, validate=None
    )
    assert changes == {"name": ("A", "Alpha")}
    assert Stage.objects.values_list("name", "position").get(pk=stage.pk) == ("Alpha", 9)


def test_save_false_leaves_saving_to_the_caller() -> None:
    workflow = WorkflowFactory(name="Hardware")

    changes = model_update(instance=workflow, data={"name": "Tools"}, save=False)

    assert changes == {"name": ("Hardware", "Tools")}
    assert Workflow.objects.get(pk=workflow.pk).name == "Hardware"


def test_payloads_store_rows_by_id_times_in_iso_and_hide_what_they_must() -> None:
    workflow = WorkflowFactory(name="Hardware")
    at = datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.UTC)

    assert payload_value([workflow, {"at": at}]) == [workflow.pk, {"at": at.isoformat()}]
    assert changes_payload(
        {"workflow": (None, workflow), "email": ("a@x", "b@x")}, hide={"email"}
    ) == {"workflow": [None, workflow.pk]}
