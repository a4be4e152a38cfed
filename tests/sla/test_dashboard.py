"""The SLA dashboard: its figures (sla.selectors), the admin page, acknowledging from
it, and the same figures as JSON (sla.api.summary)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.utils.encoders import JSONEncoder

from nixflow import services
from nixflow.models import Priority, Role, Stage, Ticket, User
from nixflow.toolkit.formats import format_duration
from sla import services as sla_services
from sla.api.summary import SLASummaryView
from sla.dashboard import format_percent
from sla.models import MetricType, SLABreach, SLAPolicy
from sla.selectors import sla_summary
from tests.factories import UserFactory
from tests.sla.conftest import open_ticket

# The dashboard's "now": Tuesday 31 March 2026, 12:00 UTC.
NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
S, M, H, D = (timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1), timedelta(days=1))
URL = "/admin/sla/dashboard/"


def tally(met: int, breached: int, percent: float | None) -> dict:
    return {"met": met, "breached": breached, "compliance_percent": percent}


@dataclass
class Story:
    """Writes a ticket's life through the services at the times given, as it happened."""

    clock: time_machine.Coordinates
    requester: User
    agent: User
    stages: dict[str, Stage]

    def __call__(
        self,
        created: datetime,
        *,
        reply_after: timedelta | None = None,
        resolve_after: timedelta | None = None,
        wait_after: timedelta | None = None,
        priority: str = Priority.NORMAL,
    ) -> Ticket:
        self.clock.move_to(created)
        ticket = open_ticket(self.requester, priority=priority)
        if reply_after is not None:
            self.clock.move_to(created + reply_after)
            services.comment_create(ticket=ticket, author=self.agent, body="Looking into it.")
        for after, stage in ((wait_after, "Waiting on requester"), (resolve_after, "Resolved")):
            if after is not None:
                self.clock.move_to(created + after)
                services.ticket_transition(
                    ticket=ticket, to_stage=self.stages[stage], actor=self.agent
                )
        return ticket


@pytest.fixture
def story(
    requester: User, agent: User, stages: dict[str, Stage], clock: time_machine.Coordinates
) -> Story:
    return Story(clock=clock, requester=requester, agent=agent, stages=stages)


@pytest.fixture
def scene(
    policy: SLAPolicy, vip: SLAPolicy, agent: User, story: Story, clock: time_machine.Coordinates
) -> dict[str, Ticket]:
    """Tickets whose figures are counted by hand below. Standard is 24x7: first
    response 60 min, resolution 480 min (8 h), at risk after 75 % (45 min).

    ticket  created   first response           resolution                   policy
    D       -40 d     met 10 min               met 1 h                      Standard
    N       -20 d     breached 30 min (>15)    breached 3 h (>2 h)          VIP
    F       -12 d     breached, open           breached, open               Standard
    C       -10 d     met 20 min               breached 9 h                 Standard
    E       -5 d      breached, open           breached, open               Standard
    O       -4 d      met 5 min                breached, open               Standard
    B       -3 d      breached 90 min          breached 10 h                Standard
    A       -2 d      met 30 min               met 4 h                      Standard
    M       -1 d      met 10 min               met 1 h                      VIP
    P       -2 h      paused (waiting since -110 min)                       Standard
    L H G I J K: created 60.5, 55, 50, 46, 45.5, 20 minutes ago, unanswered.

    The monitor ran one minute ago; F's first-response breach is acknowledged.
    """
    tickets = {
        "D": story(NOW - 40 * D, reply_after=10 * M, resolve_after=1 * H),
        "N": story(NOW - 20 * D, reply_after=30 * M, resolve_after=3 * H, priority=Priority.HIGH),
        "F": story(NOW - 12 * D),
        "C": story(NOW - 10 * D, reply_after=20 * M, resolve_after=9 * H),
        "E": story(NOW - 5 * D),
        "O": story(NOW - 4 * D, reply_after=5 * M),
        "B": story(NOW - 3 * D, reply_after=90 * M, resolve_after=10 * H),
        "A": story(NOW - 2 * D, reply_after=30 * M, resolve_after=4 * H),
        "M": story(NOW - 1 * D, reply_after=10 * M, resolve_after=1 * H, priority=Priority.HIGH),
        "P": story(NOW - 2 * H, wait_after=10 * M),
        "L": story(NOW - 60 * M - 30 * S),
        "H": story(NOW - 55 * M),
        "G": story(NOW - 50 * M),
        "I": story(NOW - 46 * M),
        "J": story(NOW - 45 * M - 30 * S),
        "K": story(NOW - 20 * M),
    }
    sla_services.sla_scan(now=NOW - 1 * M)
    clock.move_to(NOW)
    acknowledged = SLABreach.objects.get(ticket=tickets["F"], breach_type=MetricType.FIRST_RESPONSE)
    sla_services.breach_acknowledge(breach=acknowledged, actor=agent, note="Known outage")
    return tickets


