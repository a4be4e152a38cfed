"""Which endpoints an event goes to, decided in the transaction that records it.

``on_events_recorded`` listens to the event log's ``events_recorded`` signal, which is
sent inside the recording transaction: the ``Delivery`` rows and the outbox message that
wakes a worker commit with the change, or roll back with it ("delivery rides the
outbox": no request ever talks to the broker or to a receiver).

Every event of the desk passes through here (``ticket_create`` is benchmarked), so the
common case costs no query: the active endpoints are kept per process and reloaded
only when one changed (``_endpoints``: a token in the shared cache, see below). With no
endpoint the receiver returns after one cache read.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from eventlog.models import EventLog
from eventlog.outbox import Message, outbox_enqueue_many
from webhooks.events import DIRECTED, OWN_FAMILY
from webhooks.models import ALL_EVENTS, Delivery, Endpoint

DELIVER_TASK = "webhooks.delivery.deliver_endpoint"


@dataclass(frozen=True)
class Wanted:
    """What an active endpoint wants, as the receiver matches it."""

    id: int
    all: bool
    types: frozenset[str]
    families: tuple[str, ...]  # "ticket." for "ticket.*"
    filters: Mapping[str, Any]

    def wants(self, event: EventLog) -> bool:
        if event.type in DIRECTED:
            return False
        if event.type in self.types or event.type.startswith(self.families):
            return matches(self.filters, event)
        if not self.all or event.type.startswith(OWN_FAMILY):
            return False
        return matches(self.filters, event)


def matches(filters: Mapping[str, Any], event: EventLog) -> bool:
    """Every filter holds: the event's field equals the value, or is one of the values
    when a list is given. Fields: ``ticket_key``, ``actor`` (the actor's label) or a key
    of the payload."""
    payload = event.payload or {}
    for name, wanted in filters.items():
        if name == "ticket_key":
            value: Any = event.ticket_key
        elif name == "actor":
            value = event.actor_name
        else:
            value = payload.get(name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def wanted_of(endpoint: Endpoint) -> Wanted:
    types = [str(t) for t in endpoint.event_types or []]
    return Wanted(
        id=endpoint.pk,
        all=ALL_EVENTS in types,
        types=frozenset(t for t in types if not t.endswith(".*")),
        families=tuple(t[:-1] for t in types if t.endswith(".*")),
        filters=dict(endpoint.filters or {}),
    )


# The active endpoints, loaded once per process and used until one changes (the same
# scheme as the automation rules): a token in the shared cache names the endpoints'
# state; every write of an endpoint (the services, and ``post_save``/``post_delete``
# wired in ``webhooks.apps``) replaces it, at once and again after commit, and a process
# whose token differs loads the endpoints again. A change written around the model's
# save (a queryset ``update``) sends no signal: a process reloads anyway after
# ``WEBHOOKS_ENDPOINT_CACHE_SECONDS``.
GENERATION_KEY = "webhooks:endpoints:generation"


@dataclass
class _Loaded:
    token: str = ""
    at: float = 0.0
    endpoints: dict[int, Wanted] | None = None


_loaded = _Loaded()


def _generation() -> str:
    token = cache.get(GENERATION_KEY)
    if token is None:
        token = uuid.uuid4().hex
        cache.add(GENERATION_KEY, token, timeout=None)
        token = cache.get(GENERATION_KEY, token)
    return str(token)


def _endpoints() -> dict[int, Wanted]:
    token, now = _generation(), time.monotonic()
    ttl = float(getattr(settings, "WEBHOOKS_ENDPOINT_CACHE_SECONDS", 60.0))
    loaded = _loaded
    if loaded.endpoints is not None and loaded.token == token and now - loaded.at <= ttl:
        return loaded.endpoints
    active = {e.pk: wanted_of(e) for e in Endpoint.objects.filter(is_active=True)}
    loaded.token, loaded.at, loaded.endpoints = token, now, active
    return active


def forget_endpoints() -> None:
    """Make every process (this one at once) load the endpoints again at its next event."""
    _loaded.endpoints = None
    cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)


def forget_on_commit() -> None:
    """After a change to an endpoint: now (this transaction's later events see it) and
    again after the commit (a process that loaded in between saw the rows before it)."""
    forget_endpoints()
    transaction.on_commit(forget_endpoints)


def ordering_key(event: EventLog) -> str:
    return event.ticket_key or f"{event.subject_app}.{event.subject_model}:{event.subject_id}"


def _directed_to(event: EventLog) -> int | None:
    endpoint_id = (event.payload or {}).get("endpoint_id")
    return endpoint_id if isinstance(endpoint_id, int) else None


def deliveries_for(events: Iterable[EventLog], endpoints: Mapping[int, Wanted]) -> list[Delivery]:
    now = timezone.now()
    rows = []
    for event in events:
        if event.type in DIRECTED:
            target = _directed_to(event)
            chosen = [target] if target is not None and target in endpoints else []
        else:
            chosen = [w.id for w in endpoints.values() if w.wants(event)]
        for endpoint_id in chosen:
            rows.append(
                Delivery(
                    endpoint_id=endpoint_id,
                    event_id=event.pk,
                    event_type=event.type,
                    ordering_key=ordering_key(event)[:200],
                    created=now,
                    next_attempt_at=now,
                )
            )
    return rows


def schedule(rows: Sequence[Delivery]) -> None:
    """Write the deliveries and one outbox message per endpoint, in this transaction."""
    if not rows:
        return
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    outbox_enqueue_many(
        messages=[
            Message(task=DELIVER_TASK, kwargs={"endpoint_id": endpoint_id})
            for endpoint_id in sorted({row.endpoint_id for row in rows})
        ]
    )


def on_events_recorded(sender: Any, events: Sequence[EventLog], **kwargs: Any) -> None:
    endpoints = _endpoints()
    if not endpoints:
        return
    schedule(deliveries_for(events, endpoints))
