"""Policies and calendars are written by their services whichever interface makes the
change: the API and the admin record the same ``sla.policy.*``/``sla.calendar.*`` event
(type and payload) for the same change, and the admin no generic ``admin.*`` event."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory
from django.urls import reverse
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow.models import Priority, User, Workflow
from sla import events
from sla import services as sla_services
from sla.models import BusinessCalendar, SLABreach, SLAPolicy
from tests.sla.conftest import logged_in, management
from tests.sla.factories import BusinessCalendarFactory, SLAPolicyFactory, office_hours

pytestmark = pytest.mark.django_db


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:sla_{name}", args=args)


def recorded(since: int) -> list[EventLog]:
    """The events recorded after the event id ``since``."""
    return list(EventLog.objects.filter(pk__gt=since).order_by("pk"))


def last_id() -> int:
    last = EventLog.objects.order_by("-pk").first()
    return last.pk if last is not None else 0


def one_event(since: int, actor: User) -> tuple[str, dict[str, Any]]:
    """The single event recorded since ``since`` (not an admin.* one as well), by
    ``actor``: its type and payload."""
    [event] = recorded(since)
    assert event.actor == actor
    return event.type, event.payload


# --- Policies -------------------------------------------------------------------------------
TARGETS = [
    {"priority": "HIGH", "metric_type": "first_response", "minutes": 30},
    {"priority": "URGENT", "metric_type": "first_response", "minutes": 10},
]


def policy_api_data(workflow: Workflow, calendar: BusinessCalendar) -> dict[str, Any]:
    return {
        "name": "Gold",
        "order": 1,
        "is_active": True,
        "workflow": workflow.pk,
        "priorities": ["HIGH", "URGENT"],
        "sources": ["EMAIL"],
        "calendar": calendar.pk,
        "warning_threshold": 80,
        "escalation_email": "gold@example.com",
        "targets": TARGETS,
    }


def policy_admin_form(policy: SLAPolicy, **changes: Any) -> dict[str, Any]:
    """The policy's change page as the admin posts it back: every field, and each stored
    target as an initial inline form; ``changes`` override fields."""
    fields = {
        "name": policy.name,
        "order": policy.order,
        "workflow": policy.workflow_id or "",
        "priorities": policy.priorities,
        "sources": policy.sources,
        "calendar": policy.calendar_id or "",
        "warning_threshold": policy.warning_threshold,
        "escalation_email": policy.escalation_email,
        **changes,
    }
    if fields.pop("is_active", policy.is_active):
        fields["is_active"] = "on"
    targets = list(policy.targets.order_by("pk"))
    rows = {
        f"targets-{i}-{name}": value
        for i, target in enumerate(targets)
        for name, value in {
            "id": target.pk,
            "policy": policy.pk,
            "priority": target.priority,
            "metric_type": target.metric_type,
            "minutes": target.minutes,
        }.items()
    }
    return {**fields, **management("targets", len(targets), len(targets)), **rows}


def policy_admin_add_form(workflow: Workflow, calendar: BusinessCalendar) -> dict[str, Any]:
    data = policy_api_data(workflow, calendar)
    rows = {
        f"targets-{i}-{name}": value
        for i, target in enumerate(data.pop("targets"))
        for name, value in target.items()
    }
    data["is_active"] = "on"
    return {**data, **management("targets", len(TARGETS)), **rows}


def test_creating_a_policy_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User, workflow: Workflow
) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    before = last_id()
    response = admin_client.post(
        "/api/sla/policies/", policy_api_data(workflow, calendar), format="json"
    )
    assert response.status_code == 201, response.json()
    through_api = one_event(before, boss)
    sla_services.sla_policy_delete(policy=SLAPolicy.objects.get(name="Gold"), actor=None)

    before = last_id()
    response = logged_in(boss).post(url("slapolicy_add"), policy_admin_add_form(workflow, calendar))
    assert response.status_code == 302, response.context and response.context["errors"]
    through_admin = one_event(before, boss)

    assert through_api == through_admin
    assert through_api == (
        events.POLICY_CREATED,
        {
            "name": "Gold",
            "order": 1,
            "is_active": True,
            "workflow": workflow.pk,
            "priorities": ["HIGH", "URGENT"],
            "sources": ["EMAIL"],
            "calendar": calendar.pk,
            "warning_threshold": 80,
            "escalation_email": "gold@example.com",
            # Sorted by metric type, then priority.
            "targets": TARGETS,
        },
    )
    assert sorted(SLAPolicy.objects.get(name="Gold").targets.values_list("minutes", flat=True)) == [
        10,
        30,
    ]


def test_patching_one_field_of_a_policy_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User
) -> None:
    targets = {Priority.NORMAL: (60, 30, 480)}
    by_api = SLAPolicyFactory(name="A", order=10, targets=targets)
    by_admin = SLAPolicyFactory(name="B", order=10, targets=targets)

    before = last_id()
    response = admin_client.patch(f"/api/sla/policies/{by_api.pk}/", {"order": 3}, format="json")
    assert response.status_code == 200, response.json()
    through_api = one_event(before, boss)

    before = last_id()
    response = logged_in(boss).post(
        url("slapolicy_change", by_admin.pk), policy_admin_form(by_admin, order=3)
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    through_admin = one_event(before, boss)

    assert through_api == through_admin == (events.POLICY_UPDATED, {"changes": {"order": [10, 3]}})
    assert SLAPolicy.objects.get(pk=by_admin.pk).targets.count() == 3  # kept as they were


def test_deleting_a_policy_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User
) -> None:
    def unused() -> SLAPolicy:
        return SLAPolicyFactory(name="Unused", order=7, targets={Priority.LOW: (1, 2, 3)})

    before = last_id()
    assert admin_client.delete(f"/api/sla/policies/{unused().pk}/").status_code == 204
    through_api = one_event(before, boss)

    policy = unused()
    before = last_id()
    response = logged_in(boss).post(url("slapolicy_delete", policy.pk), {"post": "yes"})
    assert response.status_code == 302
    through_admin = one_event(before, boss)

    assert through_api == through_admin
    event_type, payload = through_api
    assert event_type == events.POLICY_DELETED
    assert (payload["name"], payload["order"], payload["workflow"]) == ("Unused", 7, None)
    assert payload["targets"] == [
        {"priority": "LOW", "metric_type": "first_response", "minutes": 1},
        {"priority": "LOW", "metric_type": "next_response", "minutes": 2},
        {"priority": "LOW", "metric_type": "resolution", "minutes": 3},
    ]
    assert not SLAPolicy.objects.filter(name="Unused").exists()


def test_a_patch_through_the_api_records_the_changed_fields_with_old_and_new_values(
    admin_client: APIClient, boss: User, policy: SLAPolicy
) -> None:
    before = last_id()

    response = admin_client.patch(
        f"/api/sla/policies/{policy.pk}/",
        {
            "is_active": False,
            "warning_threshold": 75,  # unchanged: not recorded
            "targets": [{"priority": "LOW", "metric_type": "resolution", "minutes": 2880}],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    event_type, payload = one_event(before, boss)
    assert event_type == "sla.policy.updated"
    assert set(payload["changes"]) == {"is_active", "targets"}
    assert payload["changes"]["is_active"] == [True, False]
    old, new = payload["changes"]["targets"]
    assert len(old) == 6
    assert {"priority": "HIGH", "metric_type": "resolution", "minutes": 120} in old
    assert new == [{"priority": "LOW", "metric_type": "resolution", "minutes": 2880}]
    event = EventLog.objects.get(pk=recorded(before)[0].pk)
    assert (event.subject_model, event.subject_id) == ("slapolicy", str(policy.pk))


def test_a_patch_that_changes_nothing_records_nothing(
    admin_client: APIClient, policy: SLAPolicy
) -> None:
    before = last_id()

    response = admin_client.patch(
        f"/api/sla/policies/{policy.pk}/", {"order": policy.order}, format="json"
    )

    assert response.status_code == 200
    assert recorded(before) == []


def test_an_admin_save_of_fields_and_inline_rows_is_one_event(
    boss: User, policy: SLAPolicy
) -> None:
    form = policy_admin_form(policy, escalation_email="desk@example.com")
    form["targets-0-minutes"] = 45
    # The first stored target by pk is NORMAL first response (60 minutes).
    form["targets-1-DELETE"] = "on"
    before = last_id()

    response = logged_in(boss).post(url("slapolicy_change", policy.pk), form)

    assert response.status_code == 302, response.context and response.context["errors"]
    event_type, payload = one_event(before, boss)
    assert event_type == events.POLICY_UPDATED
    assert set(payload["changes"]) == {"escalation_email", "targets"}
    old, new = payload["changes"]["targets"]
    assert (len(old), len(new)) == (6, 5)
    assert {"priority": "NORMAL", "metric_type": "first_response", "minutes": 45} in new
    assert policy.targets.count() == 5


def test_deleting_a_policy_with_clocks_in_the_admin_is_refused_with_a_message(
    boss: User, policy: SLAPolicy, breach: SLABreach
) -> None:
    """The confirmation page says why; and should clocks come in after that page (the
    admin's delete_queryset then asks the service), the service's refusal is a message,
    not a 500, and no "deleted successfully"."""
    page = logged_in(boss).post(
        url("slapolicy_changelist"),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [policy.pk], "post": "yes"},
    )
    assert page.status_code == 200
    assert "it has clocks on tickets" in page.content.decode()

    model_admin = admin.site.get_model_admin(SLAPolicy)
    request = RequestFactory().post("/")
    request.user = boss
    request.session = SessionStore()
    request._messages = FallbackStorage(request)  # type: ignore[attr-defined]
    unused = SLAPolicyFactory(name="Unused")
    model_admin.delete_queryset(request, SLAPolicy.objects.filter(pk__in=[policy.pk, unused.pk]))
    response = model_admin.response_delete(request, str(policy), policy.pk)

    assert response.status_code == 302
    deleted, refused = (str(m) for m in get_messages(request))
    assert deleted == "Deleted 1 SLA policy."
    assert refused.startswith(
        f"Could not delete 1 SLA policy: {policy}: {sla_services.POLICY_IN_USE}"
    )
    assert SLAPolicy.objects.filter(pk=policy.pk).exists()
    assert not SLAPolicy.objects.filter(pk=unused.pk).exists()


# --- Calendars ------------------------------------------------------------------------------
CALENDAR_API = {
    "name": "Berlin office",
    "time_zone": "Europe/Berlin",
    "holiday_country": "DE",
    "holiday_subdivision": "BY",
    "intervals": [{"weekday": day, "start": "09:00", "end": "17:00"} for day in (1, 0)],
    "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
}
CALENDAR_PAYLOAD = {
    "name": "Berlin office",
    "time_zone": "Europe/Berlin",
    "holiday_country": "DE",
    "holiday_subdivision": "BY",
    "intervals": [{"weekday": day, "start": "09:00:00", "end": "17:00:00"} for day in (0, 1)],
    "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
}


def calendar_admin_add_form() -> dict[str, Any]:
    data = dict(CALENDAR_API)
    rows: dict[str, Any] = {}
    for prefix in ("intervals", "holidays"):
        listed = data.pop(prefix)
        rows |= management(prefix, len(listed))
        rows |= {
            f"{prefix}-{i}-{name}": value
            for i, row in enumerate(listed)
            for name, value in row.items()
        }
    return {**data, **rows}


def calendar_admin_form(calendar: BusinessCalendar, **changes: Any) -> dict[str, Any]:
    """The calendar's change page as the admin posts it back."""
    form: dict[str, Any] = {
        "name": calendar.name,
        "time_zone": calendar.time_zone,
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": calendar.holiday_subdivision,
        **changes,
    }
    for prefix, stored, fields in (
        ("intervals", calendar.intervals.order_by("pk"), ("weekday", "start", "end")),
        ("holidays", calendar.holidays.order_by("pk"), ("date", "name")),
    ):
        rows = list(stored)
        form |= management(prefix, len(rows), len(rows))
        for i, row in enumerate(rows):
            form[f"{prefix}-{i}-id"] = row.pk
            form[f"{prefix}-{i}-calendar"] = calendar.pk
            form |= {f"{prefix}-{i}-{name}": getattr(row, name) for name in fields}
    return form


def test_creating_a_calendar_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User
) -> None:
    before = last_id()
    response = admin_client.post("/api/sla/calendars/", CALENDAR_API, format="json")
    assert response.status_code == 201, response.json()
    through_api = one_event(before, boss)
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    sla_services.business_calendar_delete(calendar=calendar, actor=None)

    before = last_id()
    response = logged_in(boss).post(url("businesscalendar_add"), calendar_admin_add_form())
    assert response.status_code == 302, response.context and response.context["errors"]
    through_admin = one_event(before, boss)

    assert through_api == through_admin == (events.CALENDAR_CREATED, CALENDAR_PAYLOAD)


