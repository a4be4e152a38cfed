"""The admin: each agent's own list, newest first, unread in bold; marking read and
unread; opening one marks it read and lands on the ticket; the preferences page; and
the unread count tag that every admin page shows."""

from __future__ import annotations

import pytest
from django.template import Context, RequestContext, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from nixflow.models import User
from notifications.models import Kind, Notification
from notifications.selectors import preferences_of
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:notifications_notification_changelist"


@pytest.fixture
def bob_client(client: Client, bob: User) -> Client:
    client.force_login(bob)
    return client


def test_the_list_shows_only_the_agents_own_unread_in_bold(
    bob_client: Client, bob: User, alice: User
) -> None:
    mine = NotificationFactory(recipient=bob, text="mine, unread")
    NotificationFactory(recipient=bob, text="mine, read", read_at="2026-01-01T00:00Z")
    NotificationFactory(recipient=alice, text="alice's")
    page = bob_client.get(reverse(CHANGELIST)).content.decode()
    assert "mine, unread" in page
    assert "mine, read" in page
    assert "alice&#x27;s" not in page
    assert "alice's" not in page
    assert f'<strong class="nf-unread" data-unread="1">{mine.text}</strong>' in page
    assert page.count('data-unread="1"') == 1


def test_opening_a_notification_marks_it_read_and_lands_on_the_ticket(
    bob_client: Client, bob: User
) -> None:
    notification = NotificationFactory(recipient=bob)
    url = reverse("admin:notifications_notification_change", args=[notification.pk])
    response = bob_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "admin:nixflow_ticket_change", args=[notification.ticket_id]
    )
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_another_agents_notification_cannot_be_opened(bob_client: Client, alice: User) -> None:
    theirs = NotificationFactory(recipient=alice)
    url = reverse("admin:notifications_notification_change", args=[theirs.pk])
    assert bob_client.get(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_actions_mark_the_selected_read_and_unread(bob_client: Client, bob: User) -> None:
    first, second = NotificationFactory(recipient=bob), NotificationFactory(recipient=bob)
    url = reverse(CHANGELIST)
    bob_client.post(url, {"action": "mark_read", "_selected_action": [first.pk, second.pk]})
    assert Notification.objects.filter(recipient=bob, read_at__isnull=True).count() == 0
    bob_client.post(url, {"action": "mark_unread", "_selected_action": [second.pk]})
    assert list(Notification.objects.filter(read_at__isnull=True)) == [second]


def test_the_unread_filter(bob_client: Client, bob: User) -> None:
    NotificationFactory(recipient=bob, text="new one")
    NotificationFactory(recipient=bob, text="old one", read_at="2026-01-01T00:00Z")
    page = bob_client.get(reverse(CHANGELIST), {"status": "unread"}).content.decode()
    assert "new one" in page
    assert "old one" not in page


def test_an_agent_edits_their_preferences_in_the_admin(bob_client: Client, bob: User) -> None:
    url = reverse("admin:notifications_notification_preferences")
    page = bob_client.get(url).content.decode()
    assert "A ticket I work on or watch changed stage" in page
    # Checked boxes only, as a browser posts them: stage changes now mailed too, and
    # at-risk warnings no longer listed.
    posted = {f"{kind}__in_admin": "on" for kind in Kind.values if kind != Kind.SLA_AT_RISK}
    posted |= {f"{kind}__email": "on" for kind in (Kind.ASSIGNED, Kind.STAGE_CHANGED)}
    response = bob_client.post(url, posted)
    assert response.status_code == 302
    chosen = preferences_of(user_ids=[bob.pk])[bob.pk]
    assert chosen[Kind.STAGE_CHANGED] == (True, True)
    assert chosen[Kind.SLA_AT_RISK] == (False, False)
    assert chosen[Kind.MENTIONED] == (True, False)


def test_requesters_have_no_notifications_in_the_admin(client: Client, requester: User) -> None:
    requester.is_staff = True  # even one made staff by mistake
    requester.save()
    client.force_login(requester)
    assert client.get(reverse(CHANGELIST)).status_code == 403


def render_tag(user: object) -> str:
    request = RequestFactory().get("/admin/")
    request.user = user  # type: ignore[assignment]
    template = Template("{% load notifications %}{% unread_notifications %}")
    return template.render(RequestContext(request, {}))


def test_the_unread_count_tag_links_an_agent_to_their_list(bob: User, alice: User) -> None:
    assert 'aria-label="Notifications: 0 unread"' in render_tag(bob)
    NotificationFactory(recipient=bob)
    NotificationFactory(recipient=bob)
    NotificationFactory(recipient=bob, read_at="2026-01-01T00:00Z")
    NotificationFactory(recipient=alice)
    html = render_tag(bob)
    assert f'href="{reverse(CHANGELIST)}"' in html
    assert '<span class="nf-badge">2</span>' in html


def test_the_unread_count_tag_shows_nothing_to_requesters_or_anonymous_users(
    requester: User,
) -> None:
    from django.contrib.auth.models import AnonymousUser

    assert render_tag(requester).strip() == ""
    assert render_tag(AnonymousUser()).strip() == ""
    assert (
        Template("{% load notifications %}{% unread_notifications %}").render(Context({})).strip()
        == ""
    )


def test_the_tag_costs_one_query(bob: User, django_assert_num_queries: object) -> None:
    NotificationFactory(recipient=bob)
    with django_assert_num_queries(1):  # type: ignore[operator]
        render_tag(bob)


def test_the_list_costs_the_same_queries_for_few_or_many(bob_client: Client, bob: User) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert bob_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    NotificationFactory.create_batch(2, recipient=bob)
    few = queries()
    NotificationFactory.create_batch(20, recipient=bob)
    assert queries() == few


@pytest.mark.parametrize(
    "url", ["admin:index", "admin:nixflow_ticket_changelist", "admin:nixflow_workflow_changelist"]
)
def test_every_admin_page_shows_the_unread_count_beside_the_user_links(
    client: Client, bob: User, url: str
) -> None:
    NotificationFactory(recipient=bob)
    NotificationFactory(recipient=bob)
    client.force_login(bob)

    page = client.get(reverse(url)).content.decode()

    links = page[page.index('id="user-tools"') :]
    assert links.index('data-testid="unread-notifications"') < links.index("Log out")
    assert '<span class="nf-badge">2</span>' in links
    assert 'class="nf-mark"' in page  # the core's branding is still there, under it
