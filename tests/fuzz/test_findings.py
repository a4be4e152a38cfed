"""What the API fuzzer (tests/test_api_fuzz.py) found, each pinned by a plain test: fast,
and naming the bug, where the fuzzer would only find it again among many requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from knowledge import services as kb_services
from knowledge.models import KnowledgeArticleTicketLink, Visibility
from nixflow import services
from nixflow.models import Role, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def schema(tmp_path: Path) -> dict[str, Any]:
    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))
    return json.loads(target.read_text())


DATE_FILTERS = [
    "/api/tickets/?created_after={}",
    "/api/events/?occurred_before={}",
    "/api/sla/breaches/?breached_after={}",
    "/api/sla/metrics/?deadline_before={}",
    "/api/forms/submissions/?created_before={}",
]


@pytest.mark.parametrize("url", DATE_FILTERS)
def test_a_date_filter_with_an_offset_postgresql_refuses_is_the_same_instant_not_a_500(
    url: str,
) -> None:
    # ISO 8601 allows offsets up to ±23:59, PostgreSQL up to ±15:59.
    client = client_for(UserFactory(username="boss", role=Role.ADMIN))

    response = client.get(url.format("2026-03-02T09:00:00%2B17:34"))

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("url", DATE_FILTERS)
def test_a_date_filter_with_no_utc_form_is_400_not_500(url: str) -> None:
    client = client_for(UserFactory(username="boss", role=Role.ADMIN))

    response = client.get(url.format("0001-01-01T00:00:00%2B01:00"))

    assert response.status_code == 400, response.content


@pytest.mark.parametrize(
    "url",
    [
        "/api/knowledge/search/?q=vpn&tag=vp%00n",
        "/api/knowledge/search/?q=vpn&category=net%00",
        "/api/knowledge/articles/?tag=%00",
        "/api/knowledge/articles/?category=a%00b",
    ],
)
def test_a_nul_character_in_a_knowledge_slug_filter_is_400_not_500(url: str) -> None:
    response = client_for(None).get(url)

    assert response.status_code == 400
    assert set(response.json()) <= {"tag", "category"}


def test_an_article_is_unlinked_from_a_ticket_named_in_the_query_string(
    agent: User, requester: User
) -> None:
    ticket = services.ticket_create(requester=requester, title="VPN down", actor=requester)
    article = kb_services.article_create(
        title="VPN", body="Reconnect.", visibility=Visibility.PUBLIC, author=agent
    )
    kb_services.article_link_ticket(article=article, ticket=ticket, actor=agent)

    response = client_for(agent).delete(
        f"/api/knowledge/articles/{article.pk}/tickets/?ticket={ticket.key.lower()}"
    )

    assert response.status_code == 200, response.content
    assert not KnowledgeArticleTicketLink.objects.exists()


def test_suggestions_for_a_ticket_of_one_salient_word_are_200_not_500(
    agent: User, requester: User
) -> None:
    # "down" is a stop word: one word is left, which makes no pair of words to require.
    ticket = services.ticket_create(requester=requester, title="VPN down", actor=requester)
    article = kb_services.article_create(
        title="VPN", body="Reconnect the VPN.", visibility=Visibility.PUBLIC, author=agent
    )
    for status in ("IN_REVIEW", "PUBLISHED"):
        article = kb_services.article_transition(article=article, to_status=status, actor=agent)

    response = client_for(agent).get(f"/api/knowledge/suggestions/?ticket={ticket.key}")

    assert response.status_code == 200, response.content
    assert [a["id"] for a in response.json()["results"]] == [article.pk]


def test_every_operation_documents_its_error_responses(schema: dict[str, Any]) -> None:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "401" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if method != "get":  # services refuse changes with a 400, deletions too
                assert "400" in codes, (method, path)
            if method in {"post", "put", "patch"}:
                assert {"413", "415"} <= codes, (method, path)
            for code in codes - {"200", "201", "202", "204"}:
                content = operation["responses"][code].get("content", {})
                assert "application/json" in content, (method, path, code)


def test_downloads_document_whatever_content_type_the_file_has(schema: dict[str, Any]) -> None:
    for path in (
        "/api/tickets/{key}/attachments/{attachment_id}/",
        "/api/knowledge/articles/{id}/attachments/{attachment_id}/",
    ):
        assert set(schema["paths"][path]["get"]["responses"]["200"]["content"]) == {"*/*"}


def test_working_hours_are_documented_as_local_times_without_offset(
    schema: dict[str, Any],
) -> None:
    interval = schema["components"]["schemas"]["WorkingInterval"]["properties"]

    # RFC 3339's full-time, the "time" format, needs an offset that DRF never writes.
    assert "format" not in interval["start"]
    assert interval["start"]["pattern"].startswith("^([01][0-9]|2[0-3]):")
