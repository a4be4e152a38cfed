"""Where uploaded files live: local disk by default, S3-compatible storage by STORAGE_URL.

``STORAGE_URL`` names a bucket and how to reach it::

    s3://ACCESS_KEY:SECRET@host:port/bucket?region=eu-central-1&secure=false
        &addressing=path&presign=300&location=nixflow

- no host (``s3:///bucket``): Amazon S3 itself; no credentials in the URL: boto3's own
  chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, an instance or
  task role). Key and secret are percent-encoded (an AWS secret may hold ``/`` and ``+``);
- ``region``: the bucket's region (signing needs it on AWS; most other servers ignore it);
- ``secure``: ``true`` (default, https) or ``false`` (http: a server on loopback or a
  private network only);
- ``addressing``: ``path`` (``host/bucket/key``, what MinIO, Ceph and moto expect),
  ``virtual`` (``bucket.host/key``) or ``auto`` (boto3 decides; the default);
- ``presign``: when given, downloads answer 302 to a presigned URL valid that many
  seconds instead of streaming the object through the application;
- ``location``: a key prefix, so several installations can share a bucket.

The objects are private (no ACL is sent: the bucket's policy decides, and it should allow
nobody but this application), never overwritten (a second file of the same name gets a
suffix, as on disk), and stored as inert downloads (``Content-Disposition: attachment``,
``application/octet-stream``): whoever reaches an object other than through our views,
a bucket made public by mistake included, gets a file to save, never a page of ours.
Files over 8 MiB travel as S3 multipart uploads in 8 MiB parts.

``readiness_problems`` is what ``/readyz`` asks of the storage: for a bucket, one
HeadBucket with a short timeout; for the local disk, whether the media directory (or,
before the first upload, the directory it will be created in) is writable by this
process -- one ``access()`` call, no file written, so a full disk goes unnoticed.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from django.core.files.storage import Storage

MIB = 1024 * 1024
# boto3 switches to a multipart upload above the threshold; parts must be at least 5 MiB
# (but the last), and at most 10,000 of them: 8 MiB parts carry files up to 78 GiB.
MULTIPART_BYTES = 8 * MIB
# Signature Version 4 refuses presigned URLs valid longer than seven days.
PRESIGN_MAX_SECONDS = 7 * 24 * 3600
# Streaming downloads sign no URL for the browser; this only bounds the URLs that
# ``storage.url()`` would hand out to code that asks.
DEFAULT_URL_SECONDS = 300

_PARAMETERS = ("region", "secure", "addressing", "presign", "location")
_ADDRESSING = {"path": "path", "virtual": "virtual", "auto": None}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# Bucket names as S3 allows them: 3 to 63 lower-case letters, digits, dots and hyphens,
# starting and ending with a letter or digit.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = re.compile(r"[a-z0-9-]{1,40}")
# How long /readyz waits for the bucket: to connect, and again for the answer.
PROBE_TIMEOUT_SECONDS = 2.0
STORAGE_UNAVAILABLE = "nixflow.storage.E001"
MEDIA_NOT_WRITABLE = "nixflow.storage.E002"
# Verdicts of readiness_problems, by what was checked: (when, problems).
_verdicts: dict[tuple[Any, ...], tuple[float, list[dict[str, str]]]] = {}


def storages_from(url: str, *, production: bool) -> dict[str, Any]:
    """The STORAGES setting for ``url`` (empty: the local disk under MEDIA_ROOT)."""
    return {
        "default": object_storage(url)
        if url
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {
            "BACKEND": (
                "whitenoise.storage.CompressedManifestStaticFilesStorage"
                if production
                else "django.contrib.staticfiles.storage.StaticFilesStorage"
            )
        },
    }


def _refuse(problem: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"STORAGE_URL: {problem}")


def object_storage(url: str) -> dict[str, Any]:
    """The ``STORAGES["default"]`` entry for an ``s3://`` URL (see the module docstring),
    or ImproperlyConfigured saying what is wrong with it. The URL itself, which may hold
    a secret, is never part of the message."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        shown = f"{parts.scheme}://" if parts.scheme else "none"
        raise _refuse(f"the scheme must be s3:// (got {shown}).")
    if parts.fragment:
        raise _refuse("a #fragment has no meaning here; remove it.")
    parameters = _parameters(parts.query)
    # Imported here, not at the top: settings import this module in every process, and
    # boto3 takes a while to import where the files stay on disk.
    # (boto3's TransferConfig as django-storages imports it: boto3 ships no type hints.)
    from storages.backends.s3 import TransferConfig

    options: dict[str, Any] = {
        "bucket_name": _bucket(parts.path),
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        "querystring_expire": DEFAULT_URL_SECONDS,
        "signature_version": "s3v4",
        "object_parameters": {
            "ContentDisposition": "attachment",
            "ContentType": "application/octet-stream",
        },
        "transfer_config": TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES
        ),
        **_credentials(parts.username, parts.password),
        **_endpoint(parts, parameters),
        **_options(parameters),
    }
    return {"BACKEND": "nixflow.platform.s3.ObjectStorage", "OPTIONS": options}


