"""Mail by the batch (files, Maildirs, mboxes): the same verdicts as one by one, for a
fixed number of queries per message."""

from __future__ import annotations

import re._constants as constants
import re._parser as sre_parser
from typing import Any

import pytest
from mailparser_reply import EmailReplyParser
from mailparser_reply import parser as reply_parser
from pytest_django.fixtures import DjangoAssertNumQueries, Settings

from email_integration import parsing, services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from eventlog.models import EventLog
from nixflow import services as core_services
from nixflow.models import Ticket, User
from tests.email_integration.messages import mail, message_id_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# Per batch: lock the messages, our own addresses, the senders' hourly counts (one
# upsert), their users, the default workflow, the email.received events, the keys
# their senders' addresses are encrypted under (eventlog.personal: one SELECT, one
# INSERT of the new ones, one SELECT of those, for the whole batch), and the batch's
# savepoint (two). Per new-ticket message from a known sender: ticket_create
# (its savepoint, two; the workflow's first stage; the ticket; its history row; its
# ticket.created event and that event's deliveries in the outbox, one INSERT, written
# in the same transaction so that a dead broker loses nothing; the routing rules, and
# the default team when none matches; the SLA policy lookup: with no policy, keeping
# Ticket.sla_due_at costs nothing; its full-text search documents, nixflow.search), the
# message's thread, and the message. Sender
# authentication adds none: an unsigned message costs no lookup, and its reply tokens
# are checked without the database. Plus the active automation rules, loaded once per
# process and rule change (here once per test: each test starts with an empty cache),
# and the active webhook endpoints, loaded the same way.
QUERIES_PER_BATCH = 13
QUERIES_PER_NEW_TICKET = 13


@pytest.mark.parametrize("size", [1, 10])
def test_a_new_ticket_message_costs_a_fixed_number_of_queries(
    account: EmailAccount, django_assert_num_queries: DjangoAssertNumQueries, size: int
) -> None:
    UserFactory(email="carol@example.com")
    stored = services.messages_store(
        account=account, raws=[mail(subject=f"Printer {n}") for n in range(size)]
    )
    with django_assert_num_queries(QUERIES_PER_BATCH + QUERIES_PER_NEW_TICKET * size):
        done = services.messages_process(messages=stored)
    assert [m.status for m in done] == [EmailMessageStatus.PROCESSED] * size
    assert Ticket.objects.count() == size


def test_storing_a_batch_finds_what_was_stored_before_and_flags_reused_ids(
    account: EmailAccount,
) -> None:
    before = mail(message_id="<old@example.com>", body="one")
    (earlier,) = services.messages_store(account=account, raws=[before])
    again = mail(subject="Twice")
    stored = services.messages_store(
        account=account,
        raws=[
            before,
            again,
            again,
            mail(message_id="<old@example.com>", body="two"),
            mail(message_id="<new@example.com>", body="three"),
            mail(message_id="<new@example.com>", body="four"),
        ],
    )

    assert stored[0].pk == earlier.pk
    assert stored[1] is stored[2]
    assert [m.status for m in stored[3:]] == ["ignored", "received", "ignored"]
    assert stored[3].duplicate_of == earlier
    assert stored[5].duplicate_of == stored[4]
    assert "received before with different content" in stored[5].error_reason
    assert EmailMessage.objects.count() == 5
    assert bytes(EmailMessage.objects.get(pk=stored[1].pk).raw) == again  # byte for byte


def test_a_batch_threads_a_reply_to_a_message_earlier_in_the_same_batch(
    account: EmailAccount,
) -> None:
    first = mail()
    reply = mail(subject="Re: it", body="Now it beeps.", in_reply_to=message_id_of(first))
    opened, answered = services.messages_ingest_batch(account=account, raws=[first, reply])
    assert answered.ticket == opened.ticket
    assert answered.comment.body == "Now it beeps."
    assert User.objects.filter(email="carol@example.com").count() == 1


def test_the_hourly_limit_counts_the_messages_of_one_batch_in_order(
    account: EmailAccount, settings: Settings
) -> None:
    settings.EMAIL_SENDER_LIMIT_PER_HOUR = 3
    services.message_ingest(account=account, raw=mail(subject="Loop 0"))
    done = services.messages_ingest_batch(
        account=account, raws=[mail(subject=f"Loop {n}") for n in range(1, 5)]
    )
    assert [m.status for m in done] == ["processed", "processed", "ignored", "ignored"]
    assert "more than 3 messages this hour" in done[-1].error_reason