# --- the figures --------------------------------------------------------------------------
@pytest.mark.django_db
def test_compliance_counts_decided_clocks_per_metric_policy_and_window(
    scene: dict[str, Ticket], policy: SLAPolicy, vip: SLAPolicy
) -> None:
    compliance = sla_summary(now=NOW)["compliance"]

    by_metric = {row["metric_type"]: row for row in compliance["by_metric"]}
    # 7 days: met A M O, breached B E (open). 30 days: + met C, breached F (open) N.
    assert by_metric["first_response"]["last_7_days"] == tally(3, 2, 60.0)
    assert by_metric["first_response"]["last_30_days"] == tally(4, 4, 50.0)
    # 7 days: met A M, breached B E O (E, O open). 30 days: + breached C F N.
    assert by_metric["resolution"]["last_7_days"] == tally(2, 3, 40.0)
    assert by_metric["resolution"]["last_30_days"] == tally(2, 6, 25.0)
    assert by_metric["next_response"]["last_30_days"] == tally(0, 0, None)
    assert [row["label"] for row in compliance["by_metric"]] == [
        "First response",
        "Next response",
        "Resolution",
    ]

    # Policies in their order: VIP (M, N) before Standard (everything else).
    assert [(row["policy_id"], row["policy"]) for row in compliance["by_policy"]] == [
        (vip.pk, "VIP"),
        (policy.pk, "Standard"),
    ]
    vip_row, standard_row = compliance["by_policy"]
    assert vip_row["last_7_days"] == tally(2, 0, 100.0)
    assert vip_row["last_30_days"] == tally(2, 2, 50.0)
    assert standard_row["last_7_days"] == tally(3, 5, 37.5)
    assert standard_row["last_30_days"] == tally(4, 8, pytest.approx(100 / 3))

    assert compliance["overall"] == {
        "last_7_days": tally(5, 5, 50.0),
        "last_30_days": tally(6, 10, 37.5),
    }


@pytest.mark.django_db
def test_a_breached_clock_answered_late_counts_when_answered_not_when_it_breached(
    policy: SLAPolicy, story: Story, agent: User, clock: time_machine.Coordinates
) -> None:
    ticket = story(NOW - 35 * D)
    sla_services.sla_scan(now=NOW - 34 * D)
    first_response = sla_summary(now=NOW - 34 * D)["compliance"]["by_metric"][0]
    assert first_response["last_7_days"] == tally(0, 1, 0.0)  # open, breached 35 days ago
    assert sla_summary(now=NOW)["compliance"]["by_metric"][0]["last_30_days"] == tally(0, 0, None)

    clock.move_to(NOW - 1 * D)
    services.comment_create(ticket=ticket, author=agent, body="Sorry for the wait.")

    first_response = sla_summary(now=NOW)["compliance"]["by_metric"][0]
    assert first_response["last_7_days"] == tally(0, 1, 0.0)


@pytest.mark.django_db
def test_unacknowledged_breaches_are_counted_and_listed_newest_first(
    scene: dict[str, Ticket], policy: SLAPolicy, vip: SLAPolicy
) -> None:
    breaches = sla_summary(now=NOW)["unacknowledged_breaches"]

    assert breaches["count"] == 9  # 10 breaches, F's first response acknowledged
    fr, res = "first_response", "resolution"
    assert [(row["ticket_key"], row["breach_type"]) for row in breaches["newest"]] == [
        (scene["B"].key, res),  # 28 March 20:00
        (scene["B"].key, fr),  # 28 March 13:00
        (scene["O"].key, res),
        (scene["E"].key, res),
        (scene["E"].key, fr),
        (scene["C"].key, res),
        (scene["F"].key, res),
        (scene["N"].key, res),
        (scene["N"].key, fr),  # 11 March 12:15
    ]
    newest = breaches["newest"][0]
    assert newest["breached_at"] == NOW - 3 * D + 8 * H
    assert newest["age_seconds"] == (2 * D + 16 * H).total_seconds()
    assert (newest["policy_id"], newest["policy"]) == (policy.pk, "Standard")
    assert newest["ticket_title"] == "VPN down"
    assert breaches["newest"][-1]["policy"] == "VIP"


