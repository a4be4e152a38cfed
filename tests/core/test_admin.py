"""The staff UI in the admin: role-based access, the ticket list and page (saved through
the services), the workflow editor, and the read-only record."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from eventlog.models import EventLog
from nixflow import admin as nixflow_admin
from nixflow import events, services
from nixflow.models import (
    Comment,
    HistoryLog,
    Priority,
    Role,
    Source,
    Stage,
    StageCategory,
    Ticket,
    TicketWatcher,
    Transition,
    User,
    Workflow,
)
from nixflow.toolkit import panels
from tests.core.admin_pages import errors, fill_new_row, form_data, prefix, url
from tests.factories import StageFactory, TicketFactory, UserFactory, WorkflowFactory
from tests.helpers import history

pytestmark = pytest.mark.django_db


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def ticket(agent: User, requester: User, workflow: Workflow) -> Ticket:
    return services.ticket_create(requester=requester, title="Printer on fire", actor=agent)


# --- who gets in -------------------------------------------------------------------------
def test_agent_sees_the_ticket_list(agent_client: Client, ticket: Ticket) -> None:
    response = agent_client.get(url("ticket_changelist"))

    assert response.status_code == 200
    assert ticket in response.context["cl"].result_list


def test_requester_is_sent_to_the_login_page(client: Client, requester: User) -> None:
    client.force_login(requester)

    response = client.get(url("ticket_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_requester_made_staff_by_mistake_still_sees_nothing(
    client: Client, requester: User, ticket: Ticket
) -> None:
    requester.is_staff = True
    requester.save()
    client.force_login(requester)

    assert client.get(url("ticket_changelist")).status_code == 403
    assert client.get(url("ticket_change", ticket.pk)).status_code == 403
    app_list = client.get(reverse("admin:index")).context["app_list"]
    assert "nixflow" not in [app["app_label"] for app in app_list]


def test_agent_sees_tickets_workflows_users_and_the_record_in_the_index(
    agent_client: Client,
) -> None:
    app_list = agent_client.get(reverse("admin:index")).context["app_list"]

    models = {m["object_name"]: m["perms"] for app in app_list for m in app["models"]}
    assert models["Ticket"] == {"add": True, "change": True, "delete": False, "view": True}
    for name in ("Workflow", "User", "Comment", "HistoryLog"):
        assert models[name] == {"add": False, "change": False, "delete": False, "view": True}


# --- the ticket list ---------------------------------------------------------------------
def changelist_queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("ticket_changelist"))
    assert response.status_code == 200
    return len(queries)


def test_ticket_list_query_count_does_not_grow_with_the_tickets(
    agent_client: Client, agent: User, workflow: Workflow
) -> None:
    TicketFactory.create_batch(5, assignee=agent)
    with_five = changelist_queries(agent_client)

    TicketFactory.create_batch(25, assignee=agent)
    TicketFactory.create_batch(5)  # unassigned, other requesters

    assert changelist_queries(agent_client) == with_five


def test_searching_a_key_finds_that_ticket(agent_client: Client, workflow: Workflow) -> None:
    tickets = TicketFactory.create_batch(3)

    response = agent_client.get(url("ticket_changelist"), {"q": f" nf-{tickets[1].pk} "})

    assert list(response.context["cl"].result_list) == [tickets[1]]


def test_search_matches_words_of_the_title_and_the_requester_email(
    agent_client: Client, workflow: Workflow
) -> None:
    carol = UserFactory(username="carol", email="Carol@Example.com")
    by_carol = TicketFactory(requester=carol, title="VPN drops")
    printer = TicketFactory(title="Printer jams again")
    TicketFactory(title="Something else")

    def search(q: str) -> set[Ticket]:
        return set(agent_client.get(url("ticket_changelist"), {"q": q}).context["cl"].result_list)

    assert search("jams printer") == {printer}
    assert search("carol@example.com") == {by_carol}


def test_filters_assigned_to_me_and_unassigned(
    agent_client: Client, agent: User, workflow: Workflow
) -> None:
    mine = TicketFactory(assignee=agent)
    theirs = TicketFactory(assignee=UserFactory(role=Role.AGENT))
    nobodys = TicketFactory()

    def listed(assignment: str) -> set[Ticket]:
        response = agent_client.get(url("ticket_changelist"), {"assignment": assignment})
        return set(response.context["cl"].result_list)

    assert listed("mine") == {mine}
    unassigned = listed("unassigned")
    assert nobodys in unassigned
    assert not {mine, theirs} & unassigned


def test_assign_to_me_assigns_through_the_service_and_reports(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    already = services.ticket_create(
        requester=requester, title="Mine already", assignee=agent, actor=agent
    )

    response = agent_client.post(
        url("ticket_changelist"),
        {"action": "assign_to_me", "_selected_action": [ticket.pk, already.pk], "index": 0},
        follow=True,
    )

    ticket.refresh_from_db()
    assert ticket.assignee == agent
    assert ("assignee", "", "agent") in history(ticket)
    shown = [str(m) for m in response.context["messages"]]
    assert "Assigned 1 ticket to you." in shown
    assert "1 ticket already yours." in shown


def test_move_to_stage_moves_what_it_can_and_lists_what_it_cannot(
    agent_client: Client, agent: User, ticket: Ticket, requester: User, stages: dict[str, Stage]
) -> None:
    resolved = services.ticket_create(requester=requester, title="Done", actor=agent)
    services.ticket_transition(ticket=resolved, to_stage=stages["Resolved"], actor=agent)

    response = agent_client.post(
        url("ticket_changelist"),
        {
            "action": "move_to_stage",
            "to_stage": stages["Waiting on requester"].pk,
            "_selected_action": [ticket.pk, resolved.pk],
            "index": 0,
        },
        follow=True,
    )

    ticket.refresh_from_db()
    resolved.refresh_from_db()
    assert ticket.stage == stages["Waiting on requester"]
    assert resolved.stage == stages["Resolved"]
    shown = [str(m) for m in response.context["messages"]]
    assert "Moved 1 ticket to Waiting on requester." in shown
    assert any(m.startswith(f"Could not move 1 ticket: {resolved.key}: ") for m in shown)


# --- the ticket page ---------------------------------------------------------------------
def test_adding_a_ticket_goes_through_the_service(
    agent_client: Client, agent: User, requester: User, stages: dict[str, Stage]
) -> None:
    data = form_data(agent_client.get(url("ticket_add")))
    data.update(
        title="  Laptop won't boot ",
        description="Since the update.\r\nBlack screen.",
        priority=Priority.HIGH,
        requester=requester.pk,
        assignee=agent.pk,
    )

    response = agent_client.post(url("ticket_add"), data)

    assert response.status_code == 302, errors(response)
    ticket = Ticket.objects.get(title="Laptop won't boot")
    assert (ticket.title, ticket.description) == (
        "Laptop won't boot",
        "Since the update.\nBlack screen.",
    )
    assert (ticket.stage, ticket.source, ticket.assignee) == (stages["New"], Source.WEB, agent)
    assert history(ticket) == [
        ("ticket", "", "created"),
        ("stage", "", "New"),
        ("assignee", "", "agent"),  # chosen on the form, so recorded with the creation
    ]
    assert HistoryLog.objects.filter(ticket=ticket, actor=agent).count() == 3
    assert response["Location"] == url("ticket_changelist")


def test_adding_a_ticket_to_a_workflow_without_stages_shows_the_service_error(
    agent_client: Client, requester: User, workflow: Workflow
) -> None:
    empty = WorkflowFactory(name="Half-built")
    data = form_data(agent_client.get(url("ticket_add")))
    data.update(title="Hello", priority=Priority.NORMAL, requester=requester.pk, workflow=empty.pk)

    response = agent_client.post(url("ticket_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.non_field_errors() == [
        "Workflow 'Half-built' has no stages."
    ]
    assert not Ticket.objects.filter(workflow=empty).exists()


def test_agents_look_up_requesters_and_watchers_by_autocomplete(
    agent_client: Client, requester: User
) -> None:
    for model_name, field_name in (("ticket", "requester"), ("ticketwatcher", "user")):
        response = agent_client.get(
            reverse("admin:autocomplete"),
            {
                "term": "requ",
                "app_label": "nixflow",
                "model_name": model_name,
                "field_name": field_name,
            },
        )

        assert response.status_code == 200
        assert [r["text"] for r in response.json()["results"]] == ["requester"]


def test_adding_a_ticket_offers_only_active_agents_as_assignee(
    agent_client: Client, agent: User, requester: User, workflow: Workflow
) -> None:
    UserFactory(username="gone", role=Role.AGENT, is_active=False)

    form = agent_client.get(url("ticket_add")).context["adminform"].form

    assert set(form.fields["assignee"].queryset) == {agent}


def test_changing_the_priority_records_history(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data["priority"] = Priority.URGENT
    data["description"] = data["description"].replace("\n", "\r\n")  # as browsers post

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    ticket.refresh_from_db()
    assert ticket.priority == Priority.URGENT
    assert history(ticket)[-1] == ("priority", "NORMAL", "URGENT")
    assert HistoryLog.objects.filter(ticket=ticket).count() == 3  # created, stage, priority


def test_saving_an_untouched_ticket_changes_nothing(agent_client: Client, ticket: Ticket) -> None:
    before = history(ticket)

    response = agent_client.post(
        url("ticket_change", ticket.pk),
        form_data(agent_client.get(url("ticket_change", ticket.pk))),
    )

    assert response.status_code == 302, errors(response)
    assert history(ticket) == before


def test_the_stage_field_offers_only_the_allowed_targets(
    agent_client: Client, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)

    form = agent_client.get(url("ticket_change", ticket.pk)).context["adminform"].form

    offered = [label for value, label in form.fields["stage"].choices if value]
    # A stage named after its category is not followed by it again ("Open (Open)").
    assert offered == ["Open", "Resolved", "Closed"]


def test_changing_the_stage_along_a_transition_moves_the_ticket(
    agent_client: Client, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data["stage"] = stages["Resolved"].pk

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    ticket.refresh_from_db()
    assert ticket.stage == stages["Resolved"]
    assert ticket.resolved_at is not None
    assert ("stage", "New", "Resolved") in history(ticket)


def test_an_illegal_stage_is_a_form_error_and_changes_nothing(
    agent_client: Client, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    services.ticket_transition(ticket=ticket, to_stage=stages["Resolved"], actor=agent)
    before = history(ticket)
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data.update(stage=stages["Waiting on requester"].pk, priority=Priority.HIGH)

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 200
    assert "cannot move from Resolved to that stage" in str(
        response.context["adminform"].form.errors["stage"]
    )
    ticket.refresh_from_db()
    assert (ticket.stage, ticket.priority) == (stages["Resolved"], Priority.NORMAL)
    assert history(ticket) == before


def test_a_service_refusal_is_shown_on_the_form_and_rolls_everything_back(
    agent_client: Client, agent: User, ticket: Ticket, stages: dict[str, Stage]
) -> None:
    """A refusal the form could not foresee (here a feature app's rule, run by the ticket
    event of the transition) undoes the priority change made just before it."""

    def refuse(sender: object, event: events.TicketEvent, **kwargs: object) -> None:
        if event.type == events.TICKET_TRANSITIONED:
            raise ValidationError({"stage": "Frozen for the audit."})

    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data.update(stage=stages["Open"].pk, priority=Priority.HIGH)
    events.ticket_event.connect(refuse, dispatch_uid="tests.admin.refuse")
    try:
        response = agent_client.post(url("ticket_change", ticket.pk), data)
    finally:
        events.ticket_event.disconnect(dispatch_uid="tests.admin.refuse")

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["stage"] == ["Frozen for the audit."]
    assert form["priority"].value() == Priority.HIGH  # the user's input is kept
    ticket.refresh_from_db()
    assert (ticket.stage, ticket.priority) == (stages["New"], Priority.NORMAL)
    assert [f for f, _, _ in history(ticket)] == ["ticket", "stage"]


def test_changing_the_assignee_goes_through_the_service(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data["assignee"] = agent.pk

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert history(ticket)[-1] == ("assignee", "", "agent")


def ticket_page_queries(client: Client, ticket: Ticket) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url("ticket_change", ticket.pk))
    assert response.status_code == 200
    return len(queries)


def test_ticket_page_query_count_does_not_grow_with_comments_watchers_or_history(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    services.comment_create(ticket=ticket, author=agent, body="One")
    services.ticket_watch(ticket=ticket, user=UserFactory(), actor=agent)
    with_one = ticket_page_queries(agent_client, ticket)

    for n in range(5):
        services.comment_create(ticket=ticket, author=agent, body=f"More {n}", is_internal=True)
        services.ticket_watch(ticket=ticket, user=UserFactory(), actor=agent)
        # Not the title: panels (suggested articles) read it, and their queries follow
        # its words, not the rows counted here.
        priority = Priority.HIGH if n % 2 else Priority.LOW
        services.ticket_update(ticket=ticket, actor=agent, data={"priority": priority})

    assert ticket_page_queries(agent_client, ticket) == with_one


# Replying from the page (public, internal, files, refusals): tests/core/test_composer.py.
def test_existing_comments_are_shown_read_only(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    services.comment_create(ticket=ticket, author=agent, body="Looking into it.")
    page = agent_client.get(url("ticket_change", ticket.pk))
    data = form_data(page)
    # What a forged post could try: the comment's fields as an inline's would be named.
    data["comments-0-body"] = "Rewritten history"
    data["comments-0-id"] = ticket.comments.get().pk

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert list(ticket.comments.values_list("body", flat=True)) == ["Looking into it."]
    assert b"Looking into it." in page.content


def test_adding_and_removing_a_watcher_goes_through_the_services(
    agent_client: Client, ticket: Ticket, other_requester: User
) -> None:
    page = agent_client.get(url("ticket_change", ticket.pk))
    data = form_data(page)
    fill_new_row(data, prefix(page, nixflow_admin.WatcherInline), user=other_requester.pk)

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert TicketWatcher.objects.filter(ticket=ticket, user=other_requester).exists()
    assert history(ticket)[-1] == ("watcher", "", "other")

    page = agent_client.get(url("ticket_change", ticket.pk))
    data = form_data(page)
    data[f"{prefix(page, nixflow_admin.WatcherInline)}-0-DELETE"] = "on"
    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert not TicketWatcher.objects.filter(ticket=ticket).exists()
    assert history(ticket)[-1] == ("watcher", "other", "")


def test_history_is_shown_and_cannot_be_edited_from_the_ticket_page(
    agent_client: Client, ticket: Ticket
) -> None:
    page = agent_client.get(url("ticket_change", ticket.pk))
    data = form_data(page)
    data["history-TOTAL_FORMS"], data["history-INITIAL_FORMS"] = 1, 1
    data["history-0-id"] = HistoryLog.objects.filter(ticket=ticket).first().pk
    data["history-0-new_value"] = "forged"
    data["history-0-DELETE"] = "on"

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert history(ticket) == [("ticket", "", "created"), ("stage", "", "New")]
    shown = [(row.field, row.new) for row in page.context["history_rows"]]
    assert shown == [("ticket", "created"), ("stage", "New")]


# --- panels of feature apps --------------------------------------------------------------
@pytest.fixture
def panel_registered() -> Iterator[list[tuple[str, int]]]:
    """A panel that records who asked about which ticket; another that always fails."""
    seen: list[tuple[str, int]] = []

    def who_and_what(request: HttpRequest, ticket: Ticket) -> SafeString:
        seen.append((request.user.get_username(), ticket.pk))
        return format_html("<p>Seen by {}</p>", "<b>" + request.user.get_username())

    def broken(request: HttpRequest, ticket: Ticket) -> SafeString:
        raise RuntimeError("the panel's backend is down")

    panels.register_ticket_panel("Who", who_and_what, order=1)
    panels.register_ticket_panel("Broken", broken, order=2)
    yield seen
    panels.unregister_ticket_panel("Who")
    panels.unregister_ticket_panel("Broken")


def test_registered_panels_render_on_the_ticket_page_and_a_broken_one_is_contained(
    agent_client: Client, agent: User, ticket: Ticket, panel_registered: list
) -> None:
    response = agent_client.get(url("ticket_change", ticket.pk))

    assert response.status_code == 200
    page = response.content.decode()
    assert f"<p>Seen by &lt;b&gt;{agent.username}</p>" in page  # escaped by the panel
    assert page.index('data-panel="who"') < page.index('data-panel="broken"')
    assert "This panel is unavailable." in page
    assert panel_registered == [(agent.username, ticket.pk)]


def test_the_add_page_has_no_panels(agent_client: Client, panel_registered: list) -> None:
    response = agent_client.get(url("ticket_add"))

    assert response.status_code == 200
    assert panel_registered == []
    assert 'data-panel="who"' not in response.content.decode()


# --- deleting and the read-only record ---------------------------------------------------
@pytest.mark.parametrize("role", [Role.AGENT, Role.ADMIN])
def test_only_superusers_delete_tickets(client: Client, ticket: Ticket, role: Role) -> None:
    client.force_login(UserFactory(role=role, is_superuser=False))

    assert client.get(url("ticket_delete", ticket.pk)).status_code == 403
    assert client.post(url("ticket_delete", ticket.pk), {"post": "yes"}).status_code == 403
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_a_superuser_deletes_a_ticket_with_its_history(
    admin_client: Client, agent: User, ticket: Ticket
) -> None:
    services.comment_create(ticket=ticket, author=agent, body="Hello")

    response = admin_client.post(url("ticket_delete", ticket.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert not HistoryLog.objects.filter(ticket_id=ticket.pk).exists()
    deleted = EventLog.objects.get(type="ticket.deleted", ticket_key=ticket.key)
    assert deleted.actor.is_superuser


def test_deleting_tickets_in_bulk_records_each_deletion(
    admin_client: Client, requester: User, ticket: Ticket
) -> None:
    other = services.ticket_create(requester=requester, title="Other", actor=requester)

    response = admin_client.post(
        url("ticket_changelist"),
        {"action": "delete_selected", "_selected_action": [ticket.pk, other.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Ticket.objects.filter(pk__in=[ticket.pk, other.pk]).exists()
    assert set(
        EventLog.objects.filter(type="ticket.deleted").values_list("ticket_key", flat=True)
    ) == {ticket.key, other.key}


def test_history_is_never_editable_even_for_superusers(
    admin_client: Client, agent_client: Client, ticket: Ticket
) -> None:
    row = HistoryLog.objects.filter(ticket=ticket).first()
    assert row is not None

    assert agent_client.get(url("historylog_change", row.pk)).status_code == 200
    assert admin_client.get(url("historylog_add")).status_code == 403
    assert admin_client.post(url("historylog_change", row.pk), {"field": "x"}).status_code == 403
    assert admin_client.post(url("historylog_delete", row.pk), {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.field == "ticket"


def test_comments_are_never_deleted_in_the_admin(
    admin_client: Client, agent: User, ticket: Ticket
) -> None:
    comment = services.comment_create(ticket=ticket, author=agent, body="Hello")

    response = admin_client.post(url("comment_delete", comment.pk), {"post": "yes"})

    assert response.status_code == 403
    assert Comment.objects.filter(pk=comment.pk).exists()


def test_the_record_lists_are_found_by_ticket_key(
    agent_client: Client, agent: User, ticket: Ticket, requester: User
) -> None:
    other = services.ticket_create(requester=requester, title="Other", actor=agent)

    response = agent_client.get(url("historylog_changelist"), {"q": ticket.key})

    assert {row.ticket_id for row in response.context["cl"].result_list} == {ticket.pk}
    assert other.pk not in {row.ticket_id for row in response.context["cl"].result_list}


# --- users -------------------------------------------------------------------------------
def test_agents_view_users_but_only_admins_change_them(
    agent_client: Client, admin_client: Client, requester: User
) -> None:
    assert agent_client.get(url("user_change", requester.pk)).status_code == 200
    assert agent_client.post(url("user_change", requester.pk), {}).status_code == 403
    assert agent_client.get(url("user_add")).status_code == 403
    assert admin_client.get(url("user_change", requester.pk)).status_code == 200


def user_form_data(response: HttpResponse) -> dict[str, Any]:
    """``form_data`` of a user's page, with the join date split as its widget posts it."""
    data = form_data(response)
    joined = timezone.localtime(data.pop("date_joined"))  # as the widget shows it
    data.update(date_joined_0=f"{joined:%Y-%m-%d}", date_joined_1=f"{joined:%H:%M:%S}")
    return data


