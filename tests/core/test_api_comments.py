"""Comments (with attachments and their download), watchers and history of a ticket
through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import Attachment, Comment, Role, Ticket, User
from tests.factories import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db


def upload(name: str, content: bytes, content_type: str = "text/plain") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type)


@pytest.fixture(autouse=True)
def _media_in_tmp(settings: Settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


# --- comments -------------------------------------------------------------------------------
def test_agents_public_json_comment_is_created_and_is_the_first_response(
    agent_api: APIClient, agent: User, ticket: Ticket
) -> None:
    response = agent_api.post(
        f"/api/tickets/{ticket.key}/comments/", {"body": "Unplug it."}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    comment = Comment.objects.get()
    assert body == {
        "id": comment.pk,
        "author": {"id": agent.pk, "username": "agent", "full_name": ""},
        "body": "Unplug it.",
        "is_internal": False,
        "created": body["created"],
        "attachments": [],
    }
    detail = agent_api.get(f"/api/tickets/{ticket.key}/").json()
    assert detail["first_response_at"] is not None


def test_comments_are_listed_oldest_first_in_pages(
    agent_api: APIClient, agent: User, requester: User, ticket: Ticket
) -> None:
    for n in range(3):
        services.comment_create(ticket=ticket, author=requester, body=f"Comment {n}")

    response = agent_api.get(f"/api/tickets/{ticket.key}/comments/?page_size=2")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [c["body"] for c in body["results"]] == ["Comment 0", "Comment 1"]
    rest = agent_api.get(body["next"]).json()
    assert [c["body"] for c in rest["results"]] == ["Comment 2"]


def test_multipart_comment_with_attachments_lists_them_with_download_urls(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    as_user(api_client, requester)

    response = api_client.post(
        f"/api/tickets/{ticket.key}/comments/",
        {
            "body": "Photos attached.",
            "attachments": [
                upload("smoke.jpg", b"\xff\xd8jpeg", "image/jpeg"),
                upload("a.txt", b"hi"),
            ],
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    attachments = response.json()["attachments"]
    stored = list(Attachment.objects.order_by("id"))
    assert [(a["filename"], a["size"], a["content_type"]) for a in attachments] == [
        ("smoke.jpg", 6, "image/jpeg"),
        ("a.txt", 2, "text/plain"),
    ]
    assert attachments[0]["url"] == (
        f"http://testserver/api/tickets/{ticket.key}/attachments/{stored[0].pk}/"
    )
    listed = api_client.get(f"/api/tickets/{ticket.key}/comments/").json()["results"]
    assert listed[0]["attachments"] == attachments

    download = api_client.get(attachments[0]["url"])

    assert download.status_code == 200
    assert download["Content-Type"] == "image/jpeg"
    assert download["Content-Disposition"] == (
        "attachment; filename=\"smoke.jpg\"; filename*=UTF-8''smoke.jpg"
    )
    assert b"".join(download.streaming_content) == b"\xff\xd8jpeg"


def test_download_answers_whatever_the_client_accepts(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    comment = services.comment_create(
        ticket=ticket, author=requester, body="PDF", attachments=[upload("r.pdf", b"%PDF")]
    )
    url = f"/api/tickets/{ticket.key}/attachments/{comment.attachments.get().pk}/"

    response = as_user(api_client, requester).get(url, HTTP_ACCEPT="application/pdf")
    missing = api_client.get(
        f"/api/tickets/{ticket.key}/attachments/987654/", HTTP_ACCEPT="application/pdf"
    )

    assert response.status_code == 200
    assert missing.status_code == 404
    assert missing.json() == {"detail": "No such attachment."}


def test_oversize_attachment_is_400_with_the_services_message_and_nothing_is_saved(
    api_client: APIClient, requester: User, ticket: Ticket, settings: Settings
) -> None:
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 10

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "Big one", "attachments": [upload("dump.bin", b"x" * 11)]},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {
        "attachments": ["dump.bin is 11 bytes; the limit is 10 bytes per file."]
    }
    assert not Comment.objects.exists()
    assert not Attachment.objects.exists()


def test_too_many_attachments_is_400(
    api_client: APIClient, requester: User, ticket: Ticket, settings: Settings
) -> None:
    settings.NIXFLOW_MAX_ATTACHMENTS = 1

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "Two", "attachments": [upload("a.txt", b"a"), upload("b.txt", b"b")]},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {"attachments": ["At most 1 files per comment."]}


def test_a_json_body_over_djangos_upload_limit_is_413_before_it_is_read(
    api_client: APIClient, requester: User, ticket: Ticket, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # DRF's JSON parser itself would not check

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/", {"body": "x" * 300}, format="json"
    )

    assert response.status_code == 413
    assert response.json()["detail"].endswith("the limit is 100.")
    assert not Comment.objects.exists()


def test_a_multipart_body_larger_than_the_most_attachments_allowed_is_413(
    api_client: APIClient, requester: User, ticket: Ticket, settings: Settings
) -> None:
    settings.NIXFLOW_MAX_ATTACHMENTS = 2
    settings.NIXFLOW_MAX_ATTACHMENT_BYTES = 1000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    as_user(api_client, requester)
    url = f"/api/tickets/{ticket.key}/comments/"

    within = api_client.post(
        url,
        {"body": "ok", "attachments": [upload("a", b"a" * 900), upload("b", b"b" * 900)]},
        format="multipart",
    )
    beyond = api_client.post(
        url, {"body": "big", "attachments": [upload("b", b"b" * 3100)]}, format="multipart"
    )

    assert within.status_code == 201, within.json()
    assert beyond.status_code == 413
    assert beyond.json()["detail"].endswith("the limit is 3000.")
    assert Comment.objects.count() == 1


def test_form_fields_over_djangos_upload_limit_are_413_not_500(
    api_client: APIClient, requester: User, ticket: Ticket, settings: Settings
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # the allowance covers the attachments

    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/", {"body": "x" * 5000}, format="multipart"
    )

    assert response.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in response.json()["detail"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "ok", "is_internal": "maybe"}, "is_internal"),
        ({"body": "ok", "attachments": ["not a file"]}, "attachments"),
    ],
)
def test_bad_comment_input_is_400_naming_the_field(
    agent_api: APIClient, ticket: Ticket, payload: dict[str, Any], field: str
) -> None:
    response = agent_api.post(f"/api/tickets/{ticket.key}/comments/", payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_an_empty_uploaded_file_is_400(
    api_client: APIClient, requester: User, ticket: Ticket
) -> None:
    response = as_user(api_client, requester).post(
        f"/api/tickets/{ticket.key}/comments/",
        {"body": "Empty", "attachments": [upload("empty.txt", b"")]},
        format="multipart",
    )

    assert response.status_code == 400
    assert "attachments" in response.json()


def test_a_missing_file_on_disk_is_404_not_500(
    agent_api: APIClient, requester: User, ticket: Ticket
) -> None:
    comment = services.comment_create(
        ticket=ticket, author=requester, body="x", attachments=[upload("a.txt", b"a")]
    )
    attachment = comment.attachments.get()
    Path(attachment.file.path).unlink()

    response = agent_api.get(f"/api/tickets/{ticket.key}/attachments/{attachment.pk}/")

    assert response.status_code == 404
    assert response.json() == {"detail": "The file of this attachment is missing."}


def test_comments_list_runs_the_same_queries_for_page_size_2_and_10(
    api_client: APIClient,
    agent: User,
    requester: User,
    ticket: Ticket,
    django_assert_num_queries: Any,
) -> None:
    authors = [agent, requester, UserFactory(role=Role.AGENT)]
    for n in range(12):
        services.comment_create(
            ticket=ticket,
            author=authors[n % 3],
            body=f"Comment {n}",
            attachments=[upload(f"{n}.txt", b"n")] * (n % 2),
        )

    for user in (agent, requester):
        as_user(api_client, user)
        for size in (2, 10):
            # The ticket, the count, the comments with their authors, their attachments.
            with django_assert_num_queries(4):
                response = api_client.get(f"/api/tickets/{ticket.key}/comments/?page_size={size}")
            assert len(response.json()["results"]) == size


# --- watchers and history ---------------------------------------------------------------------
def test_watchers_are_listed_added_idempotently_and_removed(
    agent_api: APIClient, agent: User, requester: User, ticket: Ticket
) -> None:
    url = f"/api/tickets/{ticket.key}/watchers/"

    first = agent_api.post(url, {}, format="json")
    second = agent_api.post(url, {}, format="json")
    other = agent_api.post(url, {"user": requester.pk}, format="json")
    listed = agent_api.get(url).json()

    assert (first.status_code, second.status_code, other.status_code) == (201, 201, 201)
    assert first.json()["user"] == {"id": agent.pk, "username": "agent", "full_name": ""}
    assert listed["count"] == 2
    assert [w["user"]["username"] for w in listed["results"]] == ["agent", "requester"]

    assert agent_api.delete(f"{url}?user={requester.pk}").status_code == 204
    assert agent_api.delete(url).status_code == 204
    assert agent_api.delete(url).status_code == 204  # already gone: still done
    assert agent_api.get(url).json()["count"] == 0


@pytest.mark.parametrize(
    ("method", "payload", "query"),
    [
        ("post", {"user": 987654}, ""),
        ("post", {"user": "me"}, ""),
        ("post", ["user"], ""),
        ("delete", None, "?user=abc"),
        ("delete", None, "?user=987654"),
    ],
)
def test_watcher_with_an_unknown_or_malformed_user_is_400(
    agent_api: APIClient, ticket: Ticket, method: str, payload: Any, query: str
) -> None:
    url = f"/api/tickets/{ticket.key}/watchers/{query}"

    response = getattr(agent_api, method)(url, payload, format="json")

    assert response.status_code == 400


def test_an_inactive_user_cannot_be_made_a_watcher(agent_api: APIClient, ticket: Ticket) -> None:
    gone = UserFactory(username="gone", is_active=False)

    response = agent_api.post(
        f"/api/tickets/{ticket.key}/watchers/", {"user": gone.pk}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {"user": ["gone is not an active user."]}


def test_history_lists_every_change_with_its_actor(
    agent_api: APIClient, agent: User, requester: User, ticket: Ticket
) -> None:
    services.ticket_update(ticket=ticket, actor=agent, data={"priority": "HIGH"})
    services.ticket_watch(ticket=ticket, user=requester, actor=None)

    response = agent_api.get(f"/api/tickets/{ticket.key}/history/")

    assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["field"], r["old_value"], r["new_value"]) for r in rows] == [
        ("ticket", "", "created"),
        ("stage", "", "New"),
        ("priority", "NORMAL", "HIGH"),
        ("watcher", "", "requester"),
    ]
    assert rows[0]["actor"]["username"] == "requester"
    assert rows[2]["actor"]["username"] == "agent"
    assert rows[3]["actor"] is None


def test_history_and_watchers_lists_run_the_same_queries_for_page_size_2_and_10(
    agent_api: APIClient, agent: User, ticket: Ticket, django_assert_num_queries: Any
) -> None:
    users = [UserFactory() for _ in range(12)]
    for user in users:
        services.ticket_watch(ticket=ticket, user=user, actor=agent)

    for size in (2, 10):
        with django_assert_num_queries(3):  # the ticket, the count, the rows with users
            history = agent_api.get(f"/api/tickets/{ticket.key}/history/?page_size={size}")
        with django_assert_num_queries(3):
            watchers = agent_api.get(f"/api/tickets/{ticket.key}/watchers/?page_size={size}")
        assert len(history.json()["results"]) == size
        assert len(watchers.json()["results"]) == size
