"""The storage backend STORAGE_URL's ``s3://`` URLs select (nixflow/platform/storage.py
builds its options), and the bucket probe of ``/readyz``."""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

# botocore ships no type hints.
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from storages.backends.s3 import S3Storage

logger = logging.getLogger("nixflow.storage")

_NOT_FOUND = frozenset({"404", "NoSuchBucket", "NotFound"})
_REFUSED = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
)
# Probe clients, one per endpoint and credentials: building a boto3 client reads the
# service's model, too slow to repeat every few seconds.
_clients: dict[tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


class ObjectStorage(S3Storage):
    """django-storages' S3 backend with one setting of ours: ``redirect_downloads``, read
    by ``nixflow.toolkit.downloads`` (True: answer downloads with a 302 to a presigned URL
    valid ``querystring_expire`` seconds; False: stream the object through)."""

    def get_default_settings(self) -> dict[str, Any]:
        return {**super().get_default_settings(), "redirect_downloads": False}


def describe(storage: S3Storage) -> str:
    """The bucket and where it is, for messages: never the credentials (an endpoint set
    directly in STORAGES with user:password@ in it is shown without them)."""
    endpoint = storage.endpoint_url
    if not endpoint:
        return f"bucket {storage.bucket_name!r} on Amazon S3"
    parts = urlsplit(endpoint)
    host = parts.hostname or "?"
    host = f"[{host}]" if ":" in host else host
    port = f":{parts.port}" if parts.port else ""
    return f"bucket {storage.bucket_name!r} at {parts.scheme}://{host}{port}"


def bucket_problem(storage: S3Storage, *, timeout: float) -> str | None:
    """Why the application cannot use ``storage``'s bucket, found by one HeadBucket that
    may take ``timeout`` seconds to connect and as many to answer, never retried; None
    when the bucket answered. The message names the bucket and the endpoint only (never
    the error's own text, which is boto3's to word)."""
    where = describe(storage)
    try:
        _probe_client(storage, timeout).head_bucket(Bucket=storage.bucket_name)
    except Exception as error:  # a probe answers whatever goes wrong: never a 500
        if not isinstance(error, ClientError | BotoCoreError):
            logger.exception("The readiness probe of %s failed", where)
        return f"Object storage {where} {_failure(error, timeout)}."
    return None


def _failure(error: Exception, timeout: float) -> str:
    if isinstance(error, ClientError):
        return _refusal(error)
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return f"did not answer within {timeout:g} s"
    if isinstance(error, EndpointConnectionError):
        return "cannot be reached"
    if isinstance(error, NoCredentialsError):
        return "cannot be used: no credentials found"
    return f"cannot be checked ({type(error).__name__})"


def _refusal(error: ClientError) -> str:
    details: Any = getattr(error, "response", {})
    code = str(details.get("Error", {}).get("Code", ""))
    status = details.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND or status == 404:
        return "does not exist"
    if code in _REFUSED or status == 403:
        return "refused access (403)"
    return f"answered HeadBucket with {status or '?'} {code}".rstrip()


def _probe_client(storage: S3Storage, timeout: float) -> Any:
    """A client of ``storage``'s own session, endpoint and signing, with short timeouts
    and no retries: a probe that waits 60 s, five times, answers too late to matter."""
    key = (
        storage.endpoint_url,
        storage.region_name,
        storage.access_key,
        storage.secret_key,
        storage.session_profile,
        storage.use_ssl,
        storage.verify,
        timeout,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            config = storage.client_config.merge(
                Config(
                    connect_timeout=timeout,
                    read_timeout=timeout,
                    retries={"total_max_attempts": 1, "mode": "standard"},  # no retry
                )
            )
            client = storage._create_session().client(
                "s3",
                region_name=storage.region_name,
                use_ssl=storage.use_ssl,
                endpoint_url=storage.endpoint_url,
                config=config,
                verify=storage.verify,
            )
            _clients[key] = client
    return client