def _bucket(path: str) -> str:
    bucket = path.strip("/")
    if not bucket:
        raise _refuse("no bucket: write s3://host/BUCKET (or s3:///BUCKET on Amazon S3).")
    if "/" in bucket:
        raise _refuse("the path must be the bucket alone; put a key prefix in ?location= instead.")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise _refuse(
            f"{bucket!r} is not a valid bucket name (3 to 63 lower-case letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit)."
        )
    return bucket


def _endpoint(parts: SplitResult, parameters: dict[str, str]) -> dict[str, Any]:
    secure = _boolean("secure", parameters.get("secure", "true"))
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _refuse("the port must be a number from 1 to 65535.") from None
    if host:
        scheme = "https" if secure else "http"
        # IPv6 literals keep their brackets in the endpoint.
        shown = f"[{host}]" if ":" in host else host
        endpoint = f"{scheme}://{shown}" + (f":{port}" if port else "")
        return {"endpoint_url": endpoint, "use_ssl": secure}
    if port:
        raise _refuse("a port needs a host (s3://host:port/bucket).")
    if "secure" in parameters:
        raise _refuse("?secure= applies to a host of your own; Amazon S3 is always https.")
    return {}


def _options(parameters: dict[str, str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if "region" in parameters:
        region = parameters["region"]
        if not _REGION.fullmatch(region):
            raise _refuse(f"?region={region!r} is not a region name (like eu-central-1).")
        options["region_name"] = region
    if "addressing" in parameters:
        addressing = parameters["addressing"]
        if addressing not in _ADDRESSING:
            raise _refuse(f"?addressing= must be path, virtual or auto (got {addressing!r}).")
        options["addressing_style"] = _ADDRESSING[addressing]
    if "presign" in parameters:
        options["querystring_expire"] = _presign_seconds(parameters["presign"])
        options["redirect_downloads"] = True
    if "location" in parameters:
        location = parameters["location"].strip("/")
        if not location or any(s in ("", ".", "..") for s in location.split("/")):
            raise _refuse(
                f"?location={parameters['location']!r} must be a key prefix like "
                "nixflow or tenants/acme (no empty, . or .. segments)."
            )
        options["location"] = location
    return options


def _parameters(query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _refuse("the query string is malformed (write ?name=value&name=value).") from None
    for name, value in pairs:
        if name not in _PARAMETERS:
            raise _refuse(f"unknown parameter ?{name}= (known: {', '.join(_PARAMETERS)}).")
        if name in parameters:
            raise _refuse(f"?{name}= is given twice.")
        if not value:
            raise _refuse(f"?{name}= is empty.")
        parameters[name] = value
    return parameters


def _credentials(username: str | None, password: str | None) -> dict[str, str]:
    if username is None and password is None:
        return {}
    key, secret = unquote(username or ""), unquote(password or "")
    if not key or not secret:
        raise _refuse(
            "give both the access key and the secret (s3://KEY:SECRET@host/bucket), or "
            "neither to use the AWS environment or instance role."
        )
    return {"access_key": key, "secret_key": secret}


def _boolean(name: str, value: str) -> bool:
    try:
        return _BOOLEANS[value.lower()]
    except KeyError:
        raise _refuse(f"?{name}= must be true or false (got {value!r}).") from None


def _presign_seconds(value: str) -> int:
    seconds = int(value) if value.isdigit() else 0
    if not 1 <= seconds <= PRESIGN_MAX_SECONDS:
        raise _refuse(
            f"?presign= must be a whole number of seconds from 1 to {PRESIGN_MAX_SECONDS} "
            f"(got {value!r})."
        )
    return seconds


# --- readiness --------------------------------------------------------------------------
def readiness_problems() -> list[dict[str, str]]:
    """What keeps the default storage from taking files, in ``/readyz``'s problem shape
    (empty when it can), remembered ``NIXFLOW_READYZ_CACHE_SECONDS`` like the schema
    guard's verdict so that a load balancer's checks cost at most one request to the
    bucket per process in that time."""
    # Imported here: settings import this module, before storages can be built.
    from django.core.files.storage import storages

    key, check = _readiness_check(storages["default"])
    if check is None:
        return []
    ttl = settings.NIXFLOW_READYZ_CACHE_SECONDS
    now = time.monotonic()
    hit = _verdicts.get(key)
    if ttl > 0 and hit is not None and now - hit[0] < ttl:
        return hit[1]
    problems = check()
    _verdicts[key] = (now, problems)
    return problems


def _readiness_check(
    storage: Storage,
) -> tuple[tuple[Any, ...], Callable[[], list[dict[str, str]]] | None]:
    # Only where S3 is in use has its module been imported (see object_storage).
    s3 = sys.modules.get("storages.backends.s3")
    if s3 is not None and isinstance(storage, s3.S3Storage):
        key = ("s3", storage.endpoint_url, storage.bucket_name, storage.access_key)
        return key, lambda: _bucket_problems(storage)
    from django.core.files.storage import FileSystemStorage

    if isinstance(storage, FileSystemStorage):
        location = str(storage.location)
        return ("disk", location), lambda: _disk_problems(location)
    return (), None  # another backend, set in STORAGES directly: its own business


def _bucket_problems(storage: Any) -> list[dict[str, str]]:
    from nixflow.platform.s3 import bucket_problem

    message = bucket_problem(storage, timeout=PROBE_TIMEOUT_SECONDS)
    if message is None:
        return []
    return [
        _problem(
            STORAGE_UNAVAILABLE,
            message,
            "Check STORAGE_URL (endpoint, bucket, credentials), that the bucket exists, "
            "that the server answers from this host, and that the credentials may "
            "s3:ListBucket on the bucket.",
        )
    ]


def _disk_problems(location: str) -> list[dict[str, str]]:
    """Whether files can be written under ``location``: it, or the nearest directory
    above it that exists (Django creates the rest on the first upload), must be a
    directory this process may write in."""
    path = Path(location)
    try:
        while not path.exists() and path.parent != path:
            path = path.parent
        directory, writable = path.is_dir(), os.access(path, os.W_OK | os.X_OK)
    except OSError as error:  # a directory on the way this process may not enter
        directory, writable = True, False
        path = Path(error.filename or path)
    if not directory:
        message = f"The media directory {location} cannot be created: {path} is not a directory."
    elif not writable:
        message = f"The media directory {location} is not writable by this process ({path})."
    else:
        return []
    return [
        _problem(
            MEDIA_NOT_WRITABLE,
            message,
            "Point MEDIA_ROOT at a directory the web process's user may write in "
            "(a mounted volume: mounted read-write), or set STORAGE_URL.",
        )
    ]


def _problem(check_id: str, message: str, fix: str) -> dict[str, str]:
    return {
        "kind": "storage_unavailable",
        "check_id": check_id,
        "message": message,
        "fix": fix,
        "severity": "error",
    }
