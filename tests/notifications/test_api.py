"""The notifications API as an agent (their own only), a requester (403) and an
anonymous caller (401)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow.models import User
from notifications.models import Kind, Notification
from tests.helpers import as_user
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST = "/api/notifications/"
PREFERENCES = "/api/notifications/preferences/"


@pytest.fixture
def bob_api(bob: User) -> APIClient:
    return as_user(APIClient(), bob)


def test_an_agent_lists_their_own_notifications_newest_first(
    bob_api: APIClient, bob: User, alice: User
) -> None:
    older = NotificationFactory(recipient=bob)
    newer = NotificationFactory(recipient=bob)
    NotificationFactory(recipient=alice)
    NotificationFactory(recipient=bob, in_admin=False, email=True)  # mailed only
    response = bob_api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [newer.pk, older.pk]
    row = body["results"][0]
    assert row["ticket_key"] == newer.ticket.key
    assert row["kind"] == "assigned"
    assert row["is_read"] is False


def test_the_unread_filter_and_marking_read_unread_and_all(bob_api: APIClient, bob: User) -> None:
    first, second, third = (NotificationFactory(recipient=bob) for _ in range(3))
    response = bob_api.post(f"{LIST}{first.pk}/read/")
    assert response.status_code == 200
    assert response.json()["is_read"] is True
    unread = bob_api.get(LIST, {"unread": "true"}).json()
    assert {row["id"] for row in unread["results"]} == {second.pk, third.pk}
    read = bob_api.get(LIST, {"unread": "false"}).json()
    assert [row["id"] for row in read["results"]] == [first.pk]
    assert bob_api.post(f"{LIST}{first.pk}/unread/").json()["read_at"] is None
    assert bob_api.post(f"{LIST}read_all/").json() == {"marked": 3}
    assert bob_api.post(f"{LIST}read_all/").json() == {"marked": 0}
    assert not Notification.objects.filter(recipient=bob, read_at__isnull=True).exists()


def test_another_agents_notification_is_not_found(bob_api: APIClient, alice: User) -> None:
    theirs = NotificationFactory(recipient=alice)
    assert bob_api.post(f"{LIST}{theirs.pk}/read/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_preferences_show_every_kind_with_its_defaults(bob_api: APIClient) -> None:
    rows = bob_api.get(PREFERENCES).json()["preferences"]
    assert [row["kind"] for row in rows] == Kind.values
    by_kind = {row["kind"]: (row["in_admin"], row["email"]) for row in rows}
    assert by_kind["assigned"] == (True, True)
    assert by_kind["stage_changed"] == (True, False)


def test_patch_changes_some_preferences_and_put_sets_them_all(
    bob_api: APIClient, bob: User
) -> None:
    def by_kind(response: Any) -> dict[str, tuple[bool, bool]]:
        assert response.status_code == 200, response.content
        return {r["kind"]: (r["in_admin"], r["email"]) for r in response.json()["preferences"]}

    patched = bob_api.patch(
        PREFERENCES, {"preferences": [{"kind": "stage_changed", "email": True}]}, format="json"
    )
    assert by_kind(patched)["stage_changed"] == (True, True)
    assert EventLog.objects.filter(type="notification.preferences.updated").count() == 1

    # A PUT sets every kind: the ones it leaves out go back to their defaults.
    one = {"preferences": [{"kind": "assigned", "in_admin": True, "email": False}]}
    put = by_kind(bob_api.put(PREFERENCES, one, format="json"))
    assert put["assigned"] == (True, False)
    assert put["stage_changed"] == (True, False)

    everything = {
        "preferences": [{"kind": kind, "in_admin": True, "email": False} for kind in Kind.values]
    }
    assert not any(
        email for _, email in by_kind(bob_api.put(PREFERENCES, everything, format="json")).values()
    )


def test_preferences_refuse_unknown_kinds_and_rows_without_one(bob_api: APIClient) -> None:
    unknown = {"preferences": [{"kind": "gossip", "email": True}]}
    assert bob_api.patch(PREFERENCES, unknown, format="json").status_code == 400
    kindless = {"preferences": [{"email": True}]}
    assert bob_api.patch(PREFERENCES, kindless, format="json").status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", LIST),
        ("post", f"{LIST}1/read/"),
        ("post", f"{LIST}1/unread/"),
        ("post", f"{LIST}read_all/"),
        ("get", PREFERENCES),
        ("put", PREFERENCES),
        ("patch", PREFERENCES),
    ],
)
def test_requesters_get_403_and_anonymous_callers_401(
    requester_api: APIClient, method: str, path: str
) -> None:
    assert getattr(requester_api, method)(path, {}, format="json").status_code == 403
    assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401


def test_a_put_row_without_both_channels_and_an_unreadable_filter_are_400(
    bob_api: APIClient,
) -> None:
    rows = [{"kind": kind, "in_admin": True, "email": False} for kind in Kind.values]
    del rows[0]["email"]
    assert bob_api.put(PREFERENCES, {"preferences": rows}, format="json").status_code == 400
    # Booleans are JSON booleans, as the schema says (DRF alone reads 0 and "yes").
    zero = {"preferences": [{"kind": "assigned", "email": 0}]}
    assert bob_api.patch(PREFERENCES, zero, format="json").status_code == 400
    assert bob_api.get(LIST, {"unread": "maybe"}).status_code == 400
