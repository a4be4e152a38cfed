"""Client errors answer 400 with a JSON message, never a 500: hostile JSON bodies
(nesting, out-of-range numbers), forged cursors on every cursor-paged list, NUL
characters, huge numbers and broken multipart bodies (nixflow/api/parsers.py,
pagination.py, exceptions.py)."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from eventlog.models import EventLog
from forms_builder.models import CustomForm
from nixflow.models import Ticket, User
from tests.factories import TicketFactory
from tests.forms_builder.conftest import (  # noqa: F401 -- fixtures for public_form
    designer,
    make_form,
    public_form,
)
from tests.helpers import new_ticket

pytestmark = pytest.mark.django_db

CURSOR_LISTS = ["/api/tickets/", "/api/events/", "/api/sla/breaches/", "/api/sla/metrics/"]


def cursor(position: str, **tokens: str) -> str:
    """A cursor as the API writes one: base64 of a query string, the position in ``p``."""
    return base64.b64encode(urlencode({**tokens, "p": position}).encode()).decode()


def post_raw(client: APIClient, url: str, body: bytes | str, content_type: str) -> Any:
    return client.post(url, data=body, content_type=content_type)


def assert_bad_request(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


# --- bodies -------------------------------------------------------------------------------


def test_a_body_of_100000_open_brackets_is_400_not_a_recursion_error(
    requester_api: APIClient,
) -> None:
    response = post_raw(requester_api, "/api/tickets/", "[" * 100_000, "application/json")

    assert assert_bad_request(response) == {
        "detail": "JSON parse error - nested deeper than 64 levels."
    }
    assert not Ticket.objects.exists()


def test_valid_json_nested_deeper_than_the_limit_is_400(requester_api: APIClient) -> None:
    body = {"title": "Deep", "description": "x", "extra": json.loads("[" * 80 + "]" * 80)}

    response = requester_api.post("/api/tickets/", body, format="json")

    assert "nested deeper" in assert_bad_request(response)["detail"]


def test_nesting_a_body_needs_is_accepted(requester_api: APIClient) -> None:
    response = requester_api.post(
        "/api/tickets/", {"title": "Printer", "description": "On fire"}, format="json"
    )

    assert response.status_code == 201, response.content


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity"])
def test_a_number_beyond_a_double_is_400_not_an_overflow(
    requester_api: APIClient, number: str
) -> None:
    body = f'{{"title": "Printer", "requester": {number}}}'

    response = post_raw(requester_api, "/api/tickets/", body, "application/json")

    assert assert_bad_request(response)["detail"].startswith("JSON parse error")


def test_a_comment_and_a_form_submission_use_the_same_json_limits(
    requester_api: APIClient,
    ticket: Ticket,
    public_form: CustomForm,  # noqa: F811 -- the fixture imported above
) -> None:
    # These two views name their own parsers.
    for url in (
        f"/api/tickets/{ticket.key}/comments/",
        f"/api/forms/{public_form.slug}/submit/",
    ):
        response = post_raw(requester_api, url, "[" * 5_000, "application/json")

        assert "nested deeper" in assert_bad_request(response)["detail"], url


def test_brackets_inside_a_broken_string_are_not_counted_as_nesting(
    requester_api: APIClient,
) -> None:
    body = '{"title": "' + "[" * 5_000

    response = post_raw(requester_api, "/api/tickets/", body, "application/json")

    detail = assert_bad_request(response)["detail"]
    assert detail.startswith("JSON parse error - Unterminated string"), detail


def test_bytes_that_are_not_utf8_are_400(requester_api: APIClient) -> None:
    body = b'{"title": "\xff\xfe"}'

    response = post_raw(requester_api, "/api/tickets/", body, "application/json")

    assert assert_bad_request(response)["detail"].startswith("JSON parse error")


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "multipart/form-data"])
def test_a_broken_multipart_body_is_400(requester_api: APIClient, content_type: str) -> None:
    response = post_raw(requester_api, "/api/tickets/", b"--x\r\nbroken", content_type)

    assert response.status_code == 400, response.content


@pytest.mark.parametrize("field", ["title", "description"])
def test_a_nul_character_in_a_text_field_is_400_naming_the_field(
    requester_api: APIClient, field: str
) -> None:
    body = {"title": "Printer", "description": "On fire", field: "a\x00b"}

    response = requester_api.post("/api/tickets/", body, format="json")

    assert field in assert_bad_request(response)


@pytest.mark.parametrize("field", ["requester", "assignee"])
def test_a_user_id_beyond_any_key_is_400(agent_api: APIClient, field: str) -> None:
    body = {"title": "Printer", field: 10**30}

    response = agent_api.post("/api/tickets/", body, format="json")

    assert field in assert_bad_request(response)


# --- cursors ------------------------------------------------------------------------------


def make_rows(requester: User) -> None:
    TicketFactory.create_batch(3, requester=requester)
    new_ticket(requester)


@pytest.mark.parametrize("url", CURSOR_LISTS)
@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "cD1bIngiXQ==",  # p=["x"]
        cursor('["1","2"]', r="x"),
        cursor('["1","2"]', o="-1"),
        cursor("not json"),
        cursor('{"a": 1}'),
        cursor('["2026-03-02T09:00:00+17:00","99999999999999999999999"]'),
        cursor('["99999999999999999999999"]'),
        cursor('["a\\u0000"]'),
        cursor('["abc"]'),
        cursor("abc"),
        cursor("[1]"),
        "w6nDqQ==",  # not ASCII once decoded
        "\u00e9",
    ],
)
def test_every_forged_cursor_is_400_invalid_cursor(
    admin_api: APIClient, requester: User, url: str, value: str
) -> None:
    make_rows(requester)

    response = admin_api.get(url, {"cursor": value})

    assert assert_bad_request(response) == {"detail": "Invalid cursor"}


def test_a_cursor_time_with_an_offset_postgresql_refuses_is_read_in_utc(
    agent_api: APIClient, requester: User
) -> None:
    # ISO 8601 allows offsets up to ±23:59, PostgreSQL only up to ±15:59.
    make_rows(requester)
    newest = Ticket.objects.order_by("-created", "-id").first()
    assert newest is not None
    later = cursor(f'["9999-12-31T23:00:00+17:00","{newest.pk}"]')

    response = agent_api.get("/api/tickets/", {"cursor": later})

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == Ticket.objects.count()


def test_a_cursor_time_with_no_utc_form_is_an_invalid_cursor(
    agent_api: APIClient, requester: User
) -> None:
    make_rows(requester)

    response = agent_api.get("/api/tickets/", {"cursor": cursor('["0001-01-01T00:00+01:00","1"]')})

    assert assert_bad_request(response) == {"detail": "Invalid cursor"}


def test_the_event_log_pages_with_its_cursor_after_the_change(
    agent_api: APIClient, requester: User
) -> None:
    make_rows(requester)
    seen: list[int] = []
    url: str | None = "/api/events/?page_size=2"
    while url:
        page = agent_api.get(url).json()
        seen += [event["id"] for event in page["results"]]
        url = page["next"]

    assert seen == list(EventLog.objects.order_by("-id").values_list("id", flat=True))


# --- query parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/tickets/?search=a%00b",
        "/api/tickets/?requester=99999999999999999999999",
        "/api/events/?type=a%00",
        "/api/knowledge/search/?q=%00",
    ],
)
def test_nul_characters_and_huge_numbers_in_query_parameters_are_400(
    admin_api: APIClient, url: str
) -> None:
    response = admin_api.get(url)

    assert response.status_code == 400, response.content
    assert response.json()


PAGED_LISTS = ["/api/tickets/", "/api/events/", "/api/workflows/", "/api/sla/breaches/"]


@pytest.mark.parametrize("url", PAGED_LISTS)
@pytest.mark.parametrize("value", ["0", "-1", "abc", "null", "", "1.5", "9" * 40, "\u0661"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_400(
    admin_api: APIClient, url: str, value: str
) -> None:
    response = admin_api.get(url, {"page_size": value})

    assert assert_bad_request(response) == {"page_size": ["Enter a whole number from 1."]}


@pytest.mark.parametrize("url", PAGED_LISTS)
def test_a_page_size_above_the_maximum_gives_the_largest_pages(
    admin_api: APIClient, url: str
) -> None:
    assert admin_api.get(url, {"page_size": "100000"}).status_code == 200
