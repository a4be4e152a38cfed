"""STORAGE_URL (nixflow/platform/storage.py): an s3:// URL becomes django-storages' S3
options, and every malformed one is refused at start-up with a message saying what is
wrong (never echoing the secret)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from pytest_django.fixtures import Settings

from nixflow.platform.s3 import ObjectStorage
from nixflow.platform.storage import MULTIPART_BYTES, storages_from


def options(url: str) -> dict:
    entry = storages_from(url, production=False)["default"]
    assert entry["BACKEND"] == "nixflow.platform.s3.ObjectStorage"
    return entry["OPTIONS"]


def test_an_empty_url_keeps_files_on_the_local_disk() -> None:
    storages = storages_from("", production=True)

    assert storages["default"] == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    assert "CompressedManifest" in storages["staticfiles"]["BACKEND"]


def test_a_full_url_names_endpoint_bucket_credentials_and_behaviour() -> None:
    parsed = options(
        "s3://AKIA%2Fkey:se%2Fcr%2Bet@minio.internal:9000/desk-files"
        "?region=eu-central-1&secure=false&addressing=path&presign=120&location=/prod/nixflow/"
    )

    assert parsed["endpoint_url"] == "http://minio.internal:9000"
    assert parsed["use_ssl"] is False
    assert parsed["bucket_name"] == "desk-files"
    assert (parsed["access_key"], parsed["secret_key"]) == ("AKIA/key", "se/cr+et")
    assert parsed["region_name"] == "eu-central-1"
    assert parsed["addressing_style"] == "path"
    assert parsed["querystring_expire"] == 120
    assert parsed["redirect_downloads"] is True
    assert parsed["location"] == "prod/nixflow"
    # Private, never overwritten, inert on their own, multipart above 8 MiB.
    assert parsed["default_acl"] is None
    assert parsed["file_overwrite"] is False
    assert parsed["object_parameters"] == {
        "ContentDisposition": "attachment",
        "ContentType": "application/octet-stream",
    }
    assert parsed["transfer_config"].multipart_threshold == MULTIPART_BYTES == 8 * 1024 * 1024
    assert parsed["transfer_config"].multipart_chunksize == MULTIPART_BYTES


def test_amazon_s3_with_credentials_from_the_environment_needs_only_the_bucket() -> None:
    parsed = options("s3:///desk-files?region=eu-west-1")

    assert "endpoint_url" not in parsed
    assert "access_key" not in parsed
    assert "secret_key" not in parsed
    assert parsed["bucket_name"] == "desk-files"
    assert parsed["region_name"] == "eu-west-1"
    # Streams by default; presigned URLs asked of storage.url() stay short.
    assert "redirect_downloads" not in parsed
    assert parsed["querystring_expire"] == 300


def test_https_is_the_default_for_a_host_of_ones_own() -> None:
    parsed = options("s3://k:s@[::1]:9000/files?addressing=auto")

    assert parsed["endpoint_url"] == "https://[::1]:9000"
    assert parsed["addressing_style"] is None


def test_the_storage_backend_accepts_the_parsed_options(settings: Settings) -> None:
    settings.STORAGES = storages_from(
        "s3://k:s@127.0.0.1:9/files?secure=false&presign=60", production=False
    )

    storage = storages["default"]
    assert isinstance(storage, ObjectStorage)
    assert storage.redirect_downloads is True
    assert storage.querystring_expire == 60
    assert storage.bucket_name == "files"
    assert storage.endpoint_url == "http://127.0.0.1:9"


SECRET = "s3cr3t-never-shown"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://host/bucket", "the scheme must be s3:// (got https://)."),
        ("bucket", "the scheme must be s3:// (got none)."),
        ("s3://host/bucket#x", "a #fragment has no meaning here; remove it."),
        ("s3://host", "no bucket: write s3://host/BUCKET (or s3:///BUCKET on Amazon S3)."),
        ("s3://host/", "no bucket: write s3://host/BUCKET (or s3:///BUCKET on Amazon S3)."),
        (
            "s3://host/bucket/prefix",
            "the path must be the bucket alone; put a key prefix in ?location= instead.",
        ),
        (f"s3://k:{SECRET}@host/Bucket", "'Bucket' is not a valid bucket name"),
        ("s3://host/ab", "'ab' is not a valid bucket name"),
        ("s3://host/a..b", "'a..b' is not a valid bucket name"),
        (f"s3://{'x' * 64}", "no bucket"),
        (f"s3://host/{'x' * 64}", "is not a valid bucket name"),
        (f"s3://key:k@host/files?secret_key={SECRET}", "unknown parameter ?secret_key= "),
        ("s3://key@host/files", "give both the access key and the secret"),
        (f"s3://:{SECRET}@host/files", "give both the access key and the secret"),
        (f"s3://k:{SECRET}@host:http/files", "the port must be a number from 1 to 65535."),
        ("s3://host:70000/files", "the port must be a number from 1 to 65535."),
        ("s3://:9000/files", "a port needs a host (s3://host:port/bucket)."),
        ("s3:///files?secure=false", "?secure= applies to a host of your own"),
        ("s3://host/files?secure=maybe", "?secure= must be true or false (got 'maybe')."),
        ("s3://host/files?region=EU%20West", "?region='EU West' is not a region name"),
        (
            "s3://host/files?addressing=dns",
            "?addressing= must be path, virtual or auto (got 'dns').",
        ),
        ("s3://host/files?presign=0", "?presign= must be a whole number of seconds from 1"),
        ("s3://host/files?presign=-5", "(got '-5')"),
        ("s3://host/files?presign=1.5", "(got '1.5')"),
        ("s3://host/files?presign=604801", "from 1 to 604800"),
        ("s3://host/files?presign=", "?presign= is empty."),
        ("s3://host/files?location=a/../b", "?location='a/../b' must be a key prefix"),
        ("s3://host/files?location=//", "must be a key prefix"),
        ("s3://host/files?region=x&region=y", "?region= is given twice."),
        ("s3://host/files?tls=true", "unknown parameter ?tls= (known: region, secure,"),
        ("s3://host/files?secure", "the query string is malformed"),
    ],
)
def test_a_malformed_url_is_refused_with_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        storages_from(url, production=True)

    text = str(refused.value)
    assert text.startswith("STORAGE_URL: ")
    assert message in text
    assert SECRET not in text
