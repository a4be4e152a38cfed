"""Dates and durations read one way everywhere in the admin (nixflow.toolkit.formats):
"7 Dec 2026, 14:05" in the reader's time zone (nixflow.middleware), "2 h 15 min"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nixflow.admin.tickets import shown_value
from nixflow.models import HistoryLog, User
from nixflow.toolkit.formats import format_datetime, format_duration, format_left
from tests.core.admin_pages import url
from tests.factories import TicketFactory

MOMENT = datetime(2026, 12, 7, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (0, "0 min"),
        (59, "0 min"),
        (40 * 60, "40 min"),
        (2 * 3600, "2 h"),
        (2 * 3600 + 15 * 60 + 59, "2 h 15 min"),
        (timedelta(hours=465, minutes=36), "19 d 9 h"),
        (timedelta(days=3), "3 d"),
        (-40 * 60, "40 min"),
    ],
)
def test_durations_read_in_days_hours_and_minutes(value: float | None, shown: str) -> None:
    assert format_duration(value) == shown


def test_time_left_says_left_before_the_deadline_and_overdue_from_it() -> None:
    assert format_left(2 * 3600 + 15 * 60) == "2 h 15 min left"
    assert format_left(0) == "overdue 0 min"
    assert format_left(timedelta(minutes=-40)) == "overdue 40 min"


def test_templates_have_the_same_durations_as_filters() -> None:
    template = Template("{% load nixflow_formats %}{{ s|duration }} / {{ d|time_left }}")
    shown = template.render(Context({"s": 8100, "d": timezone.now() - timedelta(minutes=40)}))
    assert shown == "2 h 15 min / overdue 40 min"


def test_a_moment_reads_day_month_year_and_24_hour_time_in_the_active_zone() -> None:
    assert format_datetime(MOMENT) == "7 Dec 2026, 14:05"
    with timezone.override("Europe/Berlin"):
        assert format_datetime(MOMENT) == "7 Dec 2026, 15:05"
        assert Template("{{ m }}").render(Context({"m": MOMENT})) == "7 Dec 2026, 15:05"
    assert format_datetime(None) == "—"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("", "7 Dec 2026, 14:05"),  # the desk's TIME_ZONE (UTC in the tests)
        ("America/New_York", "7 Dec 2026, 09:05"),
        ("Asia/Kolkata", "7 Dec 2026, 19:35"),
        ("Mars/Olympus_Mons", "7 Dec 2026, 14:05"),  # unknown: the desk's, not an error
    ],
)
def test_the_ticket_list_shows_dates_in_the_agents_time_zone(
    agent_client: Client, agent: User, zone: str, shown: str
) -> None:
    agent.time_zone = zone
    agent.save(update_fields=["time_zone"])
    TicketFactory(updated=MOMENT)

    content = agent_client.get(url("ticket_changelist")).content.decode()

    date, time = shown.split(", ")
    assert (
        f'<td class="field-updated_cell"><span class="nf-nowrap">{date},</span> '
        f'<span class="nf-nowrap">{time}</span></td>'
    ) in content
    assert timezone.get_current_timezone_name() == "UTC"  # deactivated after the request


@pytest.mark.django_db
def test_an_admin_chooses_a_users_time_zone_from_the_list_of_zones(
    admin_client: Client, agent: User
) -> None:
    page = admin_client.get(url("user_change", agent.pk)).content.decode()
    assert '<select name="time_zone"' in page
    assert '<option value="Europe/Berlin">Europe/Berlin</option>' in page
    assert "The desk&#x27;s time zone (UTC)" in page


@pytest.mark.django_db
def test_a_clocks_page_shows_business_time_as_durations(agent_client: Client) -> None:
    from tests.sla.factories import SLAMetricFactory

    metric = SLAMetricFactory(target_seconds=8100, elapsed_seconds=2400, paused_seconds=0)

    page = agent_client.get(reverse("admin:sla_slametric_change", args=[metric.pk]))

    content = page.content.decode()
    assert '<div class="readonly">2 h 15 min</div>' in content
    assert '<div class="readonly">40 min</div>' in content
    assert '<div class="readonly">0 min</div>' in content


@pytest.mark.django_db
def test_the_api_writes_times_the_same_whoever_asks(agent_client: Client, agent: User) -> None:
    agent.time_zone = "Asia/Kolkata"
    agent.save(update_fields=["time_zone"])
    ticket = TicketFactory(updated=MOMENT)

    body = agent_client.get(f"/api/tickets/{ticket.key}/").json()

    assert body["updated"] == "2026-12-07T14:05:00Z"


@pytest.mark.django_db
def test_the_ticket_history_shows_recorded_times_as_every_other_date(
    agent_client: Client, agent: User
) -> None:
    agent.time_zone = "Europe/Berlin"
    agent.save(update_fields=["time_zone"])
    ticket = TicketFactory()
    HistoryLog.objects.create(
        ticket=ticket,
        actor=agent,
        field="first_response_at",
        old_value="",
        new_value=MOMENT.isoformat(),  # as the services record it
    )

    content = agent_client.get(url("ticket_change", ticket.pk)).content.decode()

    assert "7 Dec 2026, 15:05" in content  # Berlin
    assert shown_value("not-a-date") == "not-a-date"
    assert shown_value("") == "—"
