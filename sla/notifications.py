"""Breach notifications: after commit, through the event log's subscribers, once each.

The assignee, the watchers and the policy's escalation address are told of each breach,
each in their own language and time zone (the escalation address, nobody's account, in
the desk's LANGUAGE_CODE and TIME_ZONE).
The ``Delivery`` row of the subscriber makes a redelivered event send nothing twice;
the mail is queued in the outbox of the delivery's transaction (``eventlog.outbox``) and
sent by ``send_breach_mail`` in a worker, retried while the mail server fails.
"""

from __future__ import annotations

import smtplib

from celery import shared_task
from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import translation
from django.utils.translation import gettext, pgettext_lazy

from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.subscribers import subscribe
from nixflow.models import User
from nixflow.toolkit.language import language_for, local_datetime, zone_for
from sla import events
from sla.models import SLABreach

SUBSCRIBER = "sla.breach_mail"
SEND_TASK = "sla.send_breach_mail"


# The breach types as the mail names them (the model's labels are not translated).
TARGET_TITLES = {
    "first_response": pgettext_lazy("SLA target, in a subject", "First response"),
    "next_response": pgettext_lazy("SLA target, in a subject", "Next response"),
    "resolution": pgettext_lazy("SLA target, in a subject", "Resolution"),
}
TARGET_NAMES = {
    "first_response": pgettext_lazy("SLA target, in a sentence", "first response"),
    "next_response": pgettext_lazy("SLA target, in a sentence", "next response"),
    "resolution": pgettext_lazy("SLA target, in a sentence", "resolution"),
}


def readers(breach: SLABreach) -> list[tuple[str, User | None]]:
    """Who is told, once per address: (address, the user, or None for the policy's
    escalation address, which is nobody's account)."""
    ticket = breach.ticket
    people: list[tuple[str, User | None]] = []
    if ticket.assignee is not None and ticket.assignee.email:
        people.append((ticket.assignee.email, ticket.assignee))
    people += [
        (w.user.email, w.user) for w in ticket.watchers.select_related("user") if w.user.email
    ]
    if breach.policy.escalation_email:
        people.append((breach.policy.escalation_email, None))
    seen: set[str] = set()
    chosen = []
    for address, user in people:
        if address not in seen:
            seen.add(address)
            chosen.append((address, user))
    return chosen


def recipients(breach: SLABreach) -> list[str]:
    return [address for address, _user in readers(breach)]


def breach_mail(breach: SLABreach, reader: User | None) -> tuple[str, str]:
    """(subject, body) in the active language, the time in ``reader``'s time zone."""
    ticket = breach.ticket
    kind = breach.breach_type
    subject = gettext("[%(key)s] SLA breached: %(target)s") % {
        "key": ticket.key,
        "target": TARGET_TITLES.get(kind, breach.get_breach_type_display()),
    }
    body = (
        gettext(
            "The %(target)s target of policy “%(policy)s” for ticket %(key)s (%(title)s) "
            "was breached at %(when)s."
        )
        % {
            "target": TARGET_NAMES.get(kind, breach.get_breach_type_display().lower()),
            "policy": breach.policy.name,
            "key": ticket.key,
            "title": ticket.title,
            "when": local_datetime(breach.breached_at, reader),
        }
        + "\n"
    )
    return subject, body


def notify_breach(event: EventLog) -> None:
    """One mail per language and time zone among the readers (usually one for all):
    each reads it in their language (``language_for``), the time in their zone."""
    breach = (
        SLABreach.objects.select_related("ticket__assignee", "policy", "metric")
        .filter(pk=event.subject_id)
        .first()
    )
    if breach is None:
        return
    groups: dict[tuple[str, str], list[tuple[str, User | None]]] = {}
    for address, user in readers(breach):
        key = (language_for(user), str(zone_for(user)))
        groups.setdefault(key, []).append((address, user))
    for n, ((language, _zone), group) in enumerate(groups.items()):
        with translation.override(language):
            subject, body = breach_mail(breach, group[0][1])
        outbox_enqueue(
            task=SEND_TASK,
            kwargs={
                "subject": subject,
                "body": body,
                "to": [a for a, _u in group],
                "language": language,
            },
            # The first keeps the key of the days of one mail per breach.
            key=f"{SUBSCRIBER}:{breach.pk}" + (f":{n}" if n else ""),
        )


@shared_task(
    name="sla.send_breach_mail",
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=10,
)
def send_breach_mail(subject: str, body: str, to: list[str], language: str = "") -> None:
    # ``language``: absent from what was queued before mail was translated.
    headers = {"Content-Language": language} if language else {}
    EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, to, headers=headers).send()


def register() -> None:
    subscribe(events.SLA_BREACHED, name=SUBSCRIBER)(notify_breach)
