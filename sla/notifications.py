"""Breach notifications: after commit, through the event log's subscribers, once each.

The assignee, the watchers and the policy's escalation address are told of each breach.
The ``Delivery`` row of the subscriber makes a redelivered event send nothing twice;
the mail is queued in the outbox of the delivery's transaction (``eventlog.outbox``) and
sent by ``send_breach_mail`` in a worker, retried while the mail server fails.
"""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail

from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.subscribers import subscribe
from sla import events
from sla.models import SLABreach

SUBSCRIBER = "sla.breach_mail"
SEND_TASK = "sla.send_breach_mail"


def recipients(breach: SLABreach) -> list[str]:
    ticket = breach.ticket
    addresses = []
    if ticket.assignee is not None and ticket.assignee.email:
        addresses.append(ticket.assignee.email)
    addresses += [w.user.email for w in ticket.watchers.select_related("user") if w.user.email]
    if breach.policy.escalation_email:
        addresses.append(breach.policy.escalation_email)
    return sorted(set(addresses), key=addresses.index)


def notify_breach(event: EventLog) -> None:
    breach = (
        SLABreach.objects.select_related("ticket__assignee", "policy", "metric")
        .filter(pk=event.subject_id)
        .first()
    )
    if breach is None:
        return
    to = recipients(breach)
    if not to:
        return
    ticket = breach.ticket
    subject = f"[{ticket.key}] SLA breached: {breach.get_breach_type_display()}"
    body = (
        f"The {breach.get_breach_type_display().lower()} target of policy "
        f"{breach.policy.name!r} for ticket {ticket.key} ({ticket.title}) was breached at "
        f"{breach.breached_at:%Y-%m-%d %H:%M} UTC.\n"
    )
    outbox_enqueue(
        task=SEND_TASK,
        kwargs={"subject": subject, "body": body, "to": to},
        key=f"{SUBSCRIBER}:{breach.pk}",
    )


@shared_task(
    name="sla.send_breach_mail",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def send_breach_mail(subject: str, body: str, to: list[str]) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, to, fail_silently=False)


def register() -> None:
    subscribe(events.SLA_BREACHED, name=SUBSCRIBER)(notify_breach)
