"""Sending deliveries: signed POSTs, at least once, in order per ticket, retried for a day.

**The task.** ``deliver_endpoint(endpoint_id)`` is queued through the outbox by the
transaction that wrote deliveries (``webhooks.receivers``), by a retry that falls due,
by a redelivery and by the periodic ``webhooks.tasks.deliver_due`` (the safety net for a
lost message or a worker that died holding a lease). It drains the endpoint: claims a
batch of due deliveries, sends them several at a time over keep-alive connections,
records the outcomes, and again, until nothing is due (or ``WEBHOOKS_TASK_SECONDS`` have
passed: it then queues itself again, so one busy endpoint does not hold a worker).

**In order per ticket.** The claim takes, for each ordering key (the ticket's key, or
the event's subject) only the *oldest* open delivery, and only when it is due and no
worker holds it: a delivery waits while an earlier one of its key is pending or failing.
Keys are independent, so a batch sends one delivery of many tickets at once. The claim
is one ``UPDATE`` that sets a lease (``leased_until``) and re-checks the row as it locks
it, so two workers never send the same delivery, nor the second of a key while the first
is in flight. A worker that dies leaves a lease that expires; the delivery is then sent
again (at least once: receivers deduplicate on ``webhook-id``, which never changes).

**Retries.** 2xx is delivered. Anything else (another status, a 3xx: redirects are not
followed; a timeout, a refused address) is a failure: the delivery is tried again after
``WEBHOOKS_RETRY_SECONDS[n]`` (the n-th failure), give or take a fifth at random so that
failures of many deliveries don't retry in lockstep. After the last entry it has *given
up* (the default schedule spans about a day; later deliveries of its key then go ahead).
Each failure also counts against the endpoint; see ``record``'s auto-disable.

**The request** (Standard Webhooks): ``POST`` with a JSON body and the headers
``webhook-id`` (the delivery's ``msg_...``), ``webhook-timestamp`` (Unix seconds of the
attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>``.
Connect and read timeouts are ``WEBHOOKS_TIMEOUT_SECONDS``; at most
``WEBHOOKS_RESPONSE_MAX_BYTES`` of the answer are read, of which the first
``models.EXCERPT_CHARS`` characters are kept. The address is checked and pinned by
``webhooks.targets``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from celery import shared_task
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from eventlog.models import EventLog, OutboxMessage
from eventlog.outbox import outbox_enqueue
from webhooks import crypto, targets
from webhooks.events import AUTOMATION_WEBHOOK_REQUESTED
from webhooks.models import EXCERPT_CHARS, Delivery, Endpoint, Status

logger = logging.getLogger(__name__)
# httpx logs every request at INFO: a line per delivery, which the delivery log already
# records (and which cost a tenth of the sending time at volume).
logging.getLogger("httpx").setLevel(logging.WARNING)

TASK = "webhooks.delivery.deliver_endpoint"
# About a day in all (23.7 h without the jitter), 11 attempts.
DEFAULT_RETRY_SECONDS = (5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 28800)
USER_AGENT = "NixFlow-Webhooks/1"


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def retry_schedule() -> Sequence[float]:
    return tuple(_setting("WEBHOOKS_RETRY_SECONDS", DEFAULT_RETRY_SECONDS))


# --- The request -------------------------------------------------------------------------
def event_data(event: EventLog) -> dict[str, Any]:
    """The event as the log recorded it."""
    return {
        "id": event.pk,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "actor": event.actor_name,
        "subject": {
            "app": event.subject_app,
            "model": event.subject_model,
            "id": event.subject_id,
        },
        "ticket_key": event.ticket_key,
        "payload": event.payload,
        "correlation_id": event.correlation_id,
    }


def body_of(delivery: Delivery, event: EventLog, trigger: EventLog | None = None) -> bytes:
    """``{"type", "id", "timestamp", "data"}``; for an automation rule's call, ``data``
    also holds the event that fired the rule as ``trigger``."""
    data = event_data(event)
    if event.type == AUTOMATION_WEBHOOK_REQUESTED:
        data["trigger"] = event_data(trigger) if trigger is not None else None
    body = {
        "type": event.type,
        "id": delivery.webhook_id,
        "timestamp": event.occurred_at,
        "data": data,
    }
    return json.dumps(body, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def sign(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(crypto.secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass
class Outcome:
    delivery_id: int
    ok: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    duration_ms: int = 0


@dataclass(frozen=True)
class Request:
    delivery_id: int
    webhook_id: str
    body: bytes


def new_client() -> httpx.Client:
    timeout = float(_setting("WEBHOOKS_TIMEOUT_SECONDS", 10.0))
    concurrency = int(_setting("WEBHOOKS_CONCURRENCY", 16))
    return httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        trust_env=False,  # no proxy from the environment: it would bypass the address check
        headers={"user-agent": USER_AGENT},
    )


def _read_bounded(response: httpx.Response, limit: int, deadline: float) -> bytes:
    """At most ``limit`` bytes of the body, and no longer than until ``deadline``: a
    receiver that trickles bytes cannot hold the worker past the timeout."""
    chunks, size = [], 0
    for chunk in response.iter_raw():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit or time.monotonic() > deadline:
            break
    return b"".join(chunks)[:limit]


def post(
    client: httpx.Client,
    *,
    target: targets.Target,
    address: targets.IPAddress,
    secret: str,
    request: Request,
) -> Outcome:
    """One attempt; never raises for what the receiver or the network does."""
    timestamp = int(time.time())
    host = f"[{address}]" if address.version == 6 else str(address)
    default_port = 443 if target.scheme == "https" else 80
    netloc = host if target.port == default_port else f"{host}:{target.port}"
    host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
    if ":" in target.host:  # an IPv6 literal in the Host header keeps its brackets
        host_header = host_header.replace(target.host, f"[{target.host}]", 1)
    headers = {
        "host": host_header,
        "content-type": "application/json",
        "webhook-id": request.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(
            secret=secret, webhook_id=request.webhook_id, timestamp=timestamp, body=request.body
        ),
    }
    # The pinned address in the URL; the name in Host, and for TLS in SNI and the
    # certificate check (httpcore's sni_hostname extension).
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timeout = float(_setting("WEBHOOKS_TIMEOUT_SECONDS", 10.0))
    limit = int(_setting("WEBHOOKS_RESPONSE_MAX_BYTES", 64 * 1024))
    started = time.monotonic()
    outcome = Outcome(delivery_id=request.delivery_id, ok=False)
    try:
        with client.stream(
            "POST",
            f"{target.scheme}://{netloc}{target.path}",
            content=request.body,
            headers=headers,
            extensions=extensions,
        ) as response:
            raw = _read_bounded(response, limit, started + 2 * timeout)
            outcome.status_code = response.status_code
            outcome.excerpt = raw.decode("utf-8", errors="replace")[:EXCERPT_CHARS]
            if 200 <= response.status_code < 300:
                outcome.ok = True
            elif 300 <= response.status_code < 400:
                outcome.error = f"HTTP {response.status_code}: redirects are not followed."
            else:
                outcome.error = f"HTTP {response.status_code}."
    except httpx.TimeoutException as error:
        outcome.error = f"Timed out after {timeout:g} s ({type(error).__name__})."
    except httpx.HTTPError as error:
        outcome.error = f"{type(error).__name__}: {error}"[:500]
    outcome.duration_ms = int((time.monotonic() - started) * 1000)
    return outcome


# --- Claiming ----------------------------------------------------------------------------
# Two statements rather than an UPDATE over a subquery: the planner may run such a
# subquery once per row of the table when its statistics are stale (a fresh table).
CANDIDATES = """
SELECT c.id FROM webhooks_delivery c
WHERE c.endpoint_id = %(endpoint)s AND c.status IN ('pending', 'failed')
  AND c.next_attempt_at <= clock_timestamp()
  AND (c.leased_until IS NULL OR c.leased_until < clock_timestamp())
  -- The first open delivery of its key (a walk down webhooks_delivery_open).
  AND c.id = (
      SELECT e.id FROM webhooks_delivery e
      WHERE e.endpoint_id = c.endpoint_id AND e.ordering_key = c.ordering_key
        AND e.status IN ('pending', 'failed')
      ORDER BY e.id
      LIMIT 1
  )
