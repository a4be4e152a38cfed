"""Reading mail as it really arrives: any charset, broken MIME, missing headers.

Every accessor here degrades instead of raising: a header that doesn't parse is read
raw, a part in an unknown charset is decoded as UTF-8 with replacement characters, a
part that can't be decoded at all is skipped and noted in ``defects``. Only the
pipeline decides what to do with a message; this module just reads it.
"""

from __future__ import annotations

import email
import email.policy
import functools
import hashlib
import html
import re
import time
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser

import nh3
from django.conf import settings
from mailparser_reply import EmailReplyParser
from mailparser_reply import parser as reply_parser

MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
SUBJECT_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|vs|antw|rif|tr)\s*(\[\d+\])?\s*:\s*)+", re.I)
REPLY_LANGUAGES = ["en", "de", "fr", "es", "nl", "it", "pl", "sv"]
# Tags and attributes that survive in stored mail HTML; everything else (scripts, event
# handlers, styles, forms, iframes) is removed, and links keep only safe schemes.
HTML_TAGS = {
    "a", "b", "blockquote", "br", "code", "div", "em", "h1", "h2", "h3", "h4", "hr", "i",
    "img", "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
HTML_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "td": {"colspan"}}
URL_SCHEMES = {"http", "https", "mailto", "cid"}


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes
    content_id: str = ""

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.payload).hexdigest()


@dataclass
class ParsedMessage:
    message: EmailMessage
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_address: str = ""
    from_name: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        return header_text(self.message, name)

    @property
    def reply_text(self) -> str:
        """The new text, without quoted history and signature; the whole text when the
        parser finds nothing else."""
        return reply_text(self.text)

    @property
    def safe_html(self) -> str:
        return sanitize_html(self.html) if self.html else ""


class _ReusedHeaders(HeaderRegistry):
    """The header registry of ``email.policy.default``, remembering recent headers.

    That policy builds a header object (a full RFC 5322 parse) each time a header is
    read, and the library reads a part's Content-Type again for every question asked
    of it (``get_content_maintype``, ``get_content``, ``is_multipart`` in the parser):
    about ten parses of one header a message, a tenth of processing a message.
    Header objects are immutable strings, so an equal header is reused.
    """

    @functools.lru_cache(maxsize=512)  # noqa: B019 -- one module-level instance, never freed
    def __call__(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)


POLICY = email.policy.default.clone(header_factory=_ReusedHeaders())


def message_from_bytes(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=POLICY)


def header_text(message: Message, name: str) -> str:
    """A header's decoded text, or its raw text when it doesn't parse; "" when absent."""
    try:
        value = message.get(name)
    except Exception:  # a malformed header: the modern policy raises while parsing it
        value = None
        for key, raw_value in message.raw_items():
            if key.lower() == name.lower():
                value = raw_value
                break
    if value is None:
        return ""
    return " ".join(str(value).split())


