"""Mail never acts as staff unless its sender is authenticated: a DKIM signature aligned
with From, our own MTA's Authentication-Results, or a reply token of our notification.
Everything else from a staff address is held as suspended and does nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from pytest_django.fixtures import Settings

from email_integration import outbound, reply_tokens, services
from email_integration.models import (
    EmailAccount,
    EmailMessage,
    EmailMessageStatus,
    EmailMessageType,
    SenderAuth,
)
from eventlog.models import EventLog
from nixflow.models import Comment, Role, Ticket, User
from tests.email_integration.dkim_support import Resolver, arc_seal, dkim_sign, publish, rsa_key
from tests.email_integration.messages import mail, message_id_of
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AGENT = "Bob Agent <bob@desk.test>"


@pytest.fixture
def bob(db: None) -> User:
    return UserFactory(username="bob", email="bob@desk.test", role=Role.AGENT)


@pytest.fixture
def opened(account: EmailAccount) -> tuple[Ticket, str]:
    """A ticket Carol opened by mail, and her message's Message-ID."""
    raw = mail()
    message = services.message_ingest(account=account, raw=raw)
    return message.ticket, message_id_of(raw)


def agent_reply(first_id: str, ticket: Ticket, **kwargs: object) -> bytes:
    return mail(
        sender=AGENT,
        subject=f"Re: [{ticket.key}] Printer on fire",
        body="We replaced the toner; please try again.",
        in_reply_to=first_id,
        **kwargs,  # type: ignore[arg-type]
    )


def ingest(account: EmailAccount, raw: bytes) -> EmailMessage:
    return services.message_ingest(account=account, raw=raw)


def assert_held_and_inert(message: EmailMessage, ticket: Ticket) -> None:
    """Suspended with its reason; no comment, no first response, nothing to send."""
    assert message.status == EmailMessageStatus.SUSPENDED
    assert "not authenticated" in message.error_reason
    assert message.comment is None
    assert message.sender_auth == SenderAuth.NONE
    assert not Comment.objects.filter(ticket=ticket, author__username="bob").exists()
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert not EventLog.objects.filter(type="ticket.commented", ticket_key=ticket.key).exists()
    since = EmailMessage.objects.filter(message_type=EmailMessageType.OUTBOUND, pk__gt=message.pk)
    assert not since.exists()
    assert EventLog.objects.filter(type="email.suspended", subject_id=str(message.pk)).exists()


def assert_agent_comment(message: EmailMessage, ticket: Ticket, bob: User, method: str) -> None:
    assert message.status == EmailMessageStatus.PROCESSED, message.error_reason
    assert message.sender_auth == method
    assert message.ticket == ticket
    assert message.comment.author == bob
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None


