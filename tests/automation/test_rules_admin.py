"""The rule page in the admin: conditions and actions written as rows and saved as the
engine's lists through the services, read back into the same rows, refusals shown on
the form, the dry run of an unsaved edit, and enabling and disabling from the list."""

from __future__ import annotations

import datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from automation.models import Rule
from eventlog.models import EventLog
from nixflow.models import Priority, Stage, Tag, Team, TicketField, User
from tests.factories import AdminFactory, AgentFactory, TeamFactory, TicketFactory

pytestmark = pytest.mark.django_db

ADD = "/admin/automation/rule/add/"


def change_url(rule: Rule) -> str:
    return f"/admin/automation/rule/{rule.pk}/change/"


class FormReader(HTMLParser):
    """What a browser would send for the page's main form, as it is shown (the rows'
    hidden template left out, checkboxes only when ticked, no submit button)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, Any] = {}
        self.in_template = 0
        self.select: str | None = None
        self.textarea: str | None = None
        self.first_option: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "template":
            self.in_template += 1
        if self.in_template or "__prefix__" in a.get("name", ""):
            return
        name = a.get("name", "")
        if tag == "input" and name and a.get("type") not in {"submit", "button"}:
            if a.get("type") == "checkbox":
                if "checked" in a:
                    self.data[name] = "on"
            else:
                self.data[name] = a.get("value", "")
        elif tag == "select" and name:
            self.select = name
            self.data.setdefault(name, "")
        elif tag == "option" and self.select:
            self.first_option.setdefault(self.select, a.get("value", ""))
            if "selected" in a:
                self.data[self.select] = a.get("value", "")
        elif tag == "textarea" and name:
            self.textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "template":
            self.in_template -= 1
        elif tag == "select":
            self.select = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea and not self.in_template:
            self.data[self.textarea] += data.lstrip("\n") if not self.data[self.textarea] else data


def form_of(page: str) -> dict[str, Any]:
    reader = FormReader()
    reader.feed(page)
    return {k: v for k, v in reader.data.items() if not k.startswith("csrf")}


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(AdminFactory.create(username="boss"))
    return client


@pytest.fixture
def desk(db: None) -> dict[str, Any]:
    agent = AgentFactory.create(username="kim")
    team = TeamFactory.create(name="Tier 2")
    tag, _ = Tag.objects.get_or_create(name="vip")
    field = TicketField.objects.create(
        name="order_type", label="Order type", type="choice", choices=["new", "return"]
    )
    waiting = Stage.objects.filter(category="WAITING").select_related("workflow").first()
    return {"agent": agent, "team": team, "tag": tag, "field": field, "waiting": waiting}


def rows(prefix: str, entries: list[dict[str, Any]], extra: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        f"{prefix}-TOTAL_FORMS": str(len(entries) + extra),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "50",
    }
    for index, entry in enumerate(entries):
        for key, value in entry.items():
            data[f"{prefix}-{index}-{key}"] = value
    return data


def new_rule_post(desk: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = {
        "name": "VIP to Tier 2",
        "description": "",
        "trigger": "ticket_created",
        "match": "all",
        "position": "0",
        "time_basis": "",
        "time_amount": "",
        "time_unit": "",
        "calendar": "",
        **rows(
            "conditions",
            [
                {"field": "requester_domain", "op": "is", "value": "vip.example"},
                {"field": "field.order_type", "op": "is", "value_choice": "field.order_type=new"},
                {"field": "tags", "op": "in", "value": "vip, gold"},
            ],
        ),
        **rows(
            "actions",
            [
                {"type": "set_team", "team": str(desk["team"].pk)},
                {"type": "set_priority", "priority": "HIGH"},
                {"type": "set_assignee", "assignee": str(desk["agent"].pk)},
                {"type": "add_tags", "tags": "vip, escalated"},
                {
                    "type": "send_mail",
                    "to": "address",
                    "address": "boss@vip.example",
                    "subject": "New {{ ticket.key }}",
                    "body": "Look at it",
                },
            ],
        ),
    }
    data.update(overrides)
    return data


def test_the_rule_page_offers_the_desk_s_own_choices(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    page = admin_client.get(ADD).content.decode()

    assert f'value="{desk["team"].pk}">Tier 2<' in page
    assert ">kim<" in page
    assert 'value="tags=vip"' in page
    assert 'value="field.order_type"' in page
    assert 'value="field.order_type=return"' in page
    assert f"{desk['waiting'].workflow.name}: {desk['waiting'].name}" in page
    assert 'src="/static/automation/rules.js"' in page
    assert 'name="_dry_run"' in page


def test_a_rule_written_as_rows_is_saved_as_the_engine_s_lists(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    response = admin_client.post(ADD, new_rule_post(desk))

    assert response.status_code == 302, form_errors(response)
    rule = Rule.objects.get(name="VIP to Tier 2")
    assert rule.conditions == [
        {"field": "requester_domain", "op": "is", "value": "vip.example"},
        {"field": "field.order_type", "op": "is", "value": "new"},
        {"field": "tags", "op": "in", "value": ["vip", "gold"]},
    ]
    assert [a["type"] for a in rule.actions] == [
        "set_team",
        "set_priority",
        "set_assignee",
        "add_tags",
        "send_mail",
    ]
    assert rule.actions[0]["team"] == desk["team"].pk
    assert rule.actions[2]["assignee"] == desk["agent"].pk
    assert rule.actions[3]["tags"] == ["vip", "escalated"]
    assert rule.actions[4]["address"] == "boss@vip.example"
    assert rule.is_active is False
    created = EventLog.objects.filter(type="automation_rule.created")
    assert [e.payload["name"] for e in created] == ["VIP to Tier 2"]
    assert not EventLog.objects.filter(type__startswith="admin.").exists()


def form_errors(response: Any) -> Any:
    context = getattr(response, "context", None)
    if not context or "adminform" not in context:
        return response.status_code
    form = context["adminform"].form
    return form.errors, form.condition_formset.errors, form.action_formset.errors


def test_the_saved_rows_come_back_as_they_were_written(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))
    rule = Rule.objects.get()
    page = admin_client.get(change_url(rule)).content.decode()
    shown = form_of(page)

    assert shown["conditions-1-value_choice"] == "field.order_type=new"
    assert shown["conditions-2-value"] == "vip, gold"
    assert shown["actions-0-team"] == str(desk["team"].pk)
    assert shown["actions-4-body"] == "Look at it"

    response = admin_client.post(change_url(rule), shown)

    assert response.status_code == 302, form_errors(response)
    again = Rule.objects.get()
    assert (again.conditions, again.actions, again.version) == (
        rule.conditions,
        rule.actions,
        rule.version,
    )
    assert not EventLog.objects.filter(type="automation_rule.updated").exists()


def test_changing_a_row_and_removing_another_saves_a_new_version(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))
    rule = Rule.objects.get()
    shown = form_of(admin_client.get(change_url(rule)).content.decode())
    shown["actions-1-priority"] = "URGENT"
    shown["conditions-2-DELETE"] = "on"

    response = admin_client.post(change_url(rule), shown)

    assert response.status_code == 302, form_errors(response)
    rule.refresh_from_db()
    assert rule.version == 2
    assert len(rule.conditions) == 2
    assert rule.actions[1] == {"type": "set_priority", "priority": Priority.URGENT}
    updated = EventLog.objects.get(type="automation_rule.updated")
    assert set(updated.payload["fields"]) == {"actions", "conditions"}


def test_a_condition_the_engine_refuses_is_shown_on_the_form(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    data = new_rule_post(desk, **rows("conditions", [{"field": "title", "op": "gt", "value": "x"}]))

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    assert "Condition 1" in response.content.decode()
    assert not Rule.objects.exists()


def test_a_time_rule_without_its_time_is_refused_on_the_form(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    response = admin_client.post(ADD, new_rule_post(desk, trigger="time"))

    assert response.status_code == 200
    assert "A time rule says how long after what" in response.content.decode()
    assert not Rule.objects.exists()


def test_an_action_row_without_its_parameter_is_refused_naming_the_action(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    data = new_rule_post(desk, **rows("actions", [{"type": "set_stage"}]))

    response = admin_client.post(ADD, data)

    assert response.status_code == 200
    assert "Action 1" in response.content.decode()
    assert not Rule.objects.exists()


def test_dry_run_of_an_unsaved_rule_counts_and_links_without_saving(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    now = timezone.now()
    high = TicketFactory.create(priority=Priority.HIGH, title="Server down")
    TicketFactory.create(priority=Priority.LOW)
    TicketFactory.create(priority=Priority.HIGH, created=now - datetime.timedelta(days=40))
    data = new_rule_post(
        desk,
        _dry_run="Dry run",
        **rows("conditions", [{"field": "priority", "op": "is", "value_choice": "priority=HIGH"}]),
    )

    response = admin_client.post(ADD, data)

    page = response.content.decode()
    assert response.status_code == 200
    assert "Dry run: 1 of 2 tickets of the last 30 days would have matched." in page
    assert f'href="/admin/nixflow/ticket/{high.pk}/change/"' in page
    assert "Server down" in page
    assert not Rule.objects.exists()
    # The edit is shown again as it was, ready to be saved.
    assert form_of(page)["conditions-0-value_choice"] == "priority=HIGH"


def test_dry_run_needs_no_name_yet_but_never_runs_wrong_rows(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    TicketFactory.create(priority=Priority.HIGH)
    high = rows("conditions", [{"field": "priority", "op": "is", "value": "HIGH"}])
    wrong = rows("conditions", [{"field": "priority", "op": "contains", "value": "H"}])

    unnamed = admin_client.post(ADD, new_rule_post(desk, name="", _dry_run="1", **high))
    refused = admin_client.post(ADD, new_rule_post(desk, _dry_run="1", **wrong))

    assert "Dry run: 1 of 1 tickets" in unnamed.content.decode()
    assert "This field is required." in unnamed.content.decode()
    assert "Dry run:" not in refused.content.decode()
    assert "Condition 1" in refused.content.decode()
    assert not Rule.objects.exists()


def test_dry_run_of_an_edit_counts_the_edit_not_the_saved_rule(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    TicketFactory.create(priority=Priority.LOW)
    TicketFactory.create(priority=Priority.LOW)
    TicketFactory.create(priority=Priority.HIGH)
    admin_client.post(ADD, new_rule_post(desk))
    rule = Rule.objects.get()
    shown = form_of(admin_client.get(change_url(rule)).content.decode())
    shown.update(rows("conditions", [{"field": "priority", "op": "is", "value": "LOW"}]))
    shown["_dry_run"] = "Dry run"

    page = admin_client.post(change_url(rule), shown).content.decode()

    assert "Dry run: 2 of 3 tickets" in page
    rule.refresh_from_db()
    assert rule.version == 1
    assert len(rule.conditions) == 3


def test_the_list_enables_and_disables_rules_through_the_service(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))
    admin_client.post(ADD, new_rule_post(desk, name="Second"))
    ids = [str(pk) for pk in Rule.objects.values_list("pk", flat=True)]

    admin_client.post(
        "/admin/automation/rule/", {"action": "enable_rules", "_selected_action": ids}
    )

    assert list(Rule.objects.values_list("is_active", "version")) == [(True, 2), (True, 2)]
    assert EventLog.objects.filter(type="automation_rule.updated").count() == 2

    admin_client.post(
        "/admin/automation/rule/", {"action": "disable_rules", "_selected_action": ids[:1]}
    )

    assert Rule.objects.get(pk=ids[0]).is_active is False
    assert Rule.objects.get(pk=ids[1]).is_active is True


def test_the_list_shows_trigger_state_and_version(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))

    page = admin_client.get("/admin/automation/rule/?trigger__exact=ticket_created").content
    assert b"VIP to Tier 2" in page
    assert b"Ticket created" in page
    assert b"VIP" not in admin_client.get("/admin/automation/rule/?trigger__exact=time").content


def test_agents_read_a_rule_in_words_and_cannot_change_it(
    client: Client, admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))
    rule = Rule.objects.get()
    client.force_login(desk["agent"])

    page = client.get(change_url(rule))
    changed = client.post(change_url(rule), {**new_rule_post(desk), "name": "Mine"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "Requester&#x27;s e-mail domain is vip.example" in text
    assert 'name="conditions-TOTAL_FORMS"' not in text
    assert changed.status_code == 403
    assert Rule.objects.get().name == "VIP to Tier 2"
    assert client.get(ADD).status_code == 403


def test_requesters_get_nothing(client: Client, desk: dict[str, Any]) -> None:
    user = User.objects.create_user("req", role="requester", is_staff=True)
    client.force_login(user)

    assert client.get("/admin/automation/rule/").status_code == 403


def test_deleting_a_rule_goes_through_its_service(
    admin_client: Client, desk: dict[str, Any]
) -> None:
    admin_client.post(ADD, new_rule_post(desk))
    rule = Rule.objects.get()

    admin_client.post(f"/admin/automation/rule/{rule.pk}/delete/", {"post": "yes"})

    assert not Rule.objects.exists()
    assert EventLog.objects.filter(type="automation_rule.deleted").count() == 1
    assert Team.objects.filter(pk=desk["team"].pk).exists()
