"""SLA in the admin: calendars and policies with their inlines, who may change them, the
read-only clocks and breaches, and the bulk acknowledgement of breaches."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nixflow.models import Role, Ticket, User
from sla import services as sla_services
from sla.calendar import calendar_spec
from sla.models import BusinessCalendar, SLABreach, SLAMetric, SLAPolicy
from tests.factories import UserFactory
from tests.sla.conftest import T0, logged_in, management, open_ticket
from tests.sla.factories import BusinessCalendarFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)
CONFIRMATION = "admin/sla/slabreach/acknowledge_selected_confirmation.html"


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:sla_{name}", args=args)


def messages_of(response: HttpResponse) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(client: Client, name: str, query: str = "") -> list[Any]:
    response = client.get(f"{url(name)}?{query}")
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


# --- calendars and policies ---------------------------------------------------------------
def test_admins_save_a_calendar_with_working_intervals_and_holidays(boss: User) -> None:
    response = logged_in(boss).post(
        url("businesscalendar_add"),
        {
            "name": "Berlin office",
            "time_zone": "Europe/Berlin",
            "holiday_country": "DE",
            "holiday_subdivision": "BY",
            **management("intervals", 2),
            "intervals-0-weekday": 0,
            "intervals-0-start": "09:00",
            "intervals-0-end": "17:00",
            "intervals-1-weekday": 4,
            "intervals-1-start": "09:00",
            "intervals-1-end": "13:00",
            **management("holidays", 1),
            "holidays-0-date": "2026-12-24",
            "holidays-0-name": "Christmas Eve",
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    assert sorted(calendar.intervals.values_list("weekday", "start", "end")) == [
        (0, time(9), time(17)),
        (4, time(9), time(13)),
    ]
    assert list(calendar.holidays.values_list("name", flat=True)) == ["Christmas Eve"]
    assert not calendar_spec(calendar).is_24x7


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "is not an IANA time zone"),
        ({"holiday_country": "XX"}, "Country XX not available"),
        ({"holiday_country": "DE", "holiday_subdivision": "XX"}, "does not have subdivision XX"),
    ],
)
def test_bad_calendars_are_form_errors(boss: User, fields: dict[str, str], message: str) -> None:
    response = logged_in(boss).post(
        url("businesscalendar_add"),
        {
            "name": "Bad",
            "time_zone": "UTC",
            **fields,
            **management("intervals", 0),
            **management("holidays", 0),
        },
    )

    assert response.status_code == 200
    assert message in str(response.context["adminform"].form.errors)
    assert not BusinessCalendar.objects.exists()


POLICY_FORM = {
    "name": "Gold",
    "order": 1,
    "is_active": "on",
    "priorities": ["HIGH", "URGENT"],
    "warning_threshold": 80,
    "escalation_email": "gold@example.com",
}


def test_admins_save_a_policy_with_conditions_and_targets(boss: User) -> None:
    response = logged_in(boss).post(
        url("slapolicy_add"),
        {
            **POLICY_FORM,
            **management("targets", 2),
            "targets-0-priority": "HIGH",
            "targets-0-metric_type": "first_response",
            "targets-0-minutes": 30,
            "targets-1-priority": "URGENT",
            "targets-1-metric_type": "first_response",
            "targets-1-minutes": 10,
        },
    )

    assert response.status_code == 302
    policy = SLAPolicy.objects.get(name="Gold")
    assert (policy.priorities, policy.sources, policy.workflow) == (["HIGH", "URGENT"], [], None)
    assert sorted(policy.targets.values_list("priority", "minutes")) == [
        ("HIGH", 30),
        ("URGENT", 10),
    ]


def test_a_policy_with_two_targets_for_one_priority_and_metric_is_refused(boss: User) -> None:
    row = {"priority": "HIGH", "metric_type": "resolution", "minutes": 60}
    response = logged_in(boss).post(
        url("slapolicy_add"),
        {
            **POLICY_FORM,
            **management("targets", 2),
            **{f"targets-{i}-{name}": value for i in (0, 1) for name, value in row.items()},
        },
    )

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert "duplicate" in str(formset.non_form_errors())
    assert not SLAPolicy.objects.filter(name="Gold").exists()


def test_a_target_of_zero_minutes_is_refused(boss: User) -> None:
    response = logged_in(boss).post(
        url("slapolicy_add"),
        {
            **POLICY_FORM,
            **management("targets", 1),
            "targets-0-priority": "HIGH",
            "targets-0-metric_type": "resolution",
            "targets-0-minutes": 0,
        },
    )

    assert response.status_code == 200
    assert "greater than or equal to 1" in str(
        response.context["inline_admin_formsets"][0].formset.errors
    )


def test_the_policy_list_shows_conditions_calendar_and_target_count(
    boss: User, policy: SLAPolicy, vip: SLAPolicy
) -> None:
    vip.calendar = BusinessCalendarFactory(name="Office")
    vip.save()
    client = logged_in(boss)

    rows = listed(client, "slapolicy_changelist")

    assert [(p.name, p.target_count) for p in rows] == [("VIP", 3), ("Standard", 6)]
    page = client.get(url("slapolicy_changelist")).content.decode()
    assert "priority HIGH" in page
    assert "every ticket" in page
    assert "Office" in page


def test_agents_see_policies_and_calendars_but_cannot_change_them(
    agent: User, policy: SLAPolicy
) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    client = logged_in(agent)

    assert listed(client, "slapolicy_changelist") == [policy]
    assert listed(client, "businesscalendar_changelist") == [calendar]
    page = client.get(url("slapolicy_change", policy.pk))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    # The targets are shown, read-only.
    assert len(page.context["inline_admin_formsets"]) == 1

    assert client.post(url("slapolicy_change", policy.pk), {"name": "Mine"}).status_code == 403
    assert client.get(url("slapolicy_add")).status_code == 403
    assert client.post(url("slapolicy_delete", policy.pk), {"post": "yes"}).status_code == 403
    assert client.get(url("businesscalendar_add")).status_code == 403
    assert client.post(
        url("businesscalendar_delete", calendar.pk), {"post": "yes"}
    ).status_code == (403)
    policy.refresh_from_db()
    assert policy.name == "Standard"
    assert BusinessCalendar.objects.exists()


def test_a_policy_with_clocks_cannot_be_deleted(boss: User, tickets: dict[str, Ticket]) -> None:
    policy = SLAPolicy.objects.get(name="Standard")
    client = logged_in(boss)

    page = client.get(url("slapolicy_delete", policy.pk))
    response = client.post(url("slapolicy_delete", policy.pk), {"post": "yes"})

    assert "it has clocks on tickets (deactivate it instead)" in page.content.decode()
    assert response.status_code == 200
    assert SLAPolicy.objects.filter(pk=policy.pk).exists()


def test_requesters_made_staff_see_no_sla_pages(requester: User, policy: SLAPolicy) -> None:
    requester.is_staff = True
    requester.save()
    client = logged_in(requester)

    for name in ("slapolicy", "businesscalendar", "slametric", "slabreach"):
        assert client.get(url(f"{name}_changelist")).status_code == 403


# --- clocks and breaches ------------------------------------------------------------------
@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN, "superuser"])
def test_clocks_and_breaches_are_never_editable_or_deletable(
    role: str, breaches: dict[tuple[str, str], SLABreach]
) -> None:
    if role == "superuser":
        user = UserFactory(username="root", role=Role.ADMIN, is_superuser=True)
    else:
        user = UserFactory(username="someone", role=role)
    client = logged_in(user)
    breach = breaches["normal", "first_response"]

    for name, pk in (("slabreach", breach.pk), ("slametric", breach.metric_id)):
        page = client.get(url(f"{name}_change", pk))
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        assert page.context["has_delete_permission"] is False
        assert client.post(url(f"{name}_change", pk), {}).status_code == 403
        assert client.post(url(f"{name}_delete", pk), {"post": "yes"}).status_code == 403
        assert client.get(url(f"{name}_add")).status_code == 403
    actions = client.get(url("slabreach_changelist")).context["action_form"].fields["action"]
    assert [name for name, _ in actions.choices if name] == ["acknowledge_selected"]
    assert SLABreach.objects.filter(pk=breach.pk, acknowledged_at__isnull=True).exists()


def test_breaches_are_filtered_by_type_policy_and_acknowledgement(
    agent: User, vip: SLAPolicy, breaches: dict[tuple[str, str], SLABreach]
) -> None:
    sla_services.breach_acknowledge(breach=breaches["high", "resolution"], actor=agent)
    client = logged_in(agent)

    def keys(query: str) -> set[tuple[str, str]]:
        found = {b.pk for b in listed(client, "slabreach_changelist", query)}
        return {key for key, breach in breaches.items() if breach.pk in found}

    assert keys("") == set(breaches)
    assert keys("breach_type__exact=resolution") == {("high", "resolution")}
    assert keys(f"policy__id__exact={vip.pk}") == {
        ("high", "first_response"),
        ("high", "resolution"),
    }
    assert keys("acknowledged=yes") == {("high", "resolution")}
    assert keys("acknowledged=no") == {("normal", "first_response"), ("high", "first_response")}


def test_the_breach_list_links_each_ticket_and_shows_who_acknowledged(
    agent: User, breaches: dict[tuple[str, str], SLABreach], tickets: dict[str, Ticket]
) -> None:
    sla_services.breach_acknowledge(breach=breaches["high", "resolution"], actor=agent)

    page = logged_in(agent).get(url("slabreach_changelist")).content.decode()

    ticket = tickets["high"]
    assert f'<a href="{reverse("admin:nixflow_ticket_change", args=[ticket.pk])}">{ticket.key}' in (
        page
    )
    assert ">agent<" in page


def test_metrics_are_found_by_ticket_key_and_filtered(
    agent: User, tickets: dict[str, Ticket]
) -> None:
    client = logged_in(agent)
    normal = tickets["normal"]

    found = listed(client, "slametric_changelist", f"q={normal.key}")
    assert {m.ticket_id for m in found} == {normal.pk}
    assert len(found) == 2
    assert listed(client, "slametric_changelist", "q=printer") == []
    breached = listed(client, "slametric_changelist", "status__exact=breached")
    assert {m.status for m in breached} == {"breached"}
    assert len(breached) == 3
    assert len(listed(client, "slametric_changelist", "metric_type__exact=resolution")) == 2


@pytest.mark.parametrize(("name", "per_ticket"), [("slabreach", 1), ("slametric", 2)])
def test_the_clock_and_breach_lists_run_the_same_queries_for_5_and_30_tickets(
    agent: User, policy: SLAPolicy, requester: User, name: str, per_ticket: int
) -> None:
    client = logged_in(agent)
    counts = []
    for total in (5, 30):
        with time_machine.travel(T0, tick=False):
            for _ in range(total - Ticket.objects.count()):
                open_ticket(requester)
        sla_services.sla_scan(now=T0 + 61 * M)
        first = SLABreach.objects.filter(acknowledged_at__isnull=True).first()
        assert first is not None
        sla_services.breach_acknowledge(breach=first, actor=agent)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url(f"{name}_changelist"))
        # A full page at most (the lists page by 50: nixflow.toolkit.changelist).
        cl = response.context["cl"]
        assert len(cl.result_list) == min(total * per_ticket, cl.list_per_page)
        counts.append(len(queries))

    assert counts[0] == counts[1]


# --- bulk acknowledgement ---------------------------------------------------------------
def test_bulk_acknowledgement_asks_for_a_note_then_acknowledges_and_reports_the_rest(
    agent: User, breaches: dict[tuple[str, str], SLABreach], tickets: dict[str, Ticket]
) -> None:
    colleague = UserFactory(username="colleague", role=Role.AGENT)
    earlier = sla_services.breach_acknowledge(
        breach=breaches["high", "resolution"], actor=colleague, note="Vendor outage"
    )
    selected = [b.pk for b in breaches.values()]
    client = logged_in(agent)
    action = {"action": "acknowledge_selected", ACTION_CHECKBOX_NAME: selected}

    page = client.post(url("slabreach_changelist"), {**action, "index": 0})

    assert page.status_code == 200
    assert CONFIRMATION in [t.name for t in page.templates]
    text = page.content.decode()
    assert "Acknowledge 3 SLA breaches?" in text
    assert "already acknowledged by colleague" in text
    assert tickets["normal"].key in text
    assert SLABreach.objects.filter(acknowledged_at__isnull=False).count() == 1

    response = client.post(
        url("slabreach_changelist"),
        {**action, "select_across": "0", "confirm": "yes", "note": " Network down "},
    )

    assert response.status_code == 302
    assert response["Location"] == url("slabreach_changelist")
    for key in (("normal", "first_response"), ("high", "first_response")):
        breach = SLABreach.objects.get(pk=breaches[key].pk)
        assert (breach.acknowledged_by, breach.acknowledgement_note) == (agent, "Network down")
    kept = SLABreach.objects.get(pk=earlier.pk)
    assert (kept.acknowledged_by, kept.acknowledged_at, kept.acknowledgement_note) == (
        colleague,
        earlier.acknowledged_at,
        "Vendor outage",
    )
    shown = messages_of(response)
    assert shown[0] == "Acknowledged 2 breaches."
    assert shown[1].startswith(
        f"1 breach had been acknowledged before and keep that acknowledgement: "
        f"{tickets['high'].key} Resolution: Already acknowledged by colleague at "
    )


def test_an_invalid_note_shows_the_confirmation_page_again(
    agent: User, breaches: dict[tuple[str, str], SLABreach]
) -> None:
    response = logged_in(agent).post(
        url("slabreach_changelist"),
        {
            "action": "acknowledge_selected",
            ACTION_CHECKBOX_NAME: [b.pk for b in breaches.values()],
            "confirm": "yes",
            "note": "x" * 2001,
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["note"]
    assert not SLABreach.objects.filter(acknowledged_at__isnull=False).exists()


def test_acknowledging_all_breaches_of_a_filtered_list_keeps_to_the_filter(
    agent: User, breaches: dict[tuple[str, str], SLABreach]
) -> None:
    client = logged_in(agent)
    filtered = f"{url('slabreach_changelist')}?breach_type__exact=first_response"
    action = {
        "action": "acknowledge_selected",
        # The page's checkboxes; "select all" makes it every breach the filter matches.
        ACTION_CHECKBOX_NAME: [breaches["normal", "first_response"].pk],
        "select_across": "1",
    }

    page = client.post(filtered, {**action, "index": 0})
    assert "Acknowledge 2 SLA breaches?" in page.content.decode()
    response = client.post(filtered, {**action, "confirm": "yes", "note": "All of them"})

    assert response.status_code == 302
    acknowledged = set(
        SLABreach.objects.filter(acknowledged_by=agent).values_list("breach_type", flat=True)
    )
    assert acknowledged == {"first_response"}
    assert SLABreach.objects.filter(acknowledged_by=agent).count() == 2
    assert SLABreach.objects.get(pk=breaches["high", "resolution"].pk).acknowledged_at is None


def test_metrics_have_no_bulk_actions(agent: User, tickets: dict[str, Ticket]) -> None:
    response = logged_in(agent).get(url("slametric_changelist"))

    assert response.context["action_form"] is None or not [
        name for name, _ in response.context["action_form"].fields["action"].choices if name
    ]
    assert SLAMetric.objects.count() == 4