ORDER BY c.id
LIMIT %(limit)s
"""
CLAIM = """
UPDATE webhooks_delivery d
SET leased_until = clock_timestamp() + make_interval(secs => %(lease)s)
WHERE d.id = ANY(%(ids)s)
  -- Re-checked on the row as locked: another worker may have claimed or finished it
  -- since the candidates were read.
  AND d.status IN ('pending', 'failed')
  AND (d.leased_until IS NULL OR d.leased_until < clock_timestamp())
RETURNING d.id
"""


def claim(*, endpoint_id: int, limit: int) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries of the endpoint, the oldest of each key."""
    lease = 2 * float(_setting("WEBHOOKS_TIMEOUT_SECONDS", 10.0)) + 30
    with connection.cursor() as cursor:
        cursor.execute(CANDIDATES, {"endpoint": endpoint_id, "limit": limit})
        candidates = [row[0] for row in cursor.fetchall()]
        if not candidates:
            return []
        cursor.execute(CLAIM, {"ids": candidates, "lease": lease})
        ids = [row[0] for row in cursor.fetchall()]
    return list(Delivery.objects.filter(pk__in=ids).order_by("id"))


def requests_for(deliveries: Sequence[Delivery]) -> list[Request]:
    events = EventLog.objects.in_bulk([d.event_id for d in deliveries])
    trigger_ids = [
        e.payload.get("event_id")
        for e in events.values()
        if e.type == AUTOMATION_WEBHOOK_REQUESTED and isinstance(e.payload.get("event_id"), int)
    ]
    triggers = EventLog.objects.in_bulk(trigger_ids) if trigger_ids else {}
    requests = []
    for delivery in deliveries:
        event = events[delivery.event_id]
        trigger = triggers.get(event.payload.get("event_id")) if trigger_ids else None
        requests.append(
            Request(delivery.pk, delivery.webhook_id, body_of(delivery, event, trigger))
        )
    return requests


