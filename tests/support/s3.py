"""A real S3 endpoint on loopback for tests: moto's server mode, in a thread of the test
process, and a bucket per test that the application's default storage then uses.

Use it from a test folder's ``conftest.py``::

    from tests.support.s3 import object_storage, s3_server  # noqa: F401

then ask for ``object_storage`` (a fresh bucket, already the default storage of the
application, through ``STORAGE_URL``'s own parser) or ``s3_server`` (the endpoint alone,
to build a URL with ``s3_server.storage_url(bucket, presign=60)``). Requests go over
HTTP to the port, exactly as to any S3-compatible server: nothing in boto3 is patched.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer
from pytest_django.fixtures import Settings

from nixflow.platform.storage import storages_from

# moto accepts any credentials; these only make the signatures well-formed.
ACCESS_KEY = "nixflow-test"
SECRET_KEY = "nixflow/test+secret"  # "/" and "+" prove the URL's percent-decoding
REGION = "us-east-1"
_buckets = itertools.count(1)


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT
    host: str
    port: int

    def client(self) -> Any:
        """A boto3 S3 client on this server, to look at buckets behind the application."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def create_bucket(self, prefix: str = "nixflow") -> str:
        """A new empty bucket, named uniquely for this test process."""
        name = f"{prefix}-{os.getpid()}-{next(_buckets)}"
        self.client().create_bucket(Bucket=name)
        return name

    def storage_url(self, bucket: str, **parameters: str | int) -> str:
        """The STORAGE_URL of ``bucket`` on this server (``parameters`` as ?name=value)."""
        query = urlencode({"region": REGION, "secure": "false", "addressing": "path", **parameters})
        key, secret = (s.replace("/", "%2F").replace("+", "%2B") for s in (ACCESS_KEY, SECRET_KEY))
        return f"s3://{key}:{secret}@{self.host}:{self.port}/{bucket}?{query}"


@dataclass
class Bucket:
    server: S3Server
    name: str
    url: str  # the STORAGE_URL the application runs with

    def object_keys(self) -> list[str]:
        listing = self.server.client().list_objects_v2(Bucket=self.name)
        return sorted(entry["Key"] for entry in listing.get("Contents", []))

    def head(self, key: str) -> dict[str, Any]:
        return self.server.client().head_object(Bucket=self.name, Key=key)  # type: ignore[no-any-return]

    def body(self, key: str) -> bytes:
        return self.server.client().get_object(Bucket=self.name, Key=key)["Body"].read()  # type: ignore[no-any-return]


def use_storage_url(settings: Settings, url: str) -> None:
    """Run the application on ``url`` as if STORAGE_URL said so (pytest-django restores
    the settings, and Django's setting_changed signal resets ``default_storage``, after
    the test)."""
    settings.STORAGE_URL = url
    # FileFields hold the lazy default_storage, which the signal resets: every model
    # follows.
    settings.STORAGES = storages_from(url, production=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port for the whole test session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Server(endpoint=f"http://{host}:{port}", host=host, port=port)
    finally:
        server.stop()


@pytest.fixture
def object_storage(s3_server: S3Server, settings: Settings) -> Bucket:
    """A fresh bucket that is the application's default storage for this test (files
    stream through the application; ``use_storage_url`` with ``presign=`` for redirects)."""
    name = s3_server.create_bucket()
    url = s3_server.storage_url(name)
    use_storage_url(settings, url)
    return Bucket(server=s3_server, name=name, url=url)
