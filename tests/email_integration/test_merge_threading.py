"""Mail after a merge: a reply to a merged ticket's thread, by In-Reply-To, References,
the subject token or a reply token, lands in the ticket it was merged into (chains
followed), through the same inbound path as any message."""

from __future__ import annotations

import pytest

from email_integration import reply_tokens, services
from email_integration.models import EmailAccount, EmailMessage, EmailMessageStatus
from nixflow.models import Comment, Ticket, User
from nixflow.services.merge import ticket_merge
from tests.email_integration.messages import mail, message_id_of
from tests.factories import TicketFactory

pytestmark = pytest.mark.django_db


def ingest(account: EmailAccount, raw: bytes) -> EmailMessage:
    return services.message_ingest(account=account, raw=raw)


@pytest.fixture
def merged(account: EmailAccount, agent: User) -> tuple[Ticket, Ticket, str]:
    """Carol's mail opened a ticket (the source), merged into an older one (the target)
    of another requester; the source's first Message-ID."""
    target = TicketFactory(title="Printers down")
    raw = mail()
    source = ingest(account, raw).ticket
    ticket_merge(sources=[source], target=target, actor=agent)
    return source, target, message_id_of(raw)


def _assert_landed(message: EmailMessage, target: Ticket, body: str) -> None:
    assert message.status == EmailMessageStatus.PROCESSED, message.error_reason
    assert message.ticket == target
    assert message.comment.ticket == target
    assert message.comment.body == body
    assert message.thread.ticket == target


def test_a_reply_by_in_reply_to_lands_in_the_target(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    source, target, first_id = merged
    reply = ingest(
        account, mail(subject="Re: Printer on fire", body="Still on fire.", in_reply_to=first_id)
    )
    _assert_landed(reply, target, "Still on fire.")
    assert not Comment.objects.filter(ticket=source).exists()
    assert Ticket.objects.count() == 2  # no new ticket


def test_a_reply_by_references_lands_in_the_target(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    _, target, first_id = merged
    reply = ingest(account, mail(subject="x", body="Hello", references=["<a@b>", first_id]))
    _assert_landed(reply, target, "Hello")


def test_a_reply_by_the_subject_token_lands_in_the_target(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    source, target, _ = merged
    reply = ingest(account, mail(subject=f"Re: [{source.key}] Printer on fire", body="Token"))
    _assert_landed(reply, target, "Token")


def test_a_subject_token_from_a_stranger_still_opens_a_new_ticket(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    source, target, _ = merged
    other = ingest(account, mail(sender="mallory@evil.test", subject=f"[{source.key}] hi"))
    assert other.ticket not in (source, target)
    assert not target.watchers.filter(user__email="mallory@evil.test").exists()


def test_a_reply_token_of_the_source_lands_in_the_target(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    source, target, _ = merged
    token = reply_tokens.make(ticket_id=source.pk, user_id=source.requester_id)
    reply = ingest(
        account,
        mail(
            subject="no threading headers",
            body="By token",
            to=reply_tokens.reply_address(account.address, token),
        ),
    )
    _assert_landed(reply, target, "By token")


def test_chains_are_followed(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str], agent: User
) -> None:
    _, target, first_id = merged
    final = TicketFactory(title="All printers")
    ticket_merge(sources=[target], target=final, actor=agent)
    reply = ingest(account, mail(body="Chained", in_reply_to=first_id))
    _assert_landed(reply, final, "Chained")


def test_someone_copied_on_the_source_becomes_a_watcher_of_the_target(
    account: EmailAccount, agent: User
) -> None:
    target = TicketFactory()
    raw = mail(to="help@desk.test, dave@example.com")
    source = ingest(account, raw).ticket
    ticket_merge(sources=[source], target=target, actor=agent)
    reply = ingest(
        account, mail(sender="dave@example.com", body="Me too", in_reply_to=message_id_of(raw))
    )
    _assert_landed(reply, target, "Me too")
    assert target.watchers.filter(user__email="dave@example.com").exists()


def test_the_merged_requester_sees_the_target_and_its_replies(
    account: EmailAccount, merged: tuple[Ticket, Ticket, str]
) -> None:
    source, target, first_id = merged
    assert target.watchers.filter(user=source.requester).exists()
    ingest(account, mail(body="Any news?", in_reply_to=first_id))
    bodies = list(target.comments.values_list("body", flat=True))
    assert "Any news?" in bodies