@pytest.fixture
def role_admin_client(client: Client) -> Client:
    client.force_login(UserFactory(role=Role.ADMIN, is_staff=True))
    return client


def test_a_role_admin_cannot_make_anyone_a_superuser(
    role_admin_client: Client, requester: User
) -> None:
    page = role_admin_client.get(url("user_change", requester.pk))
    data = user_form_data(page)
    data.update(is_superuser="on", is_staff="on", first_name="Promoted")

    response = role_admin_client.post(url("user_change", requester.pk), data)

    assert response.status_code == 302, errors(response)
    requester.refresh_from_db()
    assert requester.first_name == "Promoted"  # the change was saved...
    assert requester.is_superuser is False  # ...but not superuser status
    assert "is_superuser" not in page.context["adminform"].form.fields


def test_a_role_admin_cannot_change_or_delete_a_superuser(
    role_admin_client: Client, admin_user: User
) -> None:
    assert role_admin_client.get(url("user_change", admin_user.pk)).status_code == 200  # view
    assert role_admin_client.post(url("user_change", admin_user.pk), {}).status_code == 403
    assert role_admin_client.get(url("user_delete", admin_user.pk)).status_code == 403
    password = reverse("admin:auth_user_password_change", args=[admin_user.pk])
    assert role_admin_client.get(password).status_code == 403


