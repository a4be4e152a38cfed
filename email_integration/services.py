"""Writes of the mail app: store, process, reprocess, release or reject inbound mail.

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

Mail posted to the API is only stored in the request (``message_accept``, answered 202)
and processed by a worker, queued through the outbox; ``messages_process_stored``
(beat) catches what a lost task left. Reading a message is bounded: a MIME structure
deeper or larger than ``EMAIL_MAX_MIME_DEPTH`` / ``EMAIL_MAX_MIME_PARTS``, or reading
past ``EMAIL_MAX_PARSE_SECONDS``, leaves it failed with the reason, kept.

**Who a message may act as.** ``authentication`` says whether the From domain is
vouched for (our MTA's Authentication-Results, an aligned DKIM signature, a trusted
ARC seal); ``reply_tokens`` whether the message answers our mail to that very user.
Mail from the address of a staff user (agent, admin, staff, superuser) acts as that
user only when one of these holds, or staff released it; otherwise it is held as
*suspended* with the reason, and does nothing: no ticket, comment, first response or
mail (``_hold_reason``). Mail from any other address is taken, as before, as its
owner's with a requester's rights: it opens a ticket for that address, or comments as
that requester on a ticket they can see or took part in by mail; a forger can thus
write as a customer (no desk can tell without a signature), never as staff. The
hourly limit counts authenticated and unauthenticated mail of an address apart
(``SenderCount.verified``). Processing is idempotent per message: only a received or
failed message is processed, under its row lock, and one whose ticket was committed is
never marked failed (``_record_failure``), so reprocessing never opens a second ticket.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.db.backends.postgresql.base import (  # type: ignore[attr-defined]
    ServerBindingCursor,  # in Django since 4.2 (psycopg 3); django-stubs 5.2 lacks it
)
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone

from email_integration import authentication, events, loops, reply_tokens
from email_integration.models import (
    EmailAccount,
    EmailAttachment,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    EmailThread,
    SenderAuth,
)
from email_integration.parsing import (
    ParsedMessage,
    ParseLimitExceededError,
    first_message_id,
    normalize_subject,
    parse,
    structure_problem,
)
from eventlog.models import EventLog
from eventlog.outbox import outbox_enqueue
from eventlog.services import event_build, event_record_many
from nixflow import selectors as core_selectors
from nixflow import services as core_services
from nixflow.models import TICKET_KEY_PATTERN, Role, Source, Ticket, User, Workflow
from nixflow.services.merge import ticket_follow_merges
from nixflow.toolkit.errors import ConflictError
from nixflow.toolkit.quotas import StorageRoom, storage_room

logger = logging.getLogger(__name__)

SUBJECT_TOKEN = re.compile(rf"\[({TICKET_KEY_PATTERN})\]", re.IGNORECASE)
# What processing writes on a message: everything but the raw bytes and the store keys.
# Saving ``raw`` again would send every message to the database a second time.
# Alike the API serializer's field list, but what intake saves, not what the API shows.
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
    "sender_auth",
    "authentication",
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
    too_complex: str = ""  # over a reading limit: kept as failed with this reason
    verdict: loops.Verdict | None = None
    counted: bool = False  # counts against its sender's hourly limit
    over_limit: bool = False
    auth: authentication.Verdict = field(default_factory=authentication.Verdict)
    tokens: list[reply_tokens.ReplyToken] = field(default_factory=list)  # valid ones
    token: reply_tokens.ReplyToken | None = None  # the sender's among them, else the first
    tokens_seen: int = 0  # token-shaped strings, valid or not
    sender: User | None = None  # the existing user of the From address
    token_matches: bool = False  # the token was made for ``sender``

    @property
    def verified(self) -> bool:
        """The sender is authenticated: their domain vouched for them, staff released
        the message, or it brought back a reply token made for them."""
        return self.auth.verified or self.token_matches


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
    # The senders' users before counting: whether a reply token was made for the
    # sender decides which of their two counts a message goes to.
    intake.load_users({p.parsed.from_address for p in plans.values() if p.parsed and p.counted})
    for plan in plans.values():
        if plan.parsed is not None:
            plan.sender = intake.users.get(plan.parsed.from_address)
            sender_id = plan.sender.pk if plan.sender else None
            own = [t for t in plan.tokens if t.user_id == sender_id]
            plan.token = next(iter(own or plan.tokens), None)
            plan.token_matches = bool(own)
    _count_senders(due, plans)
    recorded: list[EventLog] = []
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
        recorded.extend(_received_events(message))
    event_record_many(events=recorded)
    return [locked.get(m.pk, m) for m in messages]


def _record_failure(message: EmailMessage, error: Exception) -> None:
    """Mark a message failed, unless its work was committed after all.

    An error can come after the commit: a callback run on commit (queueing a task
    while the broker is down) raises out of the transaction that created the ticket.
    The message is then processed, with its ticket; marking it failed would have
    ``reprocess_email`` open a second ticket. Hence only a message still due is marked.
    """
    reason = f"{type(error).__name__}: {error}"[:2000]
    marked = EmailMessage.objects.filter(
        pk=message.pk, status__in=[EmailMessageStatus.RECEIVED, EmailMessageStatus.FAILED]
    ).update(
        status=EmailMessageStatus.FAILED,
        error_reason=reason,
        attempts=F("attempts") + 1,
        processed_at=timezone.now(),
    )
    if not marked:
        logger.warning("Mail message %s failed after its work was committed", message.pk)
    message.refresh_from_db(fields=[*PROCESSED_FIELDS, "reviewed_by", "reviewed_at"])


def _read(message: EmailMessage, intake: _Intake) -> _Plan:
    raw = bytes(message.raw)
    problem = structure_problem(
        raw, max_depth=settings.EMAIL_MAX_MIME_DEPTH, max_parts=settings.EMAIL_MAX_MIME_PARTS
    )
    if problem:
        return _Plan(too_complex=f"Not read: {problem}.")
    try:
        parsed = parse(raw, deadline=time.monotonic() + settings.EMAIL_MAX_PARSE_SECONDS)
        verdict = loops.classify(parsed)
    except ParseLimitExceededError as error:
        return _Plan(too_complex=f"Not read: {error}.")
    except Exception as error:  # parse() degrades instead of raising; kept for its turn
        return _Plan(error=error)
    address = parsed.from_address
    usable = verdict is None and "@" in address and address not in intake.own_addresses
    released = message.sender_auth == SenderAuth.RELEASED
    plan = _Plan(parsed=parsed, verdict=verdict, counted=usable and not released)
    if released:
        plan.auth = authentication.Verdict(SenderAuth.RELEASED, message.authentication)
    elif usable:  # automatic mail is ignored whoever sent it: no DNS lookups for it
        plan.auth = authentication.authenticate(
            raw=raw,
            message=parsed.message,
            from_address=address,
            authserv_id=message.account.trusted_authserv_id,
        )
    _find_reply_token(plan, parsed)
    return plan


def _find_reply_token(plan: _Plan, parsed: ParsedMessage) -> None:
    """The first valid reply token in the addresses the reply went to (the plus-tag of
    our Reply-To) or in the ids it answers (our Message-ID)."""
    found = reply_tokens.find(
        [
            *parsed.to,
            *parsed.cc,
            parsed.header("Delivered-To"),
            parsed.header("X-Original-To"),
            parsed.in_reply_to,
            *parsed.references,
        ]
    )
    plan.tokens_seen = len(found)
    plan.tokens = [token for token in map(reply_tokens.verify, found) if token is not None]


def _count_senders(messages: list[EmailMessage], plans: dict[int, _Plan]) -> None:
    """Count the batch's messages against their senders' hours in one upsert, and mark
    those past the limit: the n-th message of a sender in the batch is over it when the
    count before the batch plus n exceeds the limit, as when counted one by one. A
    message that then fails still counts (it was received, and a loop fails too)."""
    groups: dict[tuple[str, datetime, bool], list[_Plan]] = {}
    for message in messages:
        plan = plans[message.pk]
        if plan.parsed is not None and plan.counted:
            hour = message.received_at.replace(minute=0, second=0, microsecond=0)
            groups.setdefault((plan.parsed.from_address, hour, plan.verified), []).append(plan)
    if not groups:
        return
    # Sorted: every batch locks the counter rows in one order, so concurrent batches
    # wait for each other instead of deadlocking.
    keys = sorted(groups)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO email_integration_sendercount (address, hour, verified, count)
            VALUES {rows}
            ON CONFLICT (address, hour, verified)
                DO UPDATE SET count = email_integration_sendercount.count + EXCLUDED.count
            RETURNING address, hour, verified, count
            """,  # noqa: S608 -- only placeholders are formatted in
            [value for key in keys for value in (*key, len(groups[key]))],
        )
        totals = {(address, hour, ok): count for address, hour, ok, count in cursor.fetchall()}
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
    message.attempts += 1
    message.processed_at = timezone.now()
    if plan.too_complex:
        # Kept, with the reason; reprocessing reads it again (under raised limits).
        message.status, message.error_reason = EmailMessageStatus.FAILED, plan.too_complex
        message.save(update_fields=["status", "error_reason", "attempts", "processed_at"])
        return
    parsed = plan.parsed
    assert parsed is not None  # noqa: S101 -- _read sets parsed, error or too_complex
    _fill(message, parsed)
    if message.sender_auth != SenderAuth.RELEASED:
        message.sender_auth, message.authentication = _authentication_record(plan)
    outcome = _route(message, parsed, plan, intake)
    message.status = outcome.status
    message.error_reason = outcome.reason
    message.ticket = outcome.ticket or message.ticket
    message.save(update_fields=PROCESSED_FIELDS)


