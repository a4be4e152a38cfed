"""Serving stored files (ticket, article, form and mail attachments) so that no browser
ever runs them as part of our site.

Every file people upload or mail to the desk is served from our own origin. Were it
shown inline with the sender's content type, an HTML, SVG or JavaScript file would run
with our origin's cookies and past our Content-Security-Policy. So ``attachment_response``
always answers with:

- ``Content-Disposition: attachment``: the browser saves the file and renders nothing;
  the name as an ASCII ``filename="…"`` fallback *and* an RFC 6266 / RFC 5987
  ``filename*=UTF-8''…`` with the real name (control characters, which could break the
  header, removed from both);
- ``X-Content-Type-Options: nosniff``: the browser keeps the type we send;
- the stored content type only when it is on a list of inert types (images other than
  SVG, PDF, plain text, archives, office documents, audio and video, mail); anything
  else (HTML, SVG, JavaScript, XML, unknown types) as ``application/octet-stream``.

Every app serves files through this one function, so the rule cannot differ between them.
"""

from __future__ import annotations

import io
import re
import unicodedata
from typing import IO
from urllib.parse import quote

from django.http import FileResponse

OCTET_STREAM = "application/octet-stream"

# Types no browser executes or renders as a document with scripts. Any type not here is
# served as OCTET_STREAM: HTML, SVG, XML of any kind, JavaScript, and whatever is new.
SAFE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/bmp",
        "image/tiff",
        "image/avif",
        "image/heic",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "application/pdf",
        "text/plain",
        "text/csv",
        OCTET_STREAM,
        "application/zip",
        "application/gzip",
        "application/x-tar",
        "application/x-7z-compressed",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "video/mp4",
        "video/webm",
        "message/rfc822",
    }
)
_CHARSET = re.compile(r"""charset\s*=\s*"?([A-Za-z0-9._-]{1,40})"?""", re.IGNORECASE)


def served_content_type(content_type: str) -> str:
    """The Content-Type a stored file is served with: its own when inert, else
    ``application/octet-stream``. Text keeps a well-formed charset, nothing else of the
    stored parameters."""
    essence, _, parameters = (content_type or "").partition(";")
    essence = essence.strip().lower()
    if essence not in SAFE_TYPES:
        return OCTET_STREAM
    charset = _CHARSET.search(parameters) if essence.startswith("text/") else None
    return f"{essence}; charset={charset.group(1)}" if charset else essence


def content_disposition(filename: str) -> str:
    """``attachment`` with the name twice: an ASCII fallback for old clients, and the
    exact name, percent-encoded UTF-8 (RFC 6266 section 4.3)."""
    name = "".join(ch for ch in filename if unicodedata.category(ch)[0] != "C").strip()
    name = name or "attachment"
    # Accents dropped (é → e), every other character outside printable ASCII, and the
    # quote and backslash of the quoted string, as "_".
    decomposed = unicodedata.normalize("NFKD", name)
    fallback = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", fallback).strip() or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def attachment_response(
    file: IO[bytes] | bytes, *, filename: str, content_type: str
) -> FileResponse:
    """A download of ``file`` (an open binary file, or bytes) named ``filename``, that
    browsers save and never render (see the module docstring)."""
    body = io.BytesIO(file) if isinstance(file, bytes) else file
    response = FileResponse(body, content_type=served_content_type(content_type))
    response["Content-Disposition"] = content_disposition(filename)
    response["X-Content-Type-Options"] = "nosniff"
    return response
