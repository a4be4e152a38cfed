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

Files in S3-compatible object storage (``STORAGE_URL``, nixflow/platform/storage.py) are
either streamed through with the same headers, chunk by chunk from S3's answer (never
read whole into memory), or, when the URL says ``?presign=``, answered with a 302 to a
presigned GET URL valid that many seconds. The caller has checked the permission and
opened the file (a missing object is its 404) before either; the presigned URL carries
our Content-Disposition and safe Content-Type as ``response-content-disposition`` and
``response-content-type``, which S3 answers with, so the file comes as inert a download
from the bucket's origin as from ours (S3 cannot add ``nosniff``; the attachment
disposition and a type from the list are what keep browsers from rendering it).

Given the ``request``, a streamed download answers one byte range (RFC 9110 section 14):
``Range: bytes=a-b``, ``bytes=a-`` or ``bytes=-n`` gets ``206 Partial Content`` with
``Content-Range`` (from S3, the object is fetched with that range: only those bytes
travel), a range starting past the end ``416`` with ``Content-Range: bytes */size``, and
anything else (several ranges, another unit, a malformed header, an empty file, an
``If-Range`` that does not name the file's current ETag) the whole file with 200. Every
answer says ``Accept-Ranges: bytes`` and carries a strong ``ETag`` (S3's own; on disk,
from the file's size and modification time; for bytes, from their SHA-256), which
browsers need before they resume a download. The caller's permission check has run
before any of it; a presigned redirect leaves ranges to S3.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import IO, Any, Final
from urllib.parse import quote

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.http.response import HttpResponseBase

OCTET_STREAM = "application/octet-stream"
# Chunks read from S3 and written to the client while streaming an object through.
STREAM_CHUNK_BYTES = 256 * 1024

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
    file: IO[bytes] | bytes,
    *,
    filename: str,
    content_type: str,
    request: HttpRequest | None = None,
) -> HttpResponseBase:
    """A download of ``file`` (an open binary file, or bytes) named ``filename``, that
    browsers save and never render (see the module docstring). Call it after the
    permission check: for a file in object storage it may answer with a redirect to a
    presigned URL, which anyone holding it can use until it expires.

    Pass a stored file as ``field_file.open("rb")`` returns it (the FieldFile): that is
    what lets a file in object storage be streamed or redirected; any other file object
    is read through as it is. Pass the ``request`` to answer its ``Range`` header (206,
    416); without it the whole file is sent, as to a client that asked for no range."""
    disposition = content_disposition(filename)
    served = served_content_type(content_type)
    s3 = _s3_module(file)
    response: HttpResponseBase
    if s3 is not None and isinstance(file, FieldFile):
        storage = file.storage
        if getattr(storage, "redirect_downloads", False):
            return _presigned_redirect(file, storage, disposition=disposition, served=served)
        response = _object_response(file, request, served=served, client_error=s3.ClientError)
    else:
        response = _local_response(file, request, served=served)
    response["Content-Disposition"] = disposition
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- byte ranges --------------------------------------------------------------------------
@dataclass(frozen=True)
class ByteRange:
    """The bytes ``first`` to ``last`` (both included) of a file of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


class _Unsatisfiable:
    """A range that starts past the end of the file: answered 416."""


UNSATISFIABLE: Final = _Unsatisfiable()
_RANGE = re.compile(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", re.IGNORECASE)
# Positions longer than this are past the end of any file (and Python refuses to turn
# digit strings of thousands of characters into numbers).
_MAX_DIGITS = 18


def parse_range(header: str, size: int) -> ByteRange | _Unsatisfiable | None:
    """The one range a ``Range`` header asks of a file of ``size`` bytes: a ByteRange,
    UNSATISFIABLE (answer 416), or None, meaning serve the whole file with 200: several
    ranges (which would need a multipart answer), another unit, a malformed header, or
    an empty file (RFC 9110 lets a server ignore any Range)."""
    match = _RANGE.fullmatch(header)
    if match is None or size == 0:
        return None
    first, last = match.groups()
    if not first:
        return _suffix(last, size) if last else None  # "bytes=-" says nothing
    start = _position(first)
    end = _position(last) if last else size - 1
    if last and end < start:
        return None  # invalid (RFC 9110 section 14.1.1): ignored
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, min(end, size - 1), size)


def _suffix(digits: str, size: int) -> ByteRange | _Unsatisfiable:
    """``bytes=-n``: the last n bytes (the whole file when it is shorter)."""
    suffix = _position(digits)
    if suffix == 0:
        return UNSATISFIABLE
    return ByteRange(max(size - suffix, 0), size - 1, size)


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


def _wanted(
    request: HttpRequest | None, *, size: int, etag: str | None
) -> ByteRange | _Unsatisfiable | None:
    """What ``request`` asks of a file of ``size`` bytes whose ETag is ``etag``."""
    if request is None or request.method != "GET":
        return None  # Range means something for GET only
    header = request.headers.get("Range")
    if not header:
        return None
    if_range = request.headers.get("If-Range")
    # If-Range: the range only when the file is still the one the client has a part of,
    # which only a strong ETag can say (a date there: send the whole file).
    if if_range is not None and (etag is None or if_range.strip() != etag):
        return None
    return parse_range(header, size)


def _range_headers(response: HttpResponseBase, *, etag: str | None) -> None:
    response["Accept-Ranges"] = "bytes"
    if etag:
        response["ETag"] = etag


def _unsatisfiable(*, size: int, served: str, etag: str | None) -> HttpResponse:
    response = HttpResponse(status=416, content_type=served)
    response["Content-Range"] = f"bytes */{size}"
    _range_headers(response, etag=etag)
    return response


class _Slice:
    """``length`` bytes of ``file`` from where it stands, read as the response asks."""

    def __init__(self, file: IO[bytes], length: int) -> None:
        self.file = file
        self.left = length

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        chunk = self.file.read(self.left if size < 0 else min(size, self.left))
        self.left -= len(chunk)
        return chunk

    def close(self) -> None:
        self.file.close()


# --- files on disk, other file objects and bytes ---------------------------------------
def _local_response(
    file: IO[bytes] | bytes, request: HttpRequest | None, *, served: str
) -> HttpResponseBase:
    body: IO[bytes] = io.BytesIO(file) if isinstance(file, bytes) else file
    facts = _local_facts(file, body) if request is not None else None
    if facts is None:
        return FileResponse(body, content_type=served)
    size, etag = facts
    wanted = _wanted(request, size=size, etag=etag)
    response: HttpResponseBase
    if wanted is UNSATISFIABLE:
        body.close()
        return _unsatisfiable(size=size, served=served, etag=etag)
    if isinstance(wanted, ByteRange):
        body.seek(wanted.first)
        response = FileResponse(_Slice(body, wanted.length), content_type=served, status=206)
        response["Content-Length"] = str(wanted.length)
        response["Content-Range"] = wanted.content_range
    else:
        response = FileResponse(body, content_type=served)
    _range_headers(response, etag=etag)
    return response


def _local_facts(file: IO[bytes] | bytes, body: IO[bytes]) -> tuple[int, str | None] | None:
    """The size and strong ETag of what is served, or None when ranges cannot be cut
    from it (a stream that cannot seek)."""
    if isinstance(file, bytes):
        return len(file), f'"{hashlib.sha256(file).hexdigest()[:32]}"'
    try:
        seekable = body.seekable()
    except (AttributeError, ValueError):
        seekable = False
    if not seekable:
        return None
    try:
        stat = os.fstat(body.fileno())
    except (AttributeError, OSError, ValueError):
        # An in-memory file: its length, and no validator.
        here = body.tell()
        size = body.seek(0, io.SEEK_END)
        body.seek(here)
        return size, None
    # Stored files are never rewritten in place (a new upload gets a new name), so size
    # and modification time name one content.
    return stat.st_size, f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'


def _s3_module(file: object) -> Any:
    """django-storages' S3 module when ``file`` (a FieldFile, as ``field_file.open()``
    returns) lives in S3, else None. The module is imported only where S3 is in use, so a
    deployment on local disk never pays for importing boto3 here."""
    s3 = sys.modules.get("storages.backends.s3")
    storage = getattr(file, "storage", None) if isinstance(file, FieldFile) else None
    return s3 if s3 is not None and isinstance(storage, s3.S3Storage) else None


def _presigned_redirect(
    file: FieldFile, storage: Any, *, disposition: str, served: str
) -> HttpResponseRedirect:
    file.close()  # opened by the caller to learn that the object exists; nothing read
    url = storage.url(
        file.name,
        parameters={
            "ResponseContentDisposition": disposition,
            "ResponseContentType": served,
            "ResponseCacheControl": "private, no-store",
        },
        expire=storage.querystring_expire,
    )
    response = HttpResponseRedirect(url)
    # The URL is a credential until it expires: no cache keeps it, no Referer leaks it.
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _object_response(
    file: FieldFile,
    request: HttpRequest | None,
    *,
    served: str,
    client_error: type[Exception],
) -> HttpResponseBase:
    """The object streamed through: whole, or the one range asked for, fetched from S3
    with that range. Size and ETag come from the HEAD that opening the file made."""
    s3_object: Any = file.file.obj  # django-storages' S3File, loaded by the open
    size, etag = int(s3_object.content_length), s3_object.e_tag
    wanted = _wanted(request, size=size, etag=etag)
    if wanted is UNSATISFIABLE:
        file.close()
        return _unsatisfiable(size=size, served=served, etag=etag)
    byte_range = wanted if isinstance(wanted, ByteRange) else None
    answer = _object_get(file, client_error=client_error, byte_range=byte_range)
    response = FileResponse(answer["Body"], content_type=served)
    response.block_size = STREAM_CHUNK_BYTES
    response["Content-Length"] = str(int(answer["ContentLength"]))
    # A server that ignored the range sent the whole object: then so do we, with 200.
    if byte_range is not None and answer.get("ContentRange"):
        response.status_code = 206
        response["Content-Range"] = answer["ContentRange"]
    if request is not None:
        _range_headers(response, etag=etag)
    return response


def _object_get(
    file: FieldFile, *, client_error: type[Exception], byte_range: ByteRange | None
) -> dict[str, Any]:
    """S3's answer to GetObject (``byte_range`` only, when given): its ``Body`` is read
    as the client takes it."""
    s3_file: Any = file.file  # django-storages' S3File: opening it only asked for the head
    extra = {"Range": f"bytes={byte_range.first}-{byte_range.last}"} if byte_range else {}
    try:
        answer: dict[str, Any] = s3_file.obj.get(**extra)
    except client_error as error:
        # Deleted between the caller's open and now: as missing as if it had been before.
        if getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise Http404("The file is missing from storage.") from error
        raise
    finally:
        file.close()
    return answer