def _authentication_record(plan: _Plan) -> tuple[str, str]:
    """What the message keeps of its sender authentication: method and words."""
    if plan.auth.verified or not plan.token_matches or plan.token is None:
        return plan.auth.method, plan.auth.detail
    ticket_key = Ticket.key_for(plan.token.ticket_id)
    detail = (
        f"reply token of our mail about {ticket_key}, valid until {plan.token.expires:%Y-%m-%d}"
    )
    return SenderAuth.REPLY_TOKEN, "; ".join(filter(None, [detail, plan.auth.detail]))


def _is_staff(user: User) -> bool:
    return user.is_agent or user.is_staff or user.is_superuser


def _hold_reason(parsed: ParsedMessage, plan: _Plan, token_ticket: Ticket | None) -> str:
    """Why a message must be held (suspended), or "" when it may be processed.

    Mail from a staff member's address acts as that person (their comment is an agent's:
    a first response, mailed on to the requester), so it is processed only when its
    sender is authenticated: the From domain vouched for (``authentication``), staff
    released it, or it brought back a reply token made for that person, whose ticket
    it then goes to. Other senders are taken as the owner of their address with a
    requester's rights, as before: they can open tickets and comment on their own.
    """
    sender = plan.sender
    if sender is None or not _is_staff(sender) or plan.auth.verified:
        return ""
    if plan.token_matches and token_ticket is not None:
        return ""
    if plan.token_matches:
        why = "its reply token names a ticket that no longer exists"
    elif plan.token is not None:
        why = "its reply token was made for another recipient"
    elif plan.tokens_seen:
        why = "its reply token is expired or not ours"
    else:
        why = plan.auth.detail or "no DKIM signature"
    return (
        f"Suspended: {parsed.from_address} is the address of staff user "
        f"{sender.get_username()}, and the sender is not authenticated ({why}). "
        "Release it to process it as that user, or reject it."
    )[:2000]


