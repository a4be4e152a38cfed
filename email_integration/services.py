"""Writes of the mail app: store, process, reprocess, and queue outbound mail.

One pipeline serves every way mail arrives (IMAP, POP3, the inbound API, files):
``message_store`` saves the raw bytes idempotently and commits; only then does the
caller tell the server the message was taken. ``message_process`` turns a stored
message into a ticket or a comment, or records why not; a failure rolls its work back
and leaves the message ``failed`` with the reason, to be reprocessed.

Sources that keep their own copy (files, Maildirs, mboxes) go by the batch:
``messages_store`` saves many messages in two queries and ``messages_process`` runs
many through the same steps in one transaction, looking up once per batch what every
message needs (our own addresses, the default workflow, the senders' users, the
senders' hourly counts) and giving each message its own savepoint, so one that fails
is recorded as failed and the others go on. A single message is a batch of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
    ServerBindingCursor,  # in Django since 4.2 (psycopg 3); django-stubs 5.2 lacks it
)
from django.db.models import F, Q
from django.db.models.functions import Lower
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
from eventlog.models import EventLog
from eventlog.services import event_build, event_record_many
from nixflow import selectors as core_selectors
from nixflow import services as core_services
from nixflow.models import TICKET_KEY_PATTERN, Role, Source, Ticket, User, Workflow

logger = logging.getLogger(__name__)

SUBJECT_TOKEN = re.compile(rf"\[({TICKET_KEY_PATTERN})\]", re.IGNORECASE)
# What processing writes on a message: everything but the raw bytes and the store keys.
# Saving ``raw`` again would send every message to the database a second time.
PROCESSED_FIELDS = [
    "message_id",
    "in_reply_to",
    "references",
    "from_address",
    "from_name",
    "to_addresses",
    "cc_addresses",
    "subject",
    "text_body",
    "reply_text",
    "html_body",
    "message_type",
    "status",
    "error_reason",
    "attempts",
    "processed_at",
    "ticket",
    "comment",
    "thread",
    "bounce_of",
]


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
                .only("id")
                .first()
            )
            if earlier is not None:
                _flag_duplicate(message, earlier)
    return message, created


def messages_store(*, account: EmailAccount, raws: Sequence[bytes]) -> list[EmailMessage]:
    """``message_store`` for many messages: one lookup and one INSERT; commits.

    The stored message of each raw, in order. The same rules hold: a message stored
    before (or twice in ``raws``) is found, not stored again, and comes back with only
    its keys and status loaded; a Message-ID seen before with other bytes is stored,
    flagged and not processed. When a concurrent delivery stores one of these first,
    the INSERT fails on the unique constraint and the batch is stored one by one.
    """
    keys = [(first_message_id(raw), hashlib.sha256(raw).hexdigest()) for raw in raws]
    ids = {message_id for message_id, _ in keys if message_id}
    without_id = {sha for message_id, sha in keys if not message_id}
    found = (
        EmailMessage.objects.filter(account=account)
        .filter(Q(message_id__in=ids) | Q(message_id="", raw_sha256__in=without_id))
        .only("id", "message_id", "raw_sha256", "status", "error_reason")
        .order_by("id")
    )
    known: dict[tuple[str, str], EmailMessage] = {}
    first_with_id: dict[str, EmailMessage] = {}
    for row in found if keys else []:
        known.setdefault((row.message_id, row.raw_sha256), row)
        if row.message_id:
            first_with_id.setdefault(row.message_id, row)
    stored, new, duplicates = [], [], []
    for raw, (message_id, sha) in zip(raws, keys, strict=True):
        message = known.get((message_id, sha))
        if message is None:
            message = EmailMessage(
                account=account,
                message_id=message_id,
                raw_sha256=sha,
                raw=raw,
                message_type=EmailMessageType.INBOUND,
            )
            if message_id in first_with_id:
                duplicates.append((message, first_with_id[message_id]))
            elif message_id:
                first_with_id[message_id] = message
            known[(message_id, sha)] = message
            new.append(message)
        stored.append(message)
    try:
        with transaction.atomic(), _parameters_bound_by_the_server():
            EmailMessage.objects.bulk_create(new)
            for message, earlier in duplicates:  # rare: flagged once both have an id
                _flag_duplicate(message, earlier)
    except IntegrityError:  # stored meanwhile by a concurrent delivery
        return [message_store(account=account, raw=raw)[0] for raw in raws]
    return stored


@contextlib.contextmanager
def _parameters_bound_by_the_server() -> Iterator[None]:
    """Send this block's parameters separately from the SQL, in binary where they are.

    Django's default psycopg cursor binds parameters into the SQL text on the client:
    raw mail then travels as a hex literal twice its size, built by the client and
    parsed by the server, which made storing the slowest step of a batch. psycopg's
    server-binding cursor (what Django's ``server_side_binding`` option selects for
    every query) sends the bytes as they are; the SQL Django writes is the same.
    """
    raw_connection = connection.connection
    if raw_connection is None or not hasattr(raw_connection, "cursor_factory"):
        yield  # not psycopg 3
        return
    default = raw_connection.cursor_factory
    raw_connection.cursor_factory = ServerBindingCursor
    try:
        yield
    finally:
        raw_connection.cursor_factory = default


def _flag_duplicate(message: EmailMessage, earlier: EmailMessage) -> None:
    message.duplicate_of = earlier
    message.status = EmailMessageStatus.IGNORED
    message.error_reason = (
        f"Message-ID <{message.message_id}> was received before with different content "
        f"(message #{earlier.pk}); kept for review, not processed."
    )
    message.save(update_fields=["duplicate_of", "status", "error_reason"])


# --- process ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    status: str
    ticket: Ticket | None = None
    reason: str = ""


@dataclass
class _Plan:
    """A message of a batch, read before its turn (see ``messages_process``)."""

    parsed: ParsedMessage | None = None
    error: Exception | None = None  # parsing raised: raised again in the message's turn
    verdict: loops.Verdict | None = None
    counted: bool = False  # counts against its sender's hourly limit
    over_limit: bool = False


class _Intake:
    """What a batch looks up once instead of once per message.

    Our own addresses and the default workflow are read when the batch starts and hold
    for it (a few seconds; a batch sees the configuration of its start). Senders' users
    are loaded for the whole batch and cached by address; a user created while
    processing a message that then rolls back is forgotten with it.
    """

    def __init__(self) -> None:
        self.own_addresses = {
            address.lower() for address in EmailAccount.objects.values_list("address", flat=True)
        }
        self.users: dict[str, User] = {}
        self.looked_up: set[str] = set()
        self.created_by: dict[str, int] = {}  # address -> message whose savepoint made it
        self._default_workflow: list[Workflow | None] = []

    def workflow_for(self, account: EmailAccount) -> Workflow | None:
        """The account's workflow, else the default; None lets ``ticket_create`` say
        that there is none."""
        if account.workflow_id is not None:
            return account.workflow
        if not self._default_workflow:
            self._default_workflow.append(
                Workflow.objects.filter(is_default=True, is_active=True).first()
            )
        return self._default_workflow[0]

    def load_users(self, addresses: set[str]) -> None:
        missing = addresses - self.looked_up
        if not missing:
            return
        # Lower(email) of non-empty addresses: the unique index nixflow_user_email_ci_unique.
        users = (
            User.objects.annotate(email_lower=Lower("email"))
            .filter(email_lower__in=missing)
            .exclude(email="")
        )
        self.users.update((user.email_lower, user) for user in users)
        self.looked_up |= missing

    def forget(self, message: EmailMessage, plan: _Plan) -> None:
        address = plan.parsed.from_address if plan.parsed else ""
        if address and self.created_by.get(address) == message.pk:
            del self.created_by[address]
            self.users.pop(address, None)
            self.looked_up.discard(address)


def message_process(*, message: EmailMessage) -> EmailMessage:
    """Process a stored message (received or failed); never raises for a bad message."""
    return messages_process(messages=[message])[0]


class _Retry(Exception):  # noqa: N818 -- a signal, not an error
    """A message failed in a batch run without savepoints (see ``messages_process``)."""


def messages_process(*, messages: Sequence[EmailMessage]) -> list[EmailMessage]:
    """Process stored messages (received or failed) in one transaction; never raises
    for a bad message.

    The messages are locked (in id order, so that concurrent batches cannot deadlock on
    them) and read first: parsed, screened for automatic mail, and counted against
    their senders' hourly limits in one upsert; the senders' users are loaded in one
    query. Then each message is processed in the given order, and their
    ``email.received`` events are appended together at the end.

    A message that fails must roll back its own work only. A savepoint per message
    would do that, at two more round trips each; as failures are rare, the batch runs
    without them first, and when a message fails the whole batch is rolled back and
    run again with a savepoint per message, so that the failed one is recorded as
    failed with its reason and the others are processed. Messages that are no longer
    due (processed by a concurrent delivery) come back as they are.
    """
    if not messages:
        return []
    for savepoints in (False, True):
        try:
            with transaction.atomic():
                return _process_batch(messages, savepoints=savepoints)
        except _Retry:
            continue
        except Exception as error:
            if len(messages) > 1:
                # The batch as a whole failed (a lost connection, say): one at a time, so
                # that each message gets its own verdict.
                logger.exception("Processing %d mail messages failed; one by one", len(messages))
                return [message_process(message=m) for m in messages]
            (message,) = messages
            logger.exception("Processing mail message %s failed", message.pk)
            _record_failure(message, error)
            return [message]
    raise AssertionError("unreachable: the run with savepoints never retries")


def _process_batch(messages: Sequence[EmailMessage], *, savepoints: bool) -> list[EmailMessage]:
    locked = {
        m.pk: m
        for m in EmailMessage.objects.select_for_update(of=("self",))
        .select_related("account__workflow")
        .filter(pk__in=[m.pk for m in messages])
        .order_by("id")
    }
    due = [
        locked[pk]
        for pk in dict.fromkeys(m.pk for m in messages)
        if pk in locked
        and locked[pk].status in {EmailMessageStatus.RECEIVED, EmailMessageStatus.FAILED}
    ]
    intake = _Intake()
    plans = {message.pk: _read(message, intake) for message in due}
    _count_senders(due, plans)
    intake.load_users(
        {
            p.parsed.from_address
            for p in plans.values()
            if p.parsed is not None and p.counted and not p.over_limit
        }
    )
    events: list[EventLog] = []
    for message in due:
        plan = plans[message.pk]
        if not savepoints:
            try:
                _process_locked(message, plan, intake)
            except Exception as error:
                raise _Retry from error
        else:
            try:
                with transaction.atomic():
                    _process_locked(message, plan, intake)
            except Exception as error:
                logger.exception("Processing mail message %s failed", message.pk)
                intake.forget(message, plan)
                _record_failure(message, error)
                continue
        events.append(_received_event(message))
    event_record_many(events=events)
    return [locked.get(m.pk, m) for m in messages]


def _record_failure(message: EmailMessage, error: Exception) -> None:
    reason = f"{type(error).__name__}: {error}"[:2000]
    EmailMessage.objects.filter(pk=message.pk).update(
        status=EmailMessageStatus.FAILED,
        error_reason=reason,
        attempts=F("attempts") + 1,
        processed_at=timezone.now(),
    )
    message.refresh_from_db(fields=PROCESSED_FIELDS)


def _read(message: EmailMessage, intake: _Intake) -> _Plan:
    try:
        parsed = parse(bytes(message.raw))
        verdict = loops.classify(parsed)
    except Exception as error:  # parse() degrades instead of raising; kept for its turn
        return _Plan(error=error)
    address = parsed.from_address
    counted = verdict is None and "@" in address and address not in intake.own_addresses
    return _Plan(parsed=parsed, verdict=verdict, counted=counted)


def _count_senders(messages: list[EmailMessage], plans: dict[int, _Plan]) -> None:
    """Count the batch's messages against their senders' hours in one upsert, and mark
    those past the limit: the n-th message of a sender in the batch is over it when the
    count before the batch plus n exceeds the limit, as when counted one by one. A
    message that then fails still counts (it was received, and a loop fails too)."""
    groups: dict[tuple[str, datetime], list[_Plan]] = {}
    for message in messages:
        plan = plans[message.pk]
        if plan.parsed is not None and plan.counted:
            hour = message.received_at.replace(minute=0, second=0, microsecond=0)
            groups.setdefault((plan.parsed.from_address, hour), []).append(plan)
    if not groups:
        return
    # Sorted: every batch locks the counter rows in one order, so concurrent batches
    # wait for each other instead of deadlocking.
    keys = sorted(groups, key=lambda key: (key[0], key[1]))
    rows = ", ".join(["(%s, %s, %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO email_integration_sendercount (address, hour, count)
            VALUES {rows}
            ON CONFLICT (address, hour)
                DO UPDATE SET count = email_integration_sendercount.count + EXCLUDED.count
            RETURNING address, hour, count
            """,  # noqa: S608 -- only placeholders are formatted in
            [value for key in keys for value in (*key, len(groups[key]))],
        )
        totals = {(address, hour): count for address, hour, count in cursor.fetchall()}
    limit = settings.EMAIL_SENDER_LIMIT_PER_HOUR
    for key, group in groups.items():
        before = totals[key] - len(group)
        for n, plan in enumerate(group, start=1):
            plan.over_limit = before + n > limit


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