def test_forged_agent_mail_without_dkim_is_suspended_and_acts_as_nobody(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, first_id = opened
    message = ingest(account, agent_reply(first_id, ticket))

    assert_held_and_inert(message, ticket)
    assert "bob@desk.test is the address of staff user bob" in message.error_reason
    assert "no DKIM signature" in message.error_reason


def test_agent_mail_signed_by_another_domain_is_suspended(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    ticket, first_id = opened
    publish(resolver, domain="evil.test", key=rsa_key("evil"))
    raw = dkim_sign(agent_reply(first_id, ticket), domain="evil.test", key=rsa_key("evil"))

    message = ingest(account, raw)

    assert_held_and_inert(message, ticket)
    assert "dkim=pass d=evil.test, not aligned with desk.test" in message.authentication


def test_a_forged_authentication_results_header_of_a_foreign_authserv_id_is_ignored(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    EmailAccount.objects.filter(pk=account.pk).update(trusted_authserv_id="mx.desk.test")
    account.refresh_from_db()
    ticket, first_id = opened
    forged = "mx.evil.test; dkim=pass header.d=desk.test; dmarc=pass header.from=desk.test"
    raw = agent_reply(first_id, ticket, headers={"Authentication-Results": forged})

    message = ingest(account, raw)

    assert_held_and_inert(message, ticket)
    assert "ignored Authentication-Results of mx.evil.test" in message.authentication


def test_authentication_results_are_never_trusted_without_a_configured_authserv_id(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, first_id = opened
    claimed = "mx.desk.test; dmarc=pass header.from=desk.test"
    message = ingest(
        account, agent_reply(first_id, ticket, headers={"Authentication-Results": claimed})
    )
    assert_held_and_inert(message, ticket)


def test_agent_mail_with_a_valid_aligned_dkim_signature_is_an_agent_comment(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    ticket, first_id = opened
    publish(resolver, domain="desk.test", key=rsa_key())
    raw = dkim_sign(agent_reply(first_id, ticket), domain="desk.test", key=rsa_key())

    message = ingest(account, raw)

    assert_agent_comment(message, ticket, bob, SenderAuth.DKIM)
    assert message.authentication == "dkim=pass d=desk.test, aligned with desk.test"
    assert message.comment.body == "We replaced the toner; please try again."
    assert EventLog.objects.filter(type="ticket.commented", ticket_key=ticket.key).exists()


def test_a_subdomain_signature_is_aligned_unless_dmarc_asks_for_strict_alignment(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    ticket, first_id = opened
    publish(resolver, domain="mail.desk.test", key=rsa_key())
    signed = dkim_sign(agent_reply(first_id, ticket), domain="mail.desk.test", key=rsa_key())
    assert ingest(account, signed).sender_auth == SenderAuth.DKIM

    resolver.records["_dmarc.desk.test"] = b"v=DMARC1; p=reject; adkim=s"
    strict = dkim_sign(agent_reply(first_id, ticket), domain="mail.desk.test", key=rsa_key())
    assert ingest(account, strict).status == EmailMessageStatus.SUSPENDED


def test_a_message_altered_after_signing_is_suspended(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    ticket, first_id = opened
    publish(resolver, domain="desk.test", key=rsa_key())
    signed = dkim_sign(agent_reply(first_id, ticket), domain="desk.test", key=rsa_key())
    altered = signed.replace(b"We replaced the toner", b"Wire 500 EUR to IBAN X")

    message = ingest(account, altered)

    assert_held_and_inert(message, ticket)
    assert "dkim=fail d=desk.test" in message.authentication


def test_a_signature_covering_only_part_of_the_body_is_not_trusted(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    ticket, first_id = opened
    publish(resolver, domain="desk.test", key=rsa_key())
    signed = dkim_sign(
        agent_reply(first_id, ticket), domain="desk.test", key=rsa_key(), length=True
    )

    message = ingest(account, signed + b"Also: wire 500 EUR to IBAN X.\n")

    assert_held_and_inert(message, ticket)
    assert "covers only part of the body (l=)" in message.authentication


def test_a_second_from_header_cannot_borrow_a_colleagues_valid_signature(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], resolver: Resolver
) -> None:
    # DKIM verifies the bottom-most From, the parser reads the topmost: a header added
    # above Bob's genuinely signed mail would otherwise act as Alice, same domain.
    alice = UserFactory(username="alice", email="alice@desk.test", role=Role.AGENT)
    ticket, first_id = opened
    publish(resolver, domain="desk.test", key=rsa_key())
    signed = dkim_sign(agent_reply(first_id, ticket), domain="desk.test", key=rsa_key())

    message = ingest(account, b"From: alice@desk.test\r\n" + signed)

    assert message.status == EmailMessageStatus.SUSPENDED
    assert "not exactly one From header" in message.error_reason
    assert not Comment.objects.filter(ticket=ticket, author__in=[alice, bob]).exists()


def test_our_mtas_authentication_results_pass_makes_an_agent_comment(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    EmailAccount.objects.filter(pk=account.pk).update(trusted_authserv_id="mx.desk.test")
    account.refresh_from_db()
    ticket, first_id = opened
    results = (
        "mx.desk.test; spf=pass smtp.mailfrom=desk.test; "
        "dkim=pass (2048-bit key) header.d=desk.test; dmarc=pass (p=reject) header.from=desk.test"
    )
    message = ingest(
        account, agent_reply(first_id, ticket, headers={"Authentication-Results": results})
    )

    assert_agent_comment(message, ticket, bob, SenderAuth.AUTHENTICATION_RESULTS)
    assert message.authentication == "mx.desk.test: dmarc=pass header.from=desk.test"


def test_our_mtas_spf_pass_alone_does_not_authenticate_from(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    EmailAccount.objects.filter(pk=account.pk).update(trusted_authserv_id="mx.desk.test")
    account.refresh_from_db()
    ticket, first_id = opened
    results = (
        "mx.desk.test; spf=pass smtp.mailfrom=evil.test; dkim=none; "
        "dmarc=fail header.from=desk.test"
    )
    message = ingest(
        account, agent_reply(first_id, ticket, headers={"Authentication-Results": results})
    )
    assert_held_and_inert(message, ticket)
    assert "mx.desk.test did not vouch for desk.test" in message.authentication


def _notification_to(bob: User, ticket: Ticket) -> EmailMessage:
    """The mail our desk sends Bob about the ticket (outbound.queue_mail, as the
    comment notification does), carrying his reply token."""
    stored = outbound.queue_mail(
        ticket=ticket,
        to=bob,
        subject=f"Re: [{ticket.key}] x",
        body="New comment",
        auto_submitted="auto-generated",
    )
    assert stored is not None
    return stored


def test_an_agents_mail_reply_with_a_valid_reply_token_is_an_agent_comment(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, _ = opened
    ours = _notification_to(bob, ticket)
    assert reply_tokens.find([ours.message_id])  # the token rides in our Message-ID

    reply = mail(sender=AGENT, subject="Re: x", body="On it.", in_reply_to=f"<{ours.message_id}>")
    message = ingest(account, reply)

    assert_agent_comment(message, ticket, bob, SenderAuth.REPLY_TOKEN)
    assert message.authentication.startswith(f"reply token of our mail about {ticket.key}")


def test_a_reply_token_in_the_reply_to_plus_address_works_too(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], settings: Settings
) -> None:
    settings.EMAIL_REPLY_TO_TOKENS = True
    ticket, _ = opened
    ours = _notification_to(bob, ticket)
    reply_to = next(
        line for line in bytes(ours.raw).decode().splitlines() if line.startswith("Reply-To:")
    )
    address = reply_to.split()[-1]
    assert address.startswith("help+r-")
    assert address.endswith("@desk.test")

    message = ingest(account, mail(sender=AGENT, to=address, subject="no threading headers"))

    assert_agent_comment(message, ticket, bob, SenderAuth.REPLY_TOKEN)
    assert address not in message.thread.participants


def test_an_expired_reply_token_is_suspended(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str], settings: Settings
) -> None:
    ticket, _ = opened
    ours = _notification_to(bob, ticket)
    later = timezone.now() + timedelta(days=settings.EMAIL_REPLY_TOKEN_DAYS + 1)
    with time_machine.travel(later):
        message = ingest(account, mail(sender=AGENT, in_reply_to=f"<{ours.message_id}>"))
    assert_held_and_inert(message, ticket)
    assert "reply token is expired or not ours" in message.error_reason


def test_a_forged_reply_token_is_suspended(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, _ = opened
    token = reply_tokens.make(ticket_id=ticket.pk, user_id=bob.pk)
    forged = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    message = ingest(account, mail(sender=AGENT, in_reply_to=f"<1.2.{forged}@desk.test>"))
    assert_held_and_inert(message, ticket)
    assert "reply token is expired or not ours" in message.error_reason


def test_a_reply_token_made_for_another_recipient_is_suspended(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, _ = opened
    to_carol = _notification_to(ticket.requester, ticket)
    message = ingest(account, mail(sender=AGENT, in_reply_to=f"<{to_carol.message_id}>"))
    assert_held_and_inert(message, ticket)
    assert "made for another recipient" in message.error_reason


def test_an_unauthenticated_requester_still_comments_as_that_requester(
    account: EmailAccount, opened: tuple[Ticket, str]
) -> None:
    ticket, first_id = opened
    message = ingest(account, mail(body="Still smoking.", in_reply_to=first_id))
    assert message.status == EmailMessageStatus.PROCESSED
    assert message.sender_auth == SenderAuth.NONE
    assert message.comment.author == ticket.requester
    ticket.refresh_from_db()
    assert ticket.first_response_at is None  # a requester's comment is no response


def test_a_forged_flood_cannot_use_up_a_verified_customers_hourly_limit(
    account: EmailAccount, opened: tuple[Ticket, str], resolver: Resolver, settings: Settings
) -> None:
    settings.EMAIL_SENDER_LIMIT_PER_HOUR = 3
    ticket, _ = opened  # Carol's first message: 1 of 3 unauthenticated
    flood = [ingest(account, mail(subject=f"Forged {n}")) for n in range(4)]
    assert [m.status for m in flood] == ["processed", "processed", "ignored", "ignored"]
    assert "(unauthenticated)" in flood[-1].error_reason

    publish(resolver, domain="example.com", key=rsa_key("customer"))
    signed = dkim_sign(
        mail(subject="The real Carol"), domain="example.com", key=rsa_key("customer")
    )
    real = ingest(account, signed)
    assert (real.status, real.sender_auth) == (EmailMessageStatus.PROCESSED, SenderAuth.DKIM)

    ours = _notification_to(ticket.requester, ticket)
    reply = ingest(account, mail(body="Thanks!", in_reply_to=f"<{ours.message_id}>"))
    assert (reply.status, reply.sender_auth) == (
        EmailMessageStatus.PROCESSED,
        SenderAuth.REPLY_TOKEN,
    )
    assert reply.ticket == ticket


def test_an_agent_writing_in_unauthenticated_opens_nothing(
    account: EmailAccount, bob: User
) -> None:
    message = ingest(account, mail(sender=AGENT))
    assert message.status == EmailMessageStatus.SUSPENDED
    assert not Ticket.objects.exists()


def _through_a_forwarder(raw: bytes, resolver: Resolver) -> bytes:
    """Bob's mail as a mailing list on lists.example.org passes it on: it rewrote the
    subject (breaking any signature) and vouches with an ARC seal for what it saw."""
    publish(resolver, domain="lists.example.org", key=rsa_key("list"))
    rewritten = raw.replace(b"Subject: Re:", b"Subject: [support] Re:")
    return arc_seal(
        rewritten,
        domain="lists.example.org",
        key=rsa_key("list"),
        authserv_id="mx.lists.example.org",
        results="dkim=pass header.d=desk.test; dmarc=pass header.from=desk.test",
    )


def test_an_arc_seal_of_a_trusted_forwarder_authenticates(
    account: EmailAccount,
    bob: User,
    opened: tuple[Ticket, str],
    resolver: Resolver,
    settings: Settings,
) -> None:
    settings.EMAIL_TRUSTED_ARC_SEALERS = ["lists.example.org"]
    ticket, first_id = opened
    message = ingest(account, _through_a_forwarder(agent_reply(first_id, ticket), resolver))
    assert_agent_comment(message, ticket, bob, SenderAuth.ARC)
    assert message.authentication == (
        "ARC sealed by lists.example.org: dmarc=pass header.from=desk.test"
    )


def test_an_arc_seal_of_a_forwarder_we_do_not_trust_is_suspended(
    account: EmailAccount,
    bob: User,
    opened: tuple[Ticket, str],
    resolver: Resolver,
    settings: Settings,
) -> None:
    settings.EMAIL_TRUSTED_ARC_SEALERS = ["other-list.example.net"]
    ticket, first_id = opened
    message = ingest(account, _through_a_forwarder(agent_reply(first_id, ticket), resolver))
    assert_held_and_inert(message, ticket)
    assert "ARC sealed by lists.example.org, not a trusted sealer" in message.authentication


def test_a_broken_arc_chain_is_suspended(
    account: EmailAccount,
    bob: User,
    opened: tuple[Ticket, str],
    resolver: Resolver,
    settings: Settings,
) -> None:
    settings.EMAIL_TRUSTED_ARC_SEALERS = ["lists.example.org"]
    ticket, first_id = opened
    sealed = _through_a_forwarder(agent_reply(first_id, ticket), resolver)
    message = ingest(account, sealed.replace(b"We replaced the toner", b"Wire 500 EUR"))
    assert_held_and_inert(message, ticket)
    assert "ARC chain did not validate" in message.authentication


def test_a_reply_token_never_reaches_another_recipient(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    """Our Message-IDs carry tokens: the threading headers of Carol's mail must not name
    the mail we sent Bob, or Carol could answer as Bob with his token."""
    ticket, _ = opened
    to_bob = _notification_to(bob, ticket)
    to_carol = _notification_to(ticket.requester, ticket)

    carols_copy = bytes(to_carol.raw).decode()
    found = [reply_tokens.verify(t) for t in reply_tokens.find([carols_copy])]
    assert {t.user_id for t in found if t} == {ticket.requester.pk}
    assert to_bob.message_id not in carols_copy

    ids = " ".join(
        f"<{i}>" for i in [to_carol.in_reply_to, *to_carol.references, to_carol.message_id]
    )
    forged = ingest(account, mail(sender=AGENT, headers={"References": ids}))
    assert_held_and_inert(forged, ticket)


def test_the_senders_own_token_counts_wherever_it_is_among_the_references(
    account: EmailAccount, bob: User, opened: tuple[Ticket, str]
) -> None:
    ticket, _ = opened
    to_carol = _notification_to(ticket.requester, ticket)
    to_bob = _notification_to(bob, ticket)
    # A client that kept a colleague's id ahead of ours (forwarded to Bob, say).
    ids = f"<{to_carol.message_id}> <{to_bob.message_id}>"
    message = ingest(account, mail(sender=AGENT, body="Looking.", headers={"References": ids}))
    assert_agent_comment(message, ticket, bob, SenderAuth.REPLY_TOKEN)
