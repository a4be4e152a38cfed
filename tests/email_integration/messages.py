"""Building raw test messages."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.utils import timezone


def mail(
    *,
    sender: str = "Carol Example <carol@example.com>",
    to: str = "help@desk.test",
    subject: str = "Printer on fire",
    body: str = "It smokes since this morning.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: list[str] | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, bytes, str]] = (),
    html: str | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id or make_msgid(
        idstring=uuid.uuid4().hex[:8], domain="example.com"
    )
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, payload, content_type in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(payload, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def message_id_of(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"])


def nested(depth: int) -> bytes:
    """A message of ``depth`` multiparts, each inside the last (2,000 deep: ~139 KB)."""
    head = b"From: carol@example.com\r\nTo: help@desk.test\r\nSubject: Deep\r\n"
    head += b"Message-ID: <deep-%d@example.com>\r\nMIME-Version: 1.0\r\n" % depth
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n)
        for n in range(depth)
    )
    closing = b"".join(b"\r\n--b%d--\r\n" % n for n in reversed(range(depth)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nHello" + closing


def many_parts(count: int) -> bytes:
    """A multipart/mixed message with ``count`` small text parts."""
    head = (
        b"From: carol@example.com\r\nTo: help@desk.test\r\nSubject: Many\r\n"
        b"Message-ID: <many-%d@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n' % count
    )
    parts = b"".join(
        b"--B\r\nContent-Type: text/plain\r\n\r\npart %d\r\n" % n for n in range(count)
    )
    return head + parts + b"--B--\r\n"
