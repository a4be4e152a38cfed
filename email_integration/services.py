"""Writes of the mail app: store, process, reprocess, and queue outbound mail.

One pipeline serves every way mail arrives (IMAP, POP3, the inbound API, files):
``message_store`` saves the raw bytes idempotently and commits; only then does the
caller tell the server the message was taken. ``message_process`` turns a stored
message into a ticket or a comment, or records why not; a failure rolls its work back
and leaves the message ``failed`` with the reason, to be reprocessed.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from email_integration import loops
from email_integration.models import (
    EmailAccount,
    EmailAttachment,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    EmailThread,
)
from email_integration.parsing import ParsedMessage, first_message_id, normalize_subject, parse
from eventlog.services import event_record
from nixflow import selectors as core_selectors
from nixflow import services as core_services
from nixflow.models import TICKET_KEY_PATTERN, Role, Source, Ticket, User

logger = logging.getLogger(__name__)

SUBJECT_TOKEN = re.compile(rf"\[({TICKET_KEY_PATTERN})\]", re.IGNORECASE)


# --- store ------------------------------------------------------------------------------
def message_store(*, account: EmailAccount, raw: bytes) -> tuple[EmailMessage, bool]:
    """Save a raw inbound message once; (message, created). Commits before returning.

    Keyed on (account, Message-ID, SHA-256): the same message again is found, not
    stored twice, also when two deliveries race. A Message-ID seen before with other
    bytes is stored as well, marked as such and left for a person to look at.
    """
    sha = hashlib.sha256(raw).hexdigest()
    message_id = first_message_id(raw)
    with transaction.atomic():
        message, created = EmailMessage.objects.get_or_create(
            account=account,
            message_id=message_id,
            raw_sha256=sha,
            defaults={"raw": raw, "message_type": EmailMessageType.INBOUND},
        )
        if created and message_id:
            earlier = (
                EmailMessage.objects.filter(account=account, message_id=message_id)
                .exclude(pk=message.pk)
                .order_by("id")
                .first()
            )
            if earlier is not None:
                message.duplicate_of = earlier
                message.status = EmailMessageStatus.IGNORED
                message.error_reason = (
                    f"Message-ID <{message_id}> was received before with different content "
                    f"(message #{earlier.pk}); kept for review, not processed."
                )
                message.save(update_fields=["duplicate_of", "status", "error_reason"])
    return message, created


# --- process ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    status: str
    ticket: Ticket | None = None
    reason: str = ""


def message_process(*, message: EmailMessage) -> EmailMessage:
    """Process a stored message (received or failed); never raises for a bad message."""
    try:
        with transaction.atomic():
            locked = (
                EmailMessage.objects.select_for_update(of=("self",))
                .select_related("account__workflow")
                .get(pk=message.pk)
            )
            if locked.status not in {EmailMessageStatus.RECEIVED, EmailMessageStatus.FAILED}:
                return locked  # done by a concurrent delivery of the same message
            _process_locked(locked)
            return locked
    except Exception as error:
        logger.exception("Processing mail message %s failed", message.pk)
        reason = f"{type(error).__name__}: {error}"[:2000]
        EmailMessage.objects.filter(pk=message.pk).update(
            status=EmailMessageStatus.FAILED,
            error_reason=reason,
            attempts=F("attempts") + 1,
            processed_at=timezone.now(),
        )
        message.refresh_from_db()
        return message


def _fill(message: EmailMessage, parsed: ParsedMessage) -> None:
    message.message_id = message.message_id or parsed.message_id
    message.in_reply_to = parsed.in_reply_to
    message.references = parsed.references
    message.from_address, message.from_name = parsed.from_address, parsed.from_name
    message.to_addresses, message.cc_addresses = parsed.to, parsed.cc
    message.subject = parsed.subject
    message.text_body = parsed.text
    message.reply_text = parsed.reply_text
    message.html_body = parsed.safe_html


def _process_locked(message: EmailMessage) -> None:
    parsed = parse(bytes(message.raw))
    _fill(message, parsed)
    message.attempts += 1
    message.processed_at = timezone.now()
    outcome = _route(message, parsed)
    message.status = outcome.status
    message.error_reason = outcome.reason
    message.ticket = outcome.ticket or message.ticket
    message.save()
    event_record(
        type="email.received",
        subject=message,
        actor=None,
        ticket_key=message.ticket.key if message.ticket else "",
        payload={
            "status": message.status,
            "message_type": message.message_type,
            "from": message.from_address,
            "reason": message.error_reason,
        },
    )


def _route(message: EmailMessage, parsed: ParsedMessage) -> Outcome:
    verdict = loops.classify(parsed)
    if verdict is not None:
        message.message_type = verdict.message_type
        if verdict.message_type == EmailMessageType.BOUNCE:
            bounced = loops.bounced_message_id(parsed)
            if bounced:
                message.bounce_of = (
                    EmailMessage.objects.filter(message_id=bounced).order_by("id").first()
                )
        return Outcome(EmailMessageStatus.IGNORED, reason=f"Automatic mail: {verdict.reason}.")
    if not parsed.from_address or "@" not in parsed.from_address:
        return Outcome(EmailMessageStatus.IGNORED, reason="No usable sender address.")
    if _is_own_address(parsed.from_address):
        return Outcome(
            EmailMessageStatus.IGNORED, reason="Sent by one of our own addresses (a loop)."
        )
    if _over_rate_limit(parsed.from_address, message.received_at):
        limit = settings.EMAIL_SENDER_LIMIT_PER_HOUR
        return Outcome(
            EmailMessageStatus.IGNORED,
            reason=f"{parsed.from_address} sent more than {limit} messages this hour.",
        )

    sender = _sender_user(parsed)
    ticket, thread = _find_ticket(message, parsed, sender)
    attachments, refused = _attachments(parsed)
    if ticket is None:
        ticket = core_services.ticket_create(
            requester=sender,
            title=(normalize_subject(parsed.subject) or "(no subject)")[:200],
            description=message.reply_text or message.text_body,
            priority=message.account.default_priority,
            workflow=message.account.workflow,
            source=Source.EMAIL,
            actor=sender,
        )
        if attachments:
            message.comment = core_services.comment_create(
                ticket=ticket,
                author=sender,
                body="Attachments of the message that opened this ticket.",
                attachments=attachments,
            )
    else:
        message.comment = core_services.comment_create(
            ticket=ticket,
            author=sender,
            body=message.reply_text or message.text_body or "(empty message)",
            attachments=attachments,
        )
    message.thread = thread or _thread_for(message, ticket, parsed)
    _record_attachments(message, parsed, refused)
    return Outcome(EmailMessageStatus.PROCESSED, ticket=ticket)


def _is_own_address(address: str) -> bool:
    return EmailAccount.objects.filter(address__iexact=address).exists()


def _over_rate_limit(address: str, at: datetime) -> bool:
    hour = at.replace(minute=0, second=0, microsecond=0)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO email_integration_sendercount (address, hour, count)
            VALUES (%s, %s, 1)
            ON CONFLICT (address, hour)
                DO UPDATE SET count = email_integration_sendercount.count + 1
            RETURNING count
            """,
            [address, hour],
        )
        (count,) = cursor.fetchone()
    return count > settings.EMAIL_SENDER_LIMIT_PER_HOUR


