"""The SLA API: who may read and write what, policies and calendars with their nested
rows, the clock and breach lists (filters, cursor pages, query counts) and breach
acknowledgement."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
import time_machine
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow.models import Priority, Role, Ticket, User
from sla import services as sla_services
from sla.calendar import calendar_spec
from sla.models import (
    BusinessCalendar,
    MetricType,
    SLABreach,
    SLAMetric,
    SLAPolicy,
    SLAStatus,
    SLATarget,
    WorkingInterval,
)
from tests.factories import UserFactory
from tests.sla.conftest import T0, as_user, breaches_of
from tests.sla.factories import BusinessCalendarFactory, SLAPolicyFactory

pytestmark = pytest.mark.django_db

M = timedelta(minutes=1)


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


# --- who may do what ----------------------------------------------------------------------
SLA_LISTS = ["/api/sla/policies/", "/api/sla/calendars/", "/api/sla/metrics/", "/api/sla/breaches/"]


@pytest.mark.parametrize("url", SLA_LISTS)
def test_requesters_are_refused_every_sla_list(
    api_client: APIClient, requester: User, url: str
) -> None:
    response = as_user(api_client, requester).get(url)

    assert response.status_code == 403
    assert "agents" in response.json()["detail"]


@pytest.mark.parametrize("url", SLA_LISTS)
def test_anonymous_callers_must_authenticate(api_client: APIClient, url: str) -> None:
    assert api_client.get(url).status_code == 401


def test_requesters_see_no_sla_detail_and_cannot_acknowledge_or_configure(
    api_client: APIClient, requester: User, breach: SLABreach, policy: SLAPolicy
) -> None:
    calendar = BusinessCalendarFactory(name="Office")
    client = as_user(api_client, requester)

    assert client.get(f"/api/sla/policies/{policy.pk}/").status_code == 403
    assert client.get(f"/api/sla/calendars/{calendar.pk}/").status_code == 403
    assert client.get(f"/api/sla/metrics/{breach.metric_id}/").status_code == 403
    assert client.get(f"/api/sla/breaches/{breach.pk}/").status_code == 403
    assert client.post(f"/api/sla/breaches/{breach.pk}/acknowledge/", {}).status_code == 403
    assert client.post("/api/sla/policies/", {"name": "Mine"}).status_code == 403
    assert client.delete(f"/api/sla/calendars/{calendar.pk}/").status_code == 403
    breach.refresh_from_db()
    assert breach.acknowledged_at is None


def test_agents_read_the_configuration_but_cannot_change_it(
    agent_client: APIClient, policy: SLAPolicy
) -> None:
    calendar = BusinessCalendarFactory(name="Office")

    assert ids(agent_client.get("/api/sla/policies/")) == [policy.pk]
    assert agent_client.get(f"/api/sla/policies/{policy.pk}/").status_code == 200
    assert ids(agent_client.get("/api/sla/calendars/")) == [calendar.pk]
    assert agent_client.get(f"/api/sla/calendars/{calendar.pk}/").status_code == 200

    writes = [
        agent_client.post("/api/sla/policies/", {"name": "Mine"}, format="json"),
        agent_client.patch(f"/api/sla/policies/{policy.pk}/", {"order": 1}, format="json"),
        agent_client.delete(f"/api/sla/policies/{policy.pk}/"),
        agent_client.post("/api/sla/calendars/", {"name": "Mine"}, format="json"),
        agent_client.patch(f"/api/sla/calendars/{calendar.pk}/", {"name": "X"}, format="json"),
        agent_client.delete(f"/api/sla/calendars/{calendar.pk}/"),
    ]

    assert [r.status_code for r in writes] == [403] * 6
    assert writes[0].json() == {"detail": "Only admins can change the SLA configuration."}
    policy.refresh_from_db()
    assert policy.order == 10
    assert BusinessCalendar.objects.get().name == "Office"


def test_agents_and_admins_read_clocks_and_breaches(
    api_client: APIClient, agent: User, boss: User, breach: SLABreach
) -> None:
    for user in (agent, boss):
        client = as_user(api_client, user)
        assert breach.metric_id in ids(client.get("/api/sla/metrics/"))
        assert breach.pk in ids(client.get("/api/sla/breaches/"))
        assert client.get(f"/api/sla/breaches/{breach.pk}/").json()["ticket"] == (breach.ticket.key)


def test_superusers_change_the_configuration_whatever_their_role(api_client: APIClient) -> None:
    root = UserFactory(username="root", role=Role.AGENT, is_superuser=True)

    response = as_user(api_client, root).post(
        "/api/sla/calendars/", {"name": "Root's"}, format="json"
    )

    assert response.status_code == 201


def test_clocks_and_breaches_cannot_be_written_through_the_api(
    admin_client: APIClient, breach: SLABreach
) -> None:
    url = f"/api/sla/breaches/{breach.pk}/"
    assert admin_client.patch(url, {"acknowledgement_note": "x"}, format="json").status_code == 405
    assert admin_client.delete(url).status_code == 405
    assert admin_client.delete(f"/api/sla/metrics/{breach.metric_id}/").status_code == 405
    assert admin_client.post("/api/sla/metrics/", {}, format="json").status_code == 405


# --- policies -----------------------------------------------------------------------------
POLICY = {
    "name": "Gold",
    "order": 1,
    "priorities": ["HIGH", "URGENT"],
    "sources": ["EMAIL"],
    "warning_threshold": 80,
    "escalation_email": "gold@example.com",
    "targets": [
        {"priority": "HIGH", "metric_type": "first_response", "minutes": 30},
        {"priority": "HIGH", "metric_type": "resolution", "minutes": 240},
        {"priority": "URGENT", "metric_type": "first_response", "minutes": 10},
    ],
}


def targets_of(policy: SLAPolicy) -> set[tuple[str, str, int]]:
    return set(policy.targets.values_list("priority", "metric_type", "minutes"))


def test_admins_create_a_policy_with_its_targets_in_one_request(
    admin_client: APIClient, workflow: Any
) -> None:
    calendar = BusinessCalendarFactory(name="Office")

    response = admin_client.post(
        "/api/sla/policies/",
        {**POLICY, "workflow": workflow.pk, "calendar": calendar.pk},
        format="json",
    )

    assert response.status_code == 201, response.json()
    policy = SLAPolicy.objects.get(name="Gold")
    assert (policy.workflow, policy.calendar, policy.priorities, policy.sources) == (
        workflow,
        calendar,
        ["HIGH", "URGENT"],
        ["EMAIL"],
    )
    assert (policy.warning_threshold, policy.escalation_email) == (80, "gold@example.com")
    assert targets_of(policy) == {
        ("HIGH", "first_response", 30),
        ("HIGH", "resolution", 240),
        ("URGENT", "first_response", 10),
    }
    body = response.json()
    assert body["id"] == policy.pk
    assert len(body["targets"]) == 3
    assert body["is_active"] is True


def test_sending_targets_replaces_all_of_them_and_leaving_them_out_keeps_them(
    admin_client: APIClient, policy: SLAPolicy
) -> None:
    url = f"/api/sla/policies/{policy.pk}/"

    response = admin_client.patch(url, {"order": 3}, format="json")
    assert response.status_code == 200
    assert len(response.json()["targets"]) == 6
    assert len(targets_of(policy)) == 6

    response = admin_client.patch(
        url,
        {"targets": [{"priority": "LOW", "metric_type": "resolution", "minutes": 2880}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["targets"] == [
        {"priority": "LOW", "metric_type": "resolution", "minutes": 2880}
    ]
    assert targets_of(policy) == {("LOW", "resolution", 2880)}

    response = admin_client.put(url, {"name": "Standard", "targets": []}, format="json")
    assert response.status_code == 200
    assert targets_of(policy) == set()
    policy.refresh_from_db()
    assert policy.order == 3


def test_a_duplicate_target_is_a_field_error_and_changes_nothing(
    admin_client: APIClient, policy: SLAPolicy
) -> None:
    before = targets_of(policy)
    target = {"priority": "HIGH", "metric_type": "resolution", "minutes": 60}

    response = admin_client.patch(
        f"/api/sla/policies/{policy.pk}/", {"targets": [target, target]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "targets": [
            "More than one target for HIGH/resolution: give each priority and metric one target."
        ]
    }
    assert targets_of(policy) == before


def test_a_target_of_zero_minutes_is_refused_with_the_rows_error(
    admin_client: APIClient,
) -> None:
    response = admin_client.post(
        "/api/sla/policies/",
        {
            "name": "Zero",
            "targets": [
                {"priority": "HIGH", "metric_type": "resolution", "minutes": 60},
                {"priority": "LOW", "metric_type": "resolution", "minutes": 0},
            ],
        },
        format="json",
    )

    assert response.status_code == 400
    # Errors of nested rows are keyed by the row's index.
    assert response.json() == {
        "targets": {"1": {"minutes": ["Ensure this value is greater than or equal to 1."]}}
    }
    assert not SLAPolicy.objects.filter(name="Zero").exists()


def test_bad_policy_fields_are_field_errors(admin_client: APIClient, policy: SLAPolicy) -> None:
    response = admin_client.post(
        "/api/sla/policies/",
        {
            "name": "Standard",
            "priorities": ["SOON"],
            "warning_threshold": 100,
            "calendar": 999999,
            "targets": [{"priority": "HIGH", "metric_type": "sometime", "minutes": 5}],
        },
        format="json",
    )

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == {"name", "priorities", "warning_threshold", "calendar", "targets"}
    assert errors["name"] == ["SLA policy with this name already exists."]
    assert errors["priorities"] == {"0": ['"SOON" is not a valid choice.']}
    assert errors["targets"] == {"0": {"metric_type": ['"sometime" is not a valid choice.']}}


def test_a_policy_with_clocks_cannot_be_deleted_but_an_unused_one_can(
    admin_client: APIClient, breach: SLABreach, policy: SLAPolicy
) -> None:
    unused = SLAPolicyFactory(name="Unused", targets={Priority.LOW: (1, 1, 1)})

    response = admin_client.delete(f"/api/sla/policies/{policy.pk}/")
    assert response.status_code == 409
    assert "deactivate it instead" in response.json()["detail"]
    assert SLATarget.objects.filter(policy=policy).count() == 6

    assert admin_client.delete(f"/api/sla/policies/{unused.pk}/").status_code == 204
    assert not SLAPolicy.objects.filter(pk=unused.pk).exists()


def test_the_policy_list_runs_the_same_queries_for_2_and_12_policies(
    agent_client: APIClient, django_assert_num_queries: Any
) -> None:
    for n in range(12):
        SLAPolicyFactory(name=f"P{n}", targets={Priority.LOW: (1, 2, 3)})

    for size in (2, 12):
        # The count, the policies, their targets.
        with django_assert_num_queries(3):
            response = agent_client.get(f"/api/sla/policies/?page_size={size}")
        assert len(response.json()["results"]) == size


# --- calendars ----------------------------------------------------------------------------
CALENDAR = {
    "name": "Berlin office",
    "time_zone": "Europe/Berlin",
    "holiday_country": "DE",
    "holiday_subdivision": "BY",
    "intervals": [{"weekday": day, "start": "09:00", "end": "17:00"} for day in range(5)],
    "holidays": [{"date": "2026-12-24", "name": "Christmas Eve"}],
}


def test_admins_create_a_calendar_with_intervals_and_holidays(admin_client: APIClient) -> None:
    response = admin_client.post("/api/sla/calendars/", CALENDAR, format="json")

    assert response.status_code == 201, response.json()
    calendar = BusinessCalendar.objects.get(name="Berlin office")
    assert calendar.intervals.count() == 5
    assert list(calendar.holidays.values_list("name", flat=True)) == ["Christmas Eve"]
    spec = calendar_spec(calendar)
    assert (spec.time_zone, spec.holiday_subdivision, spec.is_24x7) == (
        "Europe/Berlin",
        "BY",
        False,
    )
    body = response.json()
    assert body["intervals"][0] == {"weekday": 0, "start": "09:00:00", "end": "17:00:00"}
    assert body["holidays"] == [{"date": "2026-12-24", "name": "Christmas Eve"}]


def test_the_calendar_list_runs_the_same_queries_for_2_and_12_calendars(
    agent_client: APIClient, django_assert_num_queries: Any
) -> None:
    for n in range(12):
        BusinessCalendarFactory(
            name=f"C{n}", intervals=[(0, time(9), time(17))], holidays=[(T0.date(), "")]
        )

    for size in (2, 12):
        # The count, the calendars, their intervals, their holidays.
        with django_assert_num_queries(4):
            response = agent_client.get(f"/api/sla/calendars/?page_size={size}")
        assert len(response.json()["results"]) == size


def test_calendar_writes_replace_the_rows_sent_and_mark_the_calendar_changed(
    admin_client: APIClient,
) -> None:
    calendar_id = admin_client.post("/api/sla/calendars/", CALENDAR, format="json").json()["id"]
    calendar = BusinessCalendar.objects.get(pk=calendar_id)
    url = f"/api/sla/calendars/{calendar_id}/"

    response = admin_client.patch(
        url, {"intervals": [{"weekday": 5, "start": "10:00", "end": "14:00"}]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert list(calendar.intervals.values_list("weekday", "start", "end")) == [
        (5, time(10), time(14))
    ]
    assert calendar.holidays.count() == 1  # not sent: kept
    changed = BusinessCalendar.objects.get(pk=calendar_id)
    assert changed.updated > calendar.updated
    assert calendar_spec(changed).intervals == ((5, time(10), time(14)),)

    response = admin_client.patch(url, {"time_zone": "America/New_York"}, format="json")
    assert response.status_code == 200
    assert calendar.intervals.count() == 1
    assert BusinessCalendar.objects.get(pk=calendar_id).time_zone == "America/New_York"


WRONG_TIME = "Time has wrong format. Use one of these formats instead: hh:mm[:ss[.uuuuuu]]."


@pytest.mark.parametrize(
    ("change", "errors"),
    [
        (
            {"time_zone": "Mars/Olympus"},
            {"time_zone": ["'Mars/Olympus' is not an IANA time zone (e.g. Europe/Berlin)."]},
        ),
        ({"holiday_country": "XX"}, {"holiday_country": ["Country XX not available"]}),
        (
            {"holiday_country": "DE", "holiday_subdivision": "XX"},
            {"holiday_country": ["Entity `DE` does not have subdivision XX"]},
        ),
        (
            {"holidays": [{"date": "2026-05-01"}, {"date": "2026-05-01", "name": "Again"}]},
            {"holidays": ["2026-05-01 listed more than once."]},
        ),
        (
            {"intervals": [{"weekday": 7, "start": "09:00", "end": "25:00"}]},
            {
                "intervals": {
                    "0": {
                        "weekday": ['"7" is not a valid choice.'],
                        "end": [WRONG_TIME],
                    }
                }
            },
        ),
    ],
    ids=["time zone", "country", "subdivision", "holiday twice", "interval"],
)
def test_bad_calendars_are_refused_with_field_errors_never_a_500(
    admin_client: APIClient, change: dict[str, Any], errors: dict[str, Any]
) -> None:
    response = admin_client.post("/api/sla/calendars/", {"name": "Bad", **change}, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    assert not BusinessCalendar.objects.exists()


def test_a_patch_is_validated_with_the_calendars_stored_values(admin_client: APIClient) -> None:
    calendar = BusinessCalendarFactory(name="Munich", holiday_country="DE")

    response = admin_client.patch(
        f"/api/sla/calendars/{calendar.pk}/", {"holiday_subdivision": "XX"}, format="json"
    )

    assert response.status_code == 400
    assert "holiday_country" in response.json()
    calendar.refresh_from_db()
    assert calendar.holiday_subdivision == ""


def test_a_calendar_in_use_cannot_be_deleted(admin_client: APIClient, policy: SLAPolicy) -> None:
    calendar = BusinessCalendarFactory(
        name="Office", intervals=[(0, time(9), time(17))], holidays=[(T0.date(), "")]
    )
    policy.calendar = calendar
    policy.save()

    response = admin_client.delete(f"/api/sla/calendars/{calendar.pk}/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "SLA policies use this calendar: give them another one first."
    }
    assert calendar.intervals.count() == 1

    policy.calendar = None
    policy.save()
    assert admin_client.delete(f"/api/sla/calendars/{calendar.pk}/").status_code == 204
    assert not WorkingInterval.objects.exists()


# --- clocks -------------------------------------------------------------------------------
def test_metrics_are_filtered_by_status_type_policy_ticket_and_deadline(
    agent_client: APIClient, tickets: dict[str, Ticket], policy: SLAPolicy, vip: SLAPolicy
) -> None:
    normal, high = tickets["normal"], tickets["high"]
    metric = {
        (m.ticket_id, m.metric_type): m.pk
        for m in SLAMetric.objects.filter(ticket__in=[normal, high])
    }

    def listed(query: str) -> set[int]:
        return set(ids(agent_client.get(f"/api/sla/metrics/?{query}")))

    assert listed("") == set(metric.values())
    assert listed("status=breached") == {
        metric[normal.pk, "first_response"],
        metric[high.pk, "first_response"],
        metric[high.pk, "resolution"],
    }
    assert listed("status=running") == {metric[normal.pk, "resolution"]}
    assert listed("metric_type=resolution") == {
        metric[normal.pk, "resolution"],
        metric[high.pk, "resolution"],
    }
    assert listed(f"policy={vip.pk}") == {
        metric[high.pk, "first_response"],
        metric[high.pk, "resolution"],
    }
    assert listed(f"ticket={normal.key}") == listed(f"ticket={normal.key.lower()}")
    assert listed(f"ticket={normal.key}") == {
        metric[normal.pk, "first_response"],
        metric[normal.pk, "resolution"],
    }
    # Deadlines: HIGH first response T0+15, NORMAL first response T0+60, HIGH resolution
    # T0+120, NORMAL resolution T0+480.
    after = (T0 + 60 * M).strftime("%Y-%m-%dT%H:%M:%SZ")
    before = (T0 + 480 * M).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed(f"deadline_after={after}&deadline_before={before}") == {
        metric[normal.pk, "first_response"],
        metric[high.pk, "resolution"],
    }


def test_a_metric_shows_its_ticket_key_policy_and_times(
    agent_client: APIClient, tickets: dict[str, Ticket], policy: SLAPolicy
) -> None:
    metric = SLAMetric.objects.get(ticket=tickets["normal"], metric_type=MetricType.RESOLUTION)

    body = agent_client.get(f"/api/sla/metrics/{metric.pk}/").json()

    assert body["ticket"] == tickets["normal"].key
    assert body["policy"] == {"id": policy.pk, "name": "Standard"}
    assert (body["metric_type"], body["status"], body["target_seconds"]) == (
        "resolution",
        "running",
        480 * 60,
    )
    assert body["deadline"] == "2026-03-02T17:00:00Z"


@pytest.mark.parametrize(
    "query",
    ["ticket=12", "ticket=NF-0", "policy=abc", "status=late", "deadline_after=yesterday"],
)
def test_bad_metric_filters_are_400_with_the_filters_message(
    agent_client: APIClient, query: str
) -> None:
    response = agent_client.get(f"/api/sla/metrics/?{query}")

    assert response.status_code == 400
    assert set(response.json()) == {query.split("=", maxsplit=1)[0]}


def test_unknown_or_absurd_ids_are_404(agent_client: APIClient) -> None:
    assert agent_client.get("/api/sla/metrics/12345/").status_code == 404
    assert agent_client.get("/api/sla/breaches/99999999999999999999999/").status_code == 404
    assert agent_client.get("/api/sla/breaches/abc/").status_code == 404


def test_the_metric_list_pages_by_cursor_newest_first_without_repeats(
    agent_client: APIClient, requester: User, policy: SLAPolicy
) -> None:
    breaches_of(4, requester)  # two clocks per ticket: 8
    expected = list(SLAMetric.objects.order_by("-id").values_list("id", flat=True))

    seen: list[int] = []
    url: str | None = "/api/sla/metrics/?page_size=3"
    while url:
        body = agent_client.get(url).json()
        assert "count" not in body
        seen += [row["id"] for row in body["results"]]
        url = body["next"]

    assert seen == expected


@pytest.mark.parametrize("path", ["metrics", "breaches"])
def test_the_lists_run_the_same_queries_for_5_and_30_rows(
    agent_client: APIClient,
    requester: User,
    policy: SLAPolicy,
    django_assert_num_queries: Any,
    path: str,
) -> None:
    breaches_of(30, requester)
    first = SLABreach.objects.order_by("id").first()
    assert first is not None
    sla_services.breach_acknowledge(breach=first, actor=UserFactory(role=Role.AGENT))

    for size in (5, 30):
        # One query: the rows with their policy (and acknowledging user); cursor pages
        # need no COUNT.
        with django_assert_num_queries(1):
            response = agent_client.get(f"/api/sla/{path}/?page_size={size}")
        assert len(response.json()["results"]) == size


# --- breaches -----------------------------------------------------------------------------
def test_breaches_are_filtered_by_type_policy_ticket_acknowledgement_and_time(
    agent_client: APIClient, agent: User, tickets: dict[str, Ticket], vip: SLAPolicy
) -> None:
    normal, high = tickets["normal"], tickets["high"]
    breach = {(b.ticket_id, b.breach_type): b for b in SLABreach.objects.all()}
    assert len(breach) == 3
    sla_services.breach_acknowledge(breach=breach[high.pk, "resolution"], actor=agent)

    def listed(query: str) -> set[int]:
        return set(ids(agent_client.get(f"/api/sla/breaches/?{query}")))

    def of(*keys: tuple[int, str]) -> set[int]:
        return {breach[key].pk for key in keys}

    assert listed("breach_type=resolution") == of((high.pk, "resolution"))
    assert listed(f"policy={vip.pk}") == of((high.pk, "first_response"), (high.pk, "resolution"))
    assert listed(f"ticket={normal.key}") == of((normal.pk, "first_response"))
    assert listed("acknowledged=true") == of((high.pk, "resolution"))
    assert listed("acknowledged=false") == of(
        (normal.pk, "first_response"), (high.pk, "first_response")
    )
    # Breached at the deadlines: T0+15 (HIGH first response), T0+60, T0+120.
    at = (T0 + 60 * M).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert listed(f"breached_after={at}") == of(
        (normal.pk, "first_response"), (high.pk, "resolution")
    )
    assert listed(f"breached_before={at}") == of((high.pk, "first_response"))
    assert agent_client.get("/api/sla/breaches/?acknowledged=maybe").status_code == 400


def test_breaches_are_listed_latest_first(
    agent_client: APIClient, tickets: dict[str, Ticket]
) -> None:
    times = [row["breached_at"] for row in agent_client.get("/api/sla/breaches/").json()["results"]]

    assert times == ["2026-03-02T11:00:00Z", "2026-03-02T10:00:00Z", "2026-03-02T09:15:00Z"]


def test_acknowledging_a_breach_records_who_when_and_the_note_once(
    api_client: APIClient, agent: User, breach: SLABreach, clock: time_machine.Coordinates
) -> None:
    client = as_user(api_client, agent)
    url = f"/api/sla/breaches/{breach.pk}/acknowledge/"

    response = client.post(url, {"note": " Mail server outage "}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["is_acknowledged"] is True
    assert body["acknowledged_by"]["username"] == "agent"
    assert body["acknowledged_at"] == "2026-03-02T09:00:00Z"
    assert body["acknowledgement_note"] == "Mail server outage"
    event = EventLog.objects.get(type="sla.acknowledged")
    assert (event.actor, event.ticket_key, event.payload["note"]) == (
        agent,
        breach.ticket.key,
        "Mail server outage",
    )

    other = UserFactory(username="other-agent", role=Role.AGENT)
    clock.shift(3600)
    response = as_user(api_client, other).post(url, {"note": "Mine"}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "Already acknowledged by agent at 2026-03-02 09:00 UTC."}
    breach.refresh_from_db()
    assert (breach.acknowledged_by, breach.acknowledgement_note) == (agent, "Mail server outage")
    assert EventLog.objects.filter(type="sla.acknowledged").count() == 1


def test_the_note_is_optional_but_not_endless(agent_client: APIClient, breach: SLABreach) -> None:
    url = f"/api/sla/breaches/{breach.pk}/acknowledge/"

    response = agent_client.post(url, {"note": "x" * 2001}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"note"}

    response = agent_client.post(url, format="json")
    assert response.status_code == 200
    assert response.json()["acknowledgement_note"] == ""


def test_the_clock_of_a_breach_reads_as_breached(
    agent_client: APIClient, breach: SLABreach
) -> None:
    body = agent_client.get(f"/api/sla/breaches/{breach.pk}/").json()

    assert body["metric"] == breach.metric_id
    assert body["breach_type"] == "first_response"
    assert body["is_acknowledged"] is False
    assert body["acknowledged_by"] is None
    metric = agent_client.get(f"/api/sla/metrics/{breach.metric_id}/").json()
    assert metric["status"] == SLAStatus.BREACHED
