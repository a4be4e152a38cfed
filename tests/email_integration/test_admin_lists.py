"""The mail list at any size: keyset pages, and a search that uses one index for each
kind of term (Message-ID, ticket key, sender address, words of the subject)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from email_integration.admin import EmailMessageAdmin
from email_integration.models import EmailMessage
from tests.email_integration.factories import EmailMessageFactory
from tests.factories import TicketFactory
from tests.list_pages import rows, small_pages, walk

URL = reverse("admin:email_integration_emailmessage_changelist")


def test_the_mail_list_pages_by_keys_newest_first(
    agent_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, EmailMessageAdmin, per_page=3, numbered=2)
    EmailMessageFactory.create_batch(8)

    seen, offsets = walk(agent_client, URL)

    assert seen == list(EmailMessage.objects.order_by("-received_at", "-id"))
    assert max(offsets) <= 3


def test_the_mail_search_finds_by_message_id_ticket_sender_and_subject_words(
    agent_client: Client,
) -> None:
    ticket = TicketFactory()
    printer = EmailMessageFactory(subject="Printer on fire", from_address="carol@example.com")
    vpn = EmailMessageFactory(subject="VPN drops again", from_address="Dave@Example.com")
    linked = EmailMessageFactory(subject="Re: something", ticket=ticket)

    def search(q: str) -> set[EmailMessage]:
        return set(rows(agent_client.get(URL, {"q": q})))

    assert search(f"<{vpn.message_id}>") == set()  # stored without the brackets here
    vpn.message_id = "<abc@mail.example>"
    vpn.save(update_fields=["message_id"])
    assert search("<abc@mail.example>") == {vpn}
    assert search(ticket.key) == {linked}
    assert search("dave@example.com") == {vpn}
    assert search("fire printer") == {printer}
    assert search("drops vpn") == {vpn}
    assert search("on") == set()  # a short word alone has no index to use