def _sender_user(parsed: ParsedMessage) -> User:
    """The user with the sender's address, created as a requester on first contact."""
    address = parsed.from_address
    user = User.objects.filter(email__iexact=address).first()
    if user is not None:
        return user
    base = re.sub(r"[^\w.@+-]", "", address)[:140] or "requester"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base[:140]}-{n}"
    first, _, last = (parsed.from_name or "").partition(" ")
    try:
        with transaction.atomic():
            return core_services.user_create(
                username=username,
                email=address,
                role=Role.REQUESTER,
                first_name=first[:150],
                last_name=last[:150],
            )
    except IntegrityError:  # created by a concurrent message from the same sender
        return User.objects.get(email__iexact=address)


def _participants(ticket: Ticket) -> set[str]:
    addresses = {ticket.requester.email.lower()}
    if ticket.assignee is not None:
        addresses.add(ticket.assignee.email.lower())
    addresses |= {e.lower() for e in ticket.watchers.values_list("user__email", flat=True)}
    for thread in ticket.email_threads.all():
        addresses |= {p.lower() for p in thread.participants}
    return addresses - {""}


def _may_join(ticket: Ticket, sender: User, parsed: ParsedMessage) -> bool:
    """A sender may add to a ticket they can see, or whose mail they took part in (then
    they become a watcher, as they were on the conversation)."""
    if core_selectors.ticket_can_view(user=sender, ticket=ticket):
        return True
    if parsed.from_address in _participants(ticket):
        core_services.ticket_watch(ticket=ticket, user=sender, actor=None)
        return True
    return False


