"""Helpers the tests of every app share (fixtures are in ``tests/conftest.py``)."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from nixflow import services
from nixflow.models import HistoryLog, Ticket, User


def as_user(client: APIClient, user: User) -> APIClient:
    """``client``, authenticated as ``user`` for the requests that follow."""
    client.force_authenticate(user)
    return client


def new_ticket(requester: User, title: str = "Printer on fire", **kwargs: Any) -> Ticket:
    """A ticket the requester opened themselves, through the service (history, event)."""
    return services.ticket_create(requester=requester, title=title, actor=requester, **kwargs)


def history(ticket: Ticket) -> list[tuple[str, str, str]]:
    """The ticket's history rows as (field, old value, new value), oldest first."""
    return list(
        HistoryLog.objects.filter(ticket=ticket)
        .order_by("id")
        .values_list("field", "old_value", "new_value")
    )
