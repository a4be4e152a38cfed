"""Mail: messages from or to the person (raw bytes, headers, bodies), their
attachments' files, thread participants, the per-sender hourly counts."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.db.models.expressions import RawSQL

from email_integration.models import EmailAttachment, EmailMessage, EmailThread, SenderCount
from privacy import registry
from privacy.person import ERASED, Erasure, Person
from privacy.registry import Export, ExportFile
from privacy.sources.common import iso, scrub_rows

TEXT_FIELDS = ["subject", "text_body", "reply_text", "html_body", "error_reason", "authentication"]


def _theirs(person: Person) -> Q:
    """Messages the person sent or received (directly or in copy), and every message on
    the threads of their own tickets."""
    condition = Q(from_address__iexact=person.email) | Q(
        pk__in=RawSQL(
            "SELECT id FROM email_integration_emailmessage"
            " WHERE %s = ANY(SELECT lower(a) FROM unnest(to_addresses || cc_addresses) a)",
            [person.email],
        )
    )
    if person.user is not None:
        condition |= Q(ticket__requester=person.user)
    return condition


def export(person: Person) -> Export:
    messages = EmailMessage.objects.filter(_theirs(person)).order_by("received_at", "pk")
    data: dict[str, Any] = {"messages": [], "sender_counts": []}
    files = []
    for message in messages.prefetch_related("attachments"):
        attachments = []
        for attachment in message.attachments.all():
            path = f"files/mail/{message.pk}/{attachment.pk}-{attachment.filename}"
            attachments.append(
                {
                    "filename": attachment.filename,
                    "content_type": attachment.content_type,
                    "size": attachment.size,
                    "archive_path": path if attachment.file else None,
                }
            )
            if attachment.file:
                files.append(
                    ExportFile(
                        storage=attachment.file.storage,
                        name=attachment.file.name,
                        archive_name=path,
                    )
                )
        raw_path = f"files/mail/{message.pk}/message.eml"
        data["messages"].append(
            {
                "id": message.pk,
                "type": message.message_type,
                "status": message.status,
                "message_id": message.message_id,
                "from": message.from_address,
                "from_name": message.from_name,
                "to": message.to_addresses,
                "cc": message.cc_addresses,
                "subject": message.subject,
                "text_body": message.text_body,
                "received_at": iso(message.received_at),
                "sent_at": iso(message.sent_at),
                "ticket": message.ticket.key if message.ticket_id and message.ticket else None,
                "raw_path": raw_path if message.raw else None,
                "attachments": attachments,
            }
        )
        if message.raw:
            files.append(ExportFile(archive_name=raw_path, content=bytes(message.raw)))
    data["sender_counts"] = [
        {"hour": iso(row.hour), "verified": row.verified, "count": row.count}
        for row in SenderCount.objects.filter(address__iexact=person.email).order_by("hour")
    ]
    return Export(data=data, files=files)


def erase(person: Person, erasure: Erasure) -> int:
    changed = 0
    theirs = EmailMessage.objects.filter(_theirs(person))
    ids = list(theirs.values_list("pk", flat=True))
    for attachment in EmailAttachment.objects.filter(message_id__in=ids):
        erasure.delete_file(attachment.file)
    changed += EmailAttachment.objects.filter(message_id__in=ids).delete()[0]
    # The message rows stay (a ticket's mail history keeps its shape: which message,
    # when, which state), emptied of what they said and who they were between.
    for message in EmailMessage.objects.filter(pk__in=ids):
        message.raw = b""
        message.subject = ERASED
        message.text_body = ERASED if message.text_body else ""
        message.reply_text = ERASED if message.reply_text else ""
        message.html_body = ""
        message.error_reason = person.scrub(message.error_reason, local=True)
        message.authentication = ""
        message.from_name = "" if person.is_address(message.from_address) else message.from_name
        message.from_address = _erase_address(person, message.from_address)
        message.to_addresses = [_erase_address(person, a) for a in message.to_addresses]
        message.cc_addresses = [_erase_address(person, a) for a in message.cc_addresses]
        message.save(
            update_fields=[
                "raw",
                "subject",
                "text_body",
                "reply_text",
                "html_body",
                "error_reason",
                "authentication",
                "from_name",
                "from_address",
                "to_addresses",
                "cc_addresses",
            ]
        )
        changed += 1
    # Other mail that mentions them: the text is cleaned; raw bytes that hold their
    # name or address (in any header or part) cannot be edited faithfully, so they go.
    others = EmailMessage.objects.exclude(pk__in=ids)
    changed += scrub_rows(others, person, [*TEXT_FIELDS, "from_name"])
    for name in person.global_identifiers:
        changed += others.filter(
            pk__in=RawSQL(
                "SELECT id FROM email_integration_emailmessage"
                " WHERE strpos(lower(encode(raw, 'escape')), lower(%s)) > 0",
                [name],
            )
        ).update(raw=b"")
    for thread in EmailThread.objects.filter(
        Q(participants__contains=[person.email]) | Q(ticket_id__in=person.ticket_ids)
    ):
        thread.participants = [a for a in thread.participants if not person.is_address(a)]
        if person.user is not None and thread.ticket.requester_id == person.user_id:
            thread.normalized_subject = ERASED
        thread.save(update_fields=["participants", "normalized_subject"])
        changed += 1
    changed += SenderCount.objects.filter(address__iexact=person.email).delete()[0]
    return changed


def _erase_address(person: Person, address: str) -> str:
    return ERASED if person.is_address(address) else address


registry.register(
    "mail",
    models=[EmailMessage, EmailAttachment, EmailThread, SenderCount],
    exporter=export,
    eraser=erase,
    order=20,
    description="Mail from and to the person: raw message, headers, bodies, attachments.",
)
