"""``load_data --extras email_integration``: the mail of the loaded tickets that came by mail.

For each loaded ticket whose source is e-mail, through one account made for loads
(``Load data``, address ``desk@load.example``, no inbound protocol: nothing polls it):

- the inbound message that opened it, processed at ``created``;
- one message per public comment: the requester's replies inbound (processed, linked to
  their comment), the agents' answers outbound (sent a few seconds after the comment,
  linked to it), as the intake and ``email_integration.outbound`` would have stored them.

Internal notes are never mailed, as in production. Each message has its Message-ID
(``In-Reply-To`` the ticket's first message), a short raw text with its SHA-256, and the
``ticket`` link; no threads, attachments or sender counts. Tickets from other sources
get no mail (their acknowledgements would be outbound rows alike; left out to keep the
load's size to what the mail lists show: about 1.1 messages per ticket with two
comments per ticket).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from email_integration.models import (
    EmailAccount,
    EmailMessageStatus,
    EmailMessageType,
    InboundProtocol,
    SenderAuth,
)
from nixflow.models import Source
from nixflow.toolkit.loading import LoadBatch, LoadedTicket, LoadRun, copy_rows

ACCOUNT = "Load data"
ADDRESS = "desk@load.example"
COLUMNS = (
    "account_id",
    "message_type",
    "status",
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
    "raw",
    "raw_sha256",
    "error_reason",
    "ticket_id",
    "comment_id",
    "received_at",
    "processed_at",
    "sent_at",
    "attempts",
    "sender_auth",
    "authentication",
)


class MailLoader:
    tables = ("email_integration_emailmessage",)

    def __init__(self, run: LoadRun) -> None:
        self.run = run
        self.account_id = EmailAccount.objects.get_or_create(
            name=ACCOUNT, defaults={"address": ADDRESS, "protocol": InboundProtocol.NONE}
        )[0].pk

    def load(self, batch: LoadBatch) -> Mapping[str, int]:
        written = copy_rows("email_integration_emailmessage", COLUMNS, self.rows(batch))
        return {"mail messages": written}

    def rows(self, batch: LoadBatch) -> Iterator[tuple[Any, ...]]:
        for ticket in batch.tickets:
            if ticket.source == Source.EMAIL:
                yield self.message(ticket, ticket.requester_id, None, ticket.created)
        for comment in batch.comments:
            ticket = comment.ticket
            if ticket.source == Source.EMAIL and not comment.is_internal:
                yield self.message(ticket, comment.author_id, comment.id, comment.created)

    def message(
        self, ticket: LoadedTicket, author: int, comment: int | None, at: datetime
    ) -> tuple[Any, ...]:
        """The first message of the ticket (``comment`` None), or a comment's."""
        run, first = self.run, comment is None
        inbound = author == ticket.requester_id
        sender = run.emails.get(author, ADDRESS) if inbound else ADDRESS
        recipient = ADDRESS if inbound else run.emails.get(ticket.requester_id, "")
        first_id = f"<{ticket.key}.{run.prefix}@mail.load.example>"
        message_id = first_id if first else f"<c{comment}.{run.prefix}@load.example>"
        subject = ticket.title if first else f"Re: [{ticket.key}] {ticket.title}"
        body = f"Loaded mail about {ticket.key}: {ticket.title}\n"
        raw = (
            f"Message-ID: {message_id}\r\nFrom: {sender}\r\nTo: {recipient}\r\n"
            f"Subject: {subject}\r\n\r\n{body}"
        ).encode()
        done = at + timedelta(seconds=2 + 10 * run.rng.random())
        return (
            self.account_id,
            EmailMessageType.INBOUND if inbound else EmailMessageType.OUTBOUND,
            EmailMessageStatus.PROCESSED if inbound else EmailMessageStatus.SENT,
            message_id,
            "" if first else first_id,
            [] if first else [first_id],
            sender,
            run.usernames.get(author, ""),
            [recipient],
            [],
            subject,
            body,
            body if inbound else "",
            "",
            raw,
            hashlib.sha256(raw).hexdigest(),
            "",
            ticket.id,
            comment,
            at,
            done if inbound else None,
            None if inbound else done,
            0 if inbound else 1,
            SenderAuth.DKIM if inbound else SenderAuth.NONE,
            "",
        )

    def finish(self) -> None:
        pass


def loader(run: LoadRun) -> MailLoader:
    return MailLoader(run)
