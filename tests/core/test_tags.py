"""Tags on tickets through the services and the admin: names matched regardless of case,
tags created on the fly unless the list is locked, one history row and one event per
change, the admin's ticket page, bulk actions and "By tag" filter."""

from __future__ import annotations

import threading
import time
from io import StringIO

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from eventlog.models import EventLog
from nixflow import demo, events, services
from nixflow.models import DeskSettings, Tag, Ticket, User
from tests.core.admin_pages import errors, form_data, url
from tests.factories import AdminFactory, AgentFactory, TicketFactory
from tests.helpers import history

pytestmark = pytest.mark.django_db


def _events(type: str) -> list[EventLog]:
    return list(EventLog.objects.filter(type=type).order_by("id"))


def _names(ticket: Ticket) -> list[str]:
    return sorted(ticket.tags.values_list("name", flat=True), key=str.casefold)


def _lock_tags() -> None:
    services.desk_settings_update(actor=None, data={"tags_locked": True})


# --- Services -----------------------------------------------------------------------------
def test_an_agent_tags_a_ticket_creating_new_tags_with_one_history_row_and_one_event(
    ticket: Ticket, agent: User
) -> None:
    services.ticket_tags_set(ticket=ticket, tags=[" VPN ", "billing", "vpn", ""], actor=agent)

    assert _names(ticket) == ["billing", "VPN"]
    assert Tag.objects.get(name="VPN").created_by == agent
    assert history(ticket)[-1] == ("tags", "", "billing, VPN")
    [event] = _events(events.TICKET_TAGS_CHANGED)
    assert event.actor_id == agent.pk
    assert event.payload["added"] == ["billing", "VPN"]
    assert event.payload["removed"] == []
    assert event.payload["changes"] == {"tags": ["", "billing, VPN"]}
    created = _events(events.TAG_CREATED)
    assert [e.payload for e in created] == [
        {"name": "VPN", "on_the_fly": True},
        {"name": "billing", "on_the_fly": True},
    ]


def test_names_match_existing_tags_in_any_case_and_keep_their_spelling(
    ticket: Ticket, agent: User
) -> None:
    vpn = Tag.objects.create(name="VPN")
    services.ticket_tag_add(ticket=ticket, tags=["vpn"], actor=agent)

    assert list(ticket.tags.all()) == [vpn]
    assert Tag.objects.count() == 1
    assert _events(events.TAG_CREATED) == []


def test_setting_replaces_the_tags_and_the_event_lists_what_was_added_and_removed(
    ticket: Ticket, agent: User
) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["a", "b"], actor=agent)
    services.ticket_tags_set(ticket=ticket, tags=["B", "c"], actor=agent)

    assert _names(ticket) == ["b", "c"]
    assert history(ticket)[-1] == ("tags", "a, b", "b, c")
    last = _events(events.TICKET_TAGS_CHANGED)[-1]
    assert (last.payload["added"], last.payload["removed"]) == (["c"], ["a"])


def test_no_change_records_nothing(ticket: Ticket, agent: User) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["a"], actor=agent)
    rows = len(history(ticket))
    services.ticket_tags_set(ticket=ticket, tags=["A"], actor=agent)
    services.ticket_tag_add(ticket=ticket, tags=["a"], actor=agent)
    services.ticket_tag_remove(ticket=ticket, tags=["unknown"], actor=agent)

    assert len(history(ticket)) == rows
    assert len(_events(events.TICKET_TAGS_CHANGED)) == 1
    assert not Tag.objects.filter(name="unknown").exists()


def test_removing_keeps_the_other_tags(ticket: Ticket, agent: User) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["a", "b", "c"], actor=agent)
    services.ticket_tag_remove(ticket=ticket, tags=["B"], actor=agent)

    assert _names(ticket) == ["a", "c"]
    assert history(ticket)[-1] == ("tags", "a, b, c", "a, c")
    assert Tag.objects.filter(name="b").exists()  # the tag stays in the list


def test_a_locked_list_refuses_unknown_names_and_names_them(ticket: Ticket, agent: User) -> None:
    Tag.objects.create(name="VPN")
    _lock_tags()

    with pytest.raises(ValidationError) as refused:
        services.ticket_tags_set(ticket=ticket, tags=["vpn", "new one", "Other"], actor=agent)

    assert "locked" in str(refused.value)
    assert "new one, Other" in str(refused.value)
    assert _names(ticket) == []
    assert Tag.objects.count() == 1
    services.ticket_tag_add(ticket=ticket, tags=["vpn"], actor=agent)
    assert _names(ticket) == ["VPN"]


