"""The sandbox: every documented placeholder renders; nothing else can be reached."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from macros import sandbox
from macros.models import Scope
from nixflow.models import Priority, Ticket, User
from tests.helpers import new_ticket
from tests.macros.conftest import make_macro

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticket(requester: User) -> Ticket:
    return new_ticket(requester, title="VPN drops", priority=Priority.HIGH)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{{ ticket.key }}", "{key}"),
        ("{{ ticket.title }}", "VPN drops"),
        ("{{ ticket.priority }}", "High"),
        ("{{ ticket.stage }}", "New"),
        ("{{ ticket.created|date:'Y' }}", "{year}"),
        ("{{ requester.first_name }}", "Ada"),
        ("{{ requester.last_name }}", "Lovelace"),
        ("{{ requester.name }}", "Ada Lovelace"),
        ("{{ requester.email }}", "ada@example.test"),
        ("{{ agent.name }}", "Sam Jones"),
        ("{{ agent.first_name }}", "Sam"),
        ("{{ agent.last_name }}", "Jones"),
        ("{{ agent.email }}", "sam@desk.test"),
        ("{{ custom }}", "see you Monday"),
        ("{{ custom|upper }}", "SEE YOU MONDAY"),
        ("{% if custom %}[{{ custom|title }}]{% else %}none{% endif %}", "[See You Monday]"),
        ("{{ requester.first_name|default:'there'|lower }}", "ada"),
    ],
)
def test_every_placeholder_renders(body: str, expected: str, ticket: Ticket, agent: User) -> None:
    shown = sandbox.render_body(body, ticket=ticket, agent=agent, custom="see you Monday")
    assert shown == expected.format(key=ticket.key, year=ticket.created.year)


def test_the_priority_reads_in_the_requesters_language_not_the_agents(
    ticket: Ticket, agent: User
) -> None:
    with translation.override("de"):  # a German agent applies the macro
        assert sandbox.render_body("{{ ticket.priority }}", ticket=ticket, agent=agent) == "High"
    ticket.requester.language = "de"
    with translation.override("en"):
        assert sandbox.render_body("{{ ticket.priority }}", ticket=ticket, agent=agent) == "Hoch"


def test_a_name_missing_falls_back_to_the_username(ticket: Ticket, agent: User) -> None:
    agent.first_name = agent.last_name = ""
    assert sandbox.render_body("{{ agent.name }}", ticket=ticket, agent=agent) == "agent"
    shown = sandbox.render_body("Hi {{ custom|default:'there' }}", ticket=ticket, agent=agent)
    assert shown == "Hi there"


def test_bodies_are_plain_text_not_escaped(ticket: Ticket, agent: User) -> None:
    ticket.requester.first_name = "O'Brien <ops>"
    shown = sandbox.render_body("Hi {{ requester.first_name }} & co", ticket=ticket, agent=agent)
    assert shown == "Hi O'Brien <ops> & co"


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("{{ settings }}", "Unknown placeholder {{ settings }}"),
        ("{{ settings.SECRET_KEY }}", "Unknown placeholder {{ settings.SECRET_KEY }}"),
        ("{{ ticket.requester.password }}", "Unknown placeholder {{ ticket.requester.password }}"),
        ("{{ requester.password }}", "Unknown placeholder {{ requester.password }}"),
        ("{{ ticket.title.upper }}", "Unknown placeholder {{ ticket.title.upper }}"),
        ("{{ ticket.items }}", "Unknown placeholder {{ ticket.items }}"),
        ("{{ request.user }}", "Unknown placeholder {{ request.user }}"),
        ("{{ custom|default:agent.password }}", "Unknown placeholder {{ agent.password }}"),
        ("{% if settings.DEBUG %}x{% endif %}", "Unknown placeholder {{ settings.DEBUG }}"),
        ("{{ ticket.__class__ }}", "may not begin with underscores"),
        ("{% load static %}", "{% load %} is not allowed in a macro"),
        ("{% include 'admin/base.html' %}", "{% include %} is not allowed"),
        ("{% extends 'admin/base.html' %}", "{% extends %} is not allowed"),
        ("{% debug %}", "{% debug %} is not allowed"),
        ("{% for x in ticket %}{% endfor %}", "{% for %} is not allowed"),
        ("{% now 'Y' %}", "{% now %} is not allowed"),
        ("{{ custom|pprint }}", "Invalid filter: 'pprint'"),
        ("{{ custom|safe }}", "Invalid filter: 'safe'"),
        ("{% if %}", "not a valid macro"),
    ],
)
def test_anything_beyond_the_documented_fields_is_refused_when_saved(body: str, said: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make_macro(body=body)
    assert said in " ".join(refused.value.messages)
    with pytest.raises(ValidationError):
        sandbox.compile_body(body)


def test_the_engine_has_no_loaders_and_only_the_vetted_library() -> None:
    assert sandbox.ENGINE.loaders == []
    assert list(sandbox.ENGINE.template_builtins) == [sandbox.register]
    assert sorted(sandbox.register.filters) == sorted(sandbox.FILTERS)
    assert sorted(sandbox.register.tags) == ["if"]


def test_the_context_holds_no_model_instances(ticket: Ticket, agent: User) -> None:
    def plain(value: object) -> bool:
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, str) or type(value).__name__ == "datetime"

    context = sandbox.placeholders(ticket=ticket, agent=agent, custom="x")
    assert plain(context)
    assert set(context) == {"ticket", "requester", "agent", "custom"}


def test_every_documented_placeholder_is_in_the_docs() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "macros.md").read_text()
    for name in sandbox.PLACEHOLDERS:
        assert f"{{{{ {name} }}}}" in docs, name


def test_a_personal_macro_is_validated_like_any_other(agent: User) -> None:
    with pytest.raises(ValidationError, match="Unknown placeholder"):
        make_macro(agent, scope=Scope.PERSONAL, body="{{ agent.password }}")
