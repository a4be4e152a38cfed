"""Mail that automation rules ask for: the ``automation.mail_requested`` event's
subscriber (registered in ``email_integration.apps``).

A rule's send_mail action renders its subject and body in the rule's transaction and
records the event (``automation.events`` describes its payload); the mail app knows
nothing of rules and the rules app nothing of mail accounts. Delivered after commit, at
least once, like every subscriber (the ``Delivery`` row makes a repeat harmless), and
queued through ``queue_mail``, so it is threaded with the ticket's other mail, carries
the recipient's reply token and goes through the same sender and retries.
"""

from __future__ import annotations

from email_integration.outbound import _own_addresses, queue_mail
from eventlog.models import EventLog
from eventlog.subscribers import subscribe
from nixflow.models import Ticket, User

MAIL_REQUESTED = "automation.mail_requested"  # automation.events.MAIL_REQUESTED
SUBSCRIBER = "email_integration.automation_mail"


def send_rule_mail(event: EventLog) -> None:
    """Queue one message per recipient: each user named (still active, with an
    address), or the address. Never to the desk's own addresses (a mail loop)."""
    payload = event.payload
    ticket = Ticket.objects.filter(pk=payload.get("ticket_id")).first()
    if ticket is None:
        return  # deleted since
    subject, body = str(payload.get("subject", "")), str(payload.get("body", ""))
    own = _own_addresses()
    recipients: list[User | str] = []
    if payload.get("to") == "address":
        address = str(payload.get("address") or "").strip()
        if address and address.lower() not in own:
            recipients.append(address)
    else:
        users = User.objects.filter(pk__in=payload.get("user_ids") or [], is_active=True)
        recipients.extend(
            user for user in users.order_by("pk") if user.email and user.email.lower() not in own
        )
    for to in recipients:
        queue_mail(
            ticket=ticket, to=to, subject=subject, body=body, auto_submitted="auto-generated"
        )


def register() -> None:
    subscribe(MAIL_REQUESTED, name=SUBSCRIBER)(send_rule_mail)