def test_requesters_cannot_tag_their_own_tickets(ticket: Ticket, requester: User) -> None:
    for service in (services.ticket_tags_set, services.ticket_tag_add, services.ticket_tag_remove):
        with pytest.raises(PermissionDenied):
            service(ticket=ticket, tags=["x"], actor=requester)
    assert Tag.objects.count() == 0


@pytest.mark.parametrize("bad", ["a,b", "x" * 51], ids=["comma", "too long"])
def test_bad_names_are_refused(ticket: Ticket, agent: User, bad: str) -> None:
    with pytest.raises(ValidationError):
        services.ticket_tags_set(ticket=ticket, tags=[bad], actor=agent)


def test_a_ticket_has_at_most_twenty_tags(ticket: Ticket, agent: User) -> None:
    with pytest.raises(ValidationError, match="at most 20"):
        services.ticket_tags_set(ticket=ticket, tags=[f"t{i}" for i in range(21)], actor=agent)


def test_tagging_bumps_the_tickets_updated_time(ticket: Ticket, agent: User) -> None:
    before = ticket.updated
    services.ticket_tag_add(ticket=ticket, tags=["a"], actor=agent)
    ticket.refresh_from_db()
    assert ticket.updated > before


# --- The tag list ---------------------------------------------------------------------------
def test_admins_create_rename_and_delete_tags_with_events(ticket: Ticket, agent: User) -> None:
    admin = AdminFactory()
    tag = services.tag_create(name=" Outage ", actor=admin)
    services.ticket_tag_add(ticket=ticket, tags=["outage"], actor=agent)
    services.tag_update(tag=tag, name="Major outage", actor=admin)
    assert _names(ticket) == ["Major outage"]

    services.tag_delete(tag=tag, actor=admin)

    assert _names(ticket) == []
    assert [e.payload for e in _events(events.TAG_CREATED)] == [
        {"name": "Outage", "on_the_fly": False}
    ]
    [renamed] = _events(events.TAG_UPDATED)
    assert renamed.payload["changes"] == {"name": ["Outage", "Major outage"]}
    [deleted] = _events(events.TAG_DELETED)
    assert deleted.payload == {"name": "Major outage", "tickets": 1}
    assert history(ticket)[-1] == ("tags", "", "Outage")  # the history keeps the name


def test_merging_moves_the_tickets_to_the_other_tag_with_their_history(agent: User) -> None:
    admin = AdminFactory()
    one, both, other = (TicketFactory() for _ in range(3))
    services.ticket_tags_set(ticket=one, tags=["vpm"], actor=agent)
    services.ticket_tags_set(ticket=both, tags=["vpm", "VPN"], actor=agent)
    services.ticket_tags_set(ticket=other, tags=["mail"], actor=agent)
    typo, vpn = Tag.objects.get(name="vpm"), Tag.objects.get(name="VPN")

    services.tag_merge(tag=typo, into=vpn, actor=admin)

    assert not Tag.objects.filter(pk=typo.pk).exists()
    assert _names(one) == _names(both) == ["VPN"]
    assert _names(other) == ["mail"]
    assert history(one)[-1] == ("tags", "vpm", "VPN")
    assert history(both)[-1] == ("tags", "vpm, VPN", "VPN")
    [merged] = _events(events.TAG_MERGED)
    assert merged.payload == {"name": "vpm", "into_id": vpn.pk, "into": "VPN", "tickets": 2}
    with pytest.raises(ValidationError):
        services.tag_merge(tag=vpn, into=vpn, actor=admin)
    with pytest.raises(PermissionDenied):
        services.tag_merge(tag=Tag.objects.get(name="mail"), into=vpn, actor=agent)


def test_tag_names_are_unique_regardless_of_case() -> None:
    admin = AdminFactory()
    services.tag_create(name="VPN", actor=admin)
    other = services.tag_create(name="Mail", actor=admin)
    with pytest.raises(ValidationError, match="already exists"):
        services.tag_create(name="vpn", actor=admin)
    with pytest.raises(ValidationError, match="already exists"):
        services.tag_update(tag=other, name="Vpn", actor=admin)
    services.tag_update(tag=other, name="MAIL", actor=admin)  # its own name in another case
    assert Tag.objects.get(pk=other.pk).name == "MAIL"


def test_agents_cannot_change_the_tag_list_or_the_lock(agent: User) -> None:
    tag = Tag.objects.create(name="a")
    with pytest.raises(PermissionDenied):
        services.tag_create(name="b", actor=agent)
    with pytest.raises(PermissionDenied):
        services.tag_update(tag=tag, name="b", actor=agent)
    with pytest.raises(PermissionDenied):
        services.tag_delete(tag=tag, actor=agent)
    with pytest.raises(PermissionDenied):
        services.desk_settings_update(actor=agent, data={"tags_locked": True})


