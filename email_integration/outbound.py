"""Outbound mail: the acknowledgement of a new ticket, each public agent comment, and
the notifications app's mail (to an agent, with their reply token; to a team's address,
without one).

Each message is written in its recipient's language (``language_for``: their
``User.language``, else the desk's LANGUAGE_CODE; a team's address is nobody's account
and gets LANGUAGE_CODE), whoever caused it, with dates in their time zone. The text
people wrote (titles, comments) is sent as written.

Both are event-log subscribers (after commit, at least once, idempotent): the handler
writes one queued ``EmailMessage`` per recipient in its delivery transaction and queues
the sending task in the outbox of that transaction (``eventlog.outbox``); the task sends
through Django's mail backend with retries.
Every message carries a Message-ID of ours plus In-Reply-To and References, so a reply
threads back to its ticket, and ``Auto-Submitted`` (RFC 3834) with
``X-Auto-Response-Suppress`` so that auto-responders don't answer it. Internal comments
are never mailed, nor is anything sent to our own addresses.

Header values made from user text (ticket titles, people's names) go through
``header_text``: line breaks and other control characters become spaces, so a title
with CR/LF still gets its mail, with a one-line subject (the mail library folds long
headers itself).

Sending (``send_queued``, in ``tasks``) works with every Django mail backend: the
stored bytes are handed to the backend as an ``email.message.Message`` (``StoredMIME``)
that serialises to exactly those bytes. A send is claimed first (a conditional UPDATE
from queued to sending), so two tasks for one message never both send it; every
failure is retried with exponential backoff until ``EMAIL_SEND_MAX_ATTEMPTS``, then the
message is kept as failed with its reason, and staff can resend it (``message_resend``).
``sweep_stuck`` re-queues what a lost task or a dead worker left behind.
"""

from __future__ import annotations

import email
import hashlib
from datetime import datetime, timedelta
from email.message import Message
from email.utils import formataddr, make_msgid
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage as DjangoEmailMessage
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, pgettext

from email_integration import events, oauth, reply_tokens
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    EmailThread,
)
from eventlog.models import EventLog
from eventlog.outbox import Message as OutboxEntry
from eventlog.outbox import outbox_enqueue, outbox_enqueue_many
from eventlog.subscribers import subscribe
from nixflow.models import Comment, Team, Ticket, User
from nixflow.toolkit.auth import require_agent
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.language import language_for, local_datetime
from nixflow.toolkit.site import site_url

# Names of the event-log subscribers (not event types: those are in events.py).
ACKNOWLEDGE = "email.acknowledge_ticket"
NOTIFY_COMMENT = "email.notify_comment"
NOTIFY_AGENT = "email.notify_agent"
NOTIFY_TEAM = "email.notify_team"
# The notifications app's events (its events.py says the payloads): named, not imported,
# as feature apps meet through events only.
NOTIFICATION_CREATED = "notification.created"
NOTIFICATION_TEAM_NOTICE = "notification.team_notice"


def header_text(value: str) -> str:
    """``value`` on one line: control characters (CR, LF, tab, NUL, ...) and runs of
    white space become one space, so user text can never end a header or add one."""
    printable = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(printable.split())


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


def _own_addresses() -> set[str]:
    return {a.lower() for a in EmailAccount.objects.values_list("address", flat=True)}