def test_patching_one_field_of_a_calendar_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User
) -> None:
    week = office_hours(range(5), time(9), time(17))
    holidays = [(date(2026, 12, 24), "Christmas Eve")]
    by_api = BusinessCalendarFactory(name="A", intervals=week, holidays=holidays)
    by_admin = BusinessCalendarFactory(name="B", intervals=week, holidays=holidays)

    before = last_id()
    response = admin_client.patch(
        f"/api/sla/calendars/{by_api.pk}/", {"time_zone": "Europe/Berlin"}, format="json"
    )
    assert response.status_code == 200, response.json()
    through_api = one_event(before, boss)

    before = last_id()
    response = logged_in(boss).post(
        url("businesscalendar_change", by_admin.pk),
        calendar_admin_form(by_admin, time_zone="Europe/Berlin"),
    )
    assert response.status_code == 302, response.context and response.context["errors"]
    through_admin = one_event(before, boss)

    assert through_api == through_admin
    assert through_api == (
        events.CALENDAR_UPDATED,
        {"changes": {"time_zone": ["UTC", "Europe/Berlin"]}},
    )
    assert by_admin.intervals.count() == 5


def test_deleting_a_calendar_records_the_same_event_through_the_api_and_the_admin(
    admin_client: APIClient, boss: User
) -> None:
    def berlin() -> BusinessCalendar:
        return BusinessCalendarFactory(
            name="Berlin office",
            time_zone="Europe/Berlin",
            holiday_country="DE",
            holiday_subdivision="BY",
            intervals=office_hours((1, 0), time(9), time(17)),
            holidays=[(date(2026, 12, 24), "Christmas Eve")],
        )

    before = last_id()
    assert admin_client.delete(f"/api/sla/calendars/{berlin().pk}/").status_code == 204
    through_api = one_event(before, boss)

    calendar = berlin()
    before = last_id()
    response = logged_in(boss).post(url("businesscalendar_delete", calendar.pk), {"post": "yes"})
    assert response.status_code == 302
    through_admin = one_event(before, boss)

    assert through_api == through_admin == (events.CALENDAR_DELETED, CALENDAR_PAYLOAD)
    assert not BusinessCalendar.objects.exists()


def test_replacing_a_calendars_rows_through_the_api_records_old_and_new_rows(
    admin_client: APIClient, boss: User
) -> None:
    calendar = BusinessCalendarFactory(
        name="Office", intervals=office_hours((0,), time(9), time(17))
    )
    before = last_id()

    response = admin_client.patch(
        f"/api/sla/calendars/{calendar.pk}/",
        {
            "intervals": [{"weekday": 5, "start": "10:00", "end": "14:00"}],
            "holidays": [{"date": "2026-05-01", "name": "Labour Day"}],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert one_event(before, boss) == (
        events.CALENDAR_UPDATED,
        {
            "changes": {
                "intervals": [
                    [{"weekday": 0, "start": "09:00:00", "end": "17:00:00"}],
                    [{"weekday": 5, "start": "10:00:00", "end": "14:00:00"}],
                ],
                "holidays": [[], [{"date": "2026-05-01", "name": "Labour Day"}]],
            }
        },
    )