def test_locking_the_list_is_one_event_and_read_at_once() -> None:
    admin = AdminFactory()
    assert DeskSettings.load().tags_locked is False
    assert DeskSettings.objects.count() == 0  # reading never writes

    services.desk_settings_update(actor=admin, data={"tags_locked": True})
    services.desk_settings_update(actor=admin, data={"tags_locked": True})

    assert DeskSettings.load().tags_locked is True
    [event] = _events(events.DESK_SETTINGS_UPDATED)
    assert event.payload == {"fields": ["tags_locked"], "changes": {"tags_locked": [False, True]}}


# --- Admin: the ticket page ------------------------------------------------------------------
def test_the_ticket_page_shows_and_saves_the_tags_through_the_service(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["printer", "Floor 2"], actor=agent)
    page = agent_client.get(url("ticket_change", ticket.pk))
    assert 'value="Floor 2, printer"' in page.content.decode()

    data = form_data(page)
    data["tag_names"] = "printer, toner ,, Printer"
    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert _names(ticket) == ["printer", "toner"]
    assert history(ticket)[-1] == ("tags", "Floor 2, printer", "printer, toner")


def test_saving_the_ticket_page_untouched_records_no_tag_change(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    services.ticket_tags_set(ticket=ticket, tags=["b", "a"], actor=agent)
    rows = len(history(ticket))

    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert len(history(ticket)) == rows


def test_the_ticket_page_shows_a_locked_lists_refusal_on_the_form(
    agent_client: Client, ticket: Ticket
) -> None:
    _lock_tags()
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    assert "locked" in str(agent_client.get(url("ticket_change", ticket.pk)).content)
    data.update(tag_names="brand new", title="Changed too")

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 200
    assert "brand new" in errors(response)
    ticket.refresh_from_db()
    assert ticket.title == "Printer on fire"  # the whole save rolled back
    assert not Tag.objects.exists()


# --- Admin: the ticket list -------------------------------------------------------------------
def _act(client: Client, action: str, tickets: list[Ticket], names: str) -> list[str]:
    response = client.post(
        url("ticket_changelist"),
        {
            "action": action,
            "tag_names": names,
            "_selected_action": [t.pk for t in tickets],
            "index": 0,
        },
        follow=True,
    )
    return [str(m) for m in response.context["messages"]]


def test_bulk_actions_add_and_remove_tags_on_the_selected_tickets(
    agent_client: Client, agent: User, requester: User
) -> None:
    one, two, other = (TicketFactory(requester=requester) for _ in range(3))

    shown = _act(agent_client, "add_tags", [one, two], "vpn, Urgent")
    assert "Tagged 2 tickets: vpn, Urgent." in shown
    assert _names(one) == _names(two) == ["Urgent", "vpn"]
    assert _names(other) == []
    assert len(_events(events.TICKET_TAGS_CHANGED)) == 2

    shown = _act(agent_client, "remove_tags", [one, two, other], "URGENT")
    assert _names(one) == _names(two) == ["vpn"]
    assert len(_events(events.TICKET_TAGS_CHANGED)) == 4  # nothing to remove from `other`


def test_bulk_tagging_needs_names_and_respects_the_lock(
    agent_client: Client, requester: User
) -> None:
    ticket = TicketFactory(requester=requester)
    assert any("Type the tags" in m for m in _act(agent_client, "add_tags", [ticket], " , "))

    _lock_tags()
    shown = _act(agent_client, "add_tags", [ticket], "new")
    assert any(m.startswith(f"Could not tag 1 ticket: {ticket.key}: ") for m in shown)
    assert _names(ticket) == []


def test_the_by_tag_filter_lists_the_tickets_with_the_tag(
    agent_client: Client, agent: User, requester: User
) -> None:
    tagged, untagged = TicketFactory(requester=requester), TicketFactory(requester=requester)
    services.ticket_tags_set(ticket=tagged, tags=["vpn"], actor=agent)
    tag = Tag.objects.get()

    response = agent_client.get(url("ticket_changelist"), {"tag": tag.pk})

    assert response.status_code == 200
    shown = set(response.context["cl"].result_list)
    assert shown == {tagged}
    assert untagged not in shown
    assert "vpn" in response.content.decode()  # the filter's choice
    assert agent_client.get(url("ticket_changelist"), {"tag": "x"}).status_code in {200, 302}


# --- Admin: the tag list and the lock ---------------------------------------------------------
def test_agents_see_the_tag_list_read_only(agent_client: Client) -> None:
    tag = Tag.objects.create(name="vpn")
    assert agent_client.get(url("tag_changelist")).status_code == 200
    assert agent_client.get(url("tag_add")).status_code == 403
    assert agent_client.post(url("tag_change", tag.pk), {"name": "x"}).status_code == 403
    assert agent_client.get(url("desksettings_changelist"), follow=True).status_code == 200
    response = agent_client.post(url("desksettings_change", 1), {"tags_locked": "on"})
    assert response.status_code == 403
    assert not DeskSettings.load().tags_locked


def test_admins_manage_tags_and_lock_the_list_in_the_admin(client: Client) -> None:
    client.force_login(AdminFactory())
    assert client.post(url("tag_add"), {"name": " Outage "}).status_code == 302
    tag = Tag.objects.get(name="Outage")
    response = client.post(url("tag_add"), {"name": "outage"})
    assert response.status_code == 200
    assert "already exists" in errors(response)
    assert client.post(url("tag_change", tag.pk), {"name": "Major outage"}).status_code == 302
    other = services.tag_create(name="Outages", actor=None)
    merged = client.post(
        url("tag_changelist"),
        {"action": "merge", "into": tag.pk, "_selected_action": [other.pk, tag.pk], "index": 0},
        follow=True,
    )
    assert "Merged 1 tag into Major outage." in [str(m) for m in merged.context["messages"]]
    assert client.post(url("tag_delete", tag.pk), {"post": "yes"}).status_code == 302
    assert not Tag.objects.exists()
    assert [e.type for e in EventLog.objects.filter(type__startswith="tag.").order_by("id")] == [
        events.TAG_CREATED,
        events.TAG_UPDATED,
        events.TAG_CREATED,
        events.TAG_MERGED,
        events.TAG_DELETED,
    ]

    assert "Tags locked" in client.get(url("desksettings_changelist")).content.decode()
    response = client.post(url("desksettings_change", 1), {"tags_locked": "on"})
    assert response.status_code == 302
    assert DeskSettings.load().tags_locked
    assert len(_events(events.DESK_SETTINGS_UPDATED)) == 1


# --- Demo data ----------------------------------------------------------------------------------
def test_seed_demo_tags_tickets_by_their_titles_through_the_service() -> None:
    call_command(
        "seed_demo", "--core-only", "--tickets", "30", stdout=StringIO(), stderr=StringIO()
    )

    tagged = Ticket.objects.filter(tags__isnull=False).distinct()
    assert tagged.count() >= 5
    for ticket in tagged:
        expected = demo.demo_tags(ticket.title, ticket.workflow.name)
        assert _names(ticket) == sorted(expected, key=str.casefold)
        assert ("tags", "", ", ".join(sorted(expected, key=str.casefold))) in history(ticket)
    assert Tag.objects.filter(name="access").exists()


# --- Concurrency --------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_two_agents_creating_the_same_new_tag_at_once_end_with_one_tag(requester: User) -> None:
    """A's tagging inserts the new tag and holds its transaction open; B, tagging another
    ticket "VPN" meanwhile, waits at its insert (the unique index on lower(name)) until A
    commits, then takes A's tag instead of failing."""
    first, second = TicketFactory(requester=requester), TicketFactory(requester=requester)
    agent_a, agent_b = AgentFactory(), AgentFactory()
    a_inserted, errors_seen = threading.Event(), []

    def a() -> None:
        try:
            with transaction.atomic():
                services.ticket_tags_set(ticket=first, tags=["vpn"], actor=agent_a)
                a_inserted.set()
                time.sleep(0.5)  # B is blocked on the index meanwhile (or not yet there)
        except Exception as error:  # pragma: no cover - reported below
            errors_seen.append(error)
        finally:
            a_inserted.set()
            connections.close_all()

    def b() -> None:
        try:
            a_inserted.wait(10)
            services.ticket_tags_set(ticket=second, tags=["VPN"], actor=agent_b)
        except Exception as error:  # pragma: no cover - reported below
            errors_seen.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors_seen == []
    tag = Tag.objects.get()
    assert tag.name == "vpn"
    assert tag.created_by == agent_a
    assert list(first.tags.all()) == list(second.tags.all()) == [tag]
    assert len(_events(events.TAG_CREATED)) == 1


def test_the_ticket_list_shows_tags_in_one_query_however_many_rows_and_tags(
    agent_client: Client, agent: User, requester: User
) -> None:
    def page() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = agent_client.get(url("ticket_changelist"))
        return len(captured), response.content.decode()

    TicketFactory(requester=requester)
    few, _ = page()
    for number in range(6):
        ticket = TicketFactory(requester=requester)
        services.ticket_tags_set(ticket=ticket, tags=[f"t{i}" for i in range(number)], actor=agent)

    many, html = page()

    assert many == few
    assert '<span class="nf-tag">t0</span>' in html
    assert '<span class="nf-tag-more">+2</span>' in html  # five tags: three shown
    assert 'title="t0, t1, t2, t3, t4"' in html