def test_a_superuser_may_grant_superuser_status(admin_client: Client, requester: User) -> None:
    data = user_form_data(admin_client.get(url("user_change", requester.pk)))
    data.update(is_superuser="on", is_staff="on")

    response = admin_client.post(url("user_change", requester.pk), data)

    assert response.status_code == 302, errors(response)
    requester.refresh_from_db()
    assert requester.is_superuser is True


# --- the audit trail of admin changes ---------------------------------------------------
def admin_events(since: int = 0) -> list[EventLog]:
    return list(EventLog.objects.filter(type__startswith="admin.", id__gt=since).order_by("id"))


def test_changing_a_users_role_goes_through_the_user_service_and_its_event(
    admin_client: Client, admin_user: User, requester: User
) -> None:
    before = EventLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
    data = user_form_data(admin_client.get(url("user_change", requester.pk)))
    data["role"] = Role.AGENT

    response = admin_client.post(url("user_change", requester.pk), data)

    assert response.status_code == 302, errors(response)
    # (The form the test posts back rounds the join date too, which the generic
    # admin.changed event records: look for the service's event.)
    [event] = EventLog.objects.filter(id__gt=before, type=events.USER_UPDATED)
    assert (event.type, event.actor, event.subject_model) == (
        events.USER_UPDATED,
        admin_user,
        "user",
    )
    assert event.subject_id == str(requester.pk)
    assert event.payload["changes"]["role"] == [Role.REQUESTER, Role.AGENT]
    requester.refresh_from_db()
    assert requester.is_staff


