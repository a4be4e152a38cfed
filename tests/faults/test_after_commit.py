"""A write whose database connection is lost after its commit still answers 2xx: the
client must not repeat what is already done (the subprocess version, with every
connection terminated during a burst of writes, is in tests/test_faults.py)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from nixflow import selectors
from nixflow.models import Ticket, User
from tests.support.processes import admin_connection


@pytest.mark.django_db(transaction=True)
def test_a_connection_terminated_after_the_commit_still_answers_201(
    api_client: APIClient, requester: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_back = selectors.ticket_get
    calls: list[int] = []

    def terminated_first(**kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:  # the ticket has committed; now the server drops us
            pid = connection.connection.info.backend_pid  # type: ignore[union-attr]
            with admin_connection(connection.settings_dict["NAME"]) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return read_back(**kwargs)

    monkeypatch.setattr(selectors, "ticket_get", terminated_first)
    api_client.force_authenticate(requester)

    response = api_client.post("/api/tickets/", {"title": "Cut after commit"}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["title"] == "Cut after commit"
    assert Ticket.objects.filter(title="Cut after commit").count() == 1
    assert len(calls) == 2  # read back once more, on a fresh connection
    assert isinstance(connection.connection, psycopg.Connection)