@pytest.mark.django_db
def test_newest_unacknowledged_breaches_are_limited_but_all_are_counted(
    scene: dict[str, Ticket],
) -> None:
    from sla.selectors import sla_unacknowledged_breaches

    breaches = sla_unacknowledged_breaches(now=NOW, limit=3)
    assert (breaches["count"], len(breaches["newest"])) == (9, 3)


@pytest.mark.django_db
def test_at_risk_clocks_are_ordered_by_time_left_overdue_first(
    scene: dict[str, Ticket], policy: SLAPolicy
) -> None:
    at_risk = sla_summary(now=NOW)["at_risk"]

    # K (20 min old) has not reached its warning; P is paused; J passed its warning after
    # the monitor ran (still RUNNING); L's deadline passed after it (not breached yet).
    assert at_risk["count"] == 5
    rows = [
        (row["ticket_key"], row["status"], row["time_left_seconds"]) for row in at_risk["clocks"]
    ]
    assert rows == [
        (scene["L"].key, "at_risk", -30),
        (scene["H"].key, "at_risk", 5 * 60),
        (scene["G"].key, "at_risk", 10 * 60),
        (scene["I"].key, "at_risk", 14 * 60),
        (scene["J"].key, "running", 14 * 60 + 30),
    ]
    first = at_risk["clocks"][1]
    assert first["deadline"] == NOW + 5 * M
    assert (first["metric_type"], first["policy"], first["priority"]) == (
        "first_response",
        "Standard",
        "NORMAL",
    )
    assert first["assignee"] is None


@pytest.mark.django_db
def test_medians_of_first_response_and_resolution_over_30_days(scene: dict[str, Ticket]) -> None:
    # First response: 5, 10, 20, 30, 30, 90 min (O M C A N B) -> (20 + 30) / 2 = 25 min.
    # Resolution: 1 h, 3 h, 4 h, 9 h, 10 h (M N A C B) -> 4 h. D is older than 30 days;
    # open clocks (E, F, O's resolution) have not completed.
    assert sla_summary(now=NOW)["median_seconds"] == {
        "first_response": 25 * 60.0,
        "resolution": 4 * 3600.0,
    }


@pytest.mark.django_db
def test_breaches_per_day_cover_30_utc_days_with_zeros(scene: dict[str, Ticket]) -> None:
    days = sla_summary(now=NOW)["breaches_per_day"]

    assert len(days) == 30
    assert (days[0]["date"], days[-1]["date"]) == (date(2026, 3, 2), date(2026, 3, 31))
    assert {day["date"].day: day["count"] for day in days if day["count"]} == {
        11: 2,  # N
        19: 2,  # F (acknowledged or not, a breach is a breach)
        21: 1,  # C
        26: 2,  # E
        27: 1,  # O
        28: 2,  # B
    }


@pytest.mark.django_db
def test_days_are_utc_days_whatever_the_time_zone_of_now() -> None:
    evening_in_new_york = datetime(2026, 3, 30, 22, 0, tzinfo=ZoneInfo("America/New_York"))
    days = sla_summary(now=evening_in_new_york)["breaches_per_day"]
    assert days[-1]["date"] == date(2026, 3, 31)  # 02:00 UTC


@pytest.mark.django_db
def test_an_empty_desk_has_no_figures_rather_than_zero_compliance() -> None:
    summary = sla_summary(now=NOW)

    assert summary["compliance"]["overall"]["last_30_days"] == tally(0, 0, None)
    assert summary["compliance"]["by_policy"] == []
    assert summary["unacknowledged_breaches"] == {"count": 0, "newest": []}
    assert summary["at_risk"] == {"count": 0, "clocks": []}
    assert summary["median_seconds"] == {"first_response": None, "resolution": None}
    assert [day["count"] for day in summary["breaches_per_day"]] == [0] * 30


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "—"),
        (0, "0 min"),
        (59, "0 min"),
        (1500, "25 min"),
        (14400.0, "4 h"),
        (8100, "2 h 15 min"),
        (93_600, "1 d 2 h"),
        (-30, "0 min"),
        (-90, "1 min"),
    ],
)
def test_durations_read_in_days_hours_and_minutes(seconds: float | None, shown: str) -> None:
    assert format_duration(seconds) == shown