def _find_ticket(
    message: EmailMessage, parsed: ParsedMessage, sender: User
) -> tuple[Ticket | None, EmailThread | None]:
    """Threading, in the order the best desks use: our own ids in In-Reply-To, then in
    References, then the [NF-n] subject token from a participant of that ticket."""
    for ids in ([parsed.in_reply_to] if parsed.in_reply_to else [], parsed.references[::-1]):
        if not ids:
            continue
        known = (
            EmailMessage.objects.filter(message_id__in=ids, ticket__isnull=False)
            .exclude(pk=message.pk)
            .select_related("ticket", "thread")
            .order_by("-id")
            .first()
        )
        if known is not None and _may_join(known.ticket, sender, parsed):
            return known.ticket, known.thread
    token = SUBJECT_TOKEN.search(parsed.subject or "")
    if token:
        number = Ticket.number_from_key(token.group(1).upper())
        ticket = Ticket.objects.filter(pk=number).select_related("requester", "assignee").first()
        if ticket is not None and parsed.from_address in _participants(ticket):
            _may_join(ticket, sender, parsed)
            return ticket, None
    return None, None


def _thread_for(message: EmailMessage, ticket: Ticket, parsed: ParsedMessage) -> EmailThread:
    people = {parsed.from_address, *parsed.to, *parsed.cc} - {message.account.address.lower()}
    thread, created = EmailThread.objects.get_or_create(
        account=message.account,
        ticket=ticket,
        defaults={
            "normalized_subject": normalize_subject(parsed.subject)[:998],
            "root_message_id": parsed.message_id,
            "participants": sorted(people),
        },
    )
    missing = sorted(people - set(thread.participants))
    if missing and not created:
        thread.participants = [*thread.participants, *missing]
        thread.save(update_fields=["participants"])
    return thread


def _attachments(parsed: ParsedMessage) -> tuple[list[SimpleUploadedFile], list[tuple]]:
    limit = settings.NIXFLOW_MAX_ATTACHMENT_BYTES
    accepted, refused = [], []
    for part in parsed.attachments[: settings.NIXFLOW_MAX_ATTACHMENTS]:
        if len(part.payload) > limit:
            refused.append((part, f"{len(part.payload)} bytes exceeds the {limit}-byte limit"))
        else:
            accepted.append(SimpleUploadedFile(part.filename, part.payload, part.content_type))
    for part in parsed.attachments[settings.NIXFLOW_MAX_ATTACHMENTS :]:
        refused.append((part, f"more than {settings.NIXFLOW_MAX_ATTACHMENTS} attachments"))
    return accepted, refused


def _record_attachments(message: EmailMessage, parsed: ParsedMessage, refused: list) -> None:
    """One row per part: stored ones point at the comment's file, refused ones say why."""
    stored = list(message.comment.attachments.all()) if message.comment else []
    refused_parts = {id(part): reason for part, reason in refused}
    rows, stored_iter = [], iter(stored)
    for part in parsed.attachments:
        reason = refused_parts.get(id(part), "")
        row = EmailAttachment(
            message=message,
            filename=part.filename,
            content_type=part.content_type,
            size=len(part.payload),
            content_id=part.content_id,
            sha256=part.sha256,
            refused_reason=reason,
        )
        if not reason:
            kept = next(stored_iter, None)
            if kept is not None:
                row.file.name = kept.file.name
        rows.append(row)
    EmailAttachment.objects.bulk_create(rows)


def message_ingest(*, account: EmailAccount, raw: bytes) -> EmailMessage:
    """Store, then process: the whole inbound path for one raw message."""
    message, _ = message_store(account=account, raw=raw)
    if message.status == EmailMessageStatus.RECEIVED:
        message = message_process(message=message)
    return message


def messages_ingest_batch(*, account: EmailAccount, raws: list[bytes]) -> list[EmailMessage]:
    """Store a batch in one transaction, then process it in another.

    For sources that keep their copy (files, a Maildir, an mbox): nothing has to be
    acknowledged message by message, so a batch costs two commits instead of two per
    message. Each message is still processed in its own savepoint: one that fails is
    recorded as failed and the others go on.
    """
    with transaction.atomic():
        stored = [message_store(account=account, raw=raw)[0] for raw in raws]
    with transaction.atomic():
        return [
            message_process(message=m) if m.status == EmailMessageStatus.RECEIVED else m
            for m in stored
        ]


def messages_reprocess(*, messages: list[EmailMessage]) -> list[EmailMessage]:
    """Run failed (or still received) messages through the pipeline again."""
    return [message_process(message=m) for m in messages]