def _process_locked(message: EmailMessage, plan: _Plan, intake: _Intake) -> None:
    if plan.error is not None:
        raise plan.error
    parsed = plan.parsed
    assert parsed is not None  # noqa: S101 -- _read sets either parsed or error
    _fill(message, parsed)
    message.attempts += 1
    message.processed_at = timezone.now()
    outcome = _route(message, parsed, plan, intake)
    message.status = outcome.status
    message.error_reason = outcome.reason
    message.ticket = outcome.ticket or message.ticket
    message.save(update_fields=PROCESSED_FIELDS)


def _received_event(message: EmailMessage) -> EventLog:
    return event_build(
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


def _route(message: EmailMessage, parsed: ParsedMessage, plan: _Plan, intake: _Intake) -> Outcome:
    verdict = plan.verdict
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
    if parsed.from_address in intake.own_addresses:
        return Outcome(
            EmailMessageStatus.IGNORED, reason="Sent by one of our own addresses (a loop)."
        )
    if plan.over_limit:
        limit = settings.EMAIL_SENDER_LIMIT_PER_HOUR
        return Outcome(
            EmailMessageStatus.IGNORED,
            reason=f"{parsed.from_address} sent more than {limit} messages this hour.",
        )

    sender = _sender_user(message, parsed, intake)
    ticket, thread = _find_ticket(message, parsed, sender)
    attachments, refused = _attachments(parsed)
    if ticket is None:
        ticket = core_services.ticket_create(
            requester=sender,
            title=(normalize_subject(parsed.subject) or "(no subject)")[:200],
            description=message.reply_text or message.text_body,
            priority=message.account.default_priority,
            workflow=intake.workflow_for(message.account),
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
        # A ticket opened just now has no thread yet: no lookup needed.
        message.thread = _thread_create(message, ticket, parsed)
    else:
        message.comment = core_services.comment_create(
            ticket=ticket,
            author=sender,
            body=message.reply_text or message.text_body or "(empty message)",
            attachments=attachments,
        )
        message.thread = thread or _thread_for(message, ticket, parsed)
    if parsed.attachments:
        _record_attachments(message, parsed, refused)
    return Outcome(EmailMessageStatus.PROCESSED, ticket=ticket)


def _sender_user(message: EmailMessage, parsed: ParsedMessage, intake: _Intake) -> User:
    """The user with the sender's address, created as a requester on first contact."""
    address = parsed.from_address
    intake.load_users({address})  # loaded for the batch already: no query
    user = intake.users.get(address)
    if user is not None:
        return user
    base = re.sub(r"[^\w.@+-]", "", address)[:140] or "requester"
    username, n = base, 1
    while User.objects.filter(username__iexact=username).exists():
        n += 1
        username = f"{base[:140]}-{n}"
    first, _, last = (parsed.from_name or "").partition(" ")
    try:  # user_create's own savepoint keeps the transaction usable after a conflict
        user = core_services.user_create(
            username=username,
            email=address,
            role=Role.REQUESTER,
            first_name=first[:150],
            last_name=last[:150],
        )
    except IntegrityError:  # created by a concurrent message from the same sender
        user = User.objects.get(email__iexact=address)
    else:
        intake.created_by[address] = message.pk
    intake.users[address] = user
    return user


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
    in_reply_to = {parsed.in_reply_to} - {""}
    references = set(parsed.references)
    if in_reply_to or references:
        # One query for both; the latest stored message wins within each.
        known = list(
            EmailMessage.objects.filter(message_id__in=in_reply_to | references)
            .filter(ticket__isnull=False)
            .exclude(pk=message.pk)
            .select_related("ticket", "thread")
            .only("id", "message_id", "ticket", "thread")
            .order_by("-id")
        )
        for ids in (in_reply_to, references):
            match = next((k for k in known if k.message_id in ids), None)
            if (
                match is not None
                and match.ticket is not None  # always, by ticket__isnull=False above
                and _may_join(match.ticket, sender, parsed)
            ):
                return match.ticket, match.thread
    token = SUBJECT_TOKEN.search(parsed.subject or "")
    if token:
        # Never None here (SUBJECT_TOKEN matches keys only); checked for the type.
        number = Ticket.number_from_key(token.group(1).upper())
        ticket = (
            Ticket.objects.filter(pk=number).select_related("requester", "assignee").first()
            if number is not None
            else None
        )
        if ticket is not None and parsed.from_address in _participants(ticket):
            _may_join(ticket, sender, parsed)
            return ticket, None
    return None, None


def _thread_people(message: EmailMessage, parsed: ParsedMessage) -> set[str]:
    return {parsed.from_address, *parsed.to, *parsed.cc} - {message.account.address.lower()}


def _thread_create(message: EmailMessage, ticket: Ticket, parsed: ParsedMessage) -> EmailThread:
    return EmailThread.objects.create(
        account=message.account,
        ticket=ticket,
        normalized_subject=normalize_subject(parsed.subject)[:998],
        root_message_id=parsed.message_id,
        participants=sorted(_thread_people(message, parsed)),
    )


def _thread_for(message: EmailMessage, ticket: Ticket, parsed: ParsedMessage) -> EmailThread:
    people = _thread_people(message, parsed)
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
    """Store a batch (one commit), then process what is new in it (another).

    For sources that keep their copy (files, a Maildir, an mbox): nothing has to be
    acknowledged message by message, so a batch costs two commits instead of two per
    message. Messages stored and processed before come back as they are.
    """
    stored = messages_store(account=account, raws=raws)
    due = [m for m in stored if m.status == EmailMessageStatus.RECEIVED]
    done = {m.pk: m for m in messages_process(messages=list({m.pk: m for m in due}.values()))}
    return [done.get(m.pk, m) for m in stored]


def messages_reprocess(*, messages: list[EmailMessage]) -> list[EmailMessage]:
    """Run failed (or still received) messages through the pipeline again."""
    return [message_process(message=m) for m in messages]