# --- Recording ---------------------------------------------------------------------------
def _retry_at(delivery: Delivery, now: datetime) -> datetime | None:
    """When to try a delivery that just failed its ``attempts``-th time; None: give up."""
    schedule = retry_schedule()
    if delivery.attempts > len(schedule):
        return None
    delay = float(schedule[delivery.attempts - 1]) * random.uniform(0.8, 1.2)  # noqa: S311
    return now + timedelta(seconds=delay)


RECORD = """
UPDATE webhooks_delivery d
SET attempts = v.attempts, last_attempt_at = %(now)s, leased_until = NULL,
    last_status_code = v.code, last_error = v.error, last_duration_ms = v.ms,
    response_excerpt = v.excerpt, status = v.status, delivered_at = v.delivered,
    next_attempt_at = v.next
FROM unnest(
    %(ids)s::bigint[], %(attempts)s::integer[], %(codes)s::integer[], %(errors)s::text[],
    %(ms)s::integer[], %(excerpts)s::text[], %(statuses)s::text[],
    %(delivered)s::timestamptz[], %(next)s::timestamptz[]
) AS v(id, attempts, code, error, ms, excerpt, status, delivered, next)
WHERE d.id = v.id
"""


@transaction.atomic
def record(
    *, endpoint: Endpoint, deliveries: Sequence[Delivery], outcomes: Sequence[Outcome]
) -> None:
    """Store each attempt's outcome and the endpoint's failure streak; disable the
    endpoint after sustained failure (``webhooks.services.endpoint_note_failures``)."""
    from webhooks import services  # services import this module

    now = timezone.now()
    by_id = {o.delivery_id: o for o in outcomes}
    succeeded = failed = 0
    for delivery in deliveries:
        outcome = by_id[delivery.pk]
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.leased_until = None
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error[:500].replace("\x00", "")
        delivery.last_duration_ms = outcome.duration_ms
        # PostgreSQL's text holds no NUL character; a receiver may well send one.
        delivery.response_excerpt = outcome.excerpt.replace("\x00", "\ufffd")
        if outcome.ok:
            succeeded += 1
            delivery.status = Status.DELIVERED
            delivery.delivered_at = now
        else:
            failed += 1
            retry_at = _retry_at(delivery, now)
            if retry_at is None:
                delivery.status = Status.GAVE_UP
            else:
                delivery.status = Status.FAILED
                delivery.next_attempt_at = retry_at
    # One statement for the batch: Django's bulk_update builds a CASE per column and row,
    # which cost more than the requests themselves.
    with connection.cursor() as cursor:
        cursor.execute(
            RECORD,
            {
                "now": now,
                "ids": [d.pk for d in deliveries],
                "attempts": [d.attempts for d in deliveries],
                "codes": [d.last_status_code for d in deliveries],
                "errors": [d.last_error for d in deliveries],
                "ms": [d.last_duration_ms for d in deliveries],
                "excerpts": [d.response_excerpt for d in deliveries],
                "statuses": [d.status for d in deliveries],
                "delivered": [d.delivered_at for d in deliveries],
                "next": [d.next_attempt_at for d in deliveries],
            },
        )
    services.endpoint_note_attempts(endpoint=endpoint, succeeded=succeeded, failed=failed)


