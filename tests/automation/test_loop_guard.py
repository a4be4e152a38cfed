"""Rules firing rules: a rule never fires on what it caused, and a chain stops at the
depth cap with an event saying where."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from automation.models import Trigger
from nixflow import services
from nixflow.models import Priority, Ticket, User
from tests.automation.conftest import MakeRule, events_of
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db
UPDATED = Trigger.TICKET_UPDATED


def _tags(ticket: Ticket) -> set[str]:
    return set(Ticket.objects.get(pk=ticket.pk).tags.values_list("name", flat=True))


def test_a_rule_does_not_fire_on_its_own_change(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    """Without conditions, a rule that adds a tag on every update would run on its own
    tagging forever: it runs once."""
    make_rule(
        UPDATED, [{"type": "add_tags", "tags": ["seen"]}, {"type": "remove_tags", "tags": ["x"]}]
    )
    ticket = new_ticket(requester)
    services.ticket_tag_add(ticket=ticket, tags=["x"], actor=agent)
    assert _tags(ticket) == {"seen"}
    assert len(events_of("automation.rule_applied")) == 1


def test_two_rules_undoing_each_other_stop_after_one_round(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    make_rule(UPDATED, [{"type": "set_priority", "priority": "HIGH"}], name="Up")
    make_rule(UPDATED, [{"type": "set_priority", "priority": "LOW"}], name="Down")
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=agent, data={"title": "Changed"})
    applied = [e.payload["rule"]["name"] for e in events_of("automation.rule_applied")]
    # Up acts on the person's change; Down on Up's (recorded first: it finished first);
    # Up is in that chain, so nothing more. Back on the person's change, Down's turn
    # comes: the priority is LOW already, so it changes nothing and fires nothing.
    assert applied == ["Down", "Up", "Down"]
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.LOW
    assert not events_of("automation.chain_stopped")


def test_a_chain_stops_at_the_depth_cap_with_an_event_saying_where(
    make_rule: MakeRule, requester: User, agent: User, settings: Settings
) -> None:
    settings.AUTOMATION_MAX_DEPTH = 3
    rules = [
        make_rule(
            UPDATED,
            [{"type": "add_tags", "tags": [f"step{n}"]}],
            conditions=[{"field": "tags", "op": "not_contains", "value": f"step{n}"}],
            name=f"Step {n}",
            position=n,
        )
        for n in range(1, 6)
    ]
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.HIGH})
    stopped = events_of("automation.chain_stopped")
    assert stopped
    first = stopped[0]
    assert first.ticket_key == ticket.key
    assert first.payload["max_depth"] == 3
    assert [r["name"] for r in first.payload["chain"]] == ["Step 1", "Step 2", "Step 3"]
    assert [r["name"] for r in first.payload["not_run"]] == ["Step 4", "Step 5"]
    assert first.payload["trigger"] == UPDATED
    assert first.payload["event_type"] == "ticket.tags_changed"
    # Step 4 and 5 still ran, at shallower depths, once the deep chain unwound.
    assert _tags(ticket) == {f"step{n}" for n in range(1, 6)}
    depths = {e.payload["depth"] for e in events_of("automation.rule_applied")}
    assert max(depths) == 3
    assert all(r.version == 1 for r in rules)


def test_history_names_each_rule_of_a_chain(
    make_rule: MakeRule, requester: User, agent: User
) -> None:
    make_rule(
        UPDATED,
        [{"type": "add_tags", "tags": ["vip"]}],
        conditions=[{"field": "priority", "op": "is", "value": "URGENT"}],
        name="Urgent is VIP",
    )
    make_rule(
        UPDATED,
        [{"type": "set_priority", "priority": "HIGH"}],
        conditions=[{"field": "tags", "op": "contains", "value": "vip"}],
        name="VIP is high",
    )
    ticket = new_ticket(requester)
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": Priority.URGENT})
    rows = list(
        Ticket.objects.get(pk=ticket.pk)
        .history.order_by("id")
        .values_list("field", "new_value", "actor__username", "via")
    )
    assert rows[-3:] == [
        ("priority", "URGENT", "agent", ""),
        ("tags", "vip", None, "rule: Urgent is VIP (v1)"),
        ("priority", "HIGH", None, "rule: VIP is high (v1)"),
    ]
    nested = events_of("automation.rule_applied", depth=2)
    assert [e.payload["rule"]["name"] for e in nested] == ["VIP is high"]
