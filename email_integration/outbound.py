"""Outbound mail: the acknowledgement of a new ticket and each public agent comment.

Both are event-log subscribers (after commit, at least once, idempotent): the handler
writes one queued ``EmailMessage`` per recipient in its delivery transaction and queues
the sending task in the outbox of that transaction (``eventlog.outbox``); the task sends
through Django's mail backend with retries.
Every message carries a Message-ID of ours plus In-Reply-To and References, so a reply
threads back to its ticket, and ``Auto-Submitted`` (RFC 3834) with
``X-Auto-Response-Suppress`` so that auto-responders don't answer it. Internal comments
are never mailed, nor is anything sent to our own addresses.
"""

from __future__ import annotations

import hashlib
from email.utils import formataddr, make_msgid

from django.conf import settings
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail import get_connection
from django.utils import timezone

from email_integration import reply_tokens
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    EmailThread,
)
from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.subscribers import subscribe
from nixflow.models import Comment, Ticket, User

ACKNOWLEDGE = "email.acknowledge_ticket"
NOTIFY_COMMENT = "email.notify_comment"


def _account_for(ticket: Ticket) -> tuple[EmailAccount | None, EmailThread | None]:
    thread = ticket.email_threads.select_related("account").order_by("created").first()
    if thread is not None:
        return thread.account, thread
    return EmailAccount.objects.filter(is_active=True).order_by("id").first(), None


def _recipients(ticket: Ticket, exclude: set[int]) -> list[User]:
    people = [ticket.requester, *(w.user for w in ticket.watchers.select_related("user"))]
    own = {a.lower() for a in EmailAccount.objects.values_list("address", flat=True)}
    seen: set[str] = set()
    chosen = []
    for user in people:
        address = (user.email or "").lower()
        if user.pk in exclude or not user.is_active or not address or address in own:
            continue
        if address not in seen:
            seen.add(address)
            chosen.append(user)
    return chosen


def _thread_headers(ticket: Ticket, thread: EmailThread | None) -> tuple[str, list[str]]:
    """In-Reply-To and References: the conversation's root, and its latest message."""
    ids = list(
        EmailMessage.objects.filter(ticket=ticket)
        .exclude(message_id="")
        .order_by("received_at", "id")
        .values_list("message_id", flat=True)
    )
    if thread is not None and thread.root_message_id and thread.root_message_id not in ids:
        ids.insert(0, thread.root_message_id)
    if not ids:
        return "", []
    references = [ids[0], *ids[-9:]] if len(ids) > 10 else ids
    return ids[-1], list(dict.fromkeys(references))


def queue_mail(
    *,
    ticket: Ticket,
    to: User,
    subject: str,
    body: str,
    auto_submitted: str,
) -> EmailMessage | None:
    """Build and store one outbound message; sent after commit by ``send_queued``."""
    account, thread = _account_for(ticket)
    if account is None:
        return None  # no mail account configured: the desk doesn't send mail
    domain = account.address.rsplit("@", 1)[-1]
    # The recipient's reply token (reply_tokens) in our Message-ID, which their reply
    # carries back in In-Reply-To and References, and optionally in Reply-To.
    token = reply_tokens.make(ticket_id=ticket.pk, user_id=to.pk)
    message_id = make_msgid(idstring=f"{ticket.key}.{token}", domain=domain)
    in_reply_to, references = _thread_headers(ticket, thread)
    headers = {
        "Message-ID": message_id,
        "Auto-Submitted": auto_submitted,
        "X-Auto-Response-Suppress": "All",
        "X-NixFlow-Ticket": ticket.key,
    }
    if settings.EMAIL_REPLY_TO_TOKENS:
        headers["Reply-To"] = reply_tokens.reply_address(account.address, token)
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
        headers["References"] = " ".join(f"<{i}>" for i in references)
    mail = DjangoEmailMessage(
        subject=subject,
        body=body,
        from_email=formataddr((settings.NIXFLOW_MAIL_FROM_NAME, account.address)),
        to=[formataddr((to.get_full_name(), to.email))],
        headers=headers,
    )
    raw = mail.message().as_bytes()
    stored = EmailMessage.objects.create(
        account=account,
        thread=thread,
        ticket=ticket,
        message_type=EmailMessageType.OUTBOUND,
        status=EmailMessageStatus.QUEUED,
        message_id=message_id.strip("<>"),
        in_reply_to=in_reply_to,
        references=references,
        from_address=account.address,
        to_addresses=[to.email.lower()],
        subject=subject,
        text_body=body,
        reply_text=body,
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )
    # In the outbox, with the message: committed together, published by the relay.
    outbox_enqueue(
        task="email_integration.tasks.send_queued",
        kwargs={"message_id": stored.pk},
    )
    return stored


class _RawMessage:
    """What Django's mail backends need of a message: its bytes, with their line ends."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        lines = self.raw.replace(b"\r\n", b"\n").split(b"\n")
        return linesep.encode().join(lines)


class StoredMail(DjangoEmailMessage):
    """A Django mail whose message is the stored raw bytes, sent exactly as recorded."""

    def __init__(self, stored: EmailMessage) -> None:
        super().__init__(from_email=stored.from_address, to=list(stored.to_addresses))
        self.raw = bytes(stored.raw)

    def message(self, *, policy: object = None) -> _RawMessage:
        return _RawMessage(self.raw)


def send_message(message: EmailMessage) -> None:
    """Send a queued message through Django's mail backend (raises on failure)."""
    get_connection(fail_silently=False).send_messages([StoredMail(message)])


def acknowledge_ticket(event: EventLog) -> None:
    ticket = Ticket.objects.select_related("requester").filter(pk=event.subject_id).first()
    if ticket is None:
        return
    for user in _recipients(ticket, exclude=set())[:1]:  # the requester only
        queue_mail(
            ticket=ticket,
            to=user,
            subject=f"[{ticket.key}] {ticket.title}",
            body=(
                f"Hello {user.get_full_name() or user.get_username()},\n\n"
                f"we received your request and opened ticket {ticket.key}: {ticket.title}\n"
                "Reply to this message to add to it.\n"
            ),
            auto_submitted="auto-replied",
        )


def notify_comment(event: EventLog) -> None:
    if event.payload.get("is_internal") or not event.payload.get("by_agent"):
        return
    comment = (
        Comment.objects.select_related("ticket__requester", "author")
        .filter(pk=event.payload.get("comment_id"), is_internal=False)
        .first()
    )
    if comment is None:
        return
    ticket = comment.ticket
    for user in _recipients(ticket, exclude={comment.author_id}):
        queue_mail(
            ticket=ticket,
            to=user,
            subject=f"Re: [{ticket.key}] {ticket.title}",
            body=f"{comment.author.get_full_name() or comment.author.get_username()} wrote:\n\n"
            f"{comment.body}\n",
            auto_submitted="auto-generated",
        )


def register() -> None:
    subscribe("ticket.created", name=ACKNOWLEDGE)(acknowledge_ticket)
    subscribe("ticket.commented", name=NOTIFY_COMMENT)(notify_comment)


def mark_sent(message: EmailMessage) -> None:
    EmailMessage.objects.filter(pk=message.pk).update(
        status=EmailMessageStatus.SENT, sent_at=timezone.now()
    )