def _thread_headers(ticket: Ticket, thread: EmailThread | None, to: str) -> tuple[str, list[str]]:
    """In-Reply-To and References: the conversation's root, and its latest message.

    Of our own mail, only what went to this recipient: our Message-IDs carry each
    recipient's reply token (``reply_tokens``), which must never reach anyone else."""
    ids = list(
        EmailMessage.objects.filter(ticket=ticket)
        .filter(~Q(message_type=EmailMessageType.OUTBOUND) | Q(to_addresses__contains=[to.lower()]))
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


SEND_TASK = "email_integration.tasks.send_queued"


def _headers(
    *,
    ticket: Ticket,
    message_id: str,
    auto_submitted: str,
    reply_to: str,
    in_reply_to: str,
    references: list[str],
) -> dict[str, str]:
    headers = {
        "Message-ID": message_id,
        "Auto-Submitted": auto_submitted,
        "X-Auto-Response-Suppress": "All",
        "X-NixFlow-Ticket": ticket.key,
    }
    if settings.EMAIL_REPLY_TO_TOKENS and reply_to:
        headers["Reply-To"] = reply_to
    if in_reply_to:
        headers["In-Reply-To"] = f"<{in_reply_to}>"
        headers["References"] = " ".join(f"<{i}>" for i in references)
    return headers


def _addressee(ticket: Ticket, to: User | str) -> tuple[str, str, str]:
    """(address, display name, reply token) of a recipient. A user's reply token
    (reply_tokens) goes in our Message-ID, which their reply carries back in In-Reply-To
    and References, and optionally in Reply-To. A bare address (a team's) is nobody's
    account: no token, so a reply from it proves nothing and goes through the sender
    authentication any mail to the desk does."""
    if isinstance(to, User):
        return to.email, to.get_full_name(), reply_tokens.make(ticket_id=ticket.pk, user_id=to.pk)
    return to, "", ""


def queue_mail(
    *,
    ticket: Ticket,
    to: User | str,
    subject: str,
    body: str,
    auto_submitted: str,
    to_name: str = "",
    language: str = "",
) -> EmailMessage | None:
    """Build and store one outbound message; sent after commit by ``send_queued``.
    ``to`` is a user, or an address that is no user's (``to_name`` its display name);
    ``language`` the one subject and body are in (the ``Content-Language`` header)."""
    account, thread = _account_for(ticket)
    if account is None:
        return None  # no mail account configured: the desk doesn't send mail
    subject = header_text(subject)
    domain = account.address.rsplit("@", 1)[-1]
    address, name, token = _addressee(ticket, to)
    idstring = f"{ticket.key}.{token}" if token else ticket.key
    message_id = make_msgid(idstring=idstring, domain=domain)
    in_reply_to, references = _thread_headers(ticket, thread, address)
    headers = _headers(
        ticket=ticket,
        message_id=message_id,
        auto_submitted=auto_submitted,
        reply_to=reply_tokens.reply_address(account.address, token) if token else "",
        in_reply_to=in_reply_to,
        references=references,
    )
    if language:
        headers["Content-Language"] = language
    mail = DjangoEmailMessage(
        subject=subject,
        body=body,
        from_email=formataddr((header_text(settings.NIXFLOW_MAIL_FROM_NAME), account.address)),
        to=[formataddr((header_text(name or to_name), address))],
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
        to_addresses=[address.lower()],
        subject=subject,
        text_body=body,
        reply_text=body,
        raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
        next_attempt_at=timezone.now(),
    )
    # In the outbox, with the message: committed together, published by the relay.
    outbox_enqueue(task=SEND_TASK, kwargs={"message_id": stored.pk})
    return stored


class StoredMIME(Message):
    """The stored message, parsed (so backends can read its headers and charset), that
    serialises to exactly the stored bytes, with the line ends the backend asks for.

    Django's backends call ``message()`` and then ``as_bytes()`` (console, file, SMTP
    with ``linesep="\\r\\n"``), ``get_charset()`` (console, file) or nothing more
    (locmem); a plain ``Message`` would re-generate the bytes and re-fold headers.
    """

    raw: bytes = b""

    @classmethod
    def from_raw(cls, raw: bytes) -> StoredMIME:
        parsed = email.message_from_bytes(raw, _class=cls)
        assert isinstance(parsed, StoredMIME)  # noqa: S101 -- _class makes it one
        parsed.raw = raw
        return parsed

    def as_bytes(self, unixfrom: bool = False, policy: Any = None, linesep: str = "\n") -> bytes:
        lines = self.raw.replace(b"\r\n", b"\n").split(b"\n")
        return linesep.encode().join(lines)

    def as_string(self, unixfrom: bool = False, maxheaderlen: int = 0, policy: Any = None) -> str:
        return self.as_bytes().decode("utf-8", errors="surrogateescape")

    def __bytes__(self) -> bytes:
        return self.as_bytes()

    def __str__(self) -> str:
        return self.as_string()


class StoredMail(DjangoEmailMessage):
    """A Django mail whose message is the stored raw bytes, sent exactly as recorded."""

    def __init__(self, stored: EmailMessage) -> None:
        super().__init__(from_email=stored.from_address, to=list(stored.to_addresses))
        self.raw = bytes(stored.raw)

    def message(self, *, policy: object = None) -> StoredMIME:
        return StoredMIME.from_raw(self.raw)


def claim(message_id: int) -> EmailMessage | None:
    """Take a queued message for sending (queued → sending, in one conditional UPDATE):
    of two tasks for the same message only one gets it. The claim lapses after
    ``EMAIL_SEND_STUCK_SECONDS``, when the sweeper hands the message out again."""
    lease = timezone.now() + timedelta(seconds=settings.EMAIL_SEND_STUCK_SECONDS)
    claimed = EmailMessage.objects.filter(
        pk=message_id, message_type=EmailMessageType.OUTBOUND, status=EmailMessageStatus.QUEUED
    ).update(status=EmailMessageStatus.SENDING, next_attempt_at=lease)
    if not claimed:
        return None  # sent or failed already, claimed by another task, or rolled back
    return EmailMessage.objects.select_related("ticket", "account").get(pk=message_id)


def send_message(message: EmailMessage) -> None:
    """Send a message through its account's own SMTP server when it has one (signed in
    with its password or OAuth2 token, ``oauth.AccountSMTPBackend``), else through
    Django's configured mail backend (raises on failure)."""
    account = message.account
    if account.smtp_host:
        connection: Any = oauth.AccountSMTPBackend(account)
    else:
        connection = get_connection(fail_silently=False)
    connection.send_messages([StoredMail(message)])


def backoff_seconds(attempts: int) -> int:
    """Seconds before the next try after ``attempts`` failed ones: 30, 60, 120, ..."""
    delay = settings.EMAIL_SEND_BACKOFF_SECONDS * 2 ** max(attempts - 1, 0)
    return int(min(delay, settings.EMAIL_SEND_BACKOFF_MAX_SECONDS))


def _ticket_key(message: EmailMessage) -> str:
    return message.ticket.key if message.ticket is not None else ""


def record_sent(message: EmailMessage) -> None:
    attempts = message.attempts + 1
    with transaction.atomic():
        EmailMessage.objects.filter(pk=message.pk).update(
            status=EmailMessageStatus.SENT,
            sent_at=timezone.now(),
            attempts=attempts,
            error_reason="",
            next_attempt_at=None,
        )
        # Event calls here and below are alike in shape: different outcomes of a send.
        events.publish(
            events.SENT,
            subject=message,
            actor=None,
            ticket_key=_ticket_key(message),
            payload={"to": events.recipients(list(message.to_addresses)), "attempts": attempts},
        )


def record_failure(message: EmailMessage, error: BaseException) -> int | None:
    """Count a failed try: back to queued with its next time (returned, in seconds), or
    failed for good after ``EMAIL_SEND_MAX_ATTEMPTS`` (returns None)."""
    attempts = message.attempts + 1
    reason = f"{type(error).__name__}: {error}"[:2000]
    now = timezone.now()
    with transaction.atomic():
        if attempts >= settings.EMAIL_SEND_MAX_ATTEMPTS:
            EmailMessage.objects.filter(pk=message.pk).update(
                status=EmailMessageStatus.FAILED,
                attempts=attempts,
                error_reason=reason,
                next_attempt_at=None,
            )
            events.publish(
                events.SEND_FAILED,
                subject=message,
                actor=None,
                ticket_key=_ticket_key(message),
                payload={
                    "to": events.recipients(list(message.to_addresses)),
                    "attempts": attempts,
                    "reason": events.of_recipients(list(message.to_addresses), reason),
                },
            )
            return None
        delay = backoff_seconds(attempts)
        EmailMessage.objects.filter(pk=message.pk).update(
            status=EmailMessageStatus.QUEUED,
            attempts=attempts,
            error_reason=reason,
            next_attempt_at=now + timedelta(seconds=delay),
        )
    return delay


def _queue_after_commit(ids: list[int]) -> None:
    """Queue a send per message through the outbox, in the caller's transaction."""
    outbox_enqueue_many(
        messages=[OutboxEntry(task=SEND_TASK, kwargs={"message_id": pk}) for pk in ids]
    )


SWEEP_BATCH = 500


def sweep_stuck() -> list[int]:
    """Queue a send again for messages left queued ``EMAIL_SEND_STUCK_SECONDS`` past
    their time (the task was lost: a broker outage, a purged queue) and for claims that
    lapsed (a worker died mid-send). Rows are claimed with ``FOR UPDATE SKIP LOCKED``
    and their time moved on, so concurrent or repeated sweeps queue each message once."""
    now = timezone.now()
    stuck = Q(
        status=EmailMessageStatus.QUEUED,
        next_attempt_at__lt=now - timedelta(seconds=settings.EMAIL_SEND_STUCK_SECONDS),
    ) | Q(status=EmailMessageStatus.SENDING, next_attempt_at__lt=now)
    with transaction.atomic():
        ids = list(
            EmailMessage.objects.select_for_update(skip_locked=True)
            .filter(stuck, message_type=EmailMessageType.OUTBOUND)
            .order_by("next_attempt_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if ids:
            EmailMessage.objects.filter(pk__in=ids).update(
                status=EmailMessageStatus.QUEUED, next_attempt_at=now
            )
            _queue_after_commit(ids)
    return ids


def message_resend(*, actor: User, message: EmailMessage) -> EmailMessage:
    """Queue a failed outbound message again, with a fresh count of attempts."""
    require_agent(actor, "resend mail")
    with transaction.atomic():
        locked = EmailMessage.objects.select_for_update().get(pk=message.pk)
        if (
            locked.message_type != EmailMessageType.OUTBOUND
            or locked.status != EmailMessageStatus.FAILED
        ):
            raise ConflictError("Only outbound messages that failed can be resent.")
        payload = {
            "to": events.recipients(list(locked.to_addresses)),
            "previous_attempts": locked.attempts,
            "previous_reason": events.of_recipients(list(locked.to_addresses), locked.error_reason),
        }
        locked.status = EmailMessageStatus.QUEUED
        locked.attempts = 0
        locked.error_reason = ""
        locked.next_attempt_at = timezone.now()
        locked.save(update_fields=["status", "attempts", "error_reason", "next_attempt_at"])
        events.publish(
            events.RESENT,
            subject=locked,
            actor=actor,
            ticket_key=_ticket_key(locked),
            payload=payload,
        )
        _queue_after_commit([locked.pk])
    return locked


def _name(user: User) -> str:
    return user.get_full_name() or user.get_username()


def _reply_subject(ticket: Ticket) -> str:
    # "AW:" in German: our own parsing strips it as it strips "Re:" (parsing.SUBJECT_PREFIX).
    prefix = pgettext("prefix of the subject of a reply mail", "Re:")
    return f"{prefix} [{ticket.key}] {ticket.title}"


def _portal_url() -> str:
    """Where a requester follows their requests: the portal's list, a plain link (no
    credential in it: they sign in there)."""
    try:
        return site_url(reverse("portal:tickets"))
    except NoReverseMatch:
        return site_url("/portal/")


def acknowledgement(ticket: Ticket, user: User) -> tuple[str, str]:
    """(subject, body) of the acknowledgement, in the active language."""
    subject = gettext("[%(key)s] Request received: %(title)s") % {
        "key": ticket.key,
        "title": ticket.title,
    }
    body = gettext(
        "Hello %(name)s,\n\n"
        "we received your request and opened ticket %(key)s: %(title)s\n"
        "Reply to this message to add to it.\n\n"
        "Follow your requests on the web: %(portal)s\n"
    ) % {"name": _name(user), "key": ticket.key, "title": ticket.title, "portal": _portal_url()}
    return subject, body


def acknowledge_ticket(event: EventLog) -> None:
    ticket = Ticket.objects.select_related("requester").filter(pk=event.subject_id).first()
    if ticket is None:
        return
    for user in _recipients(ticket, exclude=set())[:1]:  # the requester only
        language = language_for(user)
        with translation.override(language):
            subject, body = acknowledgement(ticket, user)
        queue_mail(
            ticket=ticket,
            to=user,
            subject=subject,
            body=body,
            auto_submitted="auto-replied",
            language=language,
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
        language = language_for(user)
        with translation.override(language):
            subject = _reply_subject(ticket)
            wrote = gettext("%(name)s wrote:") % {"name": _name(comment.author)}
        queue_mail(
            ticket=ticket,
            to=user,
            subject=subject,
            body=f"{wrote}\n\n{comment.body}\n",
            auto_submitted="auto-generated",
            language=language,
        )


def notification_sentence(payload: dict[str, Any], reader: User | None) -> str:
    """A notification's sentence in the active language, its dates in ``reader``'s time
    zone: from the event's ``message`` (``notifications.events`` says its shape), else
    the English ``text`` that every event has (events recorded before ``message``)."""
    fallback = str(payload.get("text", ""))
    message = payload.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return fallback
    params = message.get("params")
    params = dict(params) if isinstance(params, dict) else {}
    for name in message.get("dates") or []:
        try:
            params[name] = local_datetime(datetime.fromisoformat(str(params[name])), reader)
        except (KeyError, ValueError):
            continue
    try:
        return gettext(message["text"]) % params
    except (KeyError, ValueError, TypeError):
        return fallback  # a translation that names other placeholders: English, not nothing


def _agent_mail_body(*, to: User, text: str, comment: Comment | None) -> str:
    quoted = ""
    if comment is not None:
        author = _name(comment.author)
        if comment.is_internal:
            wrote = gettext("%(name)s wrote (internal note):") % {"name": author}
        else:
            wrote = gettext("%(name)s wrote (comment):") % {"name": author}
        quoted = f"\n\n{wrote}\n\n{comment.body}\n"
    return (
        gettext("Hello %(name)s,") % {"name": _name(to)}
        + f"\n\n{text}.{quoted}\n\n"
        + gettext(
            "A reply to this message is added to the ticket as your public comment, which "
            "the requester receives."
        )
        + "\n"
    )


def notify_agent(event: EventLog) -> None:
    """Mail an agent a notification whose e-mail channel is on (notifications app):
    threaded with the ticket's mail and carrying their reply token, so that they can
    answer by mail. In the agent's language, dates in their time zone."""
    payload = event.payload
    if "email" not in payload.get("channels", []):
        return
    ticket = Ticket.objects.filter(pk=payload.get("ticket_id")).first()
    to = User.objects.filter(pk=payload.get("recipient_id"), is_active=True).first()
    if ticket is None or to is None or not to.email:
        return
    if to.email.lower() in _own_addresses():
        return  # never to our own addresses (a mail loop)
    comment = (
        Comment.objects.select_related("author")
        .filter(pk=payload["comment_id"], ticket=ticket)
        .first()
        if isinstance(payload.get("comment_id"), int)
        else None
    )
    with translation.override(language_for(to)):
        subject = _reply_subject(ticket)
        text = notification_sentence(payload, to)
        body = _agent_mail_body(to=to, text=text, comment=comment)
    queue_mail(ticket=ticket, to=to, subject=subject, body=body, auto_submitted="auto-generated")


def _team_mail_body(*, team: Team, text: str, ticket: Ticket) -> str:
    return (
        gettext("Hello %(name)s,") % {"name": team.name}
        + f"\n\n{text}.\n\n{ticket.title}\n\n{ticket.description}\n\n"
        + gettext(
            "This message went to the team's address, not to a person: a reply to it is "
            "added to the ticket as mail from whoever sends it, which the desk trusts as it "
            "trusts any mail (a staff member's only when their mail can be vouched for)."
        )
        + "\n"
    )


def notify_team(event: EventLog) -> None:
    """Mail a team's own address (``Team.email``) a notice of the notifications app (a
    new ticket in the team, unassigned), as the address is when the notice is
    delivered: threaded with the ticket's mail, without a reply token (no user). An
    address is nobody's account: in the desk's language (LANGUAGE_CODE) and time zone."""
    payload = event.payload
    team = Team.objects.filter(pk=payload.get("team_id")).first()
    ticket = Ticket.objects.filter(pk=payload.get("ticket_id")).first()
    if team is None or ticket is None or not team.email:
        return
    if team.email.lower() in _own_addresses():
        return  # a team address that is the desk's own mailbox would open a mail loop
    language = language_for(None)
    with translation.override(language):
        text = notification_sentence(payload, None)
        body = _team_mail_body(team=team, text=text, ticket=ticket)
    queue_mail(
        ticket=ticket,
        to=team.email,
        to_name=team.name,
        subject=f"[{ticket.key}] {ticket.title}",
        body=body,
        auto_submitted="auto-generated",
        language=language,
    )


def register() -> None:
    subscribe("ticket.created", name=ACKNOWLEDGE)(acknowledge_ticket)
    subscribe("ticket.commented", name=NOTIFY_COMMENT)(notify_comment)
    subscribe(NOTIFICATION_CREATED, name=NOTIFY_AGENT)(notify_agent)
    subscribe(NOTIFICATION_TEAM_NOTICE, name=NOTIFY_TEAM)(notify_team)
