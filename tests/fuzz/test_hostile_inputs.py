"""Hostile inputs schemathesis does not generate, sent to every operation of the schema:
bodies nested 100,000 deep, numbers beyond a double, broken multipart, NUL characters,
and forged cursors on every cursor-paged list. Each must answer a 4xx with a JSON body,
never a 5xx (tests/test_api_errors.py pins each kind on one endpoint)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.fuzz.world import World, build_world

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

BODIES: list[tuple[str, bytes]] = [
    ("application/json", b"[" * 100_000),
    ("application/json", b'{"a": ' * 5_000),
    ("application/json", b'{"id": 1e400, "name": -1e400, "title": 1e400}'),
    ("application/json", b'{"name": "a\\u0000", "title": "a\\u0000", "body": "\\u0000"}'),
    ("application/json", b'{"\\u0000": {"\\u0000": "\\u0000"}}'),
    ("application/json", b'{"title": "\xff\xfe"}'),
    ("multipart/form-data; boundary=x", b"--x\r\nbroken"),
    ("multipart/form-data", b"--x\r\n"),
    ("application/x-www-form-urlencoded", b"title=a%00b&name=%00"),
]

FORGED_CURSORS = [
    "garbage",
    base64.b64encode(b"p=abc").decode(),
    base64.b64encode(b"p=%5B%220001-01-01T00%3A00%3A00%2B17%3A00%22%2C%221%22%5D").decode(),
    base64.b64encode(b"p=%5B%2299999999999999999999999%22%5D").decode(),
    base64.b64encode(b"o=x&r=y").decode(),
]


@pytest.fixture
def schema(tmp_path: Path) -> dict[str, Any]:
    target = tmp_path / "schema.json"
    call_command("spectacular", "--format", "openapi-json", "--file", str(target))
    return json.loads(target.read_text())


@pytest.fixture
def world(settings: Settings, tmp_path: Path) -> World:
    settings.MEDIA_ROOT = str(tmp_path)
    return build_world()


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


def concrete(path: str, world: World, method: str) -> str:
    for name, value in world.path_values(method, path).items():
        path = path.replace(f"{{{name}}}", str(value))
    return path


def refusal(response: Any) -> str | None:
    """What is wrong with an answer to hostile input, or None."""
    if response.status_code >= 500:
        return f"{response.status_code}"
    if response.status_code >= 400 and not response["Content-Type"].startswith("application/json"):
        return f"{response.status_code} as {response['Content-Type']}"
    return None


def test_hostile_bodies_never_make_a_server_error(schema: dict[str, Any], world: World) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['admin']}")
    failures = []
    for method, path, operation in operations(schema):
        if method not in {"post", "put", "patch"} or "requestBody" not in operation:
            continue
        url = concrete(path, world, method)
        for content_type, body in BODIES:
            response = getattr(client, method)(url, data=body, content_type=content_type)
            if problem := refusal(response):
                failures.append((method, path, content_type, body[:30], problem))

    assert failures == []


def test_forged_cursors_are_400_on_every_cursor_paged_list(
    schema: dict[str, Any], world: World
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens['admin']}")
    cursor_lists = [
        path
        for method, path, operation in operations(schema)
        if method == "get" and any(p["name"] == "cursor" for p in operation.get("parameters", []))
    ]
    answers = {
        (path, value): client.get(concrete(path, world, "get"), {"cursor": value})
        for path in cursor_lists
        for value in FORGED_CURSORS
    }

    assert len(cursor_lists) >= 4
    assert {
        key: (response.status_code, response.json())
        for key, response in answers.items()
        if (response.status_code, response.json()) != (400, {"detail": "Invalid cursor"})
    } == {}
