"""Writes of the webhooks app: endpoints (admins only), tests, redeliveries, and the
endpoint's failure streak with its automatic disabling.

Each change is one transaction with one ``webhook.*`` event (``webhooks.events``); a
change to which endpoints exist or what they want clears the per-process endpoint cache
of ``webhooks.receivers`` when it commits. Work for the workers (sending) is queued
through the outbox in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from nixflow.models import User
from nixflow.toolkit.auth import require_admin
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.services import changes_payload, model_update
from webhooks import crypto, delivery, events, receivers, selectors, targets
from webhooks.models import ALL_EVENTS, Delivery, Endpoint, Status

FIELDS = frozenset({"name", "url", "event_types", "filters", "is_active"})
FAMILY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\.\*")
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
MAX_EVENT_TYPES = 100
MAX_FILTERS = 20
SCALARS = (str, int, float, bool, type(None))


# --- Validation ---------------------------------------------------------------------------
def clean_event_types(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValidationError({"event_types": "A list of event types."})
    types = list(dict.fromkeys(t.strip() for t in value if t.strip()))
    if len(types) > MAX_EVENT_TYPES:
        raise ValidationError({"event_types": f"At most {MAX_EVENT_TYPES} event types."})
    for name in types:
        if not (name == ALL_EVENTS or EVENT_TYPE.fullmatch(name) or FAMILY.fullmatch(name)):
            raise ValidationError(
                {
                    "event_types": f'{name!r} is not an event type ("ticket.created"), a '
                    'family ("ticket.*") or "*".'
                }
            )
    return types


def clean_filters(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError({"filters": 'An object of {"field": value or [values]}.'})
    if len(value) > MAX_FILTERS:
        raise ValidationError({"filters": f"At most {MAX_FILTERS} filters."})
    for name, wanted in value.items():
        if not name or len(name) > 100:
            raise ValidationError({"filters": "Filter fields are names of 1 to 100 characters."})
        values = wanted if isinstance(wanted, list) else [wanted]
        if not all(isinstance(v, SCALARS) for v in values):
            raise ValidationError(
                {"filters": f"{name}: compare with a string, number, boolean or null, or a list."}
            )
    return dict(value)


def _clean(data: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ValidationError(f"These fields cannot be changed here: {', '.join(unknown)}.")
    cleaned = dict(data)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"]).strip()
        if not cleaned["name"]:
            raise ValidationError({"name": "Give the endpoint a name."})
    if "url" in cleaned:
        cleaned["url"] = str(cleaned["url"]).strip()
        targets.validate_url(cleaned["url"])
    if "event_types" in cleaned:
        cleaned["event_types"] = clean_event_types(cleaned["event_types"])
    if "filters" in cleaned:
        cleaned["filters"] = clean_filters(cleaned["filters"] or {})
    return cleaned


def _validate(endpoint: Endpoint) -> None:
    endpoint.full_clean(exclude=["secret_encrypted", "created_by"])


# --- Endpoints ----------------------------------------------------------------------------
@transaction.atomic
def endpoint_create(*, actor: User | None, data: Mapping[str, Any]) -> tuple[Endpoint, str]:
    """Create an endpoint with a new secret; the endpoint and the secret, which is shown
    this once (it is stored encrypted and never displayed again: rotate to get a new one).
    Records ``webhook.created``."""
    require_admin(actor, "manage webhooks")
    cleaned = _clean(data)
    if "url" not in cleaned or "name" not in cleaned:
        raise ValidationError(
            {k: "This field is required." for k in ("name", "url") if k not in cleaned}
        )
    secret = crypto.new_secret()
    endpoint = Endpoint(**cleaned, secret_encrypted=crypto.encrypt(secret), created_by=actor)
    _validate(endpoint)
    endpoint.save()
    events.webhook_created(endpoint=endpoint, actor=actor)
    receivers.forget_on_commit()
    return endpoint, secret


def _lock(endpoint: Endpoint) -> Endpoint:
    return Endpoint.objects.select_for_update().get(pk=endpoint.pk)


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, actor: User | None, data: Mapping[str, Any]) -> Endpoint:
    """Change an endpoint; admins only. ``is_active`` false disables it (as
    ``endpoint_disable``), true enables it again (``endpoint_enable``). One
    ``webhook.updated`` with what changed, nothing when nothing did."""
    require_admin(actor, "manage webhooks")
    cleaned = _clean(data)
    active = cleaned.pop("is_active", None)
    endpoint = _lock(endpoint)
    changes = model_update(instance=endpoint, data=cleaned, validate=_validate)
    if changes:
        events.webhook_updated(
            endpoint=endpoint,
            actor=actor,
            fields=list(changes),
            changes=changes_payload(changes, hide={"url"}),
        )
        receivers.forget_on_commit()
    if active is True and not endpoint.is_active:
        endpoint = endpoint_enable(endpoint=endpoint, actor=actor)
    elif active is False and endpoint.is_active:
        endpoint = endpoint_disable(endpoint=endpoint, actor=actor, reason="Disabled by an admin.")
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, actor: User | None) -> None:
    """Delete an endpoint and its delivery log; admins only. ``webhook.deleted``."""
    require_admin(actor, "manage webhooks")
    endpoint = _lock(endpoint)
    events.webhook_deleted(endpoint=endpoint, actor=actor)
    endpoint.delete()
    receivers.forget_on_commit()


@transaction.atomic
def endpoint_rotate_secret(*, endpoint: Endpoint, actor: User | None) -> tuple[Endpoint, str]:
    """Give the endpoint a new secret, shown this once; deliveries from now on are
    signed with it (attempts already in flight keep the old one)."""
    require_admin(actor, "manage webhooks")
    endpoint = _lock(endpoint)
    secret = crypto.new_secret()
    endpoint.secret_encrypted = crypto.encrypt(secret)
    endpoint.save(update_fields=["secret_encrypted", "updated"])
    events.webhook_updated(
        endpoint=endpoint,
        actor=actor,
        fields=["secret"],
        changes={"secret": ["rotated", "rotated"]},
    )
    return endpoint, secret


@transaction.atomic
def endpoint_disable(
    *, endpoint: Endpoint, actor: User | None, reason: str, automatic: bool = False
) -> Endpoint:
    """Stop sending to the endpoint; its open deliveries wait until it is enabled again.
    Records ``webhook.disabled``, which tells the admins (notifications)."""
    require_admin(actor, "manage webhooks")
    endpoint = _lock(endpoint)
    if not endpoint.is_active:
        return endpoint
    endpoint.is_active = False
    endpoint.disabled_at = timezone.now()
    endpoint.disabled_reason = reason[:300]
    endpoint.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated"])
    events.webhook_disabled(endpoint=endpoint, actor=actor, automatic=automatic)
    receivers.forget_on_commit()
    return endpoint


@transaction.atomic
def endpoint_enable(*, endpoint: Endpoint, actor: User | None) -> Endpoint:
    """Send to the endpoint again, starting with the deliveries that waited (their
    retries start over). Records ``webhook.updated`` (``is_active``)."""
    require_admin(actor, "manage webhooks")
    endpoint = _lock(endpoint)
    if endpoint.is_active:
        return endpoint
    endpoint.is_active = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = ""
    endpoint.failure_streak = 0
    endpoint.failing_since = None
    endpoint.save()
    now = timezone.now()
    Delivery.objects.filter(endpoint=endpoint, status__in=[Status.PENDING, Status.FAILED]).update(
        attempts=0, next_attempt_at=now, leased_until=None
    )
    events.webhook_updated(
        endpoint=endpoint, actor=actor, fields=["is_active"], changes={"is_active": [False, True]}
    )
    receivers.forget_on_commit()
    delivery.queue(endpoint.pk)
    return endpoint


@transaction.atomic
def endpoint_send_test(*, endpoint: Endpoint, actor: User | None) -> Delivery:
    """Send a ``webhook.tested`` event to this endpoint (only); its delivery."""
    require_admin(actor, "manage webhooks")
    endpoint = _lock(endpoint)
    if not endpoint.is_active:
        raise ConflictError("The endpoint is disabled: enable it before sending a test event.")
    event = events.webhook_tested(endpoint=endpoint, actor=actor)
    # The receiver wrote it if its cache knew the endpoint; otherwise write it here.
    found = Delivery.objects.filter(endpoint=endpoint, event_id=event.pk).first()
    if found is not None:
        return found
    receivers.schedule(
        receivers.deliveries_for([event], {endpoint.pk: receivers.wanted_of(endpoint)})
    )
    return Delivery.objects.get(endpoint=endpoint, event_id=event.pk)


@transaction.atomic
def delivery_redeliver(*, delivery: Delivery, actor: User | None) -> Delivery:
    """Send a delivery again, as it was (the same ``webhook-id`` and body), whatever its
    status; its retries start over. Records ``webhook.redelivered``."""
    require_admin(actor, "redeliver webhooks")
    row = Delivery.objects.select_for_update().select_related("endpoint").get(pk=delivery.pk)
    if row.leased_until is not None and row.leased_until > timezone.now():
        raise ConflictError("The delivery is being sent right now: look again in a moment.")
    row.status = Status.PENDING
    row.attempts = 0
    row.next_attempt_at = timezone.now()
    row.save(update_fields=["status", "attempts", "next_attempt_at"])
    events.webhook_redelivered(delivery=row, actor=actor)
    if row.endpoint.is_active:
        _queue(row.endpoint_id)
    return row


def _queue(endpoint_id: int) -> None:
    delivery.queue(endpoint_id)


# --- Failure streak -----------------------------------------------------------------------
def disable_after() -> tuple[int, timedelta]:
    return (
        int(getattr(settings, "WEBHOOKS_DISABLE_AFTER_FAILURES", 10)),
        timedelta(seconds=float(getattr(settings, "WEBHOOKS_DISABLE_AFTER_SECONDS", 86_400))),
    )


def endpoint_note_attempts(*, endpoint: Endpoint, succeeded: int, failed: int) -> None:
    """Count a batch's outcomes against the endpoint (the system's, from the delivery
    task, in its transaction). Any success ends the streak. When every attempt has
    failed for ``WEBHOOKS_DISABLE_AFTER_SECONDS`` and at least
    ``WEBHOOKS_DISABLE_AFTER_FAILURES`` times in a row, the endpoint is disabled with the
    reason, which records ``webhook.disabled`` and tells the admins."""
    rows = Endpoint.objects.filter(pk=endpoint.pk)
    if succeeded:
        rows.filter(failure_streak__gt=0).update(failure_streak=0, failing_since=None)
        return
    if not failed:
        return
    now = timezone.now()
    rows.update(
        failure_streak=F("failure_streak") + failed,
        failing_since=Coalesce(F("failing_since"), Value(now)),
    )
    current = rows.select_for_update().first()
    if current is None or not current.is_active or current.failing_since is None:
        return
    streak, period = disable_after()
    if current.failure_streak >= streak and now - current.failing_since >= period:
        last = (
            Delivery.objects.filter(endpoint=current, last_attempt_at__isnull=False)
            .order_by("-last_attempt_at")
            .values_list("last_error", flat=True)
            .first()
        )
        hours = (now - current.failing_since).total_seconds() / 3600
        reason = (
            f"Every attempt failed for {hours:.1f} h ({current.failure_streak} in a row)."
            f" Last error: {last or 'none recorded'}"
        )
        endpoint_disable(endpoint=current, actor=None, reason=reason, automatic=True)


@transaction.atomic
def endpoint_secrets_reencrypt() -> int:
    """Re-encrypt every endpoint's secret under the first of ``NIXFLOW_SECRET_KEYS``
    (the secrets themselves do not change); the number of endpoints. The system's,
    from ``manage.py rotate_webhook_secrets``: no event (nothing a reader sees changed)."""
    count = 0
    for endpoint in Endpoint.objects.select_for_update().order_by("pk"):
        endpoint.secret_encrypted = crypto.rotate(endpoint.secret_encrypted)
        endpoint.save(update_fields=["secret_encrypted"])
        count += 1
    return count


# --- Retention ----------------------------------------------------------------------------
FINISHED = (Status.DELIVERED, Status.GAVE_UP)
PURGE_BATCH = 5000
DEFAULT_RETENTION_DAYS = 30


def retention_days() -> int:
    """``WEBHOOKS_DELIVERY_RETENTION_DAYS`` (30); 0 keeps deliveries forever."""
    return int(getattr(settings, "WEBHOOKS_DELIVERY_RETENTION_DAYS", DEFAULT_RETENTION_DAYS))


def deliveries_purge(*, days: int | None = None, batch_size: int = PURGE_BATCH) -> int:
    """Delete the deliveries that finished (delivered, or given up) more than ``days``
    (default: ``retention_days()``) ago, ``batch_size`` rows per transaction; the number
    deleted. 0 days deletes nothing. Open deliveries (pending, failing) are never
    touched, nor each endpoint's newest delivery (its page then never says "None yet"
    for an endpoint that has sent something). A row being redelivered at that moment is
    locked, and skipped. The system's, from ``deliver_due`` and ``manage.py
    webhooks_purge``: no event (the event log keeps what was sent)."""
    days = retention_days() if days is None else days
    if days <= 0:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    keep = [pk for pk in selectors.newest_delivery_ids() if pk is not None]
    # The expression of the partial index webhooks_delivery_finished, so the batches read it.
    candidates = (
        Delivery.objects.alias(finished_at=Coalesce("last_attempt_at", "created"))
        .filter(finished_at__lt=cutoff, status__in=FINISHED)
        .exclude(pk__in=keep)
        .order_by()
    )
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(
                candidates.select_for_update(skip_locked=True).values_list("pk", flat=True)[
                    :batch_size
                ]
            )
            if ids:
                # Checked again under the lock: a redelivery may have reopened a row.
                count, _ = Delivery.objects.filter(pk__in=ids, status__in=FINISHED).delete()
                deleted += count
        if len(ids) < batch_size:
            return deleted