def test_percentages_have_one_decimal() -> None:
    assert [format_percent(v) for v in (None, 0.0, 100 / 3, 42.857, 100.0)] == [
        "—",
        "0.0%",
        "33.3%",
        "42.9%",
        "100.0%",
    ]


# --- the admin page -----------------------------------------------------------------------
def _testid(content: str, testid: str) -> str:
    """The text of the element with ``data-testid="testid"`` (flat elements only)."""
    marker = f'data-testid="{testid}"'
    start = content.index(">", content.index(marker)) + 1
    return content[start : content.index("<", start)].strip()


@pytest.mark.django_db
def test_dashboard_shows_every_figure_readably(
    client: Client, agent: User, scene: dict[str, Ticket], policy: SLAPolicy, vip: SLAPolicy
) -> None:
    client.force_login(agent)
    response = client.get(URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert _testid(content, "compliance-overall-last_7_days") == "50.0%"
    assert _testid(content, "compliance-overall-last_30_days") == "37.5%"
    assert _testid(content, "compliance-metric-first_response-last_7_days") == "60.0%"
    assert _testid(content, "compliance-metric-resolution-last_30_days") == "25.0%"
    assert _testid(content, "compliance-metric-next_response-last_30_days") == "—"
    assert _testid(content, f"compliance-policy-{policy.pk}-last_30_days") == "33.3%"
    assert _testid(content, f"compliance-policy-{vip.pk}-last_7_days") == "100.0%"
    assert _testid(content, "unacknowledged-count") == "9"
    assert _testid(content, "at-risk-count") == "5"
    assert _testid(content, "median-first-response") == "25 min"
    assert _testid(content, "median-resolution") == "4 h"
    assert content.count('data-testid="trend-bar"') == 30
    assert "<title>Sat 28 Mar 2026: 2 breaches</title>" in content
    assert content.count('data-testid="breach-row"') == 9
    assert content.count('data-testid="at-risk-row"') == 5
    assert "overdue 0 min" in content  # L, 30 s past its deadline
    assert content.index(scene["H"].key) < content.index(scene["G"].key)
    assert "<script" not in content.split('data-testid="breach-trend"')[1]


@pytest.mark.django_db
def test_admin_index_links_to_the_dashboard(client: Client, agent: User) -> None:
    client.force_login(agent)
    content = client.get(reverse("admin:index")).content.decode()
    assert f'href="{URL}"' in content
    assert 'id="content-main"' in content  # the admin's own index is still there
    assert f'href="{URL}"' in client.get("/admin/sla/").content.decode()


def _page_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(URL).status_code == 200
    return len(queries)


def _busy_tickets(story: Story, count: int) -> None:
    """``count`` tickets with a breach to acknowledge and ``count`` with a clock at risk."""
    for n in range(count):
        story(NOW - 3 * H - n * M, reply_after=2 * H)
        story(NOW - 50 * M + n * S)


@pytest.mark.django_db
def test_the_dashboard_costs_the_same_queries_for_5_and_50_tickets(
    client: Client, agent: User, policy: SLAPolicy, story: Story, clock: time_machine.Coordinates
) -> None:
    _busy_tickets(story, 5)
    sla_services.sla_scan(now=NOW)
    clock.move_to(NOW)
    client.force_login(agent)
    few = _page_queries(client)

    _busy_tickets(story, 45)
    sla_services.sla_scan(now=NOW)
    clock.move_to(NOW)
    many = _page_queries(client)

    assert many == few
    assert few <= 15  # session, user, and the summary's handful of aggregate queries


@pytest.mark.django_db
def test_acknowledging_from_the_dashboard_works_once(
    client: Client, agent: User, scene: dict[str, Ticket]
) -> None:
    breach = SLABreach.objects.get(ticket=scene["B"], breach_type=MetricType.RESOLUTION)
    client.force_login(agent)

    response = client.post(URL, {"breach": breach.pk, "note": "  Customer agreed  "})

    assert (response.status_code, response["Location"]) == (302, URL)
    breach.refresh_from_db()
    assert (breach.acknowledged_by, breach.acknowledged_at) == (agent, NOW)
    assert breach.acknowledgement_note == "Customer agreed"
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Acknowledged the resolution breach on {scene['B'].key}."
    ]
    page = client.get(URL).content.decode()
    assert _testid(page, "unacknowledged-count") == "8"
    assert f'data-breach="{breach.pk}"' not in page

    again = client.post(URL, {"breach": breach.pk, "note": "Me too"}, follow=True)

    assert again.status_code == 200
    shown = [str(m) for m in again.context["messages"]]
    assert shown == ["Already acknowledged by agent at 2026-03-31 12:00 UTC."]
    assert shown[0] in again.content.decode()
    breach.refresh_from_db()
    assert breach.acknowledgement_note == "Customer agreed"