def _received_events(message: EmailMessage) -> list[EventLog]:
    """``email.received``, and ``email.suspended`` for a message held."""
    received = [_received_event(message)]
    if message.status == EmailMessageStatus.SUSPENDED:
        received.append(
            event_build(
                type=events.SUSPENDED,
                subject=message,
                actor=None,
                payload={
                    "from": events.of_sender(message.from_address, message.from_address),
                    "reason": events.of_sender(message.from_address, message.error_reason),
                },
            )
        )
    return received


def _received_event(message: EmailMessage) -> EventLog:
    return event_build(
        type=events.RECEIVED,
        subject=message,
        actor=None,
        ticket_key=message.ticket.key if message.ticket else "",
        payload={
            "status": message.status,
            "message_type": message.message_type,
            "from": events.of_sender(message.from_address, message.from_address),
            "reason": events.of_sender(message.from_address, message.error_reason),
            "sender_auth": message.sender_auth,
        },
    )


def _route(message: EmailMessage, parsed: ParsedMessage, plan: _Plan, intake: _Intake) -> Outcome:
    screened = _screen(message, parsed, plan, intake)
    if screened is not None:
        return screened
    token_ticket = None
    if plan.token_matches and plan.token is not None:
        token_ticket = (
            Ticket.objects.filter(pk=plan.token.ticket_id)
            .select_related("requester", "assignee")
            .first()
        )
    held = _hold_reason(parsed, plan, token_ticket)
    if held:
        return Outcome(EmailMessageStatus.SUSPENDED, reason=held)
    sender = _sender_user(message, parsed, intake)
    ticket, thread = None, None
    joined = _join(token_ticket, sender, parsed) if token_ticket is not None else None
    if joined is not None:
        ticket = joined  # a reply to our mail about this ticket, from its recipient
    else:
        ticket, thread = _find_ticket(message, parsed, sender)
    ticket = _act(message, parsed, intake, sender=sender, ticket=ticket, thread=thread)
    return Outcome(EmailMessageStatus.PROCESSED, ticket=ticket)


