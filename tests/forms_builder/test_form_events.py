"""A form with its fields changed in the admin's designer (the real admin pages, posted
with the test client) and through ``/api/forms/`` records the same event: the same type,
actor and payload, and no generic ``admin.*`` event beside it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from eventlog.models import EventLog
from forms_builder import events, services
from forms_builder.models import CustomForm
from nixflow.models import Role, User
from tests.factories import UserFactory
from tests.forms_builder.conftest import designer_post
from tests.forms_builder.factories import (
    CustomFormFactory,
    SelectFieldFactory,
    TextareaFieldFactory,
    field,
)

pytestmark = pytest.mark.django_db

SETTINGS = {
    "name": "Request a laptop",
    "slug": "request-a-laptop",
    "description": "For new starters.",
    "default_priority": "HIGH",
    "title_template": "Laptop: {model}",
    "description_field": "",
    "priority_field": "",
    "success_message": "Thanks.",
}
FIELDS = [
    {"key": "model", "label": "Model", "type": "select", "required": True, "order": 10,
     "choices": ["Standard", "Performance"]},
    {"key": "why", "label": "Why", "type": "textarea", "required": False, "order": 20,
     "choices": []},
]  # fmt: skip


def admin_row(item: dict[str, Any]) -> dict[str, Any]:
    """An API field item as the designer's inline row posts it."""
    row = {**item, "field_type": item["type"], "choices": "\n".join(item["choices"])}
    del row["type"]
    return row


def only_event(type: str) -> EventLog:
    assert not EventLog.objects.filter(type__startswith="admin.").exists()
    return EventLog.objects.get(type=type)


# --- create -------------------------------------------------------------------------------
def create_in_admin(client: Client) -> None:
    response = client.post(
        reverse("admin:forms_builder_customform_add"),
        designer_post(
            {**SETTINGS, "priority_map": "{}", "login_required": "on"},
            [admin_row(item) for item in FIELDS],
        ),
    )
    assert response.status_code == 302, response.context and response.context["errors"]


