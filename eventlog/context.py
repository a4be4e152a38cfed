"""The correlation id: one per web request or Celery task, stamped on its events.

Set by ``CorrelationIdMiddleware`` for requests (from a valid ``X-Request-ID`` header, or
new) and by Celery signals for tasks (passed along from whoever queued the task, so a
request's follow-up work shares its id). Outside both, each event gets its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from celery import signals
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
TASK_HEADER = "nixflow_correlation_id"

_current: ContextVar[uuid.UUID | None] = ContextVar("correlation_id", default=None)


def current() -> uuid.UUID | None:
    return _current.get()


@contextmanager
def correlated(correlation_id: uuid.UUID | None = None) -> Iterator[uuid.UUID]:
    """Run a block under ``correlation_id`` (a new one when None)."""
    value = correlation_id or uuid.uuid4()
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


def parse(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


class CorrelationIdMiddleware:
    """The request's correlation id, and its scope for ``via_for_request``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with correlated(parse(request.headers.get(HEADER))) as correlation_id:
            scope, via = _in_request.set(True), _via.set(None)
            try:
                response = self.get_response(request)
            finally:
                _via.reset(via)
                _in_request.reset(scope)
        response[HEADER] = str(correlation_id)
        return response


@signals.before_task_publish.connect
def _pass_correlation_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    if headers is not None and current() is not None:
        headers[TASK_HEADER] = str(current())


# --- "via": what made a change that no person made directly --------------------------
# An automation rule acting on a ticket calls the same services a person would; it runs
# them under ``acting_via({"kind": "rule", "id": 7, "name": "VIP to Tier 2",
# "version": 3})``, and every event recorded meanwhile carries that description under
# the payload key "via" (``eventlog.services.event_build``), as the core's history rows
# carry its label. Nested blocks describe the innermost cause. A request made with an
# integration token is described by the token for the rest of the request
# (``via_for_request``): {"kind": "token", "id": 12, "name": "CRM sync", "prefix": "3f9a01c2"}.

_via: ContextVar[dict[str, Any] | None] = ContextVar("via", default=None)


def current_via() -> dict[str, Any] | None:
    return _via.get()


@contextmanager
def acting_via(cause: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Record the events of a block as caused by ``cause`` (JSON: kind, id, name, ...)."""
    token = _via.set(cause)
    try:
        yield cause
    finally:
        _via.reset(token)


_in_request: ContextVar[bool] = ContextVar("in_request", default=False)


def via_for_request(cause: dict[str, Any]) -> None:
    """Record the rest of the current request's events as caused by ``cause``: what the
    API's authentication calls when a request is made with an integration token, which
    DRF runs inside the view, after any middleware could open a block for it. The
    request's scope (``CorrelationIdMiddleware``) ends it; outside a request, nothing."""
    if _in_request.get():
        _via.set(cause)


def via_label(cause: dict[str, Any] | None) -> str:
    """How a person reads a cause: "rule: VIP to Tier 2 (v3)"; "" for none."""
    if not cause:
        return ""
    label = f"{cause.get('kind', 'via')}: {cause.get('name', cause.get('id', ''))}"
    if cause.get("version") is not None:
        label += f" (v{cause['version']})"
    return label[:200]


_task_tokens: dict[str, Any] = {}


@signals.task_prerun.connect
def _enter_task(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    header = getattr(task.request, TASK_HEADER, None) if task is not None else None
    _task_tokens[task_id or ""] = _current.set(parse(header) or uuid.uuid4())


@signals.task_postrun.connect
def _leave_task(task_id: str | None = None, **kwargs: Any) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        _current.reset(token)