def test_changing_what_no_service_covers_records_the_generic_admin_event(
    admin_client: Client, admin_user: User, requester: User
) -> None:
    data = user_form_data(admin_client.get(url("user_change", requester.pk)))
    data["username"] = "renamed"

    response = admin_client.post(url("user_change", requester.pk), data)

    assert response.status_code == 302, errors(response)
    [event] = admin_events()
    assert (event.type, event.actor, event.subject_model) == ("admin.changed", admin_user, "user")
    assert event.payload["object"] == "renamed"
    [changed] = event.payload["change"]
    assert "Username" in changed["changed"]["fields"]


def test_deleting_in_bulk_records_each_deletion(admin_client: Client) -> None:
    spare = [UserFactory(username=f"spare{n}") for n in range(2)]

    response = admin_client.post(
        url("user_changelist"),
        {"action": "delete_selected", "_selected_action": [u.pk for u in spare], "post": "yes"},
    )

    assert response.status_code == 302
    assert not User.objects.filter(pk__in=[u.pk for u in spare]).exists()
    assert [(e.type, e.payload["object"]) for e in admin_events()] == [
        ("admin.deleted", "spare0"),
        ("admin.deleted", "spare1"),
    ]


def test_deleting_workflows_in_bulk_goes_through_the_workflow_service(
    admin_client: Client,
) -> None:
    spare = [WorkflowFactory(name=f"Spare {n}") for n in range(2)]

    response = admin_client.post(
        url("workflow_changelist"),
        {"action": "delete_selected", "_selected_action": [w.pk for w in spare], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Workflow.objects.filter(pk__in=[w.pk for w in spare]).exists()
    assert admin_events() == []
    deleted = EventLog.objects.filter(type=events.WORKFLOW_DELETED).order_by("id")
    assert [e.payload["name"] for e in deleted] == ["Spare 0", "Spare 1"]


def test_ticket_changes_in_the_admin_are_recorded_by_the_services_only(
    agent_client: Client, agent: User, ticket: Ticket
) -> None:
    before = EventLog.objects.order_by("-id").values_list("id", flat=True).first() or 0
    data = form_data(agent_client.get(url("ticket_change", ticket.pk)))
    data["assignee"] = agent.pk

    response = agent_client.post(url("ticket_change", ticket.pk), data)

    assert response.status_code == 302, errors(response)
    assert admin_events(before) == []
    assert EventLog.objects.filter(id__gt=before).get().type == "ticket.assigned"


# --- the workflow editor -----------------------------------------------------------------
def test_workflow_list_counts_stages_transitions_and_tickets(
    admin_client: Client, workflow: Workflow
) -> None:
    TicketFactory.create_batch(2)
    elsewhere = WorkflowFactory(name="Hardware")
    StageFactory(workflow=elsewhere, name="Reported", category="NEW", position=1)

    response = admin_client.get(url("workflow_changelist"))

    rows = {w.name: w for w in response.context["cl"].result_list}
    desk, hardware = rows[workflow.name], rows["Hardware"]
    tickets = Ticket.objects.filter(workflow=workflow).count()
    assert tickets >= 2
    assert (desk.stage_count, desk.transition_count, desk.ticket_count) == (5, 13, tickets)
    assert (hardware.stage_count, hardware.transition_count, hardware.ticket_count) == (1, 0, 0)


def test_admin_adds_a_stage_then_a_transition_to_it(
    admin_client: Client, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    fill_new_row(
        data,
        prefix(page, nixflow_admin.StageInline),
        name="Escalated",
        category=StageCategory.OPEN,
        position=6,
    )

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 302, errors(response)
    escalated = workflow.stages.get(name="Escalated")
    # One event in the audit trail, naming the stage added; no generic admin event.
    assert admin_events() == []
    [event] = EventLog.objects.filter(type=events.WORKFLOW_UPDATED)
    assert (event.subject_model, event.subject_id) == ("workflow", str(workflow.pk))
    added = {"id": escalated.pk, "name": "Escalated", "category": "OPEN", "position": 6}
    assert event.payload["stages"] == {"added": [added], "removed": [], "changed": []}

    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    fill_new_row(
        data,
        prefix(page, nixflow_admin.TransitionInline),
        from_stage=stages["Open"].pk,
        to_stage=escalated.pk,
        name="Escalate",
    )
    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 302, errors(response)
    transition = Transition.objects.get(to_stage=escalated)
    assert (transition.workflow, transition.from_stage) == (workflow, stages["Open"])


def test_a_transition_to_another_workflows_stage_is_refused(
    admin_client: Client, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    elsewhere = WorkflowFactory(name="Hardware")
    foreign = StageFactory(workflow=elsewhere, name="RMA", category="OPEN", position=1)
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    fill_new_row(
        data,
        prefix(page, nixflow_admin.TransitionInline),
        from_stage=stages["Open"].pk,
        to_stage=foreign.pk,
    )

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 200
    assert "Select a valid choice" in errors(response)
    assert not Transition.objects.filter(to_stage=foreign).exists()


def test_a_new_workflow_says_to_add_transitions_after_saving(admin_client: Client) -> None:
    response = admin_client.get(url("workflow_add"))

    assert b"then add the transitions between them" in response.content
    assert [type(i.opts) for i in response.context["inline_admin_formsets"]] == [
        nixflow_admin.StageInline
    ]


def test_admin_creates_a_workflow_with_its_stages(admin_client: Client, workflow: Workflow) -> None:
    data = form_data(admin_client.get(url("workflow_add")))
    data.update({"name": "Hardware", "is_active": "on"})
    data.update({"stages-0-name": "Reported", "stages-0-category": "NEW", "stages-0-position": 1})
    data.update(
        {"stages-1-name": "Repaired", "stages-1-category": "RESOLVED", "stages-1-position": 2}
    )

    response = admin_client.post(url("workflow_add"), data)

    assert response.status_code == 302, errors(response)
    hardware = Workflow.objects.get(name="Hardware")
    assert hardware.initial_stage.name == "Reported"


def test_agent_views_a_workflow_but_cannot_change_it(
    agent_client: Client, workflow: Workflow
) -> None:
    page = agent_client.get(url("workflow_change", workflow.pk))
    assert page.status_code == 200
    data = {"name": "Hijacked"}

    assert agent_client.post(url("workflow_change", workflow.pk), data).status_code == 403
    assert agent_client.get(url("workflow_add")).status_code == 403
    workflow.refresh_from_db()
    assert workflow.name == "Service desk"


def test_deleting_a_stage_with_tickets_is_a_form_error(
    admin_client: Client, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    TicketFactory()  # in New
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    stage_prefix = prefix(page, nixflow_admin.StageInline)
    assert data[f"{stage_prefix}-0-id"] == stages["New"].pk
    data[f"{stage_prefix}-0-DELETE"] = "on"

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 200
    assert "Stage New has tickets" in errors(response)
    assert Stage.objects.filter(pk=stages["New"].pk).exists()


def test_deleting_an_unused_stage_works(
    admin_client: Client, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    stage_prefix = prefix(page, nixflow_admin.StageInline)
    assert data[f"{stage_prefix}-2-id"] == stages["Waiting on requester"].pk
    data[f"{stage_prefix}-2-DELETE"] = "on"

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 302, errors(response)
    assert not Stage.objects.filter(pk=stages["Waiting on requester"].pk).exists()


def test_admin_swaps_two_stage_positions_in_one_save(
    admin_client: Client, workflow: Workflow, stages: dict[str, Stage]
) -> None:
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    stage_prefix = prefix(page, nixflow_admin.StageInline)
    data[f"{stage_prefix}-0-position"], data[f"{stage_prefix}-1-position"] = 2, 1

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 302, errors(response)
    assert workflow.initial_stage == stages["Open"]


def test_a_workflow_with_tickets_is_not_deleted(admin_client: Client, workflow: Workflow) -> None:
    TicketFactory()

    page = admin_client.get(url("workflow_delete", workflow.pk))
    response = admin_client.post(url("workflow_delete", workflow.pk), {"post": "yes"})

    assert page.status_code == 200
    assert b"it has tickets" in page.content
    assert response.status_code == 200
    assert Workflow.objects.filter(pk=workflow.pk).exists()


def test_a_refusal_of_the_workflow_service_is_shown_on_the_editor(admin_client: Client) -> None:
    """The forms accept deleting every stage; the service refuses: a workflow keeps one."""
    workflow = WorkflowFactory(name="Tiny", stages=["Only"])
    page = admin_client.get(url("workflow_change", workflow.pk))
    data = form_data(page)
    data[f"{prefix(page, nixflow_admin.StageInline)}-0-DELETE"] = "on"
    data["description"] = "Not saved either."

    response = admin_client.post(url("workflow_change", workflow.pk), data)

    assert response.status_code == 200
    assert "A workflow needs at least one stage" in str(response.context["adminform"].form.errors)
    workflow.refresh_from_db()
    assert workflow.description != "Not saved either."
    assert workflow.stages.count() == 1
    assert not EventLog.objects.filter(type__startswith="workflow.").exists()


def test_adding_a_user_goes_through_the_user_service_and_its_event(
    admin_client: Client, admin_user: User
) -> None:
    page = admin_client.get(url("user_add"))
    data = form_data(page)
    data.update(
        {
            "username": "newagent",
            "email": "newagent@example.com",
            "role": Role.AGENT,
            "usable_password": "true",
            "password1": "a long and unguessable phrase",
            "password2": "a long and unguessable phrase",
        }
    )

    response = admin_client.post(url("user_add"), data)

    assert response.status_code == 302, errors(response)
    user = User.objects.get(username="newagent")
    assert (user.role, user.is_staff, user.email) == (Role.AGENT, True, "newagent@example.com")
    assert user.check_password("a long and unguessable phrase")
    assert response["Location"] == url("user_change", user.pk)
    [event] = EventLog.objects.filter(type=events.USER_CREATED)
    assert (event.actor, event.subject_id) == (admin_user, str(user.pk))
    assert event.payload == {"username": "newagent", "role": "agent"}
    assert admin_events() == []


def test_a_role_admin_cannot_add_an_admin_in_the_admin(role_admin_client: Client) -> None:
    data = form_data(role_admin_client.get(url("user_add")))
    data.update(
        {
            "username": "boss",
            "email": "boss@example.com",
            "role": Role.ADMIN,
            "usable_password": "false",
        }
    )

    response = role_admin_client.post(url("user_add"), data)

    assert response.status_code == 200
    assert "Only superusers can create admins" in str(response.context["adminform"].form.errors)
    assert not User.objects.filter(username="boss").exists()