def create_through_api(client: APIClient) -> None:
    response = client.post(
        "/api/forms/",
        {**SETTINGS, "priority_map": {}, "login_required": True, "fields": FIELDS},
        format="json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize("interface", ["admin", "api"])
def test_creating_a_form_records_the_same_event_in_the_admin_and_the_api(
    interface: str, staff: Client, api_client: APIClient, agent: User
) -> None:
    if interface == "admin":
        create_in_admin(staff)
    else:
        api_client.force_authenticate(agent)
        create_through_api(api_client)

    created = only_event(events.FORM_CREATED)
    assert created.actor == agent
    assert created.subject_id == str(CustomForm.objects.get().pk)
    assert created.payload == {
        "slug": "request-a-laptop",
        "version": 1,
        "status": "draft",
        "name": "Request a laptop",
        "settings": {
            **SETTINGS,
            "workflow_id": None,
            "priority_map": {},
            "login_required": True,
        },
        "fields": ["model", "why"],
    }


# --- update -------------------------------------------------------------------------------
@pytest.fixture
def laptop_form(agent: User) -> CustomForm:
    return CustomFormFactory(
        fields=[
            field("name", label="Name", required=True, order=10),
            SelectFieldFactory(key="model", label="Model", choices=["A", "B"], order=20),
            TextareaFieldFactory(key="note", label="Note", order=30),
        ],
        name="Request a laptop",
        slug="request-a-laptop",
        login_required=True,
        actor=agent,
    )


def update_in_admin(client: Client, form: CustomForm) -> None:
    rows = {row.key: row for row in form.fields.all()}
    posted = [
        {"id": rows["name"].pk, "form": form.pk, "key": "name", "label": "Name",
         "required": True, "order": 10},
        {"id": rows["model"].pk, "form": form.pk, "key": "model", "label": "Laptop model",
         "field_type": "select", "choices": "A\nB", "order": 20},
        {"id": rows["note"].pk, "form": form.pk, "key": "note", "label": "Note",
         "field_type": "textarea", "order": 30, "DELETE": True},
        {"key": "why", "label": "Why", "field_type": "textarea", "order": 40},
    ]  # fmt: skip
    response = client.post(
        reverse("admin:forms_builder_customform_change", args=[form.pk]),
        designer_post(
            {
                "name": "Request a new laptop",
                "slug": form.slug,
                "login_required": "on",
                "success_message": form.success_message,
            },
            posted,
            initial=3,
        ),
    )
    assert response.status_code == 302, response.context and response.context["errors"]


def update_through_api(client: APIClient, form: CustomForm) -> None:
    response = client.patch(
        f"/api/forms/{form.slug}/",
        {
            "name": "Request a new laptop",
            "fields": [
                {"key": "name", "label": "Name", "type": "text", "required": True, "order": 10},
                {
                    "key": "model",
                    "label": "Laptop model",
                    "type": "select",
                    "order": 20,
                    "choices": ["A", "B"],
                },
                {"key": "why", "label": "Why", "type": "textarea", "order": 40},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("interface", ["admin", "api"])
def test_updating_a_form_and_its_fields_records_the_same_event_in_the_admin_and_the_api(
    interface: str, staff: Client, api_client: APIClient, agent: User, laptop_form: CustomForm
) -> None:
    if interface == "admin":
        update_in_admin(staff, laptop_form)
    else:
        api_client.force_authenticate(agent)
        update_through_api(api_client, laptop_form)

    updated = only_event(events.FORM_UPDATED)
    assert updated.actor == agent
    assert updated.payload == {
        "slug": "request-a-laptop",
        "version": 2,
        "status": "published",
        "changed": {"name": {"old": "Request a laptop", "new": "Request a new laptop"}},
        "fields_added": ["why"],
        "fields_removed": ["note"],
        "fields_changed": {"model": {"label": {"old": "Model", "new": "Laptop model"}}},
    }
    assert [f.key for f in laptop_form.fields.all()] == ["name", "model", "why"]


# --- delete -------------------------------------------------------------------------------
@pytest.fixture
def chief(db: None) -> User:
    """An admin: agents design forms, admins also delete them."""
    return UserFactory(username="chief", role=Role.ADMIN, is_superuser=True)


def delete_in_admin(client: Client, form: CustomForm) -> None:
    url = reverse("admin:forms_builder_customform_delete", args=[form.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302


def delete_through_api(client: APIClient, form: CustomForm) -> None:
    assert client.delete(f"/api/forms/{form.slug}/").status_code == 204


DELETERS: dict[str, Callable[..., None]] = {"admin": delete_in_admin, "api": delete_through_api}


@pytest.mark.parametrize("interface", ["admin", "api"])
def test_deleting_a_form_records_the_same_event_in_the_admin_and_the_api(
    interface: str, client: Client, api_client: APIClient, chief: User, laptop_form: CustomForm
) -> None:
    if interface == "admin":
        client.force_login(chief)
        delete_in_admin(client, laptop_form)
    else:
        api_client.force_authenticate(chief)
        delete_through_api(api_client, laptop_form)

    deleted = only_event(events.FORM_DELETED)
    assert deleted.actor == chief
    assert deleted.payload == {
        "slug": "request-a-laptop",
        "version": 1,
        "status": "published",
        "name": "Request a laptop",
        "fields": ["name", "model", "note"],
    }
    assert not CustomForm.objects.exists()


@pytest.mark.parametrize("interface", ["admin", "api"])
def test_publishing_a_form_records_the_same_event_in_the_admin_and_the_api(
    interface: str, staff: Client, api_client: APIClient, agent: User
) -> None:
    draft = CustomFormFactory(name="Draft", status="draft", actor=agent)
    if interface == "admin":
        staff.post(
            reverse("admin:forms_builder_customform_changelist"),
            {"action": "publish", "_selected_action": [draft.pk]},
        )
    else:
        api_client.force_authenticate(agent)
        response = api_client.post(
            f"/api/forms/{draft.slug}/status/", {"status": "published"}, format="json"
        )
        assert response.status_code == 200

    published = only_event(events.FORM_PUBLISHED)
    assert published.actor == agent
    assert published.payload == {
        "slug": "draft",
        "version": 1,
        "status": "published",
        "previous_status": "draft",
    }


# --- two designers at once ----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_designers_saving_at_once_are_applied_one_after_the_other(agent: User) -> None:
    form = CustomFormFactory(name="Request a laptop", slug="request-a-laptop", actor=agent)
    both_loaded = threading.Barrier(2)
    failures: list[BaseException] = []

    def rename(name: str) -> None:
        try:
            mine = CustomForm.objects.get(pk=form.pk)  # both start from version 1
            mine.name = name
            both_loaded.wait(timeout=10)
            services.form_update(form=mine, actor=agent)
        except BaseException as error:  # reported below, in the test's thread
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=rename, args=(name,)) for name in ("Laptop A", "Laptop B")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert failures == []
    form.refresh_from_db()
    assert form.version == 3  # not 2 twice: the second waited for the first's lock
    first, second = EventLog.objects.filter(type=events.FORM_UPDATED).order_by("id")
    assert [first.payload["version"], second.payload["version"]] == [2, 3]
    assert first.payload["changed"]["name"]["old"] == "Request a laptop"
    assert second.payload["changed"]["name"]["old"] == first.payload["changed"]["name"]["new"]
