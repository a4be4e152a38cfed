"""Reading the admin's fast lists (nixflow.toolkit.changelist) as a browser does: a
page's rows, its "Next"/"Previous" links, every row by following "Next", and the
OFFSETs the SQL used on the way."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext


def rows(response: Any) -> list[Any]:
    assert response.status_code == 200, response
    return list(response.context["cl"].result_list)


def link(response: Any, rel: str) -> str | None:
    """The query string of the page's "next" or "prev" link; None without one."""
    found = [item.url for item in response.context["cl"].page_links if item.rel == rel]
    return found[0] if found else None


def offsets(queries: CaptureQueriesContext) -> list[int]:
    return [int(n) for q in queries for n in re.findall(r"OFFSET (\d+)", q["sql"])]


def walk(client: Client, url: str, **params: str) -> tuple[list[Any], list[int]]:
    """Every row of a list, following "Next" from the first page; and the OFFSETs of
    every query that took (none may exceed the numbered pages')."""
    seen: list[Any] = []
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
        seen += rows(response)
        while (next_url := link(response, "next")) is not None:
            response = client.get(url + next_url)
            seen += rows(response)
    return seen, offsets(queries)


def small_pages(monkeypatch: Any, *admin_classes: type[Any], per_page: int, numbered: int) -> None:
    """Pages of ``per_page`` rows, ``numbered`` of them numbered: a few rows then show
    every kind of page."""
    for admin_class in admin_classes:
        monkeypatch.setattr(admin_class, "list_per_page", per_page)
        monkeypatch.setattr(admin_class, "max_numbered_pages", numbered)
