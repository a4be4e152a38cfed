"""Fixtures of the knowledge tests: people, clients, and what the event log recorded.

Rows are built with the factories of ``tests.knowledge.factories``.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from eventlog.models import EventLog
from nixflow.models import Role, User
from tests.factories import UserFactory


@pytest.fixture
def editor(db: None) -> User:
    return UserFactory(username="editor", role=Role.AGENT)


@pytest.fixture
def reader(db: None) -> User:
    return UserFactory(username="reader", role=Role.REQUESTER)


def client_for(user: User | None) -> APIClient:
    """An API client signed in as ``user`` (None: an anonymous reader)."""
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def browser(editor: User) -> Client:
    """The admin, signed in as the agent ``editor``."""
    client = Client()
    client.force_login(editor)
    return client


def messages_of(response: Any) -> list[str]:
    """The messages an admin response shows."""
    return [str(m) for m in response.context["messages"]]


def events_of(subject: Any, *, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the events recorded about ``subject`` (after event ``since``),
    in order."""
    return [
        (event.type, event.payload)
        for event in EventLog.objects.filter(
            subject_app=subject._meta.app_label,
            subject_model=subject._meta.model_name,
            subject_id=str(subject.pk),
            id__gt=since,
        ).order_by("id")
    ]