def test_one_failing_message_leaves_the_rest_of_its_batch_processed(
    account: EmailAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = core_services.ticket_create

    def fails_on_boom(**kwargs: object) -> Ticket:
        if kwargs["title"] == "Boom":
            raise RuntimeError("database hiccup")
        return create(**kwargs)

    monkeypatch.setattr(core_services, "ticket_create", fails_on_boom)
    raws = [
        mail(sender="dan@example.com", subject="Boom"),  # creates Dan, then fails
        mail(sender="dan@example.com", subject="Second try"),
        mail(subject="Unrelated"),
    ]
    done = services.messages_ingest_batch(account=account, raws=raws)

    assert [m.status for m in done] == ["failed", "processed", "processed"]
    assert done[0].error_reason == "RuntimeError: database hiccup"
    assert (done[0].attempts, done[1].attempts) == (1, 1)
    assert done[1].ticket.requester.email == "dan@example.com"  # created again, kept
    assert sorted(Ticket.objects.values_list("title", flat=True)) == ["Second try", "Unrelated"]
    received = EventLog.objects.filter(type="email.received")
    assert sorted(int(e.subject_id) for e in received) == [done[1].pk, done[2].pk]


@pytest.mark.parametrize(
    "text",
    [
        "Printer broken.",
        "Thanks!\n\nOn Mon, 1 Jan 2024 at 10:00, Bob <bob@example.org> wrote:\n> old\n> older",
        "\n\nOn Monday you wrote:\n> only quoted",
        (
            "Danke!\n\nAm 01.01.2024 um 10:00 schrieb Bob <bob@example.de>:\n> alt\n\n"
            "On Monday you wrote:\n> older"
        ),
        "Top\n-----Original Message-----\nFrom: x@example.org\nSent: today\n\nold text\n",
        "Fixed it.\n\nBest regards,\nAnn\n\nOn Monday you wrote:\n> x",
        "Sent from my iPhone",
    ],
)
def test_the_reply_text_is_the_first_reply_the_reply_parser_reads(text: str) -> None:
    # Intake reads only as far as the first reply (parsing._FirstReply): the same
    # text as the library's whole read, which finds every reply of the thread.
    whole = EmailReplyParser(languages=parsing.REPLY_LANGUAGES).read(text=text)
    assert parsing.reply_text(text) == (whole.replies[0].body.strip() or text.strip())


def test_a_header_read_twice_is_parsed_once() -> None:
    raw = mail(subject="Printer")
    first, second = parsing.message_from_bytes(raw), parsing.message_from_bytes(raw)
    assert first["Subject"] == "Printer"
    assert first["Subject"] is second["Subject"]  # reused: parsing.POLICY
    assert first.get_content_type() == "text/plain"


def _starts_at_a_line(nodes: Any) -> bool:
    """Whether a parsed pattern can match only at a line start or at a line break."""
    op, value = nodes[0]
    if op == constants.AT:
        return value in {constants.AT_BEGINNING, constants.AT_BEGINNING_LINE}
    if op == constants.LITERAL:
        return bool(value == ord("\n"))
    if op == constants.SUBPATTERN:
        return _starts_at_a_line(value[3])
    if op in {constants.MAX_REPEAT, constants.MIN_REPEAT}:
        return bool(value[0] >= 1) and _starts_at_a_line(value[2])
    if op == constants.BRANCH:
        return all(_starts_at_a_line(branch) for branch in value[1])
    return False


def test_every_quoted_header_pattern_starts_at_a_line() -> None:
    # What lets parsing._at_line_breaks try the header patterns at line breaks only.
    message = reply_parser.EmailMessage(text="x", languages=list(parsing.REPLY_LANGUAGES))
    pattern = message.HEADER_REGEX
    assert _starts_at_a_line(sre_parser.parse(pattern.pattern, pattern.flags).data)
    assert not _starts_at_a_line(sre_parser.parse("a|^b").data)


def test_the_guarded_header_pattern_finds_the_same_headers() -> None:
    message = reply_parser.EmailMessage(text="x", languages=list(parsing.REPLY_LANGUAGES))
    text = (
        "Hi, as I said On Monday you wrote: nothing\nOn Monday Bob wrote:\n> x\n"
        "From: a@example.org\nSent: today\n-----Original Message-----\n"
    )
    whole = [m.groups() for m in message.HEADER_REGEX.finditer(text)]
    guarded = parsing._at_line_breaks(message.HEADER_REGEX)
    assert [m.groups() for m in guarded.finditer(text)] == whole
    assert len(whole) >= 2
