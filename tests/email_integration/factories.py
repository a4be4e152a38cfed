"""factory-boy factories for the mail app's models.

Rows written directly, for setting the scene; tests of behaviour go through the services
(``message_ingest``, ``email_account_create``, ...), which record events and history.
"""

from __future__ import annotations

import hashlib

import factory

from email_integration.models import (
    EmailAccount,
    EmailAttachment,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    EmailThread,
    InboundProtocol,
)
from tests.factories import TicketFactory


class EmailAccountFactory(factory.django.DjangoModelFactory[EmailAccount]):
    """A desk address that takes posted and ingested mail (no server to poll)."""

    class Meta:
        model = EmailAccount

    name = factory.Sequence(lambda n: f"Desk {n}")
    address = factory.Sequence(lambda n: f"help{n}@desk.test")
    protocol = InboundProtocol.NONE


class EmailThreadFactory(factory.django.DjangoModelFactory[EmailThread]):
    class Meta:
        model = EmailThread

    account = factory.SubFactory(EmailAccountFactory)
    ticket = factory.SubFactory(TicketFactory)
    normalized_subject = factory.LazyAttribute(lambda t: t.ticket.title)
    root_message_id = factory.Sequence(lambda n: f"root-{n}@example.com")


def _raw(message: EmailMessage) -> bytes:
    return (
        f"From: {message.from_address}\r\nTo: {', '.join(message.to_addresses)}\r\n"
        f"Subject: {message.subject}\r\nMessage-ID: <{message.message_id}>\r\n\r\n"
        f"{message.text_body}\r\n"
    ).encode()


class EmailMessageFactory(factory.django.DjangoModelFactory[EmailMessage]):
    """A received (not yet processed) inbound message; pass ``message_type`` and
    ``status`` for others, e.g. ``EmailMessageFactory(outbound=True)`` for a queued one."""

    class Meta:
        model = EmailMessage

    class Params:
        outbound = factory.Trait(
            message_type=EmailMessageType.OUTBOUND,
            status=EmailMessageStatus.QUEUED,
            from_address=factory.SelfAttribute("account.address"),
            to_addresses=["carol@example.com"],
        )

    account = factory.SubFactory(EmailAccountFactory)
    message_type = EmailMessageType.INBOUND
    status = EmailMessageStatus.RECEIVED
    message_id = factory.Sequence(lambda n: f"message-{n}@example.com")
    from_address = "carol@example.com"
    to_addresses = factory.LazyAttribute(lambda m: [m.account.address])
    subject = "Printer on fire"
    text_body = "It smokes since this morning."
    reply_text = factory.SelfAttribute("text_body")
    raw = factory.LazyAttribute(_raw)
    raw_sha256 = factory.LazyAttribute(lambda m: hashlib.sha256(m.raw).hexdigest())


class EmailAttachmentFactory(factory.django.DjangoModelFactory[EmailAttachment]):
    """An attachment record without a stored file (as a refused part is kept)."""

    class Meta:
        model = EmailAttachment

    message = factory.SubFactory(EmailMessageFactory)
    filename = factory.Sequence(lambda n: f"file{n}.txt")
    content_type = "text/plain"
    size = 5
    sha256 = factory.LazyAttribute(lambda a: hashlib.sha256(a.filename.encode()).hexdigest())