def message_ids(value: str) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, without brackets."""
    found = MESSAGE_ID.findall(value or "")
    if not found and value and "@" in value and " " not in value.strip():
        found = [value.strip().strip("<>")]  # a bare id without brackets
    return found


def first_message_id(raw: bytes) -> str:
    """The Message-ID of a raw message, read from its headers only (cheap)."""
    try:
        headers = email.message_from_bytes(header_block(raw))
        ids = message_ids(str(headers.get("Message-ID", "")))
    except Exception:
        return ""
    # Stored as text by the store step, which must never fail on content: no NUL.
    return ids[0].replace("\x00", "")[:998] if ids else ""


def header_block(raw: bytes) -> bytes:
    """The header section of a raw message (up to the first empty line)."""
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]


def conversation_keys(raw: bytes, *, subject_token: re.Pattern[str]) -> set[str]:
    """What ties a message to others, read from its headers only (cheap): its own and
    its referenced Message-IDs, its sender's address, and the [NF-n] token of its
    subject. Messages sharing a key belong to one conversation or one sender."""
    try:
        # The legacy policy: raw header strings, no header objects (a third of the cost).
        message = email.message_from_bytes(header_block(raw))
        keys = {
            f"id:{i[:998]}"
            for name in ("Message-ID", "In-Reply-To", "References")
            for i in message_ids(str(message.get(name, "")))
        }
        address = parseaddr(str(message.get("From", "")))[1].lower()[:320]
        subject = str(message.get("Subject", ""))
        if "=?" in subject:  # an RFC 2047 encoded word may hide the token
            subject = str(make_header(decode_header(subject)))
        token = subject_token.search(" ".join(subject.split()))
    except Exception:  # keys only group work; processing reads the message properly
        return set()
    if "@" in address:
        keys.add(f"from:{address}")
    if token:
        keys.add(f"ticket:{token.group(1).upper()}")
    return keys


def normalize_subject(subject: str) -> str:
    return SUBJECT_PREFIX.sub("", subject or "").strip()


def _addresses(message: Message, name: str) -> list[str]:
    text = header_text(message, name)
    return [addr.lower() for _, addr in getaddresses([text]) if "@" in addr]


def _decode_part(part: EmailMessage, defects: list[str]) -> str | None:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, ValueError, AssertionError, KeyError) as error:
        # decode=True gives a leaf part's bytes (None for a multipart, never a Message).
        payload = part.get_payload(decode=True)
        defects.append(f"part {part.get_content_type()} decoded leniently ({error})")
        return payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    if isinstance(content, bytes):
        return content.decode("utf-8", errors="replace")
    return content if isinstance(content, str) else None


def _filename(part: Message, index: int) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
    name = safe_filename(name)
    if not name:
        subtype = part.get_content_subtype() or "bin"
        name = f"attachment-{index}.{subtype[:10]}"
    return name


def safe_filename(name: str) -> str:
    """A name safe on any file system: no path, no control characters, at most 150."""
    name = name.replace("\\", "/").split("/")[-1]
    name = re.sub(r"[\x00-\x1f\x7f<>:\"|?*]", "_", name).strip(" .")
    return name[-150:]


class ParseLimitExceededError(Exception):
    """A message too deep, with too many parts, or too slow to read: kept as failed."""


_BOUNDARY = re.compile(rb'boundary\s*=\s*(?:"([^"\r\n]*)"|([^;\s]+))', re.IGNORECASE)
_CONTENT_TYPE = re.compile(rb"content-type\s*:\s*([\w.+-]+/[\w.+-]+)", re.IGNORECASE)


def _entity_type(header_lines: list[bytes]) -> tuple[bytes, bytes]:
    """(content type, boundary) of one header block, lowercased type; b"" when absent."""
    text = b" ".join(line.strip() for line in header_lines)
    match = _CONTENT_TYPE.search(text)
    if match is None:
        return b"", b""
    boundary = _BOUNDARY.search(text, match.end())
    found = (boundary.group(1) or boundary.group(2) or b"") if boundary else b""
    return match.group(1).lower(), found


def structure_problem(raw: bytes, *, max_depth: int, max_parts: int) -> str:
    """Why a message's MIME structure is over the limits, or "" when it is not.

    Python's parser reads nested multiparts through one generator per level, so every
    line costs as much as the nesting is deep: 2,000 levels took seconds and then
    overflowed the stack, 20,000 parts half a minute. This pass reads the raw bytes
    once (header blocks line by line, bodies only where a line starts with ``--``),
    keeping only a stack of open boundaries (and enclosed ``message/rfc822`` levels),
    and stops at the first limit crossed, before that parser ever sees the message.
    Depth counts multipart and enclosed-message levels; parts count every entity, the
    message itself included.
    """
    stack: list[bytes] = []  # open levels: a multipart's boundary, or b"" for message/*
    parts, position = 0, 0
    header: list[bytes] | None = []  # collecting an entity's header block, else None
    while position < len(raw):
        if header is None:  # in a body: jump to the next line that could be a boundary
            start = _next_dash_line(raw, position) if stack else -1
            if start == -1:
                return ""  # no open multipart left, or no boundary: nothing more nests
            newline = raw.find(b"\n", start)
            position = len(raw) if newline == -1 else newline + 1
            if _delimit(stack, raw[start:position].rstrip()):
                header = []
            continue
        end = raw.find(b"\n", position)
        end = len(raw) if end == -1 else end
        line, position = raw[position:end], end + 1
        if line.strip():
            header.append(line)
            continue
        parts += 1
        if parts > max_parts:
            return f"more than {max_parts} MIME parts (limit EMAIL_MAX_MIME_PARTS)"
        header = _open(stack, header)
        if len(stack) > max_depth:
            return f"MIME nesting deeper than {max_depth} (limit EMAIL_MAX_MIME_DEPTH)"
    return ""


def _next_dash_line(raw: bytes, position: int) -> int:
    """Where the next line starting with ``--`` begins, at or after ``position``; -1."""
    if raw.startswith(b"--", position):
        return position
    found = raw.find(b"\n--", position)
    return -1 if found == -1 else found + 1


def _open(stack: list[bytes], header: list[bytes]) -> list[bytes] | None:
    """Enter an entity whose header block ended: a multipart or an enclosed message
    opens a level. [] when the next lines are headers again (an enclosed message's)."""
    content_type, boundary = _entity_type(header)
    if content_type.startswith(b"multipart/") and boundary:
        stack.append(boundary)
    elif content_type in {b"message/rfc822", b"message/global"}:
        stack.append(b"")
        return []
    return None


def _delimit(stack: list[bytes], line: bytes) -> bool:
    """Close the levels a boundary line ends; True when it starts a new part."""
    for level in range(len(stack) - 1, -1, -1):
        boundary = stack[level]
        if not boundary:
            continue
        if line == b"--" + boundary:
            del stack[level + 1 :]
            return True
        if line == b"--" + boundary + b"--":
            del stack[level:]
            return False
    return False


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise ParseLimitExceededError(
            f"reading the message took longer than {settings.EMAIL_MAX_PARSE_SECONDS} s "
            "(limit EMAIL_MAX_PARSE_SECONDS)"
        )


def parse(raw: bytes, *, deadline: float | None = None) -> ParsedMessage:
    """Everything the pipeline needs from a raw message; never raises on bad input,
    except ``ParseLimitExceededError`` once ``deadline`` (a ``time.monotonic()``) has
    passed. Check ``structure_problem`` first: it keeps the parser from deep nesting."""
    message = message_from_bytes(raw)
    _check_deadline(deadline)
    parsed = ParsedMessage(message=message)
    parsed.defects.extend(str(d) for d in message.defects)
    ids = message_ids(header_text(message, "Message-ID"))
    parsed.message_id = ids[0][:998] if ids else ""
    reply_ids = message_ids(header_text(message, "In-Reply-To"))
    parsed.in_reply_to = reply_ids[0][:998] if reply_ids else ""
    parsed.references = [i[:998] for i in message_ids(header_text(message, "References"))]
    name, address = parseaddr(header_text(message, "From"))
    parsed.from_name, parsed.from_address = name[:255], address.lower()[:320]
    parsed.to = _addresses(message, "To")
    parsed.cc = _addresses(message, "Cc")
    parsed.subject = header_text(message, "Subject")

    texts: list[str] = []
    htmls: list[str] = []
    index = 0
    for part in message.walk():
        if part.is_multipart():
            continue
        index += 1
        _check_deadline(deadline)
        content_type = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        if disposition != "attachment" and content_type in {"text/plain", "text/html"}:
            content = _decode_part(part, parsed.defects)
            if content is not None:
                (texts if content_type == "text/plain" else htmls).append(content)
            continue
        if content_type in {"message/delivery-status", "text/rfc822-headers"}:
            continue
        payload = _payload(part, parsed.defects)
        if payload is None:
            continue
        content_id = message_ids(header_text(part, "Content-ID"))
        parsed.attachments.append(
            ParsedAttachment(
                filename=_filename(part, index),
                content_type=content_type[:255],
                payload=payload,
                content_id=content_id[0] if content_id else "",
            )
        )
    parsed.html = "\n".join(htmls)
    parsed.text = "\n".join(texts) if texts else html_to_text(parsed.html)
    _check_deadline(deadline)
    _without_nul(parsed)
    return parsed


def _without_nul(parsed: ParsedMessage) -> None:
    """PostgreSQL text cannot hold NUL; mail can. Replace it, visibly."""
    for name in (
        "message_id",
        "in_reply_to",
        "from_address",
        "from_name",
        "subject",
        "text",
        "html",
    ):
        setattr(parsed, name, getattr(parsed, name).replace("\x00", "\ufffd"))
    parsed.references = [r.replace("\x00", "") for r in parsed.references]
    parsed.to = [a.replace("\x00", "") for a in parsed.to]
    parsed.cc = [a.replace("\x00", "") for a in parsed.cc]
    for attachment in parsed.attachments:
        attachment.filename = attachment.filename.replace("\x00", "_")


def _payload(part: Message, defects: list[str]) -> bytes | None:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        # The parser attaches the enclosed message as a one-item list.
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes()
        return None
    try:
        payload = part.get_payload(decode=True)
    except Exception as error:
        defects.append(f"part {part.get_content_type()} skipped: {error}")
        return None
    # decode=True gives a leaf part's bytes (parse() passes leaves only), never a Message.
    return payload if isinstance(payload, bytes) else None


class _FirstReply(reply_parser.EmailMessage):
    """mailparser_reply's message, read only as far as its first reply.

    ``read()`` finds every quoted header of the whole text (one large regex) and cuts
    out each reply's signature and disclaimers; intake keeps only the first reply, so
    ``first_reply`` stops at the header that ends it: the same reply, read the same way
    (``read().replies[0]``), without reading the quoted history behind it.
    """

    def first_reply(self) -> reply_parser.EmailReply:
        current, previous = 0, ""
        for match in self.HEADER_REGEX.finditer(self.text):
            for header in filter(None, match.groups()):  # as read() flattens findall()
                position = self.text.find(header, current + 1 if current > 0 else current)
                content = self.text[current:position]
                current, previous_header, previous = max(position, 0), previous, header
                if content.strip():
                    return self._reply(previous_header, content)
        return self._reply(previous, self.text[current:])

    def _reply(self, header: str, content: str) -> reply_parser.EmailReply:
        disclaimers, signatures = self._process_signatures_disclaimers(content)
        return reply_parser.EmailReply(
            headers=header, content=content, signatures=signatures, disclaimers=disclaimers
        )


@functools.lru_cache(maxsize=8)
def _at_line_breaks(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """``pattern``, tried only where a line starts or breaks.

    Each of the library's header patterns starts at the start of a line (``^``) or at
    a line break (``\\n``; a test checks this of every one), but the regex engine
    tries all twenty-odd of them at every character of the text: the slowest step of
    reading a message. A cheap guard in front fails the other positions first (the
    matches, and their groups, are the same; about five times faster).
    """
    return re.compile(rf"(?:(?<=\n)|\A|(?=\n))(?:{pattern.pattern})", pattern.flags)


# The languages as the library's parser normalises them (it drops those it lacks).
_REPLY_LANGUAGES = EmailReplyParser(languages=REPLY_LANGUAGES).languages


@functools.cache
def _reply_patterns() -> dict[str, re.Pattern[str]]:
    """The library's patterns for our languages, built once: it builds them again for
    every message (forty joins of its language tables), and they never change."""
    template = reply_parser.EmailMessage(text="", languages=list(_REPLY_LANGUAGES))
    return {
        "_header_regex": _at_line_breaks(template.HEADER_REGEX),
        "_disclaimers_regex": template.DISCLAIMERS_REGEX,
        "_signature_regex": template.SIGNATURE_REGEX,
    }


def reply_text(text: str) -> str:
    if not text.strip():
        return ""
    try:
        languages = list(_REPLY_LANGUAGES)
        reply = _FirstReply(text=text, languages=languages, **_reply_patterns()).first_reply()
    except Exception:
        return text.strip()
    return reply.body.strip() or text.strip()


def sanitize_html(value: str) -> str:
    return nh3.clean(
        value,
        tags=HTML_TAGS,
        attributes=HTML_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


class _TextExtractor(HTMLParser):
    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "blockquote"})
    SKIP = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(value: str) -> str:
    if not value:
        return ""
    extractor = _TextExtractor()
    try:
        extractor.feed(value)
        extractor.close()
    except Exception:
        return html.unescape(re.sub(r"<[^>]+>", " ", value))
    text = "".join(extractor.parts)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()