def _queue_at(endpoint_id: int, when: datetime) -> None:
    """Wake a worker for the endpoint at ``when``: an outbox row the relay publishes
    only once it is due; one per endpoint and second, however many runs ask for it."""
    OutboxMessage.objects.bulk_create(
        [
            OutboxMessage(
                task=TASK,
                kwargs={"endpoint_id": endpoint_id},
                key=f"webhooks:{endpoint_id}:{int(when.timestamp())}",
                available_at=when,
            )
        ],
        ignore_conflicts=True,
    )


def queue(endpoint_id: int) -> None:
    """Wake a worker for the endpoint now (after this transaction commits)."""
    outbox_enqueue(task=TASK, kwargs={"endpoint_id": endpoint_id})


def _next_due(endpoint_id: int) -> datetime | None:
    return (
        Delivery.objects.filter(endpoint_id=endpoint_id, status=Status.FAILED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


# --- The task ----------------------------------------------------------------------------
def send_batch(
    *,
    endpoint: Endpoint,
    deliveries: Sequence[Delivery],
    client: httpx.Client,
    pool: ThreadPoolExecutor | None = None,
) -> list[Outcome]:
    """Send a batch, up to the pool's threads at once; the outcomes in its order."""
    requests = requests_for(deliveries)
    try:
        target = targets.parse_url(endpoint.url)
        address = targets.resolve(target)
        secret = crypto.decrypt(endpoint.secret_encrypted)
    except Exception as error:  # a refused or unreadable target fails every attempt alike
        reason = error.messages[0] if hasattr(error, "messages") else str(error)
        return [Outcome(delivery_id=r.delivery_id, ok=False, error=reason[:500]) for r in requests]
    if pool is None or len(requests) == 1:
        return [
            post(client, target=target, address=address, secret=secret, request=r) for r in requests
        ]
    return list(
        pool.map(
            lambda r: post(client, target=target, address=address, secret=secret, request=r),
            requests,
        )
    )


def deliver_endpoint_now(endpoint_id: int, *, budget: float | None = None) -> int:
    """Send the endpoint's due deliveries until none is due or the time budget is spent;
    the number of attempts made."""
    budget = float(budget if budget is not None else _setting("WEBHOOKS_TASK_SECONDS", 50.0))
    batch = int(_setting("WEBHOOKS_BATCH_SIZE", 64))
    concurrency = int(_setting("WEBHOOKS_CONCURRENCY", 16))
    started, attempts = time.monotonic(), 0
    with contextlib.ExitStack() as stack:
        client = stack.enter_context(new_client())
        pool = (
            stack.enter_context(ThreadPoolExecutor(max_workers=concurrency))
            if concurrency > 1
            else None
        )
        while True:
            endpoint = Endpoint.objects.filter(pk=endpoint_id, is_active=True).first()
            if endpoint is None:
                return attempts  # deleted or disabled: its deliveries wait
            deliveries = claim(endpoint_id=endpoint_id, limit=batch)
            if not deliveries:
                break
            outcomes = send_batch(
                endpoint=endpoint, deliveries=deliveries, client=client, pool=pool
            )
            record(endpoint=endpoint, deliveries=deliveries, outcomes=outcomes)
            attempts += len(deliveries)
            if time.monotonic() - started > budget:
                queue(endpoint_id)  # more may be due: another run picks them up
                return attempts
    retry_at = _next_due(endpoint_id)
    if retry_at is not None:
        _queue_at(endpoint_id, retry_at)
    return attempts


@shared_task(name=TASK, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def deliver_endpoint(endpoint_id: int) -> int:
    """Send an endpoint's due deliveries (see the module docstring)."""
    return deliver_endpoint_now(endpoint_id)