@pytest.mark.django_db
def test_acknowledging_a_breach_that_does_not_exist_is_a_message_not_an_error(
    client: Client, agent: User
) -> None:
    client.force_login(agent)
    response = client.post(URL, {"breach": 999_999}, follow=True)
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "That breach does not exist (any more)."
    ]


@pytest.mark.django_db
def test_acknowledging_needs_the_csrf_token(agent: User, scene: dict[str, Ticket]) -> None:
    breach = SLABreach.objects.filter(acknowledged_at__isnull=True).first()
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)

    assert client.post(URL, {"breach": breach.pk}).status_code == 403
    breach.refresh_from_db()
    assert breach.acknowledged_at is None


@pytest.mark.django_db
def test_requesters_and_strangers_cannot_open_the_dashboard(
    client: Client, requester: User
) -> None:
    login = f"{reverse('admin:login')}?next={URL}"
    assert client.get(URL)["Location"] == login  # anonymous
    client.force_login(requester)
    assert client.get(URL)["Location"] == login  # not staff
    assert client.post(URL, {"breach": 1})["Location"] == login

    staff_requester = UserFactory(username="mistake", role=Role.REQUESTER, is_staff=True)
    client.force_login(staff_requester)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"breach": 1}).status_code == 403
    assert URL not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.django_db
def test_admins_can_open_the_dashboard(client: Client) -> None:
    client.force_login(UserFactory(username="boss", role=Role.ADMIN))
    assert client.get(URL).status_code == 200


# --- the API ------------------------------------------------------------------------------
API_URL = "/api/sla/summary/"  # wired in sla/api/urls.py


@pytest.mark.django_db
def test_summary_api_returns_the_selectors_figures_as_json(
    api_client: APIClient, agent: User, scene: dict[str, Ticket]
) -> None:
    api_client.force_authenticate(agent)
    response = api_client.get(API_URL)

    assert response.status_code == 200
    body = json.loads(response.content)
    assert body == json.loads(json.dumps(sla_summary(now=NOW), cls=JSONEncoder))
    assert body["generated_at"] == "2026-03-31T12:00:00Z"
    assert body["breaches_per_day"][-1] == {"date": "2026-03-31", "count": 0}
    assert body["median_seconds"] == {"first_response": 1500.0, "resolution": 14400.0}
    assert body["unacknowledged_breaches"]["newest"][0]["age_seconds"] == 64 * 3600


@pytest.mark.django_db
def test_summary_api_takes_a_token(api_client: APIClient, agent: User) -> None:
    token = Token.objects.create(user=agent)
    response = api_client.get(API_URL, HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


@pytest.mark.django_db
def test_summary_api_is_for_agents_only(api_client: APIClient, requester: User) -> None:
    anonymous = api_client.get(API_URL)
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"] == "Token"
    api_client.force_authenticate(requester)
    assert api_client.get(API_URL).status_code == 403


@pytest.mark.django_db
def test_summary_api_schema_generates_without_warnings() -> None:
    GENERATOR_STATS.reset()
    generator = SchemaGenerator(
        patterns=[path("api/sla/summary/", SLASummaryView.as_view(), name="sla-summary")]
    )

    schema = generator.get_schema(request=None, public=True)

    assert not GENERATOR_STATS
    response = schema["paths"]["/api/sla/summary/"]["get"]["responses"]["200"]
    assert response["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SLASummary"
    }
    fields = schema["components"]["schemas"]["SLASummary"]["properties"]
    assert set(fields) == set(sla_summary(now=NOW))