def _screen(
    message: EmailMessage, parsed: ParsedMessage, plan: _Plan, intake: _Intake
) -> Outcome | None:
    """Why the message is ignored (automatic mail, no sender, a loop, over the limit),
    or None when it goes on."""
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
        kind = "authenticated" if plan.verified else "unauthenticated"
        return Outcome(
            EmailMessageStatus.IGNORED,
            reason=f"{parsed.from_address} sent more than {limit} messages this hour ({kind}).",
        )
    return None


def _act(
    message: EmailMessage,
    parsed: ParsedMessage,
    intake: _Intake,
    *,
    sender: User,
    ticket: Ticket | None,
    thread: EmailThread | None,
) -> Ticket:
    """Open a ticket, or comment on ``ticket``, as ``sender``; the ticket."""
    # The quotas cost two queries: only asked of a message with files.
    room = storage_room(user=sender, ticket=ticket) if parsed.attachments else StorageRoom()
    attachments, refused = _attachments(parsed, room)
    if ticket is None:
        ticket = core_services.ticket_create(
            requester=sender,
            title=(normalize_subject(parsed.subject) or "(no subject)")[:200],
            description=message.reply_text or message.text_body,
            priority=message.account.default_priority,
            workflow=intake.workflow_for(message.account),
            source=Source.EMAIL,
            actor=sender,
            origin=message.account.name,  # routing rules may name the account
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
    return ticket


def _sender_user(message: EmailMessage, parsed: ParsedMessage, intake: _Intake) -> User:
    """The user with the sender's address, created as a requester on first contact."""
    address = parsed.from_address
    intake.load_users({address})  # loaded for the batch already: no query
    user = intake.users.get(address)
    if user is not None:
        return user
    # The batch looked the address up already (look_up=False saves the query); a
    # concurrent message from the same sender may still have created the user first.
    user, created = core_services.requester_get_or_create(
        email=address, name=parsed.from_name or "", look_up=False
    )
    if created:
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


def _join(ticket: Ticket, sender: User, parsed: ParsedMessage) -> Ticket | None:
    """The ticket a message about ``ticket`` goes to, or None when the sender may not
    add to it: ``ticket`` itself or, when it was merged, the ticket it was merged into
    (chains followed: nixflow.services.merge). Whoever may add to the merged ticket
    may add to its target, and becomes a watcher of it when they could not see it."""
    target = ticket_follow_merges(ticket)
    if target.pk == ticket.pk:
        return ticket if _may_join(ticket, sender, parsed) else None
    may = core_selectors.ticket_can_view(user=sender, ticket=ticket) or (
        parsed.from_address in _participants(ticket)
    )
    if not may:
        return None
    if not core_selectors.ticket_can_view(user=sender, ticket=target):
        core_services.ticket_watch(ticket=target, user=sender, actor=None)
    return target


def _find_ticket(
    message: EmailMessage, parsed: ParsedMessage, sender: User
) -> tuple[Ticket | None, EmailThread | None]:
    """Threading, in the order the best desks use: our own ids in In-Reply-To, then in
    References, then the [NF-n] subject token from a participant of that ticket. Mail
    to a merged ticket's thread goes to the ticket it was merged into (``_join``)."""
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
            if match is None or match.ticket is None:  # never None by the filter above
                continue
            joined = _join(match.ticket, sender, parsed)
            if joined is not None:
                # A merged ticket's thread stays its own: the target gets a thread of its own.
                return joined, match.thread if joined.pk == match.ticket.pk else None
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
            return _join(ticket, sender, parsed), None
    return None, None


def _thread_people(message: EmailMessage, parsed: ParsedMessage) -> set[str]:
    """Who is on the conversation, our own address (with a reply token's plus-tag or
    not) left out."""
    ours = message.account.address.lower()
    local, _, domain = ours.partition("@")
    return {
        address
        for address in {parsed.from_address, *parsed.to, *parsed.cc}
        if address != ours
        and not (address.startswith(f"{local}+") and address.endswith(f"@{domain}"))
    }


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


def _attachments(
    parsed: ParsedMessage, room: StorageRoom
) -> tuple[list[SimpleUploadedFile], list[tuple]]:
    """The parts kept as files, and the refused ones with their reason: over the
    per-file limit, past the per-message count, or beyond the sender's or the ticket's
    storage quota (``room``; the files that fit are kept, in order)."""
    limit = settings.NIXFLOW_MAX_ATTACHMENT_BYTES
    accepted, refused = [], []
    for part in parsed.attachments[: settings.NIXFLOW_MAX_ATTACHMENTS]:
        if len(part.payload) > limit:
            refused.append((part, f"{len(part.payload)} bytes exceeds the {limit}-byte limit"))
        elif over := room.refusal(len(part.payload)):
            refused.append((part, over[:255]))
        else:
            room = room.minus(len(part.payload))
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
    """Run failed (or still received) messages through the pipeline again.

    Idempotent per message: only a message still received or failed is processed (under
    its row lock), and a message whose ticket was committed is never marked failed
    (``_record_failure``), so reprocessing never opens a second ticket."""
    return [message_process(message=m) for m in messages]


# --- accept now, process in a worker ----------------------------------------------------
PROCESS_TASK = "email_integration.tasks.process_inbound"


def message_accept(*, account: EmailAccount, raw: bytes) -> tuple[EmailMessage, bool]:
    """Store a posted message and queue its processing, in one transaction; (message,
    created). Nothing is parsed here: this runs in the web request, which answers 202.

    The processing task is written to the outbox (``eventlog.outbox``) with the stored
    row, so it is published when the broker is there, whenever that is; its key makes
    it one task per message, however often the message is posted. Should it still be
    lost, ``messages_process_stored`` (beat) processes what was left received.
    """
    with transaction.atomic():
        message, created = message_store(account=account, raw=raw)
        if message.status == EmailMessageStatus.RECEIVED:
            outbox_enqueue(
                task=PROCESS_TASK,
                kwargs={"message_id": message.pk},
                key=f"{PROCESS_TASK}:{message.pk}",
            )
    return message, created


def message_process_by_id(*, message_id: int) -> EmailMessage | None:
    """Process one stored message by id (the worker's task); None when it is gone.
    A message already processed (by the sweep, say) comes back as it is."""
    message = EmailMessage.objects.filter(pk=message_id).select_related("account").first()
    if message is None:
        return None
    return message_process(message=message)


def messages_process_stored(*, limit: int = 500) -> int:
    """Process inbound messages left received longer than ``EMAIL_SWEEP_AFTER_SECONDS``
    (their task was lost); the number taken up. Safe beside the tasks: processing
    locks each message and skips what is no longer due.

    A message whose processing kills the worker (memory, a hard time limit) stays
    received, and the next sweep would take it up again, for ever. So each sweep counts
    an attempt, committed *before* processing (a crash cannot undo it), and a message
    that used ``EMAIL_PROCESS_MAX_ATTEMPTS`` is kept as failed with its reason instead
    (staff reprocess it once the cause is fixed).
    """
    settled = timezone.now() - timedelta(seconds=settings.EMAIL_SWEEP_AFTER_SECONDS)
    stale = list(
        EmailMessage.objects.filter(
            status=EmailMessageStatus.RECEIVED,
            message_type=EmailMessageType.INBOUND,
            received_at__lte=settled,
        )
        .select_related("account")
        .order_by("received_at", "id")[:limit]
    )
    for message in stale:  # one by one: one slow message holds up no batch
        if not _count_sweep_attempt(message):
            continue
        done = message_process(message=message)
        if done.status != EmailMessageStatus.RECEIVED:
            # It finished, and processing counted its own attempt: the take-up is undone,
            # so that ``attempts`` counts runs, whether finished or abandoned.
            EmailMessage.objects.filter(pk=message.pk).update(attempts=F("attempts") - 1)
    return len(stale)


def _count_sweep_attempt(message: EmailMessage) -> bool:
    """Count one more attempt at a stale message; False (and the message failed) when
    it has had its attempts. Runs in autocommit, outside any processing transaction."""
    if message.attempts >= settings.EMAIL_PROCESS_MAX_ATTEMPTS:
        reason = (
            f"Processing did not finish in {message.attempts} attempts (the worker stopped "
            "while processing it: out of memory or a time limit?); "
            "reprocess it once the cause is fixed."
        )
        EmailMessage.objects.filter(pk=message.pk, status=EmailMessageStatus.RECEIVED).update(
            status=EmailMessageStatus.FAILED, error_reason=reason, processed_at=timezone.now()
        )
        logger.error("Mail message %s given up: %s", message.pk, reason)
        return False
    EmailMessage.objects.filter(pk=message.pk, status=EmailMessageStatus.RECEIVED).update(
        attempts=F("attempts") + 1
    )
    message.attempts += 1
    return True


# --- suspended mail ---------------------------------------------------------------------
# Same shape as knowledge's _lock_open_feedback: lock a row and check its state, other model and
# rule.
def _lock_suspended(message: EmailMessage) -> EmailMessage:
    locked = EmailMessage.objects.select_for_update().get(pk=message.pk)
    if locked.status != EmailMessageStatus.SUSPENDED:
        raise ConflictError(
            {"status": f"Only a suspended message can be released or rejected ({locked.status})."}
        )
    return locked


def message_release(*, message: EmailMessage, actor: User) -> EmailMessage:
    """Process a suspended message as its (now verified) sender, recording who vouched.

    Staff release a message they know to be genuine (the agent wrote it from a phone
    that does not sign, say): it then goes through the pipeline as any authenticated
    message would, with ``sender_auth`` "released" and the releaser in ``reviewed_by``.
    """
    with transaction.atomic():
        locked = _lock_suspended(message)
        own = bool(actor.email) and actor.email.lower() == locked.from_address
        if not (actor.role == Role.ADMIN or actor.is_superuser or (actor.is_agent and own)):
            # Releasing makes the message act as its sender: an agent may vouch for
            # their own mail (sent from a phone that does not sign, say), only an admin
            # for anyone's.
            raise PermissionDenied(
                "Only an admin, or the staff member whose address it bears, may release it."
            )
        locked.status = EmailMessageStatus.RECEIVED
        locked.sender_auth = SenderAuth.RELEASED
        locked.authentication = f"released by {actor.get_username()}; was: {locked.authentication}"[
            :2000
        ]
        locked.reviewed_by, locked.reviewed_at = actor, timezone.now()
        locked.save(
            update_fields=["status", "sender_auth", "authentication", "reviewed_by", "reviewed_at"]
        )
        events.publish(
            events.RELEASED,
            subject=locked,
            actor=actor,
            payload={
                "from": events.of_sender(locked.from_address, locked.from_address),
                "reason": events.of_sender(locked.from_address, locked.error_reason),
            },
        )
        return message_process(message=locked)


def message_reject(*, message: EmailMessage, actor: User) -> EmailMessage:
    """Refuse a suspended message: kept as rejected, never processed."""
    with transaction.atomic():
        locked = _lock_suspended(message)
        locked.status = EmailMessageStatus.REJECTED
        locked.reviewed_by, locked.reviewed_at = actor, timezone.now()
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at"])
        events.publish(
            events.REJECTED,
            subject=locked,
            actor=actor,
            payload={
                "from": events.of_sender(locked.from_address, locked.from_address),
                "reason": events.of_sender(locked.from_address, locked.error_reason),
            },
        )
    return locked
